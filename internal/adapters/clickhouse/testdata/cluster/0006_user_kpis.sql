-- on every node
CREATE TABLE IF NOT EXISTS feature_user_months_local (
    name        String,
    account_id  String,
    month       Date,
    user_id     String,
    first_ts_ms Int64,
    
    ver         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/feature_user_months_local', '{replica}', ver)
PARTITION BY toYYYYMM(month)
ORDER BY (name, account_id, month, user_id);

-- on every node
CREATE TABLE IF NOT EXISTS feature_user_months AS feature_user_months_local
ENGINE = Distributed(engage, engagement, feature_user_months_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS feature_user_months_mv TO feature_user_months_local AS SELECT
    name,
    account_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    user_id,
    min(ts_ms) AS first_ts_ms,
    toUInt64(9223372036854775807 - min(ts_ms)) AS ver
FROM events_raw_local
WHERE user_id != ''
GROUP BY name, account_id, month, user_id;

-- once, on one node
SELECT sleep(if((SELECT count() FROM events_raw) > 0, 3, 0));

-- once, on one node
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


SETTINGS max_bytes_before_external_group_by = 1000000000;

-- on every node
DROP TABLE IF EXISTS adoption;

-- on every node
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
    
    
    
    
    
    
    SELECT
        any(account_id) AS account_id,
        any(month) AS month,
        sum(signed_up) AS users_signed_up,
        arrayMap(x -> bitShiftRight(x, 56), groupUniqArrayIf(feature_user, signed_up = 0)) AS adopter_features,
        uniqExactIf(user, signed_up = 0) AS any_adopters
    FROM
    (
        
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
    
    
    HAVING users_signed_up > 0
)


ARRAY JOIN
    arrayPushBack(arraySort((SELECT groupArray(feature) FROM core_features_current)), '*') AS feature,
    arrayPushBack(arrayEnumerate(arraySort((SELECT groupArray(feature) FROM core_features_current))), 0) AS feature_index;

-- on every node
DROP TABLE IF EXISTS time_to_value;

-- on every node
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

-- on every node
DROP TABLE IF EXISTS retention_cohorts;

-- on every node
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

-- on every node
DROP TABLE IF EXISTS user_name_months_mv;

-- on every node
DROP TABLE IF EXISTS user_name_months;

-- on every node
DROP TABLE IF EXISTS user_name_months_local;

