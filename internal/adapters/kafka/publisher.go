package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/event"
)

// Publisher produces accepted events to engagement.events and returns only when the broker
// has acknowledged every one of them. It is the gateway's only way into Kafka.
type Publisher struct {
	cl      *kgo.Client
	topic   string
	batches sync.Pool // *batch

	lastErr atomic.Pointer[publishErr]
}

type publishErr struct {
	err error
	at  time.Time
}

// batch is the memory of one Publish: the records, and one arena each for their keys and
// values, so that a request of n events allocates nothing per event (before, each event cost
// a *kgo.Record, a key and a pooled value buffer). A batch is reused by a later Publish only
// after ProduceSync returned, that is after franz-go called the promise of every record: a
// record is then acknowledged or failed, and franz-go touches neither the record nor its key
// and value again (it serializes a produce request before it can fail its records, and
// writes a record's fields only before its promise). Until then the batch is out of the
// pool, so nothing can overwrite what the broker has not acknowledged.
type batch struct {
	recs []kgo.Record
	ptrs []*kgo.Record // &recs[i], as ProduceSync takes them
	keys []byte        // every key, back to back
	vals []byte        // every value, back to back
	ends []int         // the end of each value in vals
	enc  event.Encoder
}

// Batches above these sizes are left to the garbage collector rather than pooled, so that one
// huge request (the body limit is 5 MiB) does not keep its memory after it is served.
const (
	maxPooledRecords = 4096
	maxPooledBytes   = 1 << 20
)

// NewPublisher wraps a client built with ProducerOpts.
func NewPublisher(cl *kgo.Client, topic string) *Publisher {
	return &Publisher{cl: cl, topic: topic}
}

// Publish produces events keyed by account_id, so that one account's events stay in order
// on one partition, and waits for every acknowledgement. On error some events may have been
// written: the caller answers with an error, the client retries, and the worker collapses the
// repeats by event_id.
func (p *Publisher) Publish(ctx context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	b, _ := p.batches.Get().(*batch)
	if b == nil {
		b = new(batch)
	}
	n := len(events)
	// Values first, into one arena that may grow while it is filled; they are sliced out of
	// it once it is complete.
	vals, ends := b.vals[:0], b.ends[:0]
	keyBytes := 0
	for i := range events {
		vals = b.enc.AppendJSON(vals, &events[i])
		ends = append(ends, len(vals))
		keyBytes += len(events[i].AccountID)
	}
	keys := b.keys[:0]
	if cap(keys) < keyBytes {
		keys = make([]byte, 0, keyBytes)
	}
	recs := b.recs[:0]
	if cap(recs) < n {
		recs = make([]kgo.Record, n)
		b.ptrs = make([]*kgo.Record, n)
	}
	recs, ptrs := recs[:n], b.ptrs[:n]
	start := 0
	for i := range events {
		k := len(keys)
		keys = append(keys, events[i].AccountID...) // within capacity: never moves
		// Every field is assigned: franz-go sets Timestamp, Partition, Offset, Context … on
		// the records it produces, and none of that may carry over to the next request.
		recs[i] = kgo.Record{Topic: p.topic, Key: keys[k:len(keys):len(keys)], Value: vals[start:ends[i]:ends[i]]}
		ptrs[i] = &recs[i]
		start = ends[i]
	}

	res := p.cl.ProduceSync(ctx, ptrs...)
	err := res.FirstErr()

	// Every promise has run: the batch may serve the next request.
	clear(recs) // drop the request's context, which franz-go stored in each record
	b.recs, b.keys, b.vals, b.ends = recs[:0], keys[:0], vals[:0], ends[:0]
	if cap(b.recs) <= maxPooledRecords && cap(b.keys)+cap(b.vals) <= maxPooledBytes {
		p.batches.Put(b)
	}

	if err != nil {
		p.lastErr.Store(&publishErr{err: err, at: time.Now()})
		return fmt.Errorf("producing %d events to %s: %w", n, p.topic, err)
	}
	p.lastErr.Store(nil)
	return nil
}

// Check reports whether events can be durably produced right now: the last produce did not
// fail (or failed long enough ago that a ping is the better witness) and the cluster answers.
func (p *Publisher) Check(ctx context.Context) error {
	if le := p.lastErr.Load(); le != nil && time.Since(le.at) < 5*time.Second {
		return fmt.Errorf("last produce failed %s ago: %w", time.Since(le.at).Round(time.Millisecond), le.err)
	}
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("pinging brokers: %w", err)
	}
	return nil
}
