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
        FROM
        (
            
            
            SELECT account_id, month, name, user_id
            FROM feature_user_months
            WHERE name IN (SELECT feature FROM core_features_current)
        )
    )
    GROUP BY key
    
    
    HAVING users_signed_up > 0
)


ARRAY JOIN
    arrayPushBack(arraySort((SELECT groupArray(feature) FROM core_features_current)), '*') AS feature,
    arrayPushBack(arrayEnumerate(arraySort((SELECT groupArray(feature) FROM core_features_current))), 0) AS feature_index;

