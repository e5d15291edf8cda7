// Package scorer turns the ClickHouse tables the worker fills into customer-health scores: it
// rescores every account periodically with the model of internal/health, announces each band
// change on engagement.health.changes as a CloudEvent, records each score change in
// account_health, and keeps every account's latest health in memory for the read API.
//
// The Scorer depends on interfaces, so that it is tested without a network: a Source of
// inputs and a History of rows (ClickHouse: package scorestore), an Emitter of changes and a
// ChangeLog that replays them (Kafka: package changetopic), and a ModelSource (ModelFile
// reloads a JSON file). Package readapi serves the read API from Snapshot.
//
// # One rescoring
//
// Every Config.Interval (default 10 s) Rescore reads the inputs of every account that has any
// event with one set of batch queries, scores each with health.Score, decides its band with
// health.Transition (hysteresis and minimum dwell) against the band last announced, emits the
// changes, and writes a row for each account whose score or band differs from its previous
// row. The queries use the server's today(), so windows slide at midnight by themselves.
//
// The inputs come from session_days_raw and from the narrow tables that materialized views
// fill from events_raw on every insert (signal_events, account_event_names), never from
// events_raw itself: it holds every event ever received, sorted by account and event id, so
// no condition on the event name or time narrows a scan of it (package scorestore).
//
// Inputs.Previous, the baseline of the contraction reason, is each account's seats, plan and
// MRR in force at 00:00 UTC Config.ContractionDays days before today: a window that slides
// with every day, where the mrr_movements_monthly view compares the MRR at the start and the
// end of each calendar month (docs/HEALTH.md sets the two side by side).
//
// # Invariants
//
//   - Exactly one health-change event per band change, across crashes (kill -9 included) and
//     restarts. An account's announcement state changes only after the broker acknowledged
//     its event (acks=all, idempotent producer). At start, and after any failed Emit (whose
//     records may or may not be on the topic), the scorer replays the topic from the
//     beginning to its high watermark and takes each account's change with the highest
//     sequence number as the truth. A crash before producing therefore re-scores and
//     produces after the restart; a crash after producing finds the event on the topic and
//     does not produce it again.
//   - Each event's id is a hash of (account id, sequence number), so a consumer that reads
//     an event twice (its own redelivery) can de-duplicate by id.
//   - An account's first band is announced, with previous_band and previous_score null.
//   - Every account_health row carries a band that was announced (rows of accounts whose
//     event was not acknowledged are not written), the sequence number of that announcement,
//     and a per-account revision. At start the scorer restores each account's last row, so a
//     restart writes no row for an unchanged score; a row written twice under one revision
//     (a retried write) shows once in the views.
//   - A single scorer instance may run at a time. Two instances would each announce the
//     same change (with the same id, so consumers could still de-duplicate) and race on
//     sequence numbers. Run one replica; a restart on failure is what gives availability.
//   - A model file that does not load never replaces a working model (ModelFile).
//
// # Restart without the topic
//
// engagement.health.changes should be compacted (cleanup.policy=compact), so it keeps the
// last change of every account forever. If it lost an account's records anyway (time-based
// retention, a recreated topic), the last account_health row still names the last
// announcement (Row.ChangeSeq), and the scorer takes whichever of the two is later, so it
// does not re-announce a band it already announced.
package scorer
