-- The user KPIs (adoption, time to value, retention cohorts), rewritten for speed: same
-- columns, same rows, same values as in 0005 (README, "Customer-success KPIs").
--
-- Measured over 10k accounts x 12 months (BENCHMARKS.md), the 0005 definitions spent their
-- time in three places, each fixed here:
--   - GROUP BY and JOIN on (account_id, user_id) or (account_id, month): two String keys
--     take 18.16's slow serialised-key path. The views now group and join on
--     cityHash64(...) and carry the strings along with any(). Two keys that collide would
--     be counted as one: with n keys the chance of any collision is about n^2 / 2^65, below
--     1e-8 for a million users (the scorer makes the same trade).
--   - Joins of two aggregates where one GROUP BY over a UNION ALL does (adoption), and sets
--     of (feature name, user) tuples where sets of numbers do.
--   - user_name_months is sorted by (account_id, user_id, ...), so "core features only"
--     read all of it, every product event name of every user and month. feature_user_months
--     holds the same rows sorted by name first, so the views read only the core features'
--     ranges. user_name_months had no other reader and is dropped.
--
-- A pre-aggregate per account and month was tried and not kept: distinct users per account
-- and month need sets (uniqExact states), and merging 10^5..10^6 small states cost more on
-- 18.16 than grouping the rows; and a user's sign-up month moves earlier when a late event
-- arrives, which a count per month could not undo.
--
-- Every statement may run again after a crash part-way (the migration is retried whole):
-- CREATE ... IF NOT EXISTS, DROP ... IF EXISTS, and the backfill below only adds copies that
-- the views already ignore.

