// Package consumer is the stream worker's Kafka side on franz-go: a consumer-group member
// that implements worker.Consumer (poll, commit, rebalances blocked while a batch is in hand)
// and worker.DeadLetterProducer (the dead-letter topic, with the reason in headers).
package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/internal/worker"
)

// Consumer is a franz-go client in the worker's consumer group.
type Consumer struct {
	cl       *kgo.Client
	group    string
	topic    string
	dlqTopic string
}

var (
	_ worker.Consumer           = (*Consumer)(nil)
	_ worker.DeadLetterProducer = (*Consumer)(nil)
)

// New joins cfg.Group on cfg.Topic. clientOpts carry the brokers and client identity
// (kafka.ClientOpts) and may add options such as a start offset for tests; l is told about
// partition moves (the *worker.Worker).
func New(cfg worker.Config, clientOpts []kgo.Opt, l worker.PartitionListener) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Consumer{group: cfg.Group, topic: cfg.Topic, dlqTopic: cfg.DLQTopic}
	revoked := func(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
		l.Revoked(ctx, parts[c.topic])
	}
	opts := append([]kgo.Opt{}, clientOpts...)
	opts = append(opts, kafka.ProducerOpts()...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		// Rebalances wait until the records of a poll are stored and committed, so a
		// partition never moves with work in flight.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(cfg.GroupSessionTimeout),
		kgo.HeartbeatInterval(cfg.GroupSessionTimeout/5),
		// A rebalance waits this long for members to rejoin; batches take well under a
		// second, so twice the session timeout is ample and keeps a broker restart short.
		kgo.RebalanceTimeout(2*cfg.GroupSessionTimeout),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
			l.Assigned(ctx, parts[c.topic])
		}),
		kgo.OnPartitionsRevoked(revoked),
		kgo.OnPartitionsLost(revoked),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating worker consumer for group %s: %w", cfg.Group, err)
	}
	c.cl = cl
	return c, nil
}

// Poll implements worker.Consumer.
func (c *Consumer) Poll(ctx context.Context, limit int) (worker.Fetch, error) {
	fs := c.cl.PollRecords(ctx, limit)
	if fs.IsClientClosed() {
		return worker.Fetch{}, worker.ErrClosed
	}
	var f worker.Fetch
	fs.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return // the poll's own deadline, not a fetch problem
		}
		f.Errors = append(f.Errors, fmt.Errorf("fetching %s/%d: %w", topic, p, err))
	})
	if n := fs.NumRecords(); n > 0 {
		f.Records = make([]worker.Record, 0, n)
	}
	fs.EachRecord(func(r *kgo.Record) {
		rec := worker.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
		if len(r.Headers) > 0 {
			rec.Headers = make([]worker.Header, len(r.Headers))
			for i, h := range r.Headers {
				rec.Headers[i] = worker.Header{Key: h.Key, Value: h.Value}
			}
		}
		f.Records = append(f.Records, rec)
	})
	return f, nil
}

// CommitPolled implements worker.Consumer. A refusal because this member left the group's
// generation wraps worker.ErrLostGeneration.
func (c *Consumer) CommitPolled(ctx context.Context) error {
	err := c.cl.CommitUncommittedOffsets(ctx)
	if err != nil && lostGeneration(err) {
		return fmt.Errorf("%w: %w", worker.ErrLostGeneration, err)
	}
	return err
}

// lostGeneration reports a commit refused because this member is no longer part of the
// group's current generation.
func lostGeneration(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.FencedInstanceID)
}

