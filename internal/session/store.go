package session

import (
	"context"

	"github.com/engage-oss/engage/internal/event"
)

// Store is what a Sessionizer needs from storage (ClickHouse in production, see
// internal/adapters/clickhouse/eventstore): the rows it wrote, read back to rebuild a
// partition's open sessions after a restart or a rebalance.
type Store interface {
	// PartitionClock is the newest sessionized event time of the partition (Unix ms), or 0.
	PartitionClock(ctx context.Context, partition int32) (int64, error)
	// Load returns the stored sessionized events that restore the requested users, and the
	// sessions stored as live over the same span.
	Load(ctx context.Context, r Restore) (Restored, error)
	// WriteRows stores session rows; see Rows for the order and idempotence it must keep.
	WriteRows(ctx context.Context, rows *Rows) error
}

// Restore asks the store for the sessionized events a partition's trackers need.
type Restore struct {
	Partition int32
	// Users limits the load to these users; nil loads every user of the partition whose newest
	// event is at or after ActiveSinceMs.
	Users []Key
	// ActiveSinceMs: users whose newest event is older are left out (nil Users only).
	ActiveSinceMs int64
	// MutableMs: for each user, sessions that ended at or after (the user's newest event −
	// MutableMs) are loaded, with all their events; older sessions can no longer change.
	// Always Config.MutableSpan.
	MutableMs int64
	// FromMs: with Users, load the sessions that ended at or after FromMs (the timestamp of
	// the oldest event that made the users' state necessary, less MutableMs).
	FromMs int64
}

// Restored is what the store returns for a Restore: the sessionized events from the start of
// each requested user's mutable sessions, and the live sessions stored over the same span.
// When the oldest of those sessions has a stored Fold, the store may return the Fold (the
// one with the latest Cut) and the user's events from its Cut on instead of from the
// session's start: a session open for a day is then restored from its totals and its last
// hours of events.
type Restored struct {
	Events   []EventRow
	Sessions []StoredSession
	Folds    []FoldRow
}

// StoredSession is a session the store shows as live (its latest row is not a retraction).
type StoredSession struct {
	Key
	ID             string
	StartMs, EndMs int64
}

// EventRow is one sessionized event (table session_events_raw): the events a restore replays.
type EventRow struct {
	Key
	Partition int32
	ID        string // event_id
	TsMs      int64
	Kind      event.Kind
}

// FoldRow is one stored Fold (table session_folds_raw). Writing the same Fold twice is
// harmless: a restore takes any one of a session's Folds with the latest Cut, and all copies
// of one (session, Cut) are equal.
type FoldRow struct {
	Key
	Partition int32
	SessionID string
	StartMs   int64 // the session's start, to match the Fold with the stored session
	CutMs     int64 // the Fold sums the session's events before CutMs; load the rest from there
	State     []byte
}

// SessionRow is one version of a session (table sessions_raw). A row with Deleted set
// retracts the session: it keeps the retracted session's StartMs, so that it lands in the
// same ClickHouse partition as the versions it supersedes.
type SessionRow struct {
	Account, User, ID string
	StartMs, EndMs    int64
	ActiveMs          int64
	Events            uint32
	Partition         int32
	Deleted           bool
	Ver               uint64
}

// DayRow is one version of a session's share of one UTC day (table session_days_raw).
type DayRow struct {
	Account, User, SessionID string
	Day                      int32 // days since 1970-01-01
	ActiveMs                 int64
	Events                   uint32
	Active                   bool // a product event or heartbeat on that day
	Started                  bool // the session started on that day
	Deleted                  bool
	Ver                      uint64
	// Partition is the Kafka partition of the user; it is not stored (session_days_raw has no
	// such column) but lets a caller pick the rows of some partitions.
	Partition int32
}

// Rows is everything the sessionizer stores for one batch. A Store writes Sessions, then
// Days, then Events, then Folds: Events are what a restore replays, so an event must never be
// stored without the session rows that reflect it (a crash between the inserts then leaves at
// worst session rows without their events, which the next restore retracts, see
// Sessionizer.Assign), and a Fold, which a restore uses in place of the events it sums, never
// without the events after it. Writing the same Rows twice, or rows that repeat those of an
// earlier write, must leave the same visible rows: sessions and days collapse by (id, ver),
// events by event_id, and a restore picks one of equal Folds.
type Rows struct {
	Sessions []SessionRow
	Days     []DayRow
	Events   []EventRow
	Folds    []FoldRow
}

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.Sessions) + len(r.Days) + len(r.Events) + len(r.Folds) }

// Append adds o's rows.
func (r *Rows) Append(o Rows) {
	r.Sessions = append(r.Sessions, o.Sessions...)
	r.Days = append(r.Days, o.Days...)
	r.Events = append(r.Events, o.Events...)
	r.Folds = append(r.Folds, o.Folds...)
}

// Without returns the rows that do not belong to the given partitions.
func (r *Rows) Without(parts map[int32]bool) Rows {
	var out Rows
	for _, s := range r.Sessions {
		if !parts[s.Partition] {
			out.Sessions = append(out.Sessions, s)
		}
	}
	for _, d := range r.Days {
		if !parts[d.Partition] {
			out.Days = append(out.Days, d)
		}
	}
	for _, e := range r.Events {
		if !parts[e.Partition] {
			out.Events = append(out.Events, e)
		}
	}
	for _, f := range r.Folds {
		if !parts[f.Partition] {
			out.Folds = append(out.Folds, f)
		}
	}
	return out
}

// appendChanges turns one Tracker.Flush of partition p into table rows.
func (r *Rows) appendChanges(ch Changes, p int32) {
	ver := uint64(ch.Version)
	for _, u := range ch.Upserts {
		id := u.ID.String()
		r.Sessions = append(r.Sessions, SessionRow{Account: u.Key.Account, User: u.Key.User, ID: id, StartMs: u.Start, EndMs: u.End,
			ActiveMs: u.ActiveMs, Events: uint32(u.Events), Partition: p, Ver: ver})
		first := DayOf(u.Start)
		for _, d := range u.Days {
			r.Days = append(r.Days, DayRow{Account: u.Key.Account, User: u.Key.User, SessionID: id, Day: d.Day, ActiveMs: d.ActiveMs,
				Events: uint32(d.Events), Active: d.Active, Started: d.Day == first, Ver: ver, Partition: p})
		}
	}
	for _, rt := range ch.Retractions {
		id := rt.ID.String()
		r.Sessions = append(r.Sessions, SessionRow{Account: rt.Key.Account, User: rt.Key.User, ID: id, StartMs: rt.Start, EndMs: rt.End,
			Partition: p, Deleted: true, Ver: ver})
		first, last := rt.DayRange()
		for d := first; d <= last; d++ {
			r.Days = append(r.Days, DayRow{Account: rt.Key.Account, User: rt.Key.User, SessionID: id, Day: d, Deleted: true, Ver: ver, Partition: p})
		}
	}
	for _, f := range ch.Folds {
		r.Folds = append(r.Folds, FoldRow{Key: f.Key, Partition: p, SessionID: f.SessionID().String(), StartMs: f.Start, CutMs: f.Cut,
			State: f.AppendBinary(nil)})
	}
}