-- The first time each user sent each event name in each month, sorted by name: what
-- adoption and time_to_value read (core features only). Filled by a materialized view on
-- every insert into events_raw, and from the events already stored by the INSERT below
-- (about 2 minutes per 25M stored events on 2 loaded cores). As with 0005's
-- user_name_months, a second copy of an event (a redelivery, an event seen by both) changes
-- no minimum, and the views read min() or distinct users, so they are exact before and
-- after merges.
CREATE TABLE IF NOT EXISTS feature_user_months
(
    name        String,
    account_id  String,
    month       Date,
    user_id     String,
    first_ts_ms Int64,
    -- ReplacingMergeTree keeps the greatest ver: the earliest first_ts_ms.
    ver         UInt64
)
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(month)
ORDER BY (name, account_id, month, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS feature_user_months_mv TO feature_user_months AS
SELECT
    name,
    account_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    user_id,
    min(ts_ms) AS first_ts_ms,
    toUInt64(9223372036854775807 - min(ts_ms)) AS ver
FROM events_raw
WHERE user_id != ''
GROUP BY name, account_id, month, user_id;

-- An INSERT into events_raw that started before the view existed does not feed it, and its
-- rows are not in the copy below if they commit after the copy starts reading. Waiting 3 s
-- (the longest sleep ClickHouse allows) lets such inserts finish; the worker's take well
-- under a second. Only when events are stored: a new database has nothing to wait for.
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

INSERT INTO feature_user_months (name, account_id, month, user_id, first_ts_ms, ver)
SELECT
    name,
    account_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    user_id,
    min(ts_ms) AS first_ts_ms,
    toUInt64(9223372036854775807 - min(ts_ms)) AS ver
FROM events_raw
WHERE user_id != ''
GROUP BY name, account_id, month, user_id
-- One pass over every stored event: the groups may not fit the per-query memory limit
-- (2 GiB in the bundled configuration), so past 1 GB they spill to disk.
SETTINGS max_bytes_before_external_group_by = 1000000000;

DROP TABLE IF EXISTS adoption;

-- Adoption rate = users who used a core feature in the month / users signed up by the end of
-- the month x 100, per account, core feature (core_features_current) and month, from the
-- month of the account's first user to the current month. feature '*' is any core feature:
-- the users who used at least one. A user counts as signed up from their sign-up or first
-- event, whichever is earlier, so that a user is never an adopter before being counted.
-- The core features in force now apply to the whole history.
CREATE VIEW IF NOT EXISTS adoption AS
SELECT
    account_id,
    feature,
    month,
    users_signed_up,
    toUInt64(if(feature_index = 0, any_adopters, countEqual(adopter_features, feature_index))) AS adopters,
    adopters / users_signed_up * 100 AS adoption_rate
FROM
(
    -- One row per account and month. A row of the first kind is one signed-up user in one
    -- month; a row of the second is one (core feature, user) used in the month, possibly
    -- twice before ReplacingMergeTree merges feature_user_months, hence groupUniqArray. The
    -- pair is one UInt64: the feature's position in the core feature list in the top 8 bits,
    -- 56 bits of the user's hash below (a set of numbers is several times cheaper than a set
    -- of (String, UInt64) tuples); adopter_features keeps the positions of the distinct pairs.
    SELECT
        any(account_id) AS account_id,
        any(month) AS month,
        sum(signed_up) AS users_signed_up,
        arrayMap(x -> bitShiftRight(x, 56), groupUniqArrayIf(feature_user, signed_up = 0)) AS adopter_features,
        uniqExactIf(user, signed_up = 0) AS any_adopters
    FROM
    (
        -- Each user counts in every month from their sign-up month to the current one.
        SELECT
            account_id,
            addMonths(m0, k) AS month,
            cityHash64(account_id, month) AS key,
            toUInt64(1) AS signed_up,
            toUInt64(0) AS feature_user,
            toUInt64(0) AS user
        FROM
        (
            SELECT
                account_id,
                toStartOfMonth(toDate(least(signed_up_at, first_event_at), 'UTC')) AS m0,
                toUInt32(greatest(toInt64(toRelativeMonthNum(toDate(now(), 'UTC'))) - toInt64(toRelativeMonthNum(m0)), -1) + 1) AS months
            FROM user_signups
        )
        ARRAY JOIN range(months) AS k

        UNION ALL

        SELECT
            account_id,
            month,
            cityHash64(account_id, month) AS key,
            toUInt64(0) AS signed_up,
            bitOr(bitShiftLeft(toUInt64(indexOf(arraySort((SELECT groupArray(feature) FROM core_features_current)), name)), 56),
                  bitAnd(cityHash64(user_id), 72057594037927935)) AS feature_user,
            cityHash64(user_id) AS user
        FROM feature_user_months
        WHERE name IN (SELECT feature FROM core_features_current)
    )
    GROUP BY key
    -- Every adopter has signed up by then (sign-up is at or before the first event), so this
    -- drops nothing but keeps the 0005 rule that a row needs a signed-up user.
    HAVING users_signed_up > 0
)
-- feature_index is the feature's position in the same list (1-based), 0 for '*'. The list is
-- sorted wherever it is read, so that every reading numbers the features alike.
ARRAY JOIN
    arrayPushBack(arraySort((SELECT groupArray(feature) FROM core_features_current)), '*') AS feature,
    arrayPushBack(arrayEnumerate(arraySort((SELECT groupArray(feature) FROM core_features_current))), 0) AS feature_index;

-- Time to value per user: from sign-up (user_signups) to the first use of any core feature.
-- plan is the account's plan at the end of the sign-up day ('' before its first plan trait);
-- cohort_month is the sign-up month. first_value_at and seconds_to_value are NULL for users
-- who have not used a core feature yet; a first use before the recorded sign-up counts as 0.
-- Two core features first used in the same millisecond: the alphabetically first is named.
-- time_to_value_summary reads this view by name and needs no change.
DROP TABLE IF EXISTS time_to_value;

CREATE VIEW IF NOT EXISTS time_to_value AS
SELECT
    acc AS account_id,
    uid AS user_id,
    signed_up_at,
    signup_source,
    toStartOfMonth(toDate(signed_up_at, 'UTC')) AS cohort_month,
    signup_plan AS plan,
    if(reached = 1, toNullable(toDateTime(intDiv(value_ms, 1000), 'UTC')), NULL) AS first_value_at,
    value_feature AS first_value_feature,
    if(reached = 1, toNullable(greatest(intDiv(value_ms, 1000) - toInt64(signed_up_at), 0)), NULL) AS seconds_to_value
