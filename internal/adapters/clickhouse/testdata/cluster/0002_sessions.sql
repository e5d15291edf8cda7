-- on every node
CREATE TABLE IF NOT EXISTS sessions_raw_local (
    account_id      String,
    user_id         String,
    session_id      String,
    started_at      DateTime('UTC'),
    ended_at        DateTime('UTC'),
    start_ms        Int64,
    end_ms          Int64,
    active_ms       Int64,
    event_count     UInt32,
    kafka_partition UInt16,
    deleted         UInt8,
    ver             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/sessions_raw_local', '{replica}', ver)
PARTITION BY toYYYYMM(started_at)
ORDER BY (account_id, user_id, session_id);

-- on every node
CREATE TABLE IF NOT EXISTS sessions_raw AS sessions_raw_local
ENGINE = Distributed(engage, engagement, sessions_raw_local, cityHash64(account_id));

-- on every node
CREATE TABLE IF NOT EXISTS session_days_raw_local (
    account_id  String,
    user_id     String,
    session_id  String,
    day         Date,
    active_ms   Int64,
    events      UInt32,
    active      UInt8,
    started     UInt8,
    deleted     UInt8,
    ver         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/session_days_raw_local', '{replica}', ver)
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, day, user_id, session_id);

-- on every node
CREATE TABLE IF NOT EXISTS session_days_raw AS session_days_raw_local
ENGINE = Distributed(engage, engagement, session_days_raw_local, cityHash64(account_id));

-- on every node
CREATE TABLE IF NOT EXISTS session_events_raw_local (
    kafka_partition UInt16,
    account_id      String,
    user_id         String,
    ts_ms           Int64,
    event_id        String,
    kind            UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/session_events_raw_local', '{replica}')
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_ms, 1000)))
ORDER BY (kafka_partition, account_id, user_id, ts_ms, event_id);

-- on every node
CREATE TABLE IF NOT EXISTS session_events_raw AS session_events_raw_local
ENGINE = Distributed(engage, engagement, session_events_raw_local, cityHash64(account_id));

-- on every node
CREATE VIEW IF NOT EXISTS sessions AS
SELECT account_id, user_id, session_id, started_at, ended_at, active_seconds, event_count
FROM
(
    SELECT
        account_id, user_id, session_id,
        argMax(started_at, ver) AS started_at,
        argMax(ended_at, ver) AS ended_at,
        argMax(active_ms, ver) / 1000 AS active_seconds,
        argMax(event_count, ver) AS event_count,
        argMax(deleted, ver) AS is_deleted
    FROM sessions_raw
    GROUP BY account_id, user_id, session_id
)
WHERE is_deleted = 0;

-- on every node
CREATE VIEW IF NOT EXISTS session_days_latest AS
SELECT account_id, user_id, session_id, day, active_ms, events, active, started
FROM
(
    SELECT
        account_id, day, user_id, session_id,
        argMax(active_ms, ver) AS active_ms,
        argMax(events, ver) AS events,
        argMax(active, ver) AS active,
        argMax(started, ver) AS started,
        argMax(deleted, ver) AS is_deleted
    FROM session_days_raw
    GROUP BY account_id, day, user_id, session_id
)
WHERE is_deleted = 0;

-- on every node
CREATE VIEW IF NOT EXISTS user_daily AS
SELECT
    account_id, user_id, day,
    sum(active_ms) / 1000 AS active_seconds,
    toUInt64(sum(started)) AS sessions,
    toUInt64(sum(events)) AS events
FROM session_days_latest
GROUP BY account_id, user_id, day;

-- on every node
CREATE VIEW IF NOT EXISTS account_daily AS
SELECT
    account_id, day,
    uniqExactIf(user_id, active = 1) AS dau,
    sum(active_ms) / 1000 AS active_seconds,
    toUInt64(sum(started)) AS sessions,
    toUInt64(sum(events)) AS events
FROM session_days_latest
GROUP BY account_id, day;

