-- on every node
CREATE TABLE IF NOT EXISTS session_folds_raw_local (
    kafka_partition UInt16,
    account_id      String,
    user_id         String,
    session_id      String,
    start_ms        Int64,
    cut_ms          Int64,
    state           String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/session_folds_raw_local', '{replica}')
PARTITION BY toYYYYMM(toDateTime(intDiv(start_ms, 1000)))
ORDER BY (kafka_partition, account_id, user_id, start_ms, cut_ms);

-- on every node
CREATE TABLE IF NOT EXISTS session_folds_raw AS session_folds_raw_local
ENGINE = Distributed(engage, engagement, session_folds_raw_local, cityHash64(account_id));

