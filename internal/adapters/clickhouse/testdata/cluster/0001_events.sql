-- on every node
CREATE TABLE IF NOT EXISTS events_raw_local (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/events_raw_local', '{replica}', ver)
ORDER BY (account_id, event_id);

-- on every node
CREATE TABLE IF NOT EXISTS events_raw AS events_raw_local
ENGINE = Distributed(engage, engagement, events_raw_local, cityHash64(account_id));

-- on every node
CREATE VIEW IF NOT EXISTS events AS
SELECT event_id, account_id, user_id, name, ts, received_at, properties
FROM events_raw FINAL;

