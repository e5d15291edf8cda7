-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS signal_tickets_mv TO signal_events_local AS SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw_local
WHERE name = '$ticket';

-- once, on one node
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

-- once, on one node
INSERT INTO signal_events (event_id, account_id, user_id, name, ts, ts_ms, properties, ver)
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name = '$ticket';

-- on every node
CREATE TABLE IF NOT EXISTS account_event_names_local (
    account_id String,
    name       String,
    last_day   Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/account_event_names_local', '{replica}', last_day)
ORDER BY (account_id, name);

-- on every node
CREATE TABLE IF NOT EXISTS account_event_names AS account_event_names_local
ENGINE = Distributed(engage, engagement, account_event_names_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS account_event_names_mv TO account_event_names_local AS SELECT account_id, name, max(toDate(ts, 'UTC')) AS last_day
FROM events_raw_local
GROUP BY account_id, name;

-- once, on one node
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

-- once, on one node
INSERT INTO account_event_names (account_id, name, last_day)
SELECT account_id, name, max(toDate(ts, 'UTC')) AS last_day
FROM events_raw
GROUP BY account_id, name;

