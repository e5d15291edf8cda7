// Package broker is engage's embedded, Kafka-compatible broker for development and CI: a
// single-node franz-go kfake cluster that speaks the real Kafka protocol, persists its log to a
// directory, and creates engage's topics on first start.
//
// It is not a production broker: it has one node, so "acks=all" means the one log, and
// without SyncWrites an acknowledged batch sits in the OS page cache (it survives a kill of
// the process, not a power cut) — the same default as Kafka's log.flush settings. Production
// runs Apache Kafka (see docker-compose.yml).
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is host:port to listen on. Default 127.0.0.1:9092.
	Addr string
	// DataDir holds the persisted log and group state. Default .data/broker.
	DataDir string
	// Partitions per topic created on first start. Default 8.
	Partitions int
	// SyncWrites fsyncs every produced batch before acknowledging it. Default false.
	SyncWrites bool
	// Brokers is how many brokers the cluster has, on Addr's port and the ones after it;
	// topics are created with replication factor min(Brokers, 3). Default 1.
	Brokers int
}

// DefaultConfig returns the dev defaults (the README's quick start lists the address).
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:9092", DataDir: ".data/broker", Partitions: kafka.DefaultPartitions, Brokers: 1}
}

// Validate names every bad field.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("Addr %q: %w", c.Addr, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir: must be set (data must survive a restart)"))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("Partitions %d: must be 1..1024", c.Partitions))
	}
	if c.Brokers < 0 || c.Brokers > 5 {
		errs = append(errs, fmt.Errorf("Brokers %d: must be 1..5", c.Brokers))
	}
	return errors.Join(errs...)
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start starts the broker, reloading any state persisted in DataDir, and makes sure engage's
// topics exist.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("broker addr %q: port: %w", cfg.Addr, err)
	}
	n := max(cfg.Brokers, 1)
	ports := make([]int, n)
	for i := range ports {
		ports[i] = port + i
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(n),
		kfake.Ports(ports...),
		kfake.DataDir(cfg.DataDir),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
		kfake.WithLogger(kfakeLogger{log}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker on %s with data in %s: %w", cfg.Addr, cfg.DataDir, err)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0]}
	// Topics are created through the protocol, as on a real cluster, so they get their
	// configs (kafka.TopicConfigs); topics added in a later engage version appear on the next
	// start.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to embedded broker: %w", err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, int32(cfg.Partitions), int16(min(n, 3)), topics.All...); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

// Addr is the address clients connect to (the first broker's).
func (b *Broker) Addr() string { return b.addr }

// Addrs are the addresses of every broker.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops accepting connections and persists state.
func (b *Broker) Close() { b.cluster.Close() }

type kfakeLogger struct{ l *zap.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Error(fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		k.l.Warn(fmt.Sprintf(format, args...))
	}
}
