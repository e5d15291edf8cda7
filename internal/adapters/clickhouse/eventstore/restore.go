package eventstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
)

// PartitionClock returns the newest sessionized event time of a Kafka partition, in Unix ms,
// or 0 when the partition has none.
func (s *Store) PartitionClock(ctx context.Context, partition int32) (int64, error) {
	var clock int64
	row := s.conn.QueryRow(ctx, `SELECT max(ts_ms) FROM session_events_raw WHERE kafka_partition = ?`, uint16(partition))
	if err := row.Scan(&clock); err != nil {
		return 0, fmt.Errorf("reading clock of partition %d: %w", partition, err)
	}
	return clock, nil
}

type span struct{ start, end int64 }

// Load returns the sessionized events that restore the sessions the request asks for,
// in no particular order.
//
// It works in two steps. First it finds each user's sessions that can still change (every
// stored version of them: a stale version never widens the result, because the live session
// that replaced it starts no later and ends no earlier), and from them the time from which
// the user's events are needed. Then it loads those events. Loading from the start of a
// session, never from its middle, is what makes the recomputed sessions equal the stored ones.
func (s *Store) Load(ctx context.Context, r session.Restore) (session.Restored, error) {
	var res session.Restored
	var b strings.Builder
	args := []any{uint16(r.Partition)}
	b.WriteString(`SELECT account_id, user_id, session_id, min(start_ms), max(end_ms), argMax(deleted, ver) FROM sessions_raw WHERE kafka_partition = ?`)
	if r.Users != nil {
		if len(r.Users) == 0 {
			return res, nil
		}
		b.WriteString(` AND (account_id, user_id) IN (`)
		for i, u := range r.Users {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?)")
			args = append(args, u.Account, u.User)
		}
		b.WriteString(`) AND end_ms >= ?`)
		args = append(args, r.FromMs)
	} else {
		b.WriteString(` AND end_ms >= ?`)
		args = append(args, r.ActiveSinceMs-r.MutableMs)
	}
	b.WriteString(` GROUP BY account_id, user_id, session_id`)
	rows, err := s.conn.Query(ctx, b.String(), args...)
	if err != nil {
		return res, fmt.Errorf("loading open sessions of partition %d: %w", r.Partition, err)
	}
	sessions := map[session.Key][]span{}
	var live []session.StoredSession
	for rows.Next() {
		var k session.Key
		var sp span
		var id string
		var deleted uint8
		if err := rows.Scan(&k.Account, &k.User, &id, &sp.start, &sp.end, &deleted); err != nil {
			rows.Close()
			return res, fmt.Errorf("scanning open sessions of partition %d: %w", r.Partition, err)
		}
		sessions[k] = append(sessions[k], sp)
		if deleted == 0 {
			live = append(live, session.StoredSession{Key: k, ID: id, StartMs: sp.start, EndMs: sp.end})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("reading open sessions of partition %d: %w", r.Partition, err)
	}

	// The tracker measures lateness from the newest event it holds, so the span to load is
	// cut from the newest stored *event* of each user, not from the sessions table: after a
	// crash, sessions_raw may reflect events of an interrupted batch that were never stored,
	// and cutting from those would leave out sessions that a redelivered event can still
	// join.
	newestEvent, err := s.newestEvents(ctx, r.Partition, r.Users)
	if err != nil {
		return res, err
	}
	from := map[session.Key]int64{}
	minFrom := int64(-1)
	for k, sps := range sessions {
		newest, ok := newestEvent[k]
		if !ok {
			// Only sessions of an interrupted batch: all of them are to be retracted.
			for _, sp := range sps {
				newest = max(newest, sp.end)
			}
		}
		if r.Users == nil && newest < r.ActiveSinceMs {
			continue
		}
		// With Users, every loaded session ended at or after FromMs, which is all the event
		// that made the load necessary can touch; sessions ending earlier are final against
		// it and against the user's newest event (FromMs ≤ ts − lateness − timeout).
		cut := newest - r.MutableMs
		if r.Users != nil {
			cut = min(cut, r.FromMs)
		}
		f := int64(-1)
		for _, sp := range sps {
			if sp.end >= cut && (f < 0 || sp.start < f) {
				f = sp.start
			}
		}
		if f < 0 {
			continue
		}
		from[k] = f
		if minFrom < 0 || f < minFrom {
			minFrom = f
		}
	}
	if len(from) == 0 {
		return res, nil
	}
	for _, ls := range live {
		if f, ok := from[ls.Key]; ok && ls.StartMs >= f {
			res.Sessions = append(res.Sessions, ls)
		}
	}

	b.Reset()
	args = []any{uint16(r.Partition), minFrom}
	b.WriteString(`SELECT DISTINCT account_id, user_id, event_id, ts_ms, kind FROM session_events_raw WHERE kafka_partition = ? AND ts_ms >= ?`)
	if r.Users != nil {
		b.WriteString(` AND (account_id, user_id) IN (`)
		i := 0
		for k := range from {
			if i > 0 {
				b.WriteByte(',')
			}
			i++
			b.WriteString("(?, ?)")
			args = append(args, k.Account, k.User)
		}
		b.WriteString(`)`)
	}
	rows, err = s.conn.Query(ctx, b.String(), args...)
	if err != nil {
		return res, fmt.Errorf("loading session events of partition %d: %w", r.Partition, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e session.EventRow
		var kind uint8
		if err := rows.Scan(&e.Account, &e.User, &e.ID, &e.TsMs, &kind); err != nil {
			return res, fmt.Errorf("scanning session events of partition %d: %w", r.Partition, err)
		}
		f, ok := from[e.Key]
		if !ok || e.TsMs < f {
			continue
		}
		e.Kind = event.Kind(kind)
		e.Partition = r.Partition
		res.Events = append(res.Events, e)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("reading session events of partition %d: %w", r.Partition, err)
	}
	return res, nil
}

// newestEvents returns the newest sessionized event time of each user of a partition (of the
// given users, when users is not nil).
func (s *Store) newestEvents(ctx context.Context, partition int32, users []session.Key) (map[session.Key]int64, error) {
	var b strings.Builder
	args := []any{uint16(partition)}
	b.WriteString(`SELECT account_id, user_id, max(ts_ms) FROM session_events_raw WHERE kafka_partition = ?`)
	if users != nil {
		b.WriteString(` AND (account_id, user_id) IN (`)
		for i, u := range users {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?)")
			args = append(args, u.Account, u.User)
		}
		b.WriteString(`)`)
	}
	b.WriteString(` GROUP BY account_id, user_id`)
	rows, err := s.conn.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("reading newest events of partition %d: %w", partition, err)
	}
	defer rows.Close()
	out := map[session.Key]int64{}
	for rows.Next() {
		var k session.Key
		var ts int64
		if err := rows.Scan(&k.Account, &k.User, &ts); err != nil {
			return nil, fmt.Errorf("scanning newest events of partition %d: %w", partition, err)
		}
		out[k] = ts
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading newest events of partition %d: %w", partition, err)
	}
	return out, nil
}

const insertSessionEvents = `INSERT INTO session_events_raw (kafka_partition, account_id, user_id, ts_ms, event_id, kind)`

func (s *Store) writeSessionEvents(ctx context.Context, evs []session.EventRow) error {
	n := len(evs)
	var (
		parts                = make([]uint16, n)
		accounts, users, ids = make([]string, n), make([]string, n), make([]string, n)
		ts                   = make([]int64, n)
		kinds                = make([]uint8, n)
	)
	for i := range evs {
		e := &evs[i]
		parts[i] = uint16(e.Partition)
		accounts[i], users[i], ids[i] = e.Account, e.User, e.ID
		ts[i] = e.TsMs
		kinds[i] = uint8(e.Kind)
	}
	return insertColumns(ctx, s.conn, "session_events_raw", insertSessionEvents, []any{parts, accounts, users, ts, ids, kinds})
}
