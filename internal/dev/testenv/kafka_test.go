package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
)

func TestKafkaTopics(t *testing.T) {
	tests := []struct {
		name           string
		opts           []kfake.Opt
		wantBrokers    int
		wantPartitions int32
	}{
		{name: "defaults", wantBrokers: 1, wantPartitions: kafka.DefaultPartitions},
		{name: "options override defaults", opts: []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(2, topics.All...)},
			wantBrokers: 3, wantPartitions: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, addrs := Kafka(t, tt.opts...)
			if len(addrs) != tt.wantBrokers {
				t.Fatalf("addrs = %v, want %d brokers", addrs, tt.wantBrokers)
			}
			client, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()

			req := kmsg.NewPtrMetadataRequest()
			for _, name := range topics.All {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int32{}
			for _, rt := range resp.Topics {
				if rt.ErrorCode != 0 {
					t.Errorf("topic %s: error code %d", *rt.Topic, rt.ErrorCode)
				}
				got[*rt.Topic] = int32(len(rt.Partitions))
			}
			for _, name := range topics.All {
				if got[name] != tt.wantPartitions {
					t.Errorf("topic %s has %d partitions, want %d", name, got[name], tt.wantPartitions)
				}
			}
		})
	}
}

// TestKafkaRoundTrip checks that the cluster accepts acks=all produces and serves them back,
// which is what the pipeline's tests rely on.
func TestKafkaRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, addrs := Kafka(t)
	client, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeTopics(topics.Events),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rec := &kgo.Record{Topic: topics.Events, Key: []byte("acme"), Value: []byte(`{"event_id":"e1"}`)}
	if err := client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetches := client.PollFetches(ctx)
	if errs := fetches.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	recs := fetches.Records()
	if len(recs) != 1 || string(recs[0].Key) != "acme" {
		t.Fatalf("consumed %d records, want the one produced", len(recs))
	}
}
