-- account_engagement at a million users. As 0003 defines it, the view spreads every active
-- user-day over the 30 days it counts towards and counts distinct users per account and day:
-- 30 rows per active user-day, 1.4 billion at a million users with 48 active days each, and
-- user_active_days itself de-duplicates every version of every session-day first. Here:
--
--   - user_engaged_days keeps one row per user and active day (at most two before a merge),
--     filled as the worker writes session_days_raw. A user-day once active stays active:
--     a session-day is active when a product event or $heartbeat of the session is on that
--     day, and every later version of the sessions (a late event merging two, a first event
--     changing the id, a crash's retraction of a dangling session) keeps each sessionized
--     event in some live session on the same day. So a row with active = 1 and deleted = 0
--     of any version is a fact for good, and the table needs no version.
--   - account_engagement reads each user's active days as one sorted array and turns it into
--     change points per account: DAU +n on a day and -n the day after; for WAU and MAU, +1
--     where a user's coverage (the days within 7 or 30 of one of their active days) starts
--     and -1 where it ends; for active_days_14d, +1 on each day with an active user and -1
--     14 days later. Running sums over an account's sorted change points give every value,
--     constant until the next change point. The work grows with active user-days, not 30
--     times them, and no distinct count is taken per day.
--
--   - account_traits read events_raw FINAL for the $account events: every event of every
--     account, 37 s at a million users. signal_events (0005) holds the same $account events
--     with the same key and version, sorted by name, and is what the KPI views' account
--     history already reads.
--
-- Each view returns exactly the rows it returned under 0003 (pinned by
-- TestRewrittenEngagementViewsMatch0003; the worker's tests check user_engaged_days on its
-- own output, after merges, retractions and crashes). One difference is possible in
-- principle: two different events sent with one event_id, one of them a $account, where
-- events_raw keeps the other; signal_events keeps the $account, as the KPI views do.
CREATE TABLE IF NOT EXISTS user_engaged_days
(
    account_id String,
    user_id    String,
    day        Date
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, user_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_engaged_days_mv TO user_engaged_days AS
SELECT account_id, user_id, day
FROM session_days_raw
WHERE active = 1 AND deleted = 0
GROUP BY account_id, user_id, day;

-- An INSERT into session_days_raw that started before the view existed does not feed it, and
-- its rows are missed by the copy below if they commit after the copy starts reading: wait
-- for such inserts as 0006 does. A row that both saw is a duplicate, which the views ignore.
SELECT sleep(if((SELECT count() FROM session_days_raw) > 0, 3, 0));

INSERT INTO user_engaged_days (account_id, user_id, day)
SELECT account_id, user_id, day
FROM session_days_raw
WHERE active = 1 AND deleted = 0
GROUP BY account_id, user_id, day;

DROP TABLE IF EXISTS user_active_days;

CREATE VIEW IF NOT EXISTS user_active_days AS
SELECT account_id, user_id, day
FROM user_engaged_days
GROUP BY account_id, user_id, day;

DROP TABLE IF EXISTS account_engagement;

CREATE VIEW IF NOT EXISTS account_engagement AS
SELECT
    account_id, day, dau, wau, mau, active_days_14d,
    seats,
    if(seats > 0, mau / seats, NULL) AS license_utilisation,
    if(mau > 0, dau / mau, 0) AS stickiness
FROM
(
    SELECT
        account_id,
        toDate(tupleElement(point, 1) + k) AS day,
        toUInt64(tupleElement(point, 2)) AS dau,
        toUInt64(tupleElement(point, 3)) AS wau,
        toUInt64(tupleElement(point, 4)) AS mau,
        toUInt64(tupleElement(point, 5)) AS active_days_14d
    FROM
    (
        SELECT account_id, point
        FROM
        (
            -- Per account: the change points sorted by day, each with the running sums and the
            -- number of days until the next one (0 for all but the last point of a day, whose
            -- sums include the day's other points), capped at today.
            SELECT
                account_id,
                arrayMap((p, n, d, w, m, a) -> (p, d, w, m, a, least(n, toInt64(toUInt16(toDate(now(), 'UTC'))) + 1) - p),
                         days, arrayPushBack(arrayPopFront(days), days[-1]),
                         arrayCumSum(arrayMap(c -> tupleElement(c, 2), sorted)),
                         arrayCumSum(arrayMap(c -> tupleElement(c, 3), sorted)),
                         arrayCumSum(arrayMap(c -> tupleElement(c, 4), sorted)),
                         arrayCumSum(arrayMap(c -> tupleElement(c, 5), sorted))) AS points
            FROM
            (
                SELECT
                    account_id,
                    arraySort(c -> tupleElement(c, 1), arrayConcat(
                        groupArray((dn, toInt64(dau), toInt64(dw), toInt64(dm), toInt64(dau > 0))),
                        groupArray((dn + 1, -toInt64(dau), toInt64(0), toInt64(0), toInt64(0))),
                        groupArray((dn + 14, toInt64(0), toInt64(0), toInt64(0), -toInt64(dau > 0))))) AS sorted,
                    arrayMap(c -> tupleElement(c, 1), sorted) AS days
                FROM
                (
                    -- Per account and day that is a change point of some user: the active
                    -- users of the day and the sums of the users' WAU and MAU changes.
                    -- account_id stays a grouping key at every step, so that a query's
                    -- filter on it reaches user_engaged_days (predicate pushdown).
                    SELECT
                        account_id,
                        tupleElement(change, 1) AS dn,
                        sum(tupleElement(change, 2)) AS dau,
                        sum(tupleElement(change, 3)) AS dw,
                        sum(tupleElement(change, 4)) AS dm
                    FROM
                    (
                        -- Per user: each active day (active = 1), and where the coverage by 7
                        -- and 30 days starts (+1) and ends (-1, on the first day no longer
                        -- covered). prev and next are the user's days shifted by one, so the
                        -- lambdas compare neighbours without capturing the array (a lambda
                        -- that captures an array copies it for every element on 18.16).
                        SELECT
                            account_id,
                            arraySort(arrayDistinct(arrayMap(d -> toInt64(toUInt16(d)), groupArray(day)))) AS ds,
                            arrayPushFront(arrayPopBack(ds), toInt64(-1000000)) AS prev,
                            arrayPushBack(arrayPopFront(ds), toInt64(1000000)) AS next,
                            arrayConcat(
                                arrayMap(d -> (d, 1, 0, 0), ds),
                                arrayMap(d -> (d, 0, 1, 0), arrayFilter((d, p) -> d - p > 7, ds, prev)),
                                arrayMap(d -> (d + 7, 0, -1, 0), arrayFilter((d, n) -> n - d > 7, ds, next)),
                                arrayMap(d -> (d, 0, 0, 1), arrayFilter((d, p) -> d - p > 30, ds, prev)),
                                arrayMap(d -> (d + 30, 0, 0, -1), arrayFilter((d, n) -> n - d > 30, ds, next))
                            ) AS changes
                        FROM user_engaged_days
                        GROUP BY account_id, user_id
                    )
                    ARRAY JOIN changes AS change
                    GROUP BY account_id, dn
                )
                GROUP BY account_id
            )
        )
        ARRAY JOIN points AS point
    )
    ARRAY JOIN range(toUInt64(greatest(tupleElement(point, 6), 0))) AS k
    WHERE mau > 0
)
ANY LEFT JOIN (SELECT account_id, seats FROM account_traits) USING account_id;

DROP TABLE IF EXISTS account_traits;

CREATE VIEW IF NOT EXISTS account_traits AS
SELECT
    account_id,
    if(countIf(visitParamHas(properties, 'seats')) > 0,
       toNullable(argMaxIf(visitParamExtractInt(properties, 'seats'), ts_ms, visitParamHas(properties, 'seats'))),
       NULL) AS seats,
    argMaxIf(visitParamExtractString(properties, 'plan'), ts_ms, visitParamHas(properties, 'plan')) AS plan,
    if(countIf(visitParamHas(properties, 'mrr')) > 0,
       toNullable(argMaxIf(visitParamExtractFloat(properties, 'mrr'), ts_ms, visitParamHas(properties, 'mrr'))),
       NULL) AS mrr,
    argMaxIf(visitParamExtractString(properties, 'status'), ts_ms, visitParamHas(properties, 'status')) AS status,
    max(ts) AS updated_at
FROM signal_events FINAL
WHERE name = '$account'
GROUP BY account_id;
