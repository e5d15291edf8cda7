package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
)

// Kafka starts an in-process Kafka cluster for t and closes it when t ends. It has one
// broker on a free 127.0.0.1 port and the contract's topics (topics.All) with
// kafka.DefaultPartitions partitions each. opts are applied after those defaults, so
// kfake.NumBrokers(3) or another kfake.SeedTopics override them.
func Kafka(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	all := append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(kafka.DefaultPartitions, topics.All...),
	}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("testenv: starting kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}
