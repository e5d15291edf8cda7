// Package changetopic is the scorer's side of engagement.health.changes: it opens one
// partition at a time for a scorer instance, publishes health-change events on it in
// transactions, and replays it, so that a scorer knows what was already announced.
//
// # Fencing
//
// Each partition has its own transactional id, "<prefix>-<partition>". Opening a partition
// (Topic.Open) initialises a producer with that id, which makes the transaction coordinator
// abort whatever transaction an earlier holder of the id left open and bump the producer
// epoch: from then on the earlier holder, a scorer instance paused past its group session (a
// zombie), can add nothing to the partition, and its next transaction fails with
// PRODUCER_FENCED (scorer.ErrFenced). The new owner replays the partition only after
// opening it, so it sees every change the earlier owner committed, and none that it could
// still commit.
//
// Invariants:
//   - Emit returns nil only when its transaction committed: every record acknowledged with
//     acks=all and the commit marker written. On any error the log is closed without
//     aborting (an abort could re-initialise the producer id and fence the rightful owner);
//     the transaction is aborted by the next Open or by the transaction timeout, so
//     read_committed consumers never see its records.
//   - Records are keyed by account_id and placed by topics.AccountPartition, so one
//     account's changes are on one partition, in order.
//   - Replay reads read_committed, from the log start to the last stable offset as of the
//     call, control records included so that it knows when it has reached the end.
package changetopic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/topics"
)

// TransactionTimeout bounds how long a transaction left open by a crashed scorer holds back
// read_committed consumers of its partition, when no other instance opens it sooner.
const TransactionTimeout = 20 * time.Second

// Topic implements scorer.ChangeTopic with franz-go.
type Topic struct {
	opts   []kgo.Opt
	topic  string
	prefix string
	parts  int32
	log    *zap.Logger
}

// NewTopic opens partitions of topic (which has parts partitions) with clients built from
// opts (kafka.ClientOpts), under transactional ids "<prefix>-<partition>".
func NewTopic(opts []kgo.Opt, topic, prefix string, parts int32, log *zap.Logger) *Topic {
	if log == nil {
		log = zap.NewNop()
	}
	return &Topic{opts: opts, topic: topic, prefix: prefix, parts: parts, log: log}
}

// TransactionalID is the transactional id of a partition.
func (t *Topic) TransactionalID(p int32) string { return fmt.Sprintf("%s-%d", t.prefix, p) }

// Open takes partition p over: it initialises the partition's transactional producer, which
// fences every earlier holder of it.
func (t *Topic) Open(ctx context.Context, p int32) (scorer.PartitionLog, error) {
	if p < 0 || p >= t.parts {
		return nil, fmt.Errorf("opening partition %d of %s: it has %d partitions", p, t.topic, t.parts)
	}
	opts := append(slices.Clone(t.opts), kafka.ProducerOpts()...)
	opts = append(opts,
		kgo.TransactionalID(t.TransactionalID(p)),
		kgo.TransactionTimeout(TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the producer of %s partition %d: %w", t.topic, p, err)
	}
	_, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("initialising transactional id %s: %w", t.TransactionalID(p), classify(err))
	}
	return &partitionLog{t: t, p: p, cl: cl, epoch: epoch}, nil
}

// partitionLog is an opened partition.
type partitionLog struct {
	t     *Topic
	p     int32
	cl    *kgo.Client
	epoch int16
}

func (l *partitionLog) Epoch() int16 { return l.epoch }

// Close closes the producer without ending an open transaction (see the package doc).
func (l *partitionLog) Close() {
	if l.cl != nil {
		l.cl.Close()
		l.cl = nil
	}
}

// Emit publishes changes in one transaction.
func (l *partitionLog) Emit(ctx context.Context, changes []scorer.Change) error {
	if l.cl == nil {
		return fmt.Errorf("emitting on %s partition %d: closed after an earlier error", l.t.topic, l.p)
	}
	recs := make([]*kgo.Record, len(changes))
	for i, c := range changes {
		r, err := c.ToRecord()
		if err != nil {
			return err // nothing was sent: the log stays usable
		}
		if got := topics.AccountPartition(c.AccountID, l.t.parts); got != l.p {
			return fmt.Errorf("emitting the change of %q on partition %d: it belongs to partition %d", c.AccountID, l.p, got)
		}
		recs[i] = toKgo(l.t.topic, r)
		recs[i].Partition = l.p
	}
	err := l.transact(ctx, recs)
	if err != nil {
		l.Close()
		return fmt.Errorf("publishing %d changes on %s partition %d (epoch %d): %w", len(recs), l.t.topic, l.p, l.epoch, classify(err))
	}
	return nil
}

