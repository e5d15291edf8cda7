package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/topics"
)

// ProducerOpts are the producer settings engage relies on for "acknowledged means durable":
// acks from every in-sync replica and the idempotent producer (franz-go's default, stated here
// so that nobody turns it off by accident), so broker-side retries never write a record twice
// nor reorder one account's records. Keys are hashed with the Java client's murmur2, so a
// record for an account lands on the partition any other Kafka client would pick.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RecordDeliveryTimeout(30 * time.Second),
	}
}

// ClientOpts are the options every engage client starts with.
func ClientOpts(brokers []string, clientID string, log *zap.Logger) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.DialTimeout(5 * time.Second),
	}
	if log != nil {
		opts = append(opts, kgo.WithLogger(zapLogger{log.Named("kafka")}))
	}
	return opts
}

// EnsureTopics creates the named topics that do not exist yet, each with its TopicConfigs.
// An existing topic is left as it is, whatever its partition count or settings:
// repartitioning would move accounts between partitions and is an operator's decision.
func EnsureTopics(ctx context.Context, cl *kgo.Client, partitions int32, replication int16, topics ...string) error {
	adm := kadm.NewClient(cl)
	var errs []error
	for _, t := range topics {
		var configs map[string]*string
		for k, v := range TopicConfigs[t] {
			if configs == nil {
				configs = map[string]*string{}
			}
			configs[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, partitions, replication, configs, t)
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			continue
		}
		if resp.ErrMessage != "" {
			err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
		}
		errs = append(errs, fmt.Errorf("creating topic %s (partitions %d, replication %d): %w", t, partitions, replication, err))
	}
	return errors.Join(errs...)
}

// zapLogger adapts zap to kgo.Logger. franz-go logs at info for routine events (metadata
// refreshes, group joins); those are debug-level noise for an engage operator, so levels are
// shifted one down except for errors and warnings.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Level() kgo.LogLevel {
	if z.l.Core().Enabled(zap.DebugLevel) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (z zapLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	fields := make([]zap.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		fields = append(fields, zap.Any(k, kv[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		z.l.Error(msg, fields...)
	case kgo.LogLevelWarn:
		z.l.Warn(msg, fields...)
	default:
		z.l.Debug(msg, fields...)
	}
}

// TopicConfig says how EnsureTopicsAt creates missing topics.
type TopicConfig struct {
	// Partitions per topic. Required; services default it to DefaultPartitions.
	Partitions int
	// Replication factor. Required: services default it to DefaultReplication, or
	// DevReplication in dev mode (see service.Kafka).
	Replication int
}

// EnsureTopicsAt connects to brokers with a short-lived client and creates engage's topics
// that are missing, so a fresh Kafka cluster (with auto-creation off, as it should be) works.
func EnsureTopicsAt(ctx context.Context, brokers []string, tc TopicConfig) error {
	if tc.Partitions < 1 || tc.Replication < 1 {
		return fmt.Errorf("topic config %+v: partitions and replication must be positive", tc)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connecting to %v: %w", brokers, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return EnsureTopics(ctx, cl, int32(tc.Partitions), int16(tc.Replication), topics.All...)
}

// Partitions returns the partition count of a topic, with a short-lived client of opts.
func Partitions(ctx context.Context, opts []kgo.Opt, topic string) (int32, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("creating client to describe %s: %w", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describing %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return 0, fmt.Errorf("describing %s: the topic does not exist", topic)
	}
	if d.Err != nil {
		return 0, fmt.Errorf("describing %s: %w", topic, d.Err)
	}
	return int32(len(d.Partitions)), nil
}

// CommitOffsets commits the next offsets to read of topic's partitions for cl's group and
// waits for the answer. franz-go reports a refused partition in the response rather than as
// the call's error, so both are returned, joined, naming the partition.
func CommitOffsets(ctx context.Context, cl *kgo.Client, topic string, offsets map[int32]int64) error {
	m := make(map[int32]kgo.EpochOffset, len(offsets))
	for p, o := range offsets {
		m[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var errs []error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: m}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("partition %d of %s: %w", p.Partition, t.Topic, err))
				}
			}
		}
	})
	return errors.Join(errs...)
}
