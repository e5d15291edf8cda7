package eventstore

import (
	"context"
	"time"

	"github.com/engage-oss/engage/internal/session"
)

const insertSessions = `INSERT INTO sessions_raw (account_id, user_id, session_id, started_at, ended_at, start_ms,
 end_ms, active_ms, event_count, kafka_partition, deleted, ver)`

func (s *Store) writeSessions(ctx context.Context, rows []session.SessionRow) error {
	n := len(rows)
	var (
		accounts, users, ids     = make([]string, n), make([]string, n), make([]string, n)
		started, ended           = make([]time.Time, n), make([]time.Time, n)
		startMs, endMs, activeMs = make([]int64, n), make([]int64, n), make([]int64, n)
		counts                   = make([]uint32, n)
		parts                    = make([]uint16, n)
		deleted                  = make([]uint8, n)
		vers                     = make([]uint64, n)
	)
	for i := range rows {
		r := &rows[i]
		accounts[i], users[i], ids[i] = r.Account, r.User, r.ID
		started[i], ended[i] = time.UnixMilli(r.StartMs).UTC(), time.UnixMilli(r.EndMs).UTC()
		startMs[i], endMs[i], activeMs[i] = r.StartMs, r.EndMs, r.ActiveMs
		counts[i], parts[i], vers[i] = r.Events, uint16(r.Partition), r.Ver
		deleted[i] = b2u(r.Deleted)
	}
	return insertColumns(ctx, s.conn, "sessions_raw", insertSessions,
		[]any{accounts, users, ids, started, ended, startMs, endMs, activeMs, counts, parts, deleted, vers})
}

const insertDays = `INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active,
 started, deleted, ver)`

func (s *Store) writeDays(ctx context.Context, rows []session.DayRow) error {
	n := len(rows)
	var (
		accounts, users, ids = make([]string, n), make([]string, n), make([]string, n)
		days                 = make([]time.Time, n)
		activeMs             = make([]int64, n)
		events               = make([]uint32, n)
		active, started, del = make([]uint8, n), make([]uint8, n), make([]uint8, n)
		vers                 = make([]uint64, n)
	)
	for i := range rows {
		r := &rows[i]
		accounts[i], users[i], ids[i] = r.Account, r.User, r.SessionID
		days[i] = time.Unix(int64(r.Day)*86400, 0).UTC()
		activeMs[i], events[i], vers[i] = r.ActiveMs, r.Events, r.Ver
		active[i], started[i], del[i] = b2u(r.Active), b2u(r.Started), b2u(r.Deleted)
	}
	return insertColumns(ctx, s.conn, "session_days_raw", insertDays,
		[]any{accounts, users, ids, days, activeMs, events, active, started, del, vers})
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
