-- Folds of long open sessions (internal/session: Fold). A session that stays open for hours
-- (a kiosk, a bot, a tab left heartbeating; at most 24 h, the session length cap) has its
-- oldest events folded by the worker into totals, which no late event can change any more:
-- the session's event count, active time and days so far, up to cut_ms. The worker writes one
-- row per fold (about one per session timeout of event time and session), after the batch's
-- session_events_raw rows, and a restore starts the session from its latest fold and the
-- events from cut_ms on rather than from the session's first event (see
-- docs/ARCHITECTURE.md). state is the fold's binary encoding, read only by the worker.
-- Repeated writes of one fold are identical rows.
CREATE TABLE IF NOT EXISTS session_folds_raw
(
    kafka_partition UInt16,
    account_id      String,
    user_id         String,
    session_id      String,
    start_ms        Int64,
    cut_ms          Int64,
    state           String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(start_ms, 1000)))
ORDER BY (kafka_partition, account_id, user_id, start_ms, cut_ms);