func (l *partitionLog) transact(ctx context.Context, recs []*kgo.Record) error {
	if err := l.cl.BeginTransaction(); err != nil {
		return err
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	return l.cl.EndTransaction(ctx, kgo.TryCommit)
}

// classify marks the errors that mean another producer took the transactional id over.
func classify(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
		return fmt.Errorf("%w: %w", scorer.ErrFenced, err)
	}
	return err
}

// Replay calls fn with every committed record of the partition up to its last stable offset.
func (l *partitionLog) Replay(ctx context.Context, fn func(scorer.Record) error) error {
	return replay(ctx, l.t.opts, l.t.topic, []int32{l.p}, fn)
}

// Replay calls fn with every committed record of every partition of topic up to the last
// stable offsets as of the call: what a read_committed consumer that starts now from the
// beginning reads before it catches up.
func Replay(ctx context.Context, opts []kgo.Opt, topic string, fn func(scorer.Record) error) error {
	return replay(ctx, opts, topic, nil, fn)
}

func toKgo(topic string, r scorer.Record) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

func fromKgo(r *kgo.Record) scorer.Record {
	out := scorer.Record{Key: r.Key, Value: r.Value, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, scorer.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// ErrTopicMissing is returned when the topic does not exist: the scorer must not start as
// if nothing had ever been announced because it was pointed at the wrong cluster.
var ErrTopicMissing = errors.New("health-change topic does not exist")

// replay reads the given partitions (every partition when nil) read_committed up to their
// last stable offsets as of the call.
func replay(ctx context.Context, opts []kgo.Opt, topic string, parts []int32, fn func(scorer.Record) error) error {
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("creating client to replay %s: %w", topic, err)
	}
	defer cl.Close()

	ends, err := endOffsets(ctx, cl, topic, parts)
	if err != nil {
		return err
	}
	pending := map[int32]int64{} // partition -> last stable offset still to reach
	start := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end.hwm > end.start {
			pending[p] = end.hwm
			start[p] = kgo.NewOffset().At(end.start)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replaying %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("replaying %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var cbErr error
		fs.EachRecord(func(rec *kgo.Record) {
			end, ok := pending[rec.Partition]
			if !ok || cbErr != nil || rec.Offset >= end {
				return
			}
			if !rec.Attrs.IsControl() {
				if err := fn(fromKgo(rec)); err != nil {
					cbErr = err
					return
				}
			}
			if rec.Offset+1 >= end {
				delete(pending, rec.Partition)
			}
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}

type partitionEnds struct{ start, hwm int64 }

// endOffsets lists the log start offset and the last stable offset of the given partitions
// of topic (all when parts is nil). The last stable offset is the high watermark, or the
// first offset of the oldest transaction still open; every offset below it holds a record,
// a control record (a transaction marker) or an aborted record, which a read_committed
// fetch skips but which is never the last one below it (its marker follows).
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32) (map[int32]partitionEnds, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.AllowAutoTopicCreation = false // a missing topic is an error, not something to create here
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("reading metadata of %s: %d topics in the answer", topic, len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: %s", ErrTopicMissing, topic)
		}
		return nil, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	ends := map[int32]partitionEnds{}
	for _, p := range parts {
		if p < 0 || int(p) >= len(mresp.Topics[0].Partitions) {
			return nil, fmt.Errorf("%s has no partition %d", topic, p)
		}
	}
	for _, ts := range []int64{-2, -1} { // -2: log start offset, -1: last stable offset
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		req.IsolationLevel = 1 // read_committed: the last stable offset
		for _, p := range mresp.Topics[0].Partitions {
			if parts != nil && !slices.Contains(parts, p.Partition) {
				continue
			}
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp = ts
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("listing offsets of %s partition %d: %w", topic, p.Partition, err)
				}
				e := ends[p.Partition]
				if ts == -2 {
					e.start = p.Offset
				} else {
					e.hwm = p.Offset
				}
				ends[p.Partition] = e
			}
		}
	}
	return ends, nil
}
