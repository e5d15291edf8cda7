package session

import (
	"github.com/engage-oss/engage/internal/event"
)

// Event is what the sessionizer needs of an accepted event: 24 bytes in this form, 16 once
// buffered (see ev).
type Event struct {
	// ID is HashID(event_id): identity for duplicates, and the tie-break between equal TS.
	ID uint64
	// TS is the corrected event timestamp in unix milliseconds.
	TS int64
	// Kind is event.KindProduct, event.KindHeartbeat or event.KindHidden; Add ignores the
	// other kinds.
	Kind event.Kind
}

// Key identifies the user whose events form sessions.
type Key struct {
	Account, User string
}

// Bounds of a valid Event.TS: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, the range
// of RFC 3339. Keeping TS inside it keeps every sum and difference of the package far from
// int64 overflow.
const (
	MinTS int64 = -62135596800000
	MaxTS int64 = 253402300799999
)

// DayMs is the length of a UTC day in milliseconds.
const DayMs int64 = 24 * 60 * 60 * 1000

// DayOf returns the UTC day of ts (unix ms) as days since 1970-01-01, rounding down for
// times before 1970.
func DayOf(ts int64) int32 {
	d := ts / DayMs
	if ts%DayMs < 0 {
		d--
	}
	return int32(d)
}

// HashID returns the 64-bit FNV-1a hash of an event id: the Event.ID the worker passes to Add
// and Restore. It is stable across processes and releases (unlike hash/maphash), since IDs of
// stored events are compared with IDs of redelivered ones and feed the session ID. A collision
// between two events of the same user (about n²/2⁶⁵ for n events) would drop one as a
// duplicate.
func HashID(eventID string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(eventID); i++ {
		h ^= uint64(eventID[i])
		h *= prime64
	}
	return h
}

// Outcome says what Add did with an event.
type Outcome uint8

const (
	// Accepted: the event is sessionized; store it raw flagged as sessionized.
	Accepted Outcome = iota
	// Duplicate: an event with the same ID is already sessionized for this Key; nothing
	// changed.
	Duplicate
	// Late: the event precedes the user's newest accepted event by more than Lateness; it
	// is not sessionized. Store it raw and count it.
	Late
	// Ignored: the Kind is not sessionized (a business signal); nothing changed.
	Ignored
	// Invalid: TS is outside [MinTS, MaxTS]; nothing changed.
	Invalid
)

var outcomeNames = [...]string{"accepted", "duplicate", "late", "ignored", "invalid"}

// String returns the outcome in lower case, e.g. for a metric label.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}
