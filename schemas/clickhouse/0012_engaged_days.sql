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
--     changes: for WAU and MAU, +1 where the user's coverage (the days within 7 or 30 of one
--     of their active days) starts and -1 where it ends. Summed per account and day, with the
--     day's active users for DAU and active_days_14d, running sums over an account's sorted
--     changes give every value, constant until the next change. The work grows with active
--     user-days, not 30 times them, and no distinct count is taken per day: 12x faster at
--     50k users, 28x at 160k (BENCHMARKS.md).
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
    -- Each change point stands for the days until the next one: its sums hold on all of them.
    SELECT
        account_id,
        toDate(p + k) AS day,
        toUInt64(a) AS dau,
        toUInt64(w) AS wau,
        toUInt64(m) AS mau,
        toUInt64(t) AS active_days_14d
    FROM
    (
        SELECT account_id, p, a, w, m, t, sp
        FROM
        (
            -- Per account: every change as one UInt64, day << 36 | kind << 32 | (value +
            -- 2^31), so that sorting numbers orders them by day (18.16 sorts arrays of
            -- tuples slowly). Kinds: 1 DAU (+users on the day, - the same the day after), 2
            -- WAU, 3 MAU, 4 active_days_14d (+1 on a day with an active user, -1 14 days
            -- later); changes by 0 are dropped. Running sums per kind give the values after
            -- each change; spans is the number of days until the next change, capped at
            -- today: 0 for all but the last change of a day, whose sums include the day's
            -- other changes.
            SELECT
                account_id,
                arraySort(arrayFilter(c -> bitAnd(c, 4294967295) != 2147483648, arrayConcat(
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn), 36), toUInt64(4294967296 * 1 + 2147483648 + dau))),
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn + 1), 36), toUInt64(4294967296 * 1 + 2147483648 - dau))),
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn), 36), toUInt64(4294967296 * 2 + 2147483648 + dw))),
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn), 36), toUInt64(4294967296 * 3 + 2147483648 + dm))),
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn), 36), toUInt64(4294967296 * 4 + 2147483648 + (dau > 0)))),
                    groupArray(bitOr(bitShiftLeft(toUInt64(dn + 14), 36), toUInt64(4294967296 * 4 + 2147483648 - (dau > 0))))))) AS codes,
                arrayMap(c -> toInt64(bitShiftRight(c, 36)), codes) AS days,
                arrayMap(c -> bitAnd(bitShiftRight(c, 32), 15), codes) AS kinds,
                arrayMap(c -> toInt64(bitAnd(c, 4294967295)) - 2147483648, codes) AS vals,
                arrayCumSum(arrayMap((k, v) -> if(k = 1, v, 0), kinds, vals)) AS dau_sum,
                arrayCumSum(arrayMap((k, v) -> if(k = 2, v, 0), kinds, vals)) AS wau_sum,
                arrayCumSum(arrayMap((k, v) -> if(k = 3, v, 0), kinds, vals)) AS mau_sum,
                arrayCumSum(arrayMap((k, v) -> if(k = 4, v, 0), kinds, vals)) AS active_days_sum,
                arrayMap((d, n) -> greatest(least(n, toInt64(toUInt16(toDate(now(), 'UTC'))) + 1) - d, 0),
                         days, arrayPushBack(arrayPopFront(days), days[-1])) AS spans
            FROM
            (
                -- Per account and day on which some user's changes fall: the users active
                -- that day and the sums of their WAU and MAU changes.
                SELECT
                    account_id,
                    intDiv(c, 8) AS dn,
                    toInt64(countIf(c % 8 = 1)) AS dau,
                    toInt64(countIf(c % 8 = 3)) - toInt64(countIf(c % 8 = 4)) AS dw,
                    toInt64(countIf(c % 8 = 5)) - toInt64(countIf(c % 8 = 6)) AS dm
                FROM
                (
                    -- Per user, from the sorted active days ds, each change as day * 8 + kind:
                    -- active on the day (1); WAU +1 where the user's coverage by 7 days
                    -- starts (3) and -1 on the first day it no longer covers (4); MAU the
                    -- same with 30 days (5, 6). prev and next are ds shifted by one, so that
                    -- the lambdas compare neighbours without capturing ds (a lambda that
                    -- captures an array copies it for every element on 18.16). account_id
                    -- stays a grouping key at every step, so that a query's filter on it
                    -- reaches user_engaged_days (predicate pushdown).
                    SELECT
                        account_id,
                        arraySort(arrayDistinct(arrayMap(d -> toInt64(toUInt16(d)), groupArray(day)))) AS ds,
                        arrayPushFront(arrayPopBack(ds), toInt64(-1000000)) AS prev,
                        arrayPushBack(arrayPopFront(ds), toInt64(1000000)) AS next,
                        arrayConcat(
                            arrayMap(d -> d * 8 + 1, ds),
                            arrayMap(d -> d * 8 + 3, arrayFilter((d, p) -> d - p > 7, ds, prev)),
                            arrayMap(d -> (d + 7) * 8 + 4, arrayFilter((d, n) -> n - d > 7, ds, next)),
                            arrayMap(d -> d * 8 + 5, arrayFilter((d, p) -> d - p > 30, ds, prev)),
                            arrayMap(d -> (d + 30) * 8 + 6, arrayFilter((d, n) -> n - d > 30, ds, next))
                        ) AS changes
                    FROM user_engaged_days
                    GROUP BY account_id, user_id
                )
                ARRAY JOIN changes AS c
                GROUP BY account_id, dn
            )
            GROUP BY account_id
        )
        ARRAY JOIN days AS p, dau_sum AS a, wau_sum AS w, mau_sum AS m, active_days_sum AS t, spans AS sp
    )
    ARRAY JOIN range(toUInt64(sp)) AS k
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
