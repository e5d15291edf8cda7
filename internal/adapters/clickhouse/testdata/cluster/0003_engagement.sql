-- on every node
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

-- on every node
CREATE VIEW IF NOT EXISTS user_active_days AS
SELECT account_id, user_id, day
FROM session_days_latest
WHERE active = 1
GROUP BY account_id, user_id, day;

-- on every node
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

-- on every node
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

-- on every node
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

