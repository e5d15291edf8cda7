// Package scorer turns the ClickHouse tables the worker fills into customer-health scores: it
// scores the accounts of the partitions it owns with the model of internal/health, announces
// each band change on engagement.health.changes as a CloudEvent, records each score change in
// account_health, and keeps its accounts' latest health in memory for the read API.
//
// The Scorer depends on interfaces, so that it is tested without a network: a Source of
// inputs and a History of rows (ClickHouse: package scorestore), a ChangeTopic whose
// partitions it opens, publishes on and replays (Kafka: package changetopic), a Group that
// says which accounts changed and confirms ownership (Kafka: package changed), and a
// ModelSource (ModelFile reloads a JSON file). Package readapi serves the read API.
//
// # Sharing the accounts
//
// An account belongs to partition topics.AccountPartition(account_id) of the health-change
// topic. Scorer instances with the same group share the partitions of
// engagement.accounts.changed, which has the same partitions: the consumer group's
// assignment calls Assign and Revoke. An instance scores only the accounts of its partitions,
// selected in SQL by the same hash (Scope), and when it takes a partition over it opens it
// (fencing the previous owner, see below), restores what was announced for its accounts from
// the partition's records and their last account_health rows, and rescores them all.
//
// # One rescoring
//
// Every Config.Interval (default 10 s) Rescore reads the inputs of the accounts that need it
// with one set of batch queries: every account of a partition just taken over, and of every
// partition on a new UTC day (the windows slide) or a new model version; otherwise only the
// accounts the workers notified as changed (new events, traits, answers, tickets), those
// whose min_dwell ended, and those whose last scoring failed. Its cost grows with the
// accounts that changed, not with all accounts. It scores each with health.Score, decides
// its band with health.Transition against the band last announced, publishes the changes
// (one transaction per partition), writes a row for each account whose score or band
// differs from its previous row, and commits the notification offsets it acted upon.
//
// The inputs come from session_days_raw and from the narrow tables that materialized views
// fill from events_raw on every insert (signal_events, account_event_names), never from
// events_raw itself (package scorestore).
//
// Inputs.Previous, the baseline of the contraction reason, is each account's seats, plan and
// MRR in force at 00:00 UTC Config.ContractionDays days before today (docs/HEALTH.md).
//
// # Invariants
//
//   - Exactly one health-change event per band change, across crashes (kill -9 included),
//     restarts, failovers and pauses. An account's announcement state changes only after its
//     partition's transaction committed. After a failed Emit (whose outcome this instance
//     cannot know) the partition's state is dropped and the partition opened again, which
//     aborts a transaction left open, and replayed read_committed before anything is
//     decided: a change that was committed is found and not announced again; one that was
//     not is announced by the next rescoring.
//   - Fencing. Each partition has one transactional id; opening it bumps its producer epoch,
//     so an instance paused past its group session (GC pause, SIGSTOP, partition) that
//     resumes can publish nothing on a partition taken over since: its transaction fails
//     with ErrFenced, it drops the partition, and it opens it again only after Group.Owns
//     confirms that the group's current assignment gives it that partition, so a zombie
//     never fences its successor. Its rows carry its lower epoch (Row.Fence), so a late copy
//     of a row loses to the successor's.
//   - No lost change across a handover: notifications are committed only once acted upon,
//     and a new owner rescores the whole partition first.
//   - Each event's id is a hash of (account id, sequence number), so a consumer that reads
//     an event twice (its own redelivery) can de-duplicate by id.
//   - An account's first band is announced, with previous_band and previous_score null.
//   - Every account_health row carries a band that was announced (rows of a partition whose
//     transaction did not commit are not written), the sequence number of that
//     announcement, and a per-account revision; a row written twice under one revision shows
//     once in the views.
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
