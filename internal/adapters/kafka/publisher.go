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
	cl    *kgo.Client
	topic string
	pool  sync.Pool

	lastErr atomic.Pointer[publishErr]
}

type publishErr struct {
	err error
	at  time.Time
}

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
	recs := make([]*kgo.Record, len(events))
	bufs := make([]*[]byte, len(events))
	for i := range events {
		bp, _ := p.pool.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		*bp = events[i].AppendJSON((*bp)[:0])
		bufs[i] = bp
		recs[i] = &kgo.Record{Topic: p.topic, Key: []byte(events[i].AccountID), Value: *bp}
	}
	res := p.cl.ProduceSync(ctx, recs...)
	for _, bp := range bufs {
		if cap(*bp) <= 64<<10 {
			p.pool.Put(bp)
		}
	}
	if err := res.FirstErr(); err != nil {
		p.lastErr.Store(&publishErr{err: err, at: time.Now()})
		return fmt.Errorf("producing %d events to %s: %w", len(events), p.topic, err)
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
