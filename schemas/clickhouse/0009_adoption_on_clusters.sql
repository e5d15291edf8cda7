-- adoption, as 0006 defines it, failed on a cluster: its feature_user_months branch computes
-- an expression holding a scalar subquery (the sorted core feature list) over a Distributed
-- table; 18.16 sends that expression to the shards with the subquery already replaced by its
-- value, and then looks for the column under its original name ("Not found column
-- bitOr(bitShiftLeft(toUInt64(indexOf(arraySort(_subquery…") as soon as a remote shard
-- returns rows. Reading the columns in a subquery and computing the expression over its
-- result keeps the expression on the server that runs the query. The view returns the same
-- rows; on one server nothing else changes.
DROP TABLE IF EXISTS adoption;

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
        FROM
        (
            -- The columns only: on a cluster this part runs on the shards, and 18.16 cannot
            -- send them an expression holding a scalar subquery (see the top of this file).
            SELECT account_id, month, name, user_id
            FROM feature_user_months
            WHERE name IN (SELECT feature FROM core_features_current)
        )
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
