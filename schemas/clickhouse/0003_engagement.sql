-- Account traits from $account events: each trait takes its latest value by event time, and
-- an event that does not carry a trait leaves it as it was (a $account with only a plan does
-- not forget the seats).
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
FROM events_raw FINAL
WHERE name = '$account'
GROUP BY account_id;

-- Active users per account and day: a user is active on a day with at least one product
-- event or $heartbeat (contract §5).
CREATE VIEW IF NOT EXISTS user_active_days AS
SELECT account_id, user_id, day
FROM session_days_latest
WHERE active = 1
GROUP BY account_id, user_id, day;

-- For every account and day up to today on which the account had an active user in the 30
-- days ending that day: DAU, WAU (7 days), MAU (30 days), active days among the 14 ending
-- that day, seats from the latest traits, licence utilisation (mau / seats) and stickiness
-- (dau / mau). Days are UTC days whatever the server time zone. Each active user-day is spread over the 30 days it counts towards, so no
-- window functions are needed (ClickHouse 18.16 has none).
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
        toDate(active_day + n) AS day,
        uniqExactIf(user_id, n = 0) AS dau,
        uniqExactIf(user_id, n < 7) AS wau,
        uniqExact(user_id) AS mau,
        uniqExactIf(active_day, n < 14) AS active_days_14d
    FROM (SELECT account_id, user_id, day AS active_day FROM user_active_days)
    ARRAY JOIN range(30) AS n
    WHERE toDate(active_day + n) <= toDate(now(), 'UTC')
    GROUP BY account_id, day
)
ANY LEFT JOIN (SELECT account_id, seats FROM account_traits) USING account_id;

-- Feature breadth and adoption: per account, day and product event name, the distinct users
-- who used the feature and how often. Product events only ($-names are signals, not
-- features); events beyond the allowed lateness count too, since a feature was used whether
-- or not the event could be sessionized.
CREATE VIEW IF NOT EXISTS feature_daily AS
SELECT
    account_id,
    toDate(ts, 'UTC') AS day,
    name,
    uniqExact(user_id) AS users,
    count() AS events
FROM events_raw FINAL
WHERE substring(name, 1, 1) != '$'
GROUP BY account_id, day, name;

-- Engagement by plan (the source documents compare plans): per plan and day, the accounts on
-- that plan with engagement data that day, and the averages over those accounts of DAU,
-- active days in the last 14, licence utilisation (accounts with known seats only) and
-- active seconds per active user (NULL when no account had data for the average). The plan
-- is the account's latest plan trait ('' when never sent).
CREATE VIEW IF NOT EXISTS plan_engagement AS
SELECT
    plan,
    day,
    count() AS accounts,
    avg(dau) AS avg_dau,
    avg(active_days_14d) AS avg_active_days_14d,
    if(countIf(isNotNull(license_utilisation)) > 0,
       avgIf(license_utilisation, isNotNull(license_utilisation)), NULL) AS avg_license_utilisation,
    if(countIf(dau > 0) > 0, avgIf(active_seconds / dau, dau > 0), NULL) AS avg_active_seconds_per_active_user
FROM
(
    SELECT account_id, day, dau, active_days_14d, license_utilisation, active_seconds
    FROM account_engagement
    ANY LEFT JOIN (SELECT account_id, day, active_seconds FROM account_daily) USING (account_id, day)
)
ANY LEFT JOIN (SELECT account_id, plan FROM account_traits) USING account_id
GROUP BY plan, day;
