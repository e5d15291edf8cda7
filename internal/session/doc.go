// Package session is the sessionizer of the stream worker: it turns each user's sessionized
// events (product events, $heartbeat, $hidden) into sessions with active time split by UTC day,
// incrementally, and tells the caller which session rows to write and which to retract.
//
// It has two layers. Tracker holds the sessions of one Kafka partition's users and applies
// the rules below; it is pure: no I/O, no clock of its own. Sessionizer owns the Trackers of
// the partitions assigned to one worker and keeps them equal to what a Store holds (restore at
// assignment, reload of evicted users, retraction of sessions a crashed batch left behind);
// Store is an interface, implemented on ClickHouse by internal/adapters/clickhouse/eventstore.
// The windows derived from the rules (Config.FinalBefore, MutableSpan, EvictHorizon) are
// written once, in config.go.
//
// # Rules (public contract, sessions and active time)
//
// For one Key (account, user), over the user's accepted events sorted by (TS, ID):
//   - A gap longer than SessionTimeout starts a new session; a gap of exactly SessionTimeout
//     does not.
//   - An event more than MaxSessionLength (24 h) after its session's first event starts a new
//     session; an event exactly 24 h after it does not. Sessions shorter than that are
//     decided by gaps alone.
//   - Active time is the sum of the gaps between consecutive events of a session that are at
//     most IdleThreshold (exactly IdleThreshold counts) and do not follow a $hidden event.
//     A session with one event has 0 ms. Events with equal timestamps are ordered by ID, the
//     64-bit hash of event_id, so every result is a deterministic function of the event set.
//   - Active time is split exactly at UTC midnight: a gap 23:58→00:03 gives 2 min to the first
//     day and 3 min to the second.
//   - An event is late by how far its TS precedes the newest accepted event of the same Key.
//     An event late by more than Lateness is not sessionized (Add says Late; the caller stores
//     it raw and counts it). Up to that, the result does not depend on arrival order,
//     duplicates or redelivery.
//
// # Invariants
//
//   - Determinism: the sessions of a Key are a function of its set of accepted events only.
//     Restore(key, tail) therefore rebuilds exactly the state that Add-ing the same events
//     produced, which is what makes crash recovery and rebalancing exact.
//   - Session identity: a session's ID is a 128-bit hash of (Key, first event's TS, first
//     event's ID). Because events are only ever added, a user's sessions only grow or merge,
//     and the first event of the session containing a given event can only move earlier. So an
//     ID that was retracted never comes back, and while an ID lives its Start is fixed, its End
//     never decreases, and its day set [day(Start), day(End)] only grows: an upsert never has
//     to delete a day row of its own session, only a Retraction does.
//   - Changed means more events: two states of a live ID with the same event count hold the
//     same event set (the later is a superset of the earlier), so Flush compares counts, not
//     contents, and emits an upsert exactly when a row's content changed.
//   - Every emitted Session has sum(Days[i].ActiveMs) == ActiveMs, sum(Days[i].Events) ==
//     Events, and one Day per UTC day from day(Start) to day(End), in order. Because
//     SessionTimeout is at most 24 h, every one of those days holds at least one event.
//   - A session is final when its End < Config.FinalBefore(newest) = newest − Lateness −
//     SessionTimeout, newest being the user's newest accepted TS: every event accepted from
//     then on has TS ≥ newest − Lateness, more than SessionTimeout after the session, so it
//     can neither join it nor precede it. Final sessions are dropped from memory; their rows
//     are already written.
//   - Cap: MaxSessionLength is counted from a session's first event, so the cap's cuts are
//     a left-to-right function of the event set like the gaps. A cut can only move while the
//     session it ends is young (its first event can move only while it is within Lateness +
//     SessionTimeout of the newest event, 22 h before any cut), so the identity invariant
//     holds: a late event after a cut may become the next session's new first event (a
//     retraction), never take events away from a live ID.
//   - Bounded memory: the events of an open session before Config.FoldCut(newest) are
//     folded into totals (count, active time, days, last event), at least minFold at a time,
//     because no event accepted from then on can land among them or next to them. A user
//     holds at most the events of the last Lateness + 2·SessionTimeout (plus minFold), 2 h
//     by default, however long its session. Each fold is emitted (Changes.Folds) for the
//     store.
//
// # Caller protocol
//
// A Tracker is owned by one goroutine and is not safe for concurrent use. Its caller (the
// Sessionizer, which the stream worker drives batch by batch):
//
//  1. Before Add for a Key with Has(key) false, calls Restore(key, tail), where tail is the
//     user's stored, sessionized, non-late events with TS ≥ the Start of the user's earliest
//     stored session whose End ≥ FinalBefore(newest stored TS of the user); an empty tail for
//     a user never seen. The tail must begin at a session boundary (the start of a session);
//     starting at an earlier boundary is always safe, only slower. When that session has a
//     stored Fold, the caller may call RestoreFold(key, fold, tail) instead, with the Fold of
//     the latest Cut and the events from its Cut.
//  2. Calls Add for every event of the batch, in offset order, and Flush once per batch.
//  3. Stores, in this order: the raw events (events_raw, with late set when Add said Late;
//     the worker's first insert), then the session rows, the day rows, and last the
//     sessionized events (session_events_raw, what a restore replays; see Rows), then the
//     Folds (session_folds_raw: a Fold is never stored without the events after its Cut); and
//     only then commits the Kafka offsets. With session rows written before the sessionized events they
//     come from, a crash at any point is repaired by restore plus redelivery: a restore sees
//     the events of the last durable batch at most and retracts the stored sessions those
//     events do not explain; redelivery re-adds the rest in their original order, so the same
//     decisions are taken and the same rows (re)written. The sessionized events of one batch
//     are one insert: a restore must never see an event without the ones that arrived before
//     it, or its lateness decisions on replay could differ.
//  4. Calls Evict after the batch is stored (Evict skips users with unflushed changes).
//
// When the store refuses some raw events of a batch, the worker has the Sessionizer Reload
// the affected partitions and Apply the batch again without them, before any session row of
// the batch is written: a refused event leaves no trace in sessions.
//
// Rows: the caller writes sessions(session_id, …) and session_days(session_id, day, …) into
// ReplacingMergeTree tables versioned with Changes.Version, with a deleted flag. An upsert
// writes the session row and one row per Day. A Retraction writes the session row and every
// day row in its DayRange with deleted = 1. Views keep the latest version per key and drop
// deleted rows.
//
// # Choices where the contract is silent or ambiguous
//
//   - Boundaries: a gap of exactly SessionTimeout stays in the session; a gap of exactly
//     IdleThreshold is active; an event exactly Lateness late is accepted.
//   - "Newest event already seen" counts accepted sessionized events only. Business signals
//     ($nps, $account, …) never make an event late: they "never touch sessions", and a
//     duplicate or late event cannot be newer than the newest accepted one anyway (a duplicate
//     copy with a later TS is ignored entirely).
//   - Duplicates are the same ID within the Key, whatever their TS: a client retry can be
//     clock-corrected to a slightly different timestamp. The first accepted copy wins. IDs are
//     remembered as long as the events are in memory, so a copy arriving after its original's
//     session became final, or its original was folded, is reported Late, not Duplicate, when
//     its TS is within
//     SessionTimeout of the original's (always so for a redelivery, and for a retry unless the
//     client clock jumped); the events view deduplicates it by event_id. A copy further off
//     than that, arriving that late, would be sessionized as a new event.
//   - "Results do not depend on arrival order" is about the accepted events: which events are
//     late depends on arrival order by the contract's own definition of lateness.
//   - Only KindProduct, KindHeartbeat and KindHidden are sessionized; Add answers Ignored for
//     other kinds, and Invalid for a TS outside years 0001–9999 (the gateway never produces
//     one; rejecting it keeps all arithmetic far from overflow).
//   - Ties: events with equal TS are ordered by ID. This decides which is the first event
//     (the session ID) and whether the gap after a same-millisecond pair "follows a $hidden":
//     it does when the $hidden sorts last.
//   - Day.Active follows the active-user rule (a product event or $heartbeat on that day), not
//     active time: with a product event at 23:58 and a $hidden at 00:01, the second day gets
//     1 min of ActiveMs but Active is false, as the only event that day is a $hidden.
//   - Days: every UTC day from day(Start) to day(End); Config rejects SessionTimeout > 24 h so
//     that each of them holds an event and the 00:00–00:03 part of a cross-midnight gap always
//     falls on a day that has its closing event.
//   - Restore and Evict: eviction is a memory policy, not a correctness boundary; see Evict.
package session
