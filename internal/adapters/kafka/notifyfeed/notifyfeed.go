// Package notifyfeed is the notifier's Kafka side: a destination's consumer of
// engagement.health.changes in a consumer group of its own (Feed), a bounded read of the
// topic from a point in time for re-deliveries (Replay), and the dead-letter topic
// (DeadLetters).
//
// Invariants:
//   - Records are read read_committed: the scorer publishes in transactions, and an aborted
//     one is never delivered.
//   - A destination's group starts where the topic ends when it is new (a destination added
//     today does not receive last year's changes; `notifier -replay` does that), and that
//     starting point is committed before the group is joined, so a crash before the first
//     delivery does not move it past changes published meanwhile.
package notifyfeed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/notify"
	"github.com/engage-oss/engage/internal/topics"
)

// Feed implements notify.Feed on a franz-go consumer group.
type Feed struct {
	cl       *kgo.Client
	topic    string
	group    string
	log      *zap.Logger
	assigned atomic.Bool
}

// SessionTimeout is how long a notifier that died stays in its groups before another
// instance (or its restart) takes the partitions: short, so that a restarted notifier
// resumes within seconds.
const SessionTimeout = 10 * time.Second

// NewFeed joins group on topic with a client built from opts (kafka.ClientOpts). A group
// that has no offsets yet (a new destination) first gets the end of the topic committed, so
// that it starts there and stays there across a crash before its first delivery.
func NewFeed(ctx context.Context, opts []kgo.Opt, group, topic string, log *zap.Logger) (*Feed, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := startAtEnd(ctx, opts, group, topic); err != nil {
		return nil, err
	}
	f := &Feed{topic: topic, group: group, log: log}
	opts = append(slices.Clone(opts),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.SessionTimeout(SessionTimeout),
		kgo.HeartbeatInterval(time.Second),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { f.assigned.Store(true) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("joining group %s on %s: %w", group, topic, err)
	}
	f.cl = cl
	return f, nil
}

// startAtEnd commits the last stable offsets of topic for group when the group has no
// offsets at all. It is done before joining, with an admin commit that the coordinator
// accepts only while the group has no members, so it never moves a running group.
func startAtEnd(ctx context.Context, opts []kgo.Opt, group, topic string) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating a client for group %s: %w", group, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // some brokers answer that for a new group
		return fmt.Errorf("reading the offsets of group %s: %w", group, err)
	}
	if len(committed) > 0 {
		return nil
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("reading the end of %s: %w", topic, err)
	}
	start := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			start.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		}
	})
	resp, err := adm.CommitOffsets(ctx, group, start)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("committing the starting offsets of group %s: %w", group, err)
	}
	return nil
}

// Ready reports whether the group has assigned partitions (or none) once.
func (f *Feed) Ready() bool { return f.assigned.Load() }

// Close leaves the group.
func (f *Feed) Close() { f.cl.Close() }

// Poll returns the next records.
func (f *Feed) Poll(ctx context.Context) ([]notify.Record, error) {
	fs := f.cl.PollFetches(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		errs = append(errs, fmt.Errorf("fetching %s partition %d: %w", t, p, err))
	})
	out := make([]notify.Record, 0, fs.NumRecords())
	fs.EachRecord(func(r *kgo.Record) { out = append(out, toRecord(r)) })
	return out, errors.Join(errs...)
}

// Commit commits offsets of the topic.
func (f *Feed) Commit(ctx context.Context, offsets map[int32]int64) error {
	if err := kafka.CommitOffsets(ctx, f.cl, f.topic, offsets); err != nil {
		return fmt.Errorf("committing offsets of group %s: %w", f.group, err)
	}
	return nil
}

func toRecord(r *kgo.Record) notify.Record {
	h := make(map[string][]byte, len(r.Headers))
	for _, x := range r.Headers {
		h[x.Key] = x.Value
	}
	return notify.Record{Key: r.Key, Value: r.Value, Headers: h, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp}
}

// Replay is a bounded notify.Feed: every committed record of the topic published since a
// time, up to the end of the topic when it starts; then io.EOF. It commits nothing.
type Replay struct {
	cl      *kgo.Client
	pending map[int32]int64 // partition -> end still to reach
}

// NewReplay reads topic from the first record at or after since.
func NewReplay(ctx context.Context, opts []kgo.Opt, topic string, since time.Time) (*Replay, error) {
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, fmt.Errorf("creating the replay client: %w", err)
	}
	adm := kadm.NewClient(cl)
	starts, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("finding the offsets of %s at %s: %w", topic, since.Format(time.RFC3339), err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("finding the end of %s: %w", topic, err)
	}
	r := &Replay{cl: cl, pending: map[int32]int64{}}
	consume := map[int32]kgo.Offset{}
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(topic, e.Partition)
		if !ok || e.Err != nil || s.Err != nil || s.Offset >= e.Offset {
			return
		}
		r.pending[e.Partition] = e.Offset
		consume[e.Partition] = kgo.NewOffset().At(s.Offset)
	})
	if len(consume) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume})
	}
	return r, nil
}

// Close closes the client.
func (r *Replay) Close() { r.cl.Close() }

// Poll returns the next records of the replay, io.EOF after the last.
func (r *Replay) Poll(ctx context.Context) ([]notify.Record, error) {
	if len(r.pending) == 0 {
		return nil, io.EOF
	}
	fs := r.cl.PollFetches(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		errs = append(errs, fmt.Errorf("fetching %s partition %d: %w", t, p, err))
	})
	var out []notify.Record
	fs.EachRecord(func(rec *kgo.Record) {
		end, ok := r.pending[rec.Partition]
		if !ok || rec.Offset >= end {
			return
		}
		if !rec.Attrs.IsControl() {
			out = append(out, toRecord(rec))
		}
		if rec.Offset+1 >= end {
			delete(r.pending, rec.Partition)
		}
	})
	return out, errors.Join(errs...)
}

// Commit does nothing: a replay leaves the destination's group alone.
func (r *Replay) Commit(context.Context, map[int32]int64) error { return nil }

// DeadLetters implements notify.DeadLetters: it produces the original record to
// engagement.health.changes.dlq with the destination, the reason and the source in headers.
type DeadLetters struct{ cl *kgo.Client }

// NewDeadLetters produces with a client of its own (opts: kafka.ClientOpts).
func NewDeadLetters(opts []kgo.Opt) (*DeadLetters, error) {
	cl, err := kgo.NewClient(append(slices.Clone(opts), kafka.ProducerOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the dead-letter producer: %w", err)
	}
	return &DeadLetters{cl: cl}, nil
}

// Close closes the producer.
func (d *DeadLetters) Close() { d.cl.Close() }

// DeadLetter produces one dead letter and waits for the broker.
func (d *DeadLetters) DeadLetter(ctx context.Context, destination string, r notify.Record, reason string) error {
	rec := &kgo.Record{Topic: topics.HealthChangesDLQ, Key: r.Key, Value: r.Value}
	for k, v := range r.Headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: v})
	}
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: topics.HeaderDLQDestination, Value: []byte(destination)},
		kgo.RecordHeader{Key: topics.HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: topics.HeaderDLQSource, Value: []byte(topics.HealthChanges + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10))},
	)
	if err := d.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", topics.HealthChangesDLQ, err)
	}
	return nil
}
