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
                    
                    
                    
                    
                    SELECT
                        account_id,
                        tupleElement(change, 1) AS dn,
                        sum(tupleElement(change, 2)) AS dau,
                        sum(tupleElement(change, 3)) AS dw,
                        sum(tupleElement(change, 4)) AS dm
                    FROM
                    (
                        
                        
                        
                        
                        
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

