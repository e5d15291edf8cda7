-- Narrow tables for the scorer's input queries (pkg/scorer/scoredb), which run every 10 s over
-- every account. events_raw is sorted by (account_id, event_id), so a filter on the event name
-- or time narrows nothing there: the tickets and account queries read the whole table, all of
-- history, on every rescoring. Here they read tables that grow with what they need instead.
--
-- Like 0005, each materialized view is created before the events already stored are copied,
-- and the copy waits for inserts in flight (below), so no event is missed; an event that both
-- the view and the copy see lands twice, which the readers ignore (below). If the migration is interrupted (a crash, a kill -9), the next start
-- runs it again from its first statement: IF NOT EXISTS keeps what was created, and copying
-- again only adds such duplicates.

-- $ticket events join the business events in signal_events (0005), with the same columns, key
-- and version as the others, so `signal_events FINAL WHERE name = '$ticket'` holds each ticket
-- once, its first copy, as events_raw does once merged (unless a client reuses an event_id
-- for another name: events_raw keeps one of the two, signal_events, keyed by name first,
-- both). The KPI views filter signal_events by name, so these rows change none of them.
CREATE MATERIALIZED VIEW IF NOT EXISTS signal_tickets_mv TO signal_events AS
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name = '$ticket';

-- An INSERT into events_raw that started before the view existed does not feed it, and its
-- rows are not in the copy below if they commit after the copy starts reading. Waiting 3 s
-- (the longest sleep ClickHouse allows) lets such inserts finish; the worker's take well
-- under a second. Only when events are stored: a new database has nothing to wait for.
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

INSERT INTO signal_events (event_id, account_id, user_id, name, ts, ts_ms, properties, ver)
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name = '$ticket';

-- Every event name each account ever sent, with the last UTC day on which it sent it: one row
-- per (account, name) once merged, however many events. It answers both halves of the
-- scorer's accounts query: which accounts have any event (every event has a name), and how
-- many distinct product events each sent in the last 30 days (last_day in the window).
--
-- ReplacingMergeTree(last_day) keeps the row with the latest day. Before a merge an
-- (account, name) may have several rows, one per insert block, each with the latest day of
-- that block's events; the greatest of them is the latest day of all its events whatever the
-- duplicates, late events and arrival order, and "some row has last_day >= D" is true exactly
-- when that day is, so readers need no FINAL.
--
-- The view's GROUP BY keeps the rows written per insert block to the distinct (account, name)
-- pairs in it. It costs about a tenth of a worker's insert into events_raw (50k events of
-- 1000 accounts, measured on 18.16), which buys the scorer a read of this table instead of
-- every event ever stored, every 10 s. (Grouping by a hash of the two String keys would be
-- cheaper, but on 18.16 a materialized view can neither output any(account_id) under the name
-- account_id nor read from a subquery.)
CREATE TABLE IF NOT EXISTS account_event_names
(
    account_id String,
    name       String,
    last_day   Date
)
ENGINE = ReplacingMergeTree(last_day)
ORDER BY (account_id, name);

CREATE MATERIALIZED VIEW IF NOT EXISTS account_event_names_mv TO account_event_names AS
SELECT account_id, name, max(toDate(ts, 'UTC')) AS last_day
FROM events_raw
GROUP BY account_id, name;

-- As for the tickets above: let inserts that started before the view finish first.
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

INSERT INTO account_event_names (account_id, name, last_day)
SELECT account_id, name, max(toDate(ts, 'UTC')) AS last_day
FROM events_raw
GROUP BY account_id, name;
