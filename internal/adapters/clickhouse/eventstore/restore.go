package eventstore

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
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
// session, never from its middle, is what makes the recomputed sessions equal the stored ones;
// the one exception is a session with a stored fold (session.Fold), which is loaded from the
// fold's cut and returned with the fold, the totals of the events before it.
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
	}
	if len(from) == 0 {
		return res, nil
	}
	for _, ls := range live {
		if f, ok := from[ls.Key]; ok && ls.StartMs >= f {
			res.Sessions = append(res.Sessions, ls)
		}
	}

	// A session open for hours has folds: start it from the latest one, and load its events
	// from the fold's cut rather than from the session's first event.
	folds, err := s.folds(ctx, r, from)
	if err != nil {
		return res, err
	}
	for k, f := range folds {
		res.Folds = append(res.Folds, f)
		from[k] = f.CutMs
	}

	// One scan of the partition from the oldest start, for the users whose span is short;
	// users whose span reaches far back (a long session without a fold yet) are read by key,
	// so that one of them does not make the restore read hours of every user's events.
	bulk, keyed := map[session.Key]int64{}, map[session.Key]int64{}
	for k, f := range from {
		if f < newestEvent[k]-2*r.MutableMs {
			keyed[k] = f
		} else {
			bulk[k] = f
		}
	}
	if err := s.loadEvents(ctx, r.Partition, bulk, r.Users == nil, &res); err != nil {
		return res, err
	}
	if err := s.loadEvents(ctx, r.Partition, keyed, false, &res); err != nil {
		return res, err
	}
	return res, nil
}

// loadEvents appends to res the sessionized events of the users of from, each from its own
// start. all scans the whole partition (a partition restore, where the users are most of the
// partition's recent ones) instead of naming the users.
func (s *Store) loadEvents(ctx context.Context, partition int32, from map[session.Key]int64, all bool, res *session.Restored) error {
	if len(from) == 0 {
		return nil
	}
	minFrom := int64(math.MaxInt64)
	for _, f := range from {
		minFrom = min(minFrom, f)
	}
	var b strings.Builder
	args := []any{uint16(partition), minFrom}
	b.WriteString(`SELECT DISTINCT account_id, user_id, event_id, ts_ms, kind FROM session_events_raw WHERE kafka_partition = ? AND ts_ms >= ?`)
	if !all {
		args = appendUsers(&b, args, maps.Keys(from))
	}
	rows, err := s.conn.Query(ctx, b.String(), args...)
	if err != nil {
		return fmt.Errorf("loading session events of partition %d: %w", partition, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e session.EventRow
		var kind uint8
		if err := rows.Scan(&e.Account, &e.User, &e.ID, &e.TsMs, &kind); err != nil {
			return fmt.Errorf("scanning session events of partition %d: %w", partition, err)
		}
		f, ok := from[e.Key]
		if !ok || e.TsMs < f {
			continue
		}
		e.Kind = event.Kind(kind)
		e.Partition = partition
		res.Events = append(res.Events, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading session events of partition %d: %w", partition, err)
	}
	return nil
}

// appendUsers writes ` AND (account_id, user_id) IN (…)` for the users, and returns args with
// their values appended.
func appendUsers(b *strings.Builder, args []any, users iter.Seq[session.Key]) []any {
	b.WriteString(` AND (account_id, user_id) IN (`)
	i := 0
	for k := range users {
		if i > 0 {
			b.WriteByte(',')
		}
		i++
		b.WriteString("(?, ?)")
		args = append(args, k.Account, k.User)
	}
	b.WriteString(`)`)
	return args
}

// folds returns, for each user of from, the stored fold with the latest cut of the session
// that starts at from[user] (the user's oldest session that can still change), if any. A fold
// of an older session is of no use (that session is final), and a session never has the start
// of another session of its user.
func (s *Store) folds(ctx context.Context, r session.Restore, from map[session.Key]int64) (map[session.Key]session.FoldRow, error) {
	minFrom := int64(math.MaxInt64)
	for _, f := range from {
		minFrom = min(minFrom, f)
	}
	var b strings.Builder
	args := []any{uint16(r.Partition), minFrom}
	b.WriteString(`SELECT account_id, user_id, session_id, start_ms, cut_ms, state FROM session_folds_raw WHERE kafka_partition = ? AND start_ms >= ?`)
	if r.Users != nil {
		args = appendUsers(&b, args, maps.Keys(from))
	}
	rows, err := s.conn.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("loading session folds of partition %d: %w", r.Partition, err)
	}
	defer rows.Close()
	out := map[session.Key]session.FoldRow{}
	for rows.Next() {
		var f session.FoldRow
		var state string
		if err := rows.Scan(&f.Account, &f.User, &f.SessionID, &f.StartMs, &f.CutMs, &state); err != nil {
			return nil, fmt.Errorf("scanning session folds of partition %d: %w", r.Partition, err)
		}
		if start, ok := from[f.Key]; !ok || f.StartMs != start {
			continue
		}
		if old, ok := out[f.Key]; ok && old.CutMs >= f.CutMs {
			continue
		}
		f.Partition = r.Partition
		f.State = []byte(state)
		out[f.Key] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading session folds of partition %d: %w", r.Partition, err)
	}
	return out, nil
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

const insertFolds = `INSERT INTO session_folds_raw (kafka_partition, account_id, user_id, session_id, start_ms, cut_ms, state)`

func (s *Store) writeFolds(ctx context.Context, fs []session.FoldRow) error {
	n := len(fs)
	var (
		parts                = make([]uint16, n)
		accounts, users, ids = make([]string, n), make([]string, n), make([]string, n)
		starts, cuts         = make([]int64, n), make([]int64, n)
		states               = make([]string, n)
	)
	for i := range fs {
		f := &fs[i]
		parts[i] = uint16(f.Partition)
		accounts[i], users[i], ids[i] = f.Account, f.User, f.SessionID
		starts[i], cuts[i] = f.StartMs, f.CutMs
		states[i] = string(f.State)
	}
	return insertColumns(ctx, s.conn, "session_folds_raw", insertFolds, []any{parts, accounts, users, ids, starts, cuts, states})
}
