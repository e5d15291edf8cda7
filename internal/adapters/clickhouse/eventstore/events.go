// Package eventstore is the stream worker's ClickHouse storage: it writes raw events
// (events_raw) and the sessionizer's rows (sessions_raw, session_days_raw,
// session_events_raw), and reads back what a restore needs (session_events_raw and
// sessions_raw). It implements worker.Store and session.Store. The scorer reads through its
// own package, internal/adapters/clickhouse/scorestore.
//
// Every insert names its columns: ClickHouse 18.16 through clickhouse-go/v2 requires it, and
// it keeps inserts working when a migration adds a column.
package eventstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/session"
	"github.com/engage-oss/engage/internal/worker"
)

// Store writes worker batches to ClickHouse.
type Store struct {
	conn driver.Conn
}

// New returns a Store on conn, whose default database holds engage's tables.
func New(conn driver.Conn) *Store { return &Store{conn: conn} }

// WriteEvents stores raw events in events_raw. Rows are idempotent (a repeat collapses by
// event_id, see rawVersion), so a retry after a partial failure is safe. Errors that mean
// "these rows are bad" are classified permanent (see classify).
func (s *Store) WriteEvents(ctx context.Context, evs []worker.RawEvent) error {
	if len(evs) == 0 {
		return nil
	}
	return classify(s.writeEvents(ctx, evs))
}

// WriteRows stores session rows in the order session.Rows asks for: sessions, days, then the
// sessionized events a restore reads. Rows are idempotent (see the migrations).
func (s *Store) WriteRows(ctx context.Context, r *session.Rows) error {
	if len(r.Sessions) > 0 {
		if err := s.writeSessions(ctx, r.Sessions); err != nil {
			return classify(err)
		}
	}
	if len(r.Days) > 0 {
		if err := s.writeDays(ctx, r.Days); err != nil {
			return classify(err)
		}
	}
	if len(r.Events) > 0 {
		if err := s.writeSessionEvents(ctx, r.Events); err != nil {
			return classify(err)
		}
	}
	if len(r.Folds) > 0 {
		if err := s.writeFolds(ctx, r.Folds); err != nil {
			return classify(err)
		}
	}
	return nil
}

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

const insertEvents = `INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms,
 sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)`

// rawVersion makes the first copy of an event win: ReplacingMergeTree keeps the highest
// version, and a repeat of an event (client retry) is produced after, so at a higher offset
// of the same partition.
func rawVersion(offset int64) uint64 { return uint64(math.MaxInt64 - offset) }

func (s *Store) writeEvents(ctx context.Context, evs []worker.RawEvent) error {
	n := len(evs)
	var (
		ids, accounts, users, names, props = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ts, received                       = make([]time.Time, n), make([]time.Time, n)
		tsMs, origMs, sentMs, recvMs, offs = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		parts                              = make([]uint16, n)
		late                               = make([]uint8, n)
		vers                               = make([]uint64, n)
	)
	for i := range evs {
		e := &evs[i]
		ids[i], accounts[i], users[i], names[i] = e.EventID, e.AccountID, e.UserID, e.Name
		if len(e.Properties) > 0 {
			props[i] = string(e.Properties)
		}
		ts[i], received[i] = e.Timestamp, e.ReceivedAt
		tsMs[i], origMs[i], recvMs[i] = e.Timestamp.UnixMilli(), e.OriginalTimestamp.UnixMilli(), e.ReceivedAt.UnixMilli()
		if !e.SentAt.IsZero() {
			sentMs[i] = e.SentAt.UnixMilli()
		}
		parts[i], offs[i] = uint16(e.Partition), e.Offset
		if e.Late {
			late[i] = 1
		}
		vers[i] = rawVersion(e.Offset)
	}
	cols := []any{ids, accounts, users, names, ts, tsMs, origMs, sentMs, received, recvMs, props, parts, offs, late, vers}
	return insertColumns(ctx, s.conn, "events_raw", insertEvents, cols)
}

func insertColumns(ctx context.Context, conn driver.Conn, table, query string, cols []any) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("preparing insert into %s: %w", table, err)
	}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			_ = b.Abort()
			return fmt.Errorf("appending column %d of %s: %w", i, table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %s: %w", table, err)
	}
	return nil
}
