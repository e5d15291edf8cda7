// Package deliverylog writes the notifier's delivery log, table webhook_deliveries
// (migration 0010), in batches.
//
// Invariants:
//   - Log never blocks a delivery: attempts wait in a bounded buffer and are written every
//     second (or every MaxBatch rows); when ClickHouse is away the writes are retried, and
//     once the buffer is full new rows are dropped and counted
//     (engage_notifier_log_dropped_total) rather than holding up the webhooks.
//   - Rows are written with an explicit column list (ClickHouse 18.16), and a retried insert
//     collapses in the ReplacingMergeTree.
package deliverylog

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/notify"
	"github.com/engage-oss/engage/internal/retry"
)

// Sizes of the buffer.
const (
	MaxBuffered = 100_000
	MaxBatch    = 10_000
)

const insert = `INSERT INTO webhook_deliveries (id, destination, account_id, attempt, status_code, latency_ms, error, outcome, delivered_at)`

// Writer implements notify.DeliveryLog.
type Writer struct {
	conn    driver.Conn
	log     *zap.Logger
	rows    chan notify.Entry
	dropped prometheus.Counter
	written prometheus.Counter
	flushed chan chan struct{}
}

// New returns a Writer on conn; Run writes.
func New(conn driver.Conn, log *zap.Logger, reg prometheus.Registerer) *Writer {
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{conn: conn, log: log, rows: make(chan notify.Entry, MaxBuffered), flushed: make(chan chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_notifier_log_dropped_total",
			Help: "Delivery log rows dropped because the buffer was full while ClickHouse was away."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_notifier_log_rows_total",
			Help: "Delivery log rows written to webhook_deliveries."}),
	}
	if reg != nil {
		reg.MustRegister(w.dropped, w.written)
	}
	return w
}

// Log buffers an attempt.
func (w *Writer) Log(e notify.Entry) {
	select {
	case w.rows <- e:
	default:
		w.dropped.Inc()
	}
}

// Flush waits until everything logged before the call is written (or ctx ends).
func (w *Writer) Flush(ctx context.Context) {
	done := make(chan struct{})
	select {
	case w.flushed <- done:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Run writes buffered rows every second until ctx ends, then writes what is left (for at
// most 5 s).
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var batch []notify.Entry
	var waiting []chan struct{}
	write := func(ctx context.Context) {
		for more := true; more; {
			select {
			case e := <-w.rows:
				batch = append(batch, e)
				more = len(batch) < MaxBatch
			default:
				more = false
			}
		}
		if len(batch) > 0 {
			err := retry.Default.Do(ctx, w.log, "writing the delivery log", func() error { return w.write(ctx, batch) })
			if err == nil {
				w.written.Add(float64(len(batch)))
				batch = batch[:0]
			}
		}
		if len(batch) == 0 {
			for _, c := range waiting {
				close(c)
			}
			waiting = waiting[:0]
		}
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for len(w.rows) > 0 && fctx.Err() == nil {
				write(fctx)
			}
			cancel()
			return nil
		case c := <-w.flushed:
			waiting = append(waiting, c)
			write(ctx)
		case <-t.C:
			write(ctx)
		}
	}
}

func (w *Writer) write(ctx context.Context, rows []notify.Entry) error {
	b, err := w.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("preparing insert into webhook_deliveries: %w", err)
	}
	for _, e := range rows {
		lat := min(e.Latency.Milliseconds(), 1<<32-1)
		if err := b.Append(e.ID, e.Destination, e.AccountID, uint32(e.Attempt), uint16(e.Status), uint32(max(lat, 0)),
			e.Error, string(e.Outcome), e.At.UTC()); err != nil {
			_ = b.Abort()
			return fmt.Errorf("appending a delivery log row of %s: %w", e.ID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d rows into webhook_deliveries: %w", len(rows), err)
	}
	return nil
}
