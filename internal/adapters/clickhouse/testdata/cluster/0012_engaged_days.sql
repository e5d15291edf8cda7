-- on every node
CREATE TABLE IF NOT EXISTS user_engaged_days_local (
    account_id String,
    user_id    String,
    day        Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/user_engaged_days_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, user_id, day);

-- on every node
CREATE TABLE IF NOT EXISTS user_engaged_days AS user_engaged_days_local
ENGINE = Distributed(engage, engagement, user_engaged_days_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS user_engaged_days_mv TO user_engaged_days_local AS SELECT account_id, user_id, day
FROM session_days_raw_local
WHERE active = 1 AND deleted = 0
GROUP BY account_id, user_id, day;

-- once, on one node
SELECT sleep(if((SELECT count() FROM session_days_raw) > 0, 3, 0));

-- once, on one node
INSERT INTO user_engaged_days (account_id, user_id, day)
SELECT account_id, user_id, day
FROM session_days_raw
WHERE active = 1 AND deleted = 0
GROUP BY account_id, user_id, day;

-- on every node
DROP TABLE IF EXISTS user_active_days;

-- on every node
CREATE VIEW IF NOT EXISTS user_active_days AS
SELECT account_id, user_id, day
FROM user_engaged_days
GROUP BY account_id, user_id, day;

-- on every node
DROP TABLE IF EXISTS account_engagement;

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
                
                
                SELECT
                    account_id,
                    intDiv(c, 8) AS dn,
                    toInt64(countIf(c % 8 = 1)) AS dau,
                    toInt64(countIf(c % 8 = 3)) - toInt64(countIf(c % 8 = 4)) AS dw,
                    toInt64(countIf(c % 8 = 5)) - toInt64(countIf(c % 8 = 6)) AS dm
                FROM
                (
                    
                    
                    
                    
                    
                    
                    
                    
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

-- on every node
DROP TABLE IF EXISTS account_traits;

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
FROM signal_events FINAL
WHERE name = '$account'
GROUP BY account_id;

