-- Sessions as the stream worker computes them (contract §4). A session's row is rewritten
-- with a higher ver whenever it changes (it grows while open, a late event extends or
-- merges it); a session that stops existing (merged into another, or its first event
-- changed, which changes its id) gets a row with deleted = 1. The views keep the row with
-- the highest ver per session and drop deleted ones, so they are exact whether or not
-- ClickHouse has merged the parts yet.
--
-- session_id is derived from the session's first event, so started_at is a function of it:
-- partitioning by month of started_at never separates two versions of one session.
CREATE TABLE IF NOT EXISTS sessions_raw
(
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
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(started_at)
ORDER BY (account_id, user_id, session_id);

-- One row per session and UTC day it touches: the session's active time and events on that
-- day (active time split exactly at midnight). Rollups by day are sums over these rows.
CREATE TABLE IF NOT EXISTS session_days_raw
(
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
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, day, user_id, session_id);

-- The events the worker sessionized, narrow and sorted by Kafka partition and user: after a
-- restart or a rebalance the worker reloads a partition's open sessions from here (see
-- docs/ARCHITECTURE.md). Only the first copy of an event is ever sessionized, so replays write
-- identical rows.
CREATE TABLE IF NOT EXISTS session_events_raw
(
    kafka_partition UInt16,
    account_id      String,
    user_id         String,
    ts_ms           Int64,
    event_id        String,
    kind            UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_ms, 1000)))
ORDER BY (kafka_partition, account_id, user_id, ts_ms, event_id);

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

-- Internal: the latest version of every live (session, day) row.
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

CREATE VIEW IF NOT EXISTS user_daily AS
SELECT
    account_id, user_id, day,
    sum(active_ms) / 1000 AS active_seconds,
    toUInt64(sum(started)) AS sessions,
    toUInt64(sum(events)) AS events
FROM session_days_latest
GROUP BY account_id, user_id, day;

CREATE VIEW IF NOT EXISTS account_daily AS
SELECT
    account_id, day,
    uniqExactIf(user_id, active = 1) AS dau,
    sum(active_ms) / 1000 AS active_seconds,
    toUInt64(sum(started)) AS sessions,
    toUInt64(sum(events)) AS events
FROM session_days_latest
GROUP BY account_id, day;
