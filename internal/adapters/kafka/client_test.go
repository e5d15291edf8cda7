package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
)

// TestEnsureTopics creates engage's topics on an empty cluster and on one where a topic
// already exists: missing topics get the requested partitions and their topic configs, an
// existing one is left as it is, and a replication factor the cluster cannot hold is an
// error naming the topic.
func TestEnsureTopics(t *testing.T) {
	tests := []struct {
		name        string
		seed        []kfake.Opt
		replication int
		want        map[string]int // topic -> partitions
		wantErr     string
	}{
		{
			name:        "empty cluster",
			replication: 1,
			want:        map[string]int{topics.Events: 4, topics.EventsDLQ: 4, topics.HealthChanges: 4},
		},
		{
			name:        "existing topic is left as it is",
			seed:        []kfake.Opt{kfake.SeedTopics(2, topics.Events)},
			replication: 1,
			want:        map[string]int{topics.Events: 2, topics.EventsDLQ: 4, topics.HealthChanges: 4},
		},
		{
			name:        "replication above the brokers",
			replication: 3,
			wantErr:     "creating topic " + topics.Events + " (partitions 4, replication 3)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, tt.seed...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			err = kafka.EnsureTopicsAt(ctx, c.ListenAddrs(), kafka.TopicConfig{Partitions: 4, Replication: tt.replication})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, kerr.InvalidReplicationFactor) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// A second start finds every topic and changes nothing.
			if err := kafka.EnsureTopicsAt(ctx, c.ListenAddrs(), kafka.TopicConfig{Partitions: 6, Replication: 1}); err != nil {
				t.Fatalf("second run: %v", err)
			}

			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			details, err := adm.ListTopics(ctx, topics.All...)
			if err != nil {
				t.Fatal(err)
			}
			for topic, want := range tt.want {
				if got := len(details[topic].Partitions); got != want {
					t.Errorf("%s: %d partitions, want %d", topic, got, want)
				}
			}
			configs, err := adm.DescribeTopicConfigs(ctx, topics.HealthChanges)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := configs.On(topics.HealthChanges, nil)
			if err != nil {
				t.Fatal(err)
			}
			policy := ""
			for _, kv := range rc.Configs {
				if kv.Key == "cleanup.policy" {
					policy = kv.MaybeValue()
				}
			}
			if policy != "compact" {
				t.Errorf("%s cleanup.policy = %q, want compact", topics.HealthChanges, policy)
			}
		})
	}
}
