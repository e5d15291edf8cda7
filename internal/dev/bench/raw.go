package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/event"
)

// rawBatch is one request's events as the gateway would produce them: the wire encoding
// (event.AppendJSON) of the built event, keyed by account_id.
type rawBatch struct {
	keys, values [][]byte
	events       []event.Event
}

// rawBatches encodes every body template exactly as the gateway would publish it at now:
// decoded, built (validated, skew-corrected) and encoded with event.AppendJSON.
func (b *Bodies) rawBatches(now time.Time) ([]rawBatch, error) {
	out := make([]rawBatch, 0, len(b.templates))
	var buf []byte
	for range b.templates {
		buf = b.Next(buf, now)
		var ins []event.Input
		if err := json.Unmarshal(buf, &ins); err != nil {
			return nil, fmt.Errorf("decoding a generated body: %w", err)
		}
		var rb rawBatch
		for i := range ins {
			ev, err := ins[i].Build(now)
			if err != nil {
				return nil, fmt.Errorf("generated event %d is invalid: %w", i, err)
			}
			rb.keys = append(rb.keys, []byte(ev.AccountID))
			rb.values = append(rb.values, ev.AppendJSON(nil))
			rb.events = append(rb.events, ev)
		}
		out = append(out, rb)
	}
	return out, nil
}

// RawProducer produces pre-encoded batches with the producer settings the gateway uses
// (kafka.ProducerOpts: acks=all, idempotent, same linger, compression and partitioner).
type RawProducer struct {
	cl    *kgo.Client
	topic string
}

// NewRawProducer connects to brokers.
func NewRawProducer(brokers []string, topic string) (*RawProducer, error) {
	opts := append(kafka.ClientOpts(brokers, "engage-bench-raw", nil), kafka.ProducerOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &RawProducer{cl: cl, topic: topic}, nil
}

// Close closes the client.
func (p *RawProducer) Close() { p.cl.Close() }

// ClosedLoop produces from clients goroutines sharing one client, as the gateway's requests
// share its producer: each produces one batch of BatchEvents records with ProduceSync and
// starts the next when every record is acknowledged, for d or until maxBatches were sent.
func (p *RawProducer) ClosedLoop(ctx context.Context, batches []rawBatch, clients int, d time.Duration, maxBatches int64) LoadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	col := newCollector(1_000_000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := sent.Add(1)
				if n > maxBatches {
					return
				}
				rb := batches[(n-1)%int64(len(batches))]
				// franz-go writes partition, offset and timestamp into each record, so
				// records are per produce; keys and values are shared and never modified.
				recs := make([]*kgo.Record, len(rb.values))
				for i := range recs {
					recs[i] = &kgo.Record{Topic: p.topic, Key: rb.keys[i], Value: rb.values[i]}
				}
				t0 := time.Now()
				err := p.cl.ProduceSync(ctx, recs...).FirstErr()
				if ctx.Err() != nil && err != nil {
					return
				}
				status := 200
				if err != nil {
					status = 0
				}
				col.add(status, len(recs), err, time.Since(t0), len(recs))
			}
		}()
	}
	wg.Wait()
	col.res.Elapsed = time.Since(start)
	return col.res
}

// OpenLoop produces one batch of BatchEvents records every BatchEvents/rate seconds for d,
// whatever the acknowledgements' latency, with up to maxInflight batches outstanding;
// latency runs from each batch's scheduled start, as in the HTTP OpenLoop.
func (p *RawProducer) OpenLoop(ctx context.Context, batches []rawBatch, rate float64, d time.Duration, maxInflight int) LoadResult {
	var n atomic.Int64
	return openLoop(ctx, rate, d, maxInflight, func(ctx context.Context) (int, int, error) {
		rb := batches[(n.Add(1)-1)%int64(len(batches))]
		recs := make([]*kgo.Record, len(rb.values))
		for i := range recs {
			recs[i] = &kgo.Record{Topic: p.topic, Key: rb.keys[i], Value: rb.values[i]}
		}
		if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return 0, 0, err
		}
		return 200, len(recs), nil
	})
}
