-- Raw events as the stream worker received them from engagement.events.
-- One row per accepted event; a redelivered or retried event (same event_id) collapses to
-- its first copy: ver is 2^62 - kafka offset, so the lowest offset wins, and every copy of an
-- account's events shares one partition (the record key is account_id).
CREATE TABLE IF NOT EXISTS events_raw
(
    event_id        String,
    account_id      String,
    user_id         String,
    name            String,
    ts              DateTime('UTC'),
    ts_ms           Int64,
    original_ts_ms  Int64,
    sent_at_ms      Int64,
    received_at     DateTime('UTC'),
    received_ms     Int64,
    properties      String,
    kafka_partition UInt16,
    kafka_offset    Int64,
    late            UInt8,
    ver             UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY (account_id, event_id);

CREATE VIEW IF NOT EXISTS events AS
SELECT event_id, account_id, user_id, name, ts, received_at, properties
FROM events_raw FINAL;
