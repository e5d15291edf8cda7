-- on every node
CREATE TABLE IF NOT EXISTS kpi_settings (
    name       String,
    value      Float64,
    updated_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/engagement/kpi_settings', '{shard}-{replica}', updated_at)
ORDER BY name;

-- once, on one node
INSERT INTO kpi_settings (name, value, updated_at)
SELECT 'ltv_churn_window_months', 3, toDateTime('2000-01-01 00:00:00', 'UTC');

-- on every node
CREATE TABLE IF NOT EXISTS core_features (
    feature    String,
    enabled    UInt8,
    updated_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/engagement/core_features', '{shard}-{replica}', updated_at)
ORDER BY feature;

-- once, on one node
INSERT INTO core_features (feature, enabled, updated_at)
SELECT arrayJoin(['dashboard.viewed', 'report.viewed', 'report.created', 'invoice.created', 'invoice.sent']),
       1, toDateTime('2000-01-01 00:00:00', 'UTC');

-- on every node
CREATE VIEW IF NOT EXISTS core_features_current AS
SELECT feature
FROM
(
    SELECT feature, argMax(enabled, updated_at) AS is_enabled
    FROM core_features
    GROUP BY feature
)
WHERE is_enabled = 1;

-- on every node
CREATE VIEW IF NOT EXISTS kpi_settings_current AS
SELECT name, argMax(value, updated_at) AS value
FROM kpi_settings
GROUP BY name;

-- on every node
CREATE TABLE IF NOT EXISTS signal_events_local (
    event_id    String,
    account_id  String,
    user_id     String,
    name        String,
    ts          DateTime('UTC'),
    ts_ms       Int64,
    properties  String,
    ver         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/signal_events_local', '{replica}', ver)
ORDER BY (name, account_id, event_id);

-- on every node
CREATE TABLE IF NOT EXISTS signal_events AS signal_events_local
ENGINE = Distributed(engage, engagement, signal_events_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS signal_events_mv TO signal_events_local AS SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw_local
WHERE name IN ('$account', '$nps', '$csat', '$renewal', '$referral');

-- once, on one node
INSERT INTO signal_events (event_id, account_id, user_id, name, ts, ts_ms, properties, ver)
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name IN ('$account', '$nps', '$csat', '$renewal', '$referral');

-- on every node
CREATE TABLE IF NOT EXISTS user_name_months_local (
    account_id  String,
    user_id     String,
    name        String,
    month       Date,
    first_ts_ms Int64,
    
    ver         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/user_name_months_local', '{replica}', ver)
PARTITION BY toYYYYMM(month)
ORDER BY (account_id, user_id, name, month);

-- on every node
CREATE TABLE IF NOT EXISTS user_name_months AS user_name_months_local
ENGINE = Distributed(engage, engagement, user_name_months_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS user_name_months_mv TO user_name_months_local AS SELECT
    account_id,
    user_id,
    name,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    min(ts_ms) AS first_ts_ms,
    toUInt64(9223372036854775807 - min(ts_ms)) AS ver
FROM events_raw_local
WHERE user_id != ''
GROUP BY account_id, user_id, name, month;

-- once, on one node
INSERT INTO user_name_months (account_id, user_id, name, month, first_ts_ms, ver)
SELECT
    account_id,
    user_id,
    name,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    min(ts_ms) AS first_ts_ms,
    toUInt64(9223372036854775807 - min(ts_ms)) AS ver
FROM events_raw
WHERE user_id != ''
GROUP BY account_id, user_id, name, month;

-- on every node
CREATE TABLE IF NOT EXISTS user_firsts_local (
    account_id      String,
    user_id         String,
    first_event_ms  AggregateFunction(min, Int64),
    first_signup_ms AggregateFunction(min, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/engagement/user_firsts_local', '{replica}')
ORDER BY (account_id, user_id);

-- on every node
CREATE TABLE IF NOT EXISTS user_firsts AS user_firsts_local
ENGINE = Distributed(engage, engagement, user_firsts_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS user_firsts_mv TO user_firsts_local AS SELECT
    account_id,
    user_id,
    minState(ts_ms) AS first_event_ms,
    minState(if(name = '$signup', ts_ms, toInt64(9223372036854775807))) AS first_signup_ms
FROM events_raw_local
WHERE user_id != ''
GROUP BY account_id, user_id;

-- once, on one node
INSERT INTO user_firsts (account_id, user_id, first_event_ms, first_signup_ms)
SELECT
    account_id,
    user_id,
    minState(ts_ms) AS first_event_ms,
    minState(if(name = '$signup', ts_ms, toInt64(9223372036854775807))) AS first_signup_ms
FROM events_raw
WHERE user_id != ''
GROUP BY account_id, user_id;

-- on every node
CREATE TABLE IF NOT EXISTS user_activity_days_local (
    account_id String,
    user_id    String,
    day        Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/engagement/user_activity_days_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, user_id, day);

-- on every node
CREATE TABLE IF NOT EXISTS user_activity_days AS user_activity_days_local
ENGINE = Distributed(engage, engagement, user_activity_days_local, cityHash64(account_id));

-- on every node
CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_days_mv TO user_activity_days_local AS SELECT account_id, user_id, toDate(ts, 'UTC') AS day
FROM events_raw_local
WHERE user_id != '' AND (name = '$heartbeat' OR substring(name, 1, 1) != '$')
GROUP BY account_id, user_id, day;

-- once, on one node
INSERT INTO user_activity_days (account_id, user_id, day)
SELECT account_id, user_id, toDate(ts, 'UTC') AS day
FROM events_raw
WHERE user_id != '' AND (name = '$heartbeat' OR substring(name, 1, 1) != '$')
GROUP BY account_id, user_id, day;

-- on every node
CREATE VIEW IF NOT EXISTS account_trait_events AS
SELECT
    account_id,
    ts_ms,
    toDate(ts, 'UTC') AS day,
    visitParamExtractRaw(properties, 'status') NOT IN ('', 'null') AS has_status,
    visitParamExtractString(properties, 'status') AS status,
    visitParamExtractRaw(properties, 'plan') NOT IN ('', 'null') AS has_plan,
    visitParamExtractString(properties, 'plan') AS plan,
    visitParamExtractRaw(properties, 'seats') NOT IN ('', 'null') AS has_seats,
    visitParamExtractInt(properties, 'seats') AS seats,
    visitParamExtractRaw(properties, 'mrr') NOT IN ('', 'null') AS has_mrr,
    visitParamExtractFloat(properties, 'mrr') AS mrr
FROM signal_events FINAL
WHERE name = '$account';

-- on every node
CREATE VIEW IF NOT EXISTS account_state_intervals AS
SELECT
    account_id,
    st.1 AS day,
    if(j = length(states), addMonths(toStartOfMonth(toDate(now(), 'UTC')), 1), states[j + 1].1) AS valid_to,
    toUInt8(j = length(states)) AS is_current,
    st.2 AS status,
    st.3 AS plan,
    st.4 AS seats_known,
    st.5 AS seats,
    st.6 AS mrr_known,
    st.7 AS mrr,
    toUInt8(st.2 IN ('active', 'past_due')) AS paying,
    states[j - 1].2 AS prev_status
FROM
(
    SELECT
        account_id,
        
        
        arrayFilter((s, i) -> tuple(s.2, s.3, s.4, s.5, s.6, s.7) != tuple(day_states[i - 1].2, day_states[i - 1].3,
                        day_states[i - 1].4, day_states[i - 1].5, day_states[i - 1].6, day_states[i - 1].7),
                    day_states, arrayEnumerate(day_states)) AS states
    FROM
    (
        SELECT
            account_id,
            
            
            arrayMap(i -> tuple(days[i], statuses[i], plans[i], seats_known[i], seats[i], mrr_known[i], mrrs[i]),
                     arrayFilter(i -> days[i] != days[i + 1], arrayEnumerate(days))) AS day_states
        FROM
        (
            SELECT
                account_id,
                arrayMap(e -> e.2, ev) AS days,
                arrayMap(c -> sent_statuses[c], arrayCumSum(arrayMap(e -> e.3, ev))) AS statuses,
                arrayMap(c -> sent_plans[c], arrayCumSum(arrayMap(e -> e.5, ev))) AS plans,
                arrayMap(c -> toUInt8(c > 0), arrayCumSum(arrayMap(e -> e.7, ev))) AS seats_known,
                arrayMap(c -> sent_seats[c], arrayCumSum(arrayMap(e -> e.7, ev))) AS seats,
                arrayMap(c -> toUInt8(c > 0), arrayCumSum(arrayMap(e -> e.9, ev))) AS mrr_known,
                arrayMap(c -> sent_mrrs[c], arrayCumSum(arrayMap(e -> e.9, ev))) AS mrrs,
                arrayMap(e -> e.4, arrayFilter(e -> e.3 = 1, ev)) AS sent_statuses,
                arrayMap(e -> e.6, arrayFilter(e -> e.5 = 1, ev)) AS sent_plans,
                arrayMap(e -> e.8, arrayFilter(e -> e.7 = 1, ev)) AS sent_seats,
                arrayMap(e -> e.10, arrayFilter(e -> e.9 = 1, ev)) AS sent_mrrs
            FROM
            (
                SELECT
                    account_id,
                    
                    
                    
                    arraySort(groupArray(tuple(ts_ms, day, has_status, status, has_plan, plan,
                                               has_seats, seats, has_mrr, mrr))) AS ev
                FROM account_trait_events
                GROUP BY account_id
            )
            
            
            WHERE length(sent_statuses) + length(sent_plans) + length(sent_seats) + length(sent_mrrs) >= 0
        )
        WHERE length(statuses) + length(plans) + length(seats_known) + length(seats) + length(mrr_known) + length(mrrs) >= 0
    )
)
ARRAY JOIN
    states AS st,
    arrayEnumerate(states) AS j;

-- on every node
CREATE VIEW IF NOT EXISTS account_state_changes AS
SELECT
    account_id,
    day,
    if(is_current = 1, NULL, toNullable(valid_to)) AS valid_to,
    status,
    plan,
    if(seats_known = 1, toNullable(seats), NULL) AS seats,
    if(mrr_known = 1, toNullable(mrr), NULL) AS mrr,
    paying,
    prev_status
FROM account_state_intervals;

-- on every node
CREATE VIEW IF NOT EXISTS account_state_daily AS
SELECT
    account_id,
    toDate(change_day + n) AS day,
    status,
    plan,
    if(seats_known = 1, toNullable(seats), NULL) AS seats,
    if(mrr_known = 1, toNullable(mrr), NULL) AS mrr,
    paying,
    toUInt8(n = 0) AS changed
FROM
(
    SELECT
        account_id, day AS change_day, status, plan, seats_known, seats, mrr_known, mrr, paying,
        
        toUInt32(greatest(toInt64(least(valid_to, toDate(now(), 'UTC') + 1)) - toInt64(day), 0)) AS days
    FROM account_state_intervals
)
ARRAY JOIN range(days) AS n;

-- on every node
CREATE VIEW IF NOT EXISTS account_state_monthly AS
SELECT
    account_id,
    month,
    status_start,
    plan_start,
    paying_start,
    mrr_start,
    status_end,
    plan_end,
    if(seats_known_end = 1, toNullable(seats_end), NULL) AS seats_end,
    paying_end,
    mrr_end,
    multiIf(lost = 1, 'churned', new_customer = 1, 'new', mrr_end > mrr_start AND paying_start = 1, 'expansion',
            mrr_end < mrr_start, 'contraction', paying_start = 1, 'flat', 'none') AS movement,
    if(new_customer = 1, mrr_end, 0) AS mrr_new,
    if(paying_start = 1 AND paying_end = 1 AND mrr_end > mrr_start, mrr_end - mrr_start, 0) AS mrr_expansion,
    if(paying_start = 1 AND lost = 0 AND mrr_end < mrr_start, mrr_start - mrr_end, 0) AS mrr_contraction,
    if(lost = 1, mrr_start, 0) AS mrr_churned,
    lost,
    new_customer,
    toUInt8(paying_start = 0 AND paying_during = 1 AND status_end = 'canceled') AS new_and_lost,
    trials_started,
    trials_ended,
    trials_converted
FROM
(
    SELECT
        account_id, month,
        status_start, plan_start, paying_start, mrr_start,
        status_end, plan_end, seats_known_end, seats_end, paying_end, mrr_end,
        paying_during, trials_started, trials_ended, trials_converted,
        toUInt8(paying_start = 1 AND status_end = 'canceled') AS lost,
        toUInt8(paying_start = 0 AND paying_end = 1) AS new_customer
    FROM
    (
        
        
        
        
        SELECT
            account_id,
            addMonths(m0, k) AS month,
            anyIf(status, k >= 1) AS status_start,
            anyIf(plan, k >= 1) AS plan_start,
            anyIf(paying, k >= 1) AS paying_start,
            anyIf(mrr_paid, k >= 1) AS mrr_start,
            anyIf(status, k < months_covered) AS status_end,
            anyIf(plan, k < months_covered) AS plan_end,
            anyIf(seats_known, k < months_covered) AS seats_known_end,
            anyIf(seats, k < months_covered) AS seats_end,
            anyIf(paying, k < months_covered) AS paying_end,
            anyIf(mrr_paid, k < months_covered) AS mrr_end,
            
            
            max(paying) AS paying_during,
            countIf(k = 0 AND status = 'trialing' AND prev_status != 'trialing') AS trials_started,
            countIf(k = 0 AND prev_status = 'trialing' AND status != 'trialing') AS trials_ended,
            countIf(k = 0 AND prev_status = 'trialing' AND status = 'active') AS trials_converted
        FROM
        (
            SELECT
                account_id, status, plan, seats_known, seats, paying, prev_status,
                if(paying = 1 AND mrr_known = 1, mrr, 0) AS mrr_paid,
                toStartOfMonth(day) AS m0,
                
                
                toUInt32(toRelativeMonthNum(valid_to) - toRelativeMonthNum(day)) AS months_covered
            FROM account_state_intervals
        )
        ARRAY JOIN range(months_covered + 1) AS k
        WHERE addMonths(m0, k) <= toStartOfMonth(toDate(now(), 'UTC'))
        GROUP BY account_id, month
    )
);

-- on every node
CREATE VIEW IF NOT EXISTS churn_monthly AS
SELECT
    month,
    customers_start,
    customers_new,
    customers_lost,
    customers_new_and_lost,
    customers_end,
    if(customers_start > 0, customers_lost / customers_start * 100, NULL) AS churn_rate,
    mrr_start,
    mrr_churned,
    if(mrr_start > 0, mrr_churned / mrr_start * 100, NULL) AS revenue_churn_rate
FROM
(
    SELECT
        month,
        sum(paying_start) AS customers_start,
        sum(new_customer) AS customers_new,
        sum(lost) AS customers_lost,
        sum(new_and_lost) AS customers_new_and_lost,
        sum(paying_end) AS customers_end,
        sum(mrr_start) AS mrr_start,
        sum(mrr_churned) AS mrr_churned
    FROM account_state_monthly
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS mrr_movements_monthly AS
SELECT
    month,
    mrr_start,
    mrr_new,
    mrr_expansion,
    mrr_contraction,
    mrr_churned,
    mrr_end,
    mrr_end - mrr_start AS mrr_net_change,
    toUInt8(mrr_expansion > mrr_contraction + mrr_churned) AS negative_churn
FROM
(
    SELECT
        month,
        sum(mrr_start) AS mrr_start,
        sum(mrr_new) AS mrr_new,
        sum(mrr_expansion) AS mrr_expansion,
        sum(mrr_contraction) AS mrr_contraction,
        sum(mrr_churned) AS mrr_churned,
        sum(mrr_end) AS mrr_end
    FROM account_state_monthly
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS nrr_monthly AS
SELECT
    month,
    customers_start,
    mrr_start,
    mrr_expansion,
    mrr_contraction,
    mrr_churned,
    mrr_start + mrr_expansion - mrr_contraction - mrr_churned AS mrr_retained,
    if(mrr_start > 0, (mrr_start + mrr_expansion - mrr_contraction - mrr_churned) / mrr_start * 100, NULL) AS nrr
FROM
(
    SELECT
        month,
        sum(paying_start) AS customers_start,
        sum(mrr_start) AS mrr_start,
        sum(mrr_expansion) AS mrr_expansion,
        sum(mrr_contraction) AS mrr_contraction,
        sum(mrr_churned) AS mrr_churned
    FROM account_state_monthly
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS ltv AS
SELECT
    month,
    window_months,
    customers,
    mrr,
    if(customers > 0, mrr / customers, NULL) AS arpa,
    window_customers_start,
    window_customers_lost,
    if(window_customers_start > 0, window_customers_lost / window_customers_start * 100, NULL) AS churn_rate,
    if(customers > 0 AND window_customers_lost > 0,
       mrr / customers * window_customers_start / window_customers_lost, NULL) AS ltv,
    if(window_customer_months > 0, window_mrr / window_customer_months, NULL) AS avg_monthly_revenue,
    if(window_customers_lost > 0, window_customers_start / window_customers_lost, NULL) AS avg_lifetime_months,
    if(window_customer_months > 0 AND window_customers_lost > 0,
       window_mrr / window_customer_months * window_customers_start / window_customers_lost, NULL) AS clv
FROM
(
    
    
    SELECT
        addMonths(source_month, k) AS month,
        any(window_size) AS window_months,
        sumIf(customers_end, k = 0) AS customers,
        sumIf(mrr_end, k = 0) AS mrr,
        sum(customers_start) AS window_customers_start,
        sum(customers_lost) AS window_customers_lost,
        sum(customers_end) AS window_customer_months,
        sum(mrr_end) AS window_mrr
    FROM
    (
        SELECT
            month AS source_month,
            sum(paying_start) AS customers_start,
            sum(lost) AS customers_lost,
            sum(paying_end) AS customers_end,
            sum(mrr_end) AS mrr_end,
            (SELECT toUInt32(greatest(1, if(countIf(name = 'ltv_churn_window_months') = 0, 3,
                                             argMaxIf(value, updated_at, name = 'ltv_churn_window_months'))))
             FROM kpi_settings) AS window_size
        FROM account_state_monthly
        GROUP BY month
    )
    ARRAY JOIN range(window_size) AS k
    WHERE addMonths(source_month, k) <= toStartOfMonth(toDate(now(), 'UTC'))
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS trial_conversion_monthly AS
SELECT
    month,
    trials_started,
    trials_ended,
    trials_converted,
    if(trials_ended > 0, trials_converted / trials_ended * 100, NULL) AS conversion_rate
FROM
(
    SELECT
        month,
        sum(trials_started) AS trials_started,
        sum(trials_ended) AS trials_ended,
        sum(trials_converted) AS trials_converted
    FROM account_state_monthly
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS nps_user_monthly AS
SELECT
    account_id,
    user_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    toInt64(intDiv(max(ts_ms * 16 + answer), 16)) AS answered_ms,
    toInt64(max(ts_ms * 16 + answer) % 16) AS score
FROM
(
    SELECT account_id, user_id, ts, ts_ms, visitParamExtractInt(properties, 'score') AS answer
    FROM signal_events FINAL
    WHERE name = '$nps'
)
GROUP BY account_id, user_id, month;

-- on every node
CREATE VIEW IF NOT EXISTS nps_monthly AS
SELECT
    month, responses, promoters, passives, detractors,
    (toInt64(promoters) - toInt64(detractors)) / responses * 100 AS nps
FROM
(
    SELECT
        month,
        count() AS responses,
        countIf(score >= 9) AS promoters,
        countIf(score BETWEEN 7 AND 8) AS passives,
        countIf(score <= 6) AS detractors
    FROM nps_user_monthly
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS nps_account_monthly AS
SELECT
    month, account_id, plan, responses, promoters, passives, detractors,
    (toInt64(promoters) - toInt64(detractors)) / responses * 100 AS nps
FROM
(
    SELECT
        account_id,
        month,
        count() AS responses,
        countIf(score >= 9) AS promoters,
        countIf(score BETWEEN 7 AND 8) AS passives,
        countIf(score <= 6) AS detractors
    FROM nps_user_monthly
    GROUP BY account_id, month
)
ANY LEFT JOIN
(
    SELECT account_id, month, plan_end AS plan
    FROM account_state_monthly
) USING (account_id, month);

-- on every node
CREATE VIEW IF NOT EXISTS nps_plan_monthly AS
SELECT
    month, plan, accounts, responses, promoters, passives, detractors,
    (toInt64(promoters) - toInt64(detractors)) / responses * 100 AS nps
FROM
(
    SELECT
        month,
        plan,
        count() AS accounts,
        sum(responses) AS responses,
        sum(promoters) AS promoters,
        sum(passives) AS passives,
        sum(detractors) AS detractors
    FROM nps_account_monthly
    GROUP BY month, plan
);

-- on every node
CREATE VIEW IF NOT EXISTS csat_answers AS
SELECT
    account_id,
    event_id,
    user_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    visitParamExtractInt(properties, 'score') AS score
FROM signal_events FINAL
WHERE name = '$csat';

-- on every node
CREATE VIEW IF NOT EXISTS csat_monthly AS
SELECT month, answers, satisfied, satisfied / answers * 100 AS csat
FROM
(
    SELECT month, count() AS answers, countIf(score >= 4) AS satisfied
    FROM csat_answers
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS csat_account_monthly AS
SELECT month, account_id, answers, satisfied, satisfied / answers * 100 AS csat
FROM
(
    SELECT account_id, month, count() AS answers, countIf(score >= 4) AS satisfied
    FROM csat_answers
    GROUP BY account_id, month
);

-- on every node
CREATE VIEW IF NOT EXISTS renewal_monthly AS
SELECT
    month,
    up_for_renewal,
    renewed,
    toUInt64(up_for_renewal - renewed) AS not_renewed,
    renewed / up_for_renewal * 100 AS renewal_rate
FROM
(
    SELECT month, count() AS up_for_renewal, sum(is_renewed) AS renewed
    FROM
    (
        
        
        SELECT account_id, month, toUInt8(max(ts_ms * 2 + renewed_flag) % 2) AS is_renewed
        FROM
        (
            SELECT
                account_id,
                ts_ms,
                toStartOfMonth(toDate(ts, 'UTC')) AS month,
                toUInt8(visitParamExtractBool(properties, 'renewed')) AS renewed_flag
            FROM signal_events FINAL
            WHERE name = '$renewal'
        )
        GROUP BY account_id, month
    )
    GROUP BY month
);

-- on every node
CREATE VIEW IF NOT EXISTS referrals_monthly AS
SELECT account_id, month, count() AS referrals, uniqExact(user_id) AS referring_users
FROM
(
    SELECT account_id, user_id, toStartOfMonth(toDate(ts, 'UTC')) AS month
    FROM signal_events FINAL
    WHERE name = '$referral'
)
GROUP BY account_id, month;

-- on every node
CREATE VIEW IF NOT EXISTS user_signups AS
SELECT
    account_id,
    user_id,
    toDateTime(intDiv(if(has_signup, first_signup, first_event), 1000), 'UTC') AS signed_up_at,
    if(has_signup, 'signup', 'first_event') AS signup_source,
    toDateTime(intDiv(first_event, 1000), 'UTC') AS first_event_at
FROM
(
    SELECT
        account_id,
        user_id,
        minMerge(first_event_ms) AS first_event,
        minMerge(first_signup_ms) AS first_signup,
        first_signup != 9223372036854775807 AS has_signup
    FROM user_firsts
    GROUP BY account_id, user_id
);

-- on every node
CREATE VIEW IF NOT EXISTS adoption AS
SELECT
    account_id,
    feature,
    month,
    users_signed_up,
    toUInt64(adopter_counts[indexOf(adopted_features, feature)]) AS adopters,
    adopters / users_signed_up * 100 AS adoption_rate
FROM
(
    SELECT account_id, month, users_signed_up, adopted_features, adopter_counts
    FROM
    (
        
        SELECT account_id, addMonths(m0, k) AS month, count() AS users_signed_up
        FROM
        (
            SELECT
                account_id,
                toStartOfMonth(toDate(least(signed_up_at, first_event_at), 'UTC')) AS m0,
                toUInt32(greatest(toInt64(toRelativeMonthNum(toDate(now(), 'UTC'))) - toInt64(toRelativeMonthNum(m0)), -1) + 1) AS months
            FROM user_signups
        )
        ARRAY JOIN range(months) AS k
        GROUP BY account_id, month
    )
    ANY LEFT JOIN
    (
        
        
        SELECT account_id, month, groupArray(feature) AS adopted_features, groupArray(adopted) AS adopter_counts
        FROM
        (
            SELECT account_id, name AS feature, month, uniqExact(user_id) AS adopted
            FROM user_name_months
            WHERE name IN (SELECT feature FROM core_features_current)
            GROUP BY account_id, name, month

            UNION ALL

            SELECT account_id, '*' AS feature, month, uniqExact(user_id) AS adopted
            FROM user_name_months
            WHERE name IN (SELECT feature FROM core_features_current)
            GROUP BY account_id, month
        )
        GROUP BY account_id, month
    ) USING (account_id, month)
)
ARRAY JOIN arrayPushBack((SELECT groupArray(feature) FROM core_features_current), '*') AS feature;

-- on every node
CREATE VIEW IF NOT EXISTS time_to_value AS
SELECT
    account_id,
    user_id,
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
        account_id, user_id,
        any(signup_at) AS signed_up_at,
        any(source) AS signup_source,
        argMaxIf(plan, tuple(ts_ms, plan), has_plan = 1 AND day <= toDate(signup_at, 'UTC')) AS signup_plan
    FROM
    (
        SELECT account_id, user_id, signed_up_at AS signup_at, signup_source AS source
        FROM user_signups
    )
    ALL LEFT JOIN
    (
        SELECT account_id, ts_ms, day, has_plan, plan
        FROM account_trait_events
        WHERE has_plan = 1
    ) USING (account_id)
    GROUP BY account_id, user_id
)
ANY LEFT JOIN
(
    SELECT
        account_id,
        user_id,
        min(first_ts_ms) AS value_ms,
        argMin(name, tuple(first_ts_ms, name)) AS value_feature,
        toUInt8(1) AS reached
    FROM user_name_months
    WHERE name IN (SELECT feature FROM core_features_current)
    GROUP BY account_id, user_id
) USING (account_id, user_id);

-- on every node
CREATE VIEW IF NOT EXISTS time_to_value_summary AS
SELECT
    plan,
    cohort_month,
    users,
    users_reached_value,
    if(n = 0, NULL, toNullable(median_seconds)) AS median_seconds_to_value,
    if(n = 0, NULL, toNullable(median_seconds / 86400)) AS median_days_to_value
FROM
(
    SELECT
        plan,
        cohort_month,
        count() AS users,
        countIf(isNotNull(seconds_to_value)) AS users_reached_value,
        arraySort(groupArrayIf(ifNull(seconds_to_value, 0), isNotNull(seconds_to_value))) AS sorted,
        length(sorted) AS n,
        if(n % 2 = 1, toFloat64(sorted[intDiv(n, 2) + 1]),
           (toFloat64(sorted[intDiv(n, 2)]) + toFloat64(sorted[intDiv(n, 2) + 1])) / 2) AS median_seconds
    FROM time_to_value
    GROUP BY plan, cohort_month
);

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
        SELECT account_id, user_id, toDate(signed_up_at, 'UTC') AS signup_day, toDate(now(), 'UTC') AS today
        FROM user_signups
    )
    ANY LEFT JOIN
    (
        
        
        SELECT
            account_id, user_id,
            max(day = signup_day + 1) AS d1,
            max(day = signup_day + 7) AS d7,
            max(day = signup_day + 30) AS d30
        FROM
        (
            SELECT account_id, user_id, day
            FROM user_activity_days
        )
        ALL INNER JOIN
        (
            SELECT account_id, user_id, toDate(signed_up_at, 'UTC') AS signup_day
            FROM user_signups
        ) USING (account_id, user_id)
        GROUP BY account_id, user_id
    ) USING (account_id, user_id)
    GROUP BY cohort_week
);

