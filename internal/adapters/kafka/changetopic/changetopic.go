// Package changetopic is the scorer's Kafka side: it produces health-change events to
// engagement.health.changes and replays the topic at start, so the scorer knows what it has
// already announced.
//
// Invariants:
//   - Emit returns nil only when the broker has acknowledged every record with acks=all
//     (the client must be built with kafka.ProducerOpts: idempotent, so broker retries never
//     duplicate a record). Records are keyed by account_id, so one account's changes are on
//     one partition, in order.
//   - Replay reads every partition from its log start to the high watermark it had when
//     Replay began; records produced later are not waited for. It relies on the record
//     just below each high watermark existing, which holds for a topic written by
//     idempotent, non-transactional producers such as the scorer, compacted or not (Kafka
//     never compacts the active segment).
package changetopic

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/engage-oss/engage/internal/scorer"
)

// Emitter implements scorer.Emitter on a franz-go client.
type Emitter struct {
	cl    *kgo.Client
	topic string
}

// NewEmitter produces to topic with cl, a client built with kafka.ProducerOpts.
func NewEmitter(cl *kgo.Client, topic string) *Emitter { return &Emitter{cl: cl, topic: topic} }

// Emit produces one record per change and waits for every acknowledgement.
func (e *Emitter) Emit(ctx context.Context, changes []scorer.Change) error {
	recs := make([]*kgo.Record, len(changes))
	for i, c := range changes {
		r, err := c.ToRecord()
		if err != nil {
			return err
		}
		recs[i] = toKgo(e.topic, r)
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing %d records to %s: %w", len(recs), e.topic, err)
	}
	return nil
}

// Check pings the cluster, for /readyz.
func (e *Emitter) Check(ctx context.Context) error {
	if err := e.cl.Ping(ctx); err != nil {
		return fmt.Errorf("pinging Kafka: %w", err)
	}
	return nil
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

// Replayer implements scorer.ChangeLog: each Replay uses a short-lived client of its own.
type Replayer struct {
	opts  []kgo.Opt
	topic string
}

// NewReplayer replays topic with a client built from opts (kafka.ClientOpts: brokers and
// client id; consumer options are added here).
func NewReplayer(opts []kgo.Opt, topic string) *Replayer {
	return &Replayer{opts: opts, topic: topic}
}

// ErrTopicMissing is returned by Replay when the topic does not exist: the scorer must not
// start as if nothing had ever been announced because it was pointed at the wrong cluster.
var ErrTopicMissing = errors.New("health-change topic does not exist")

// Replay calls fn with every record of the topic up to the high watermarks as of the call.
func (r *Replayer) Replay(ctx context.Context, fn func(scorer.Record) error) error {
	cl, err := kgo.NewClient(r.opts...)
	if err != nil {
		return fmt.Errorf("creating client to replay %s: %w", r.topic, err)
	}
	defer cl.Close()

	ends, err := endOffsets(ctx, cl, r.topic)
	if err != nil {
		return err
	}
	pending := map[int32]int64{} // partition -> high watermark still to reach
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
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: start})
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replaying %s: %w", r.topic, err)
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
			hwm, ok := pending[rec.Partition]
			if !ok || cbErr != nil || rec.Offset >= hwm {
				return
			}
			if err := fn(fromKgo(rec)); err != nil {
				cbErr = err
				return
			}
			if rec.Offset+1 >= hwm {
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

// endOffsets lists the log start offset and the high watermark of every partition of topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]partitionEnds, error) {
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
	for _, ts := range []int64{-2, -1} { // -2: log start offset, -1: high watermark
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range mresp.Topics[0].Partitions {
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
