// Package worker is engage's stream worker: it consumes engagement.events as a member of a
// consumer group, sessionizes each user's events (internal/session), and writes raw events
// and session rows to a Store (ClickHouse in production), committing offsets only after the
// Store has the batch.
//
// The worker knows Kafka only through the Consumer and DeadLetterProducer interfaces of this
// package (franz-go implements them in internal/adapters/kafka/consumer) and ClickHouse only
// through Store (internal/adapters/clickhouse/eventstore), so its policy is tested with
// in-memory fakes.
//
// Delivery: a record's offset is committed only after every row it produced is stored, so a
// crash replays uncommitted records; every row is written so that a replay rewrites the same
// row (raw events collapse by event_id, session rows by session id and version), which makes
// the effect exactly once although delivery is at least once. Records that cannot be decoded,
// and events the store refuses, go to engagement.events.dlq with the reason in a header,
// never silently dropped; an event the store refuses leaves no trace in sessions.
//
// Fencing: a worker that the group removed while it held a batch (a zombie: frozen past the
// session timeout, or stalled past the rebalance timeout) must not store that batch, whose
// session rows come from state the partitions' new owner has moved past. Every write is
// preceded by Consumer.CheckMembership, a round trip to the group coordinator; a worker that
// is no longer a member drops the batch uncommitted, forgets its partitions and drops what it
// still polls from them, and the new owner stores it all. A write that races the check is
// bounded by versions (the new owner's rows are newer) and by the retraction of unexplained
// sessions at the next restore; fence.go has the argument.
package worker

import (
	"context"

	"github.com/engage-oss/engage/internal/event"
	"github.com/engage-oss/engage/internal/session"
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

	rec int // index of the source record in the batch, for the DLQ
}

// Store is where batches go. The worker writes a batch's raw events first, then the session
// rows (session.Rows, which end with the sessionized events a restore reads). Both writes
// must be idempotent: writing the same rows twice leaves the same visible rows. An error
// that retrying the same rows cannot fix must be classified by IsPermanent; anything else is
// an outage, waited out.
type Store interface {
	session.Store
	// WriteEvents stores raw events (table events_raw).
	WriteEvents(ctx context.Context, evs []RawEvent) error
}
