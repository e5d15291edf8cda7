// Package worker is engage's stream worker: it consumes engagement.events with a consumer
// group, sessionizes each user's events, and writes raw events and session rows to a Store
// (ClickHouse in production), committing offsets only after the Store has the batch.
//
// Delivery: a record's offset is committed only after every row it produced is stored, so a
// crash replays uncommitted records; every row is written so that a replay rewrites the same
// row (raw events collapse by event_id, session rows by session id and version), which makes
// the effect exactly once although delivery is at least once. Records that cannot be decoded
// go to engagement.events.dlq with the reason in a header, never silently dropped.
package worker

import (
	"github.com/engage-oss/engage/internal/event"
)

// RawEvent is one row of the raw events table: the event plus where it came from.
type RawEvent struct {
	event.Event
	Partition int32
	Offset    int64
	// Late is true when the event arrived later than the allowed lateness for its user and
	// was stored without being sessionized.
	Late bool
	// Sessionized is true when this copy of the event entered its user's sessions (it is a
	// product event, $heartbeat or $hidden, not late, and not a repeat of an event_id).
	Sessionized bool
}

// UserKey names one user of one account.
type UserKey struct{ Account, User string }

// StoredEvent is a sessionized event as the store keeps it for restoring sessions.
type StoredEvent struct {
	UserKey
	ID   string
	TsMs int64
	Kind event.Kind
}

// StoredSession is a session the store shows as live (its latest row is not a retraction).
type StoredSession struct {
	UserKey
	ID             string
	StartMs, EndMs int64
}

// Restored is what the store returns for a Restore: the sessionized events from the start of
// each requested user's mutable sessions, and the live sessions stored over the same span.
type Restored struct {
	Events   []StoredEvent
	Sessions []StoredSession
}

// Restore asks the store for the sessionized events a partition's tracker needs.
type Restore struct {
	Partition int32
	// Users limits the load to these users; nil loads every user of the partition whose newest
	// event is at or after ActiveSinceMs.
	Users []UserKey
	// ActiveSinceMs: users whose newest event is older are left out (nil Users only).
	ActiveSinceMs int64
	// MutableMs: for each user, sessions that ended at or after (the user's newest event −
	// MutableMs) are loaded, with all their events; older sessions can no longer change.
	MutableMs int64
	// FromMs: with Users, load the sessions that ended at or after FromMs (the timestamp of
	// the oldest event that made the users' state necessary, less MutableMs).
	FromMs int64
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
}

// Batch is everything one flush writes. The Store must make writing the same Batch twice,
// or a Batch that repeats rows of an earlier one, leave the same visible rows. Session rows
// are written before raw events: after a crash the worker restores its state from stored raw
// events, so a raw event must never be stored without the session rows that reflect it.
type Batch struct {
	Sessions []SessionRow
	Days     []DayRow
	Events   []RawEvent
}

// Len is the number of rows in the batch.
func (b *Batch) Len() int { return len(b.Events) + len(b.Sessions) + len(b.Days) }