FROM
(
    -- The plan as of the end of the sign-up day: the latest plan trait sent before it, the
    -- same carrying forward as account_state_intervals, read from the $account events alone.
    -- (18.16 cannot alias any(account_id) back to account_id here: acc, uid.)
    SELECT
        user,
        any(account_id) AS acc,
        any(user_id) AS uid,
        any(signup_at) AS signed_up_at,
        any(source) AS signup_source,
        argMaxIf(plan, tuple(ts_ms, plan), has_plan = 1 AND day <= toDate(signup_at, 'UTC')) AS signup_plan
    FROM
    (
        SELECT account_id, user_id, cityHash64(account_id, user_id) AS user, signed_up_at AS signup_at, signup_source AS source
        FROM user_signups
    )
    ALL LEFT JOIN
    (
        SELECT account_id, ts_ms, day, has_plan, plan
        FROM account_trait_events
        WHERE has_plan = 1
    ) USING (account_id)
    GROUP BY user
)
ANY LEFT JOIN
(
    SELECT
        cityHash64(account_id, user_id) AS user,
        min(first_ts_ms) AS value_ms,
        argMin(name, tuple(first_ts_ms, name)) AS value_feature,
        toUInt8(1) AS reached
    FROM feature_user_months
    WHERE name IN (SELECT feature FROM core_features_current)
    GROUP BY user
) USING (user);

-- Retention per weekly sign-up cohort (cohort_week is the Monday): the share of the cohort's
-- users active again exactly 1, 7 and 30 days after their sign-up day (user_activity_days).
-- Only users whose day N is over count for day N (eligible_dN); retention_dN is NULL while
-- none is.
DROP TABLE IF EXISTS retention_cohorts;

CREATE VIEW IF NOT EXISTS retention_cohorts AS
SELECT
    cohort_week,
    users,
    eligible_d1, retained_d1, if(eligible_d1 > 0, retained_d1 / eligible_d1 * 100, NULL) AS retention_d1,
    eligible_d7, retained_d7, if(eligible_d7 > 0, retained_d7 / eligible_d7 * 100, NULL) AS retention_d7,
    eligible_d30, retained_d30, if(eligible_d30 > 0, retained_d30 / eligible_d30 * 100, NULL) AS retention_d30
FROM
(
    SELECT
        toMonday(signup_day) AS cohort_week,
        count() AS users,
        countIf(signup_day + 1 < today) AS eligible_d1,
        countIf(signup_day + 1 < today AND d1 = 1) AS retained_d1,
        countIf(signup_day + 7 < today) AS eligible_d7,
        countIf(signup_day + 7 < today AND d7 = 1) AS retained_d7,
        countIf(signup_day + 30 < today) AS eligible_d30,
        countIf(signup_day + 30 < today AND d30 = 1) AS retained_d30
    FROM
    (
        SELECT cityHash64(account_id, user_id) AS user, toDate(signed_up_at, 'UTC') AS signup_day, toDate(now(), 'UTC') AS today
        FROM user_signups
    )
    ANY LEFT JOIN
    (
        -- Per user: active on day 1, 7, 30 after the sign-up day. The activity streams through
        -- the join; only the users are held in memory.
        SELECT
            user,
            max(day = signup_day + 1) AS d1,
            max(day = signup_day + 7) AS d7,
            max(day = signup_day + 30) AS d30
        FROM
        (
            SELECT cityHash64(account_id, user_id) AS user, day
            FROM user_activity_days
        )
        ALL INNER JOIN
        (
            SELECT cityHash64(account_id, user_id) AS user, toDate(signed_up_at, 'UTC') AS signup_day
            FROM user_signups
        ) USING (user)
        GROUP BY user
    ) USING (user)
    GROUP BY cohort_week
);

-- user_name_months (0005) had no reader left: feature_user_months replaces it.
DROP TABLE IF EXISTS user_name_months_mv;

DROP TABLE IF EXISTS user_name_months;