// CheckMembership implements worker.Consumer with a Heartbeat request of its own: the group
// coordinator answers it with the group's current view of this member id and generation, the
// ones the client holds. While the worker holds a batch the client cannot change them, since
// with BlockRebalanceOnPoll its rejoin, like its partitions-lost callback, waits for
// AllowRebalance. So no error, or REBALANCE_IN_PROGRESS (a rebalance is waiting for this
// member, and no partition moves before it rejoins or is removed), means the partitions of
// the batch are still this member's; UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION mean that the
// group moved on without it. The heartbeat also restarts the member's session timer, as the
// client's own heartbeats do.
func (c *Consumer) CheckMembership(ctx context.Context) error {
	member, gen := c.cl.GroupMetadata()
	if member == "" || gen < 0 {
		return fmt.Errorf("%w: not a member of group %s", worker.ErrLostGeneration, c.group)
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = c.group, member, gen
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return fmt.Errorf("heartbeat to the coordinator of group %s: %w", c.group, err)
	}
	switch err := kerr.ErrorForCode(resp.ErrorCode); {
	case err == nil, errors.Is(err, kerr.RebalanceInProgress):
		return nil
	case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
		return fmt.Errorf("%w: member %s of generation %d in group %s: %w", worker.ErrLostGeneration, member, gen, c.group, err)
	default:
		return fmt.Errorf("heartbeat to the coordinator of group %s: %w", c.group, err)
	}
}

// AllowRebalance implements worker.Consumer.
func (c *Consumer) AllowRebalance() { c.cl.AllowRebalance() }

// Buffered implements worker.Consumer.
func (c *Consumer) Buffered() int64 { return c.cl.BufferedFetchRecords() }

// Lag implements worker.Consumer: high watermarks from a ListOffsets request, committed
// offsets as the client knows them (from its own commits, or fetched when it joined the
// group). The client commits only what the worker stored, so the difference is the records
// not yet stored, whatever the client has fetched and buffered. A partition without a
// committed offset is consumed from its log start (the client's reset offset), so its lag is
// counted from there.
func (c *Consumer) Lag(ctx context.Context, partitions []int32) (map[int32]int64, error) {
	if len(partitions) == 0 {
		return map[int32]int64{}, nil
	}
	adm := kadm.NewClient(c.cl)
	ends, err := adm.ListEndOffsets(ctx, c.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing high watermarks of %s: %w", c.topic, err)
	}
	committed := c.cl.CommittedOffsets()[c.topic]
	var starts kadm.ListedOffsets
	lag := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		end, ok := ends.Lookup(c.topic, p)
		if !ok {
			continue
		}
		from, ok := committed[p]
		if !ok || from.Offset < 0 {
			if starts == nil {
				if starts, err = adm.ListStartOffsets(ctx, c.topic); err == nil {
					err = starts.Error()
				}
				if err != nil {
					return nil, fmt.Errorf("listing log start offsets of %s: %w", c.topic, err)
				}
			}
			start, _ := starts.Lookup(c.topic, p)
			from.Offset = start.Offset
		}
		lag[p] = max(0, end.Offset-from.Offset)
	}
	return lag, nil
}

// ProduceDeadLetters implements worker.DeadLetterProducer: each record goes to the
// dead-letter topic with its key, value and headers, plus the reason, its source
// (topic/partition@offset) and the worker's name.
func (c *Consumer) ProduceDeadLetters(ctx context.Context, dls []worker.DeadLetter) error {
	recs := make([]*kgo.Record, len(dls))
	for i, d := range dls {
		r := d.Record
		hs := make([]kgo.RecordHeader, 0, len(r.Headers)+3)
		for _, h := range r.Headers {
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		hs = append(hs,
			kgo.RecordHeader{Key: topics.HeaderDLQReason, Value: []byte(d.Reason)},
			kgo.RecordHeader{Key: topics.HeaderDLQSource, Value: fmt.Appendf(nil, "%s/%d@%d", r.Topic, r.Partition, r.Offset)},
			kgo.RecordHeader{Key: topics.HeaderDLQWorker, Value: []byte(d.Worker)},
		)
		recs[i] = &kgo.Record{Topic: c.dlqTopic, Key: r.Key, Value: r.Value, Headers: hs}
	}
	return c.cl.ProduceSync(ctx, recs...).FirstErr()
}

// Ping reports whether the brokers answer.
func (c *Consumer) Ping(ctx context.Context) error { return c.cl.Ping(ctx) }

// Close leaves the group (nothing uncommitted is committed: auto-commit is off) and closes
// the client. Call it after the worker's Run has returned.
func (c *Consumer) Close() {
	c.cl.AllowRebalance()
	c.cl.Close()
}
