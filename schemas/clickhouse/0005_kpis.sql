-- Customer-success KPIs (docs/KPIS.md): account history, churn, MRR movements, NRR, LTV/CLV,
-- NPS, CSAT, trial conversion, adoption, time to value, retention cohorts, renewals and
-- referrals.
--
-- Why views computed at query time and no stored KPI state: a late $account event (or any
-- late answer) must change history exactly, and a view recomputed from the events is right
-- by construction. What keeps them fast on 18.16, which pushes no predicate into a view, is
-- that they read narrow copies of the events (below) and work on compact intermediate
-- forms: one row per account and *change* day (account_state_intervals), per account and
-- month (account_state_monthly), per user (user_signups). Only account_state_daily expands
-- to one row per account and day, and no other view reads it.
--
-- Reading events_raw itself would cost seconds per query at 10k accounts: it is sorted by
-- (account_id, event_id), so no filter on the name narrows what is read. Materialized views
-- therefore keep four narrow tables as events are inserted (signal_events,
-- user_name_months, user_firsts, user_activity_days); the migration fills them from the events
-- already stored. They are exact copies or idempotent summaries of events_raw, so late events and
-- duplicates are handled as they would be there.
--
-- De-duplication: events_raw is a ReplacingMergeTree keyed by (account_id, event_id) whose
-- first copy wins. Views over business events ($account, $nps, $csat, $renewal, $referral)
-- read signal_events FINAL, which keeps the same copy: it has the same version column and
-- name leads its key, so FINAL only merges the range of the name asked for. The
-- user views (sign-up, adoption, time to value, retention) read summaries in which a second
-- copy of an event changes nothing (see user_name_months).
--
-- "Latest" means the greatest ts_ms; each view says how it breaks a tie within one
-- millisecond, always by content, so that results do not depend on arrival order. Days and
-- months are UTC.
--
-- Configuration lives in two small tables (views cannot take parameters on 18.16). Both are
-- append-only: the row with the newest updated_at wins, so a change is an INSERT and needs
-- no mutation. The defaults carry updated_at 2000-01-01, so any later row overrides them.

CREATE TABLE IF NOT EXISTS kpi_settings
(
    name       String,
    value      Float64,
    updated_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name;

-- ltv_churn_window_months: the trailing window, in months, over which ltv averages the
-- customer churn rate. The migration may resume after a crash and run this again: the row is
-- then a duplicate with the same key and version, which changes nothing.
INSERT INTO kpi_settings (name, value, updated_at)
SELECT 'ltv_churn_window_months', 3, toDateTime('2000-01-01 00:00:00', 'UTC');

-- The product's core features: product event names whose use means the user gets the
-- product's value (adoption, time to value). enabled = 0 in a newer row removes a feature.
-- The defaults are the core features of the demo catalogue (tools/demo), so a fresh `make run`
-- plus `make demo` shows adoption; replace them with your own.
CREATE TABLE IF NOT EXISTS core_features
(
    feature    String,
    enabled    UInt8,
    updated_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY feature;

INSERT INTO core_features (feature, enabled, updated_at)
SELECT arrayJoin(['dashboard.viewed', 'report.viewed', 'report.created', 'invoice.created', 'invoice.sent']),
       1, toDateTime('2000-01-01 00:00:00', 'UTC');

-- The core features in force: the newest row of each feature, when it enables it.
CREATE VIEW IF NOT EXISTS core_features_current AS
SELECT feature
FROM
(
    SELECT feature, argMax(enabled, updated_at) AS is_enabled
    FROM core_features
    GROUP BY feature
)
WHERE is_enabled = 1;

-- The settings in force, one row per name.
CREATE VIEW IF NOT EXISTS kpi_settings_current AS
SELECT name, argMax(value, updated_at) AS value
FROM kpi_settings
GROUP BY name;

-- ---------------------------------------------------------------------------------------
-- Narrow copies of events_raw for the KPIs
-- ---------------------------------------------------------------------------------------

-- The business events the KPIs read, copied from events_raw as they are inserted. events_raw
-- is sorted by (account_id, event_id), so a filter on name still reads every granule, with
-- the product events' properties; here each name is one contiguous range of a small table.
-- Same columns, key and version as events_raw, so the views de-duplicate exactly as they
-- would there (first copy wins). A materialized view fills it; the migration copies the
-- events already stored, and an event that both saw is a duplicate like any other.
CREATE TABLE IF NOT EXISTS signal_events
(
    event_id    String,
    account_id  String,
    user_id     String,
    name        String,
    ts          DateTime('UTC'),
    ts_ms       Int64,
    properties  String,
    ver         UInt64
)
ENGINE = ReplacingMergeTree(ver)
ORDER BY (name, account_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS signal_events_mv TO signal_events AS
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name IN ('$account', '$nps', '$csat', '$renewal', '$referral');

INSERT INTO signal_events (event_id, account_id, user_id, name, ts, ts_ms, properties, ver)
SELECT event_id, account_id, user_id, name, ts, ts_ms, properties, ver
FROM events_raw
WHERE name IN ('$account', '$nps', '$csat', '$renewal', '$referral');

-- What the user views need from all events, kept small as they arrive: the first time each
-- user sent each event name in each month, each user's first event and first $signup, and
-- the days on which each user was active. Scanning every product event instead would cost
-- seconds per query at 10k accounts (see docs/KPIS.md, "Performance").
--
-- These tables are filled by materialized views on every insert into events_raw, and the
-- migration copies the events already stored. Each row's value is a minimum (or a set
-- member), which a second copy of an event cannot change: a redelivered event, an event the
-- materialized view and the copy both saw, or the same block inserted twice all leave the
-- results as they were, so the views read GROUP BY min() (or minMerge), exact before and
-- after merges. Late events simply arrive later and land in their month or day.
CREATE TABLE IF NOT EXISTS user_name_months
(
    account_id  String,
    user_id     String,
    name        String,
    month       Date,
    first_ts_ms Int64,
    -- ReplacingMergeTree keeps the greatest ver: the earliest first_ts_ms.
    ver         UInt64
)
ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(month)
ORDER BY (account_id, user_id, name, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_name_months_mv TO user_name_months AS
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

-- Each user's first event and first $signup (ms), one row per user once merged: what
-- user_signups reads, 30 times fewer rows than user_name_months. An AggregatingMergeTree,
-- because the two minimums come from different events.
CREATE TABLE IF NOT EXISTS user_firsts
(
    account_id      String,
    user_id         String,
    first_event_ms  AggregateFunction(min, Int64),
    first_signup_ms AggregateFunction(min, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (account_id, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_firsts_mv TO user_firsts AS
SELECT
    account_id,
    user_id,
    minState(ts_ms) AS first_event_ms,
    minState(if(name = '$signup', ts_ms, toInt64(9223372036854775807))) AS first_signup_ms
FROM events_raw
WHERE user_id != ''
GROUP BY account_id, user_id;

INSERT INTO user_firsts (account_id, user_id, first_event_ms, first_signup_ms)
SELECT
    account_id,
    user_id,
    minState(ts_ms) AS first_event_ms,
    minState(if(name = '$signup', ts_ms, toInt64(9223372036854775807))) AS first_signup_ms
FROM events_raw
WHERE user_id != ''
GROUP BY account_id, user_id;

-- Active days: at least one product event or $heartbeat (contract §5). Unlike
-- user_active_days, which is built from sessions, this also counts events that arrived
-- beyond the allowed lateness (stored raw, not sessionized): retention asks whether the
-- user came back, and such an event says they did.
CREATE TABLE IF NOT EXISTS user_activity_days
(
    account_id String,
    user_id    String,
    day        Date
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (account_id, user_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_days_mv TO user_activity_days AS
SELECT account_id, user_id, toDate(ts, 'UTC') AS day
FROM events_raw
WHERE user_id != '' AND (name = '$heartbeat' OR substring(name, 1, 1) != '$')
GROUP BY account_id, user_id, day;

INSERT INTO user_activity_days (account_id, user_id, day)
SELECT account_id, user_id, toDate(ts, 'UTC') AS day
FROM events_raw
WHERE user_id != '' AND (name = '$heartbeat' OR substring(name, 1, 1) != '$')
GROUP BY account_id, user_id, day;

-- ---------------------------------------------------------------------------------------
-- Account history
-- ---------------------------------------------------------------------------------------

-- Internal: every $account event once, with each trait and whether the event carried it. A
-- trait sent as null counts as not sent, as in event.ParseAccountTraits.
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

-- Internal: an account's state over time as intervals [day, valid_to). One row per UTC day on
-- which the account's end-of-day state differs from the previous such day; valid_to is the
-- next such day, or the first day of next month for the current state (the monthly views
-- need a bound past today; account_state_changes shows NULL instead).
--
-- Each trait is carried forward from the latest event that sent it, so a $account with only
-- a plan keeps the seats. The state of a day is the one after its latest event, so several
-- changes on one day collapse into one, and a repeated $account that changes nothing adds
-- no row. Without window functions (18.16 has none) the carrying forward is done on each
-- account's events as arrays: arrayCumSum of "sent this trait" numbers the values sent so
-- far, which indexes the array of sent values. seats_known/mrr_known say whether the trait
-- was ever sent; unknown values are 0 here because aggregate functions over Nullable columns
-- skip NULLs, which would mix the states of different rows.
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
        -- Keep a day only when its state differs from the previous kept day's. day_states[0]
        -- is the all-unknown default, so an account whose events carry no trait has no rows.
        arrayFilter((s, i) -> tuple(s.2, s.3, s.4, s.5, s.6, s.7) != tuple(day_states[i - 1].2, day_states[i - 1].3,
                        day_states[i - 1].4, day_states[i - 1].5, day_states[i - 1].6, day_states[i - 1].7),
                    day_states, arrayEnumerate(day_states)) AS states
    FROM
    (
        SELECT
            account_id,
            -- The state at the end of each day: after the day's last event (days[i + 1] is
            -- the default 1970-01-01 past the end of the array).
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
                    -- Sorted by time: the order in which traits are applied. Events of one
                    -- millisecond are ordered by their content, so the result is the same
                    -- whichever order they arrived in.
                    arraySort(groupArray(tuple(ts_ms, day, has_status, status, has_plan, plan,
                                               has_seats, seats, has_mrr, mrr))) AS ev
                FROM account_trait_events
                GROUP BY account_id
            )
            -- 18.16 drops columns that are used only inside a lambda ("Unknown identifier");
            -- naming them here keeps them. Always true.
            WHERE length(sent_statuses) + length(sent_plans) + length(sent_seats) + length(sent_mrrs) >= 0
        )
        WHERE length(statuses) + length(plans) + length(seats_known) + length(seats) + length(mrr_known) + length(mrrs) >= 0
    )
)
ARRAY JOIN
    states AS st,
    arrayEnumerate(states) AS j;

-- The history of every account's state: one row per UTC day on which its end-of-day state
-- changed. valid_to is the day of the next change (exclusive), NULL for the current state;
-- seats and mrr are NULL until first sent. The state on day D is the row with
-- day <= D AND (valid_to > D OR valid_to IS NULL).
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

-- The state of every account on every UTC day from its first $account event to today, traits
-- carried forward. changed = 1 on the days of account_state_changes. Meant for ad-hoc
-- questions about one day or account ("what plan was acme on on 2026-08-15"); the monthly
-- views read account_state_intervals instead, which is 30 times smaller.
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
        -- Days from the change to the day before the next one, and never past today.
        toUInt32(greatest(toInt64(least(valid_to, toDate(now(), 'UTC') + 1)) - toInt64(day), 0)) AS days
    FROM account_state_intervals
)
ARRAY JOIN range(days) AS n;

-- Each account's state at the start and at the end of every month from the month of its first
-- $account event to the current month (for which "end" means now), the MRR movement of the
-- month, and its trial transitions. The per-account basis of churn_monthly,
-- mrr_movements_monthly, nrr_monthly, ltv and trial_conversion_monthly.
--
-- A customer is an account whose status is active or past_due (paying = 1): trialing and
-- canceled accounts are not customers, and an account that never sent a status is not one
-- either. mrr_start and mrr_end are the MRR of the account while it is a customer and 0
-- otherwise, so a canceled account's last MRR trait and a trial's list price count nothing.
--
-- Movements compare the start and the end of the month (net of changes within it):
--   churned      customer at the start, status canceled at the end: mrr_churned = mrr_start
--   new          not a customer at the start, one at the end (first purchase, trial
--                conversion or win-back): mrr_new = mrr_end
--   expansion    customer at both ends, MRR up: mrr_expansion = mrr_end - mrr_start
--   contraction  customer at the start, not churned, MRR down (a downgrade, fewer seats, or
--                leaving the paying states without canceling): mrr_contraction = mrr_start - mrr_end
--   flat         customer at both ends, MRR unchanged (a plan change at the same price too)
--   none         a customer at neither end
-- so that MRR at the end = at the start + new + expansion - contraction - churned.
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
        -- Each interval row is spread over the months m0 + k, k = 0 .. months_covered: it
        -- holds the end state of the months whose last day it covers (k < months_covered),
        -- hence the start state of the month after each (k >= 1), and its own change happened
        -- in m0 (k = 0). Each month's start and end come from exactly one interval.
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
            -- A customer at the start or at the end of any changed day of the month: every
            -- row of a month is the interval covering its start or a change within it.
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
                -- Months whose last day lies in [day, valid_to). valid_to of the current state
                -- is the first of next month, so the current month is covered.
                toUInt32(toRelativeMonthNum(valid_to) - toRelativeMonthNum(day)) AS months_covered
            FROM account_state_intervals
        )
        ARRAY JOIN range(months_covered + 1) AS k
        WHERE addMonths(m0, k) <= toStartOfMonth(toDate(now(), 'UTC'))
        GROUP BY account_id, month
    )
);

-- ---------------------------------------------------------------------------------------
-- Revenue and churn, per month (from account_state_monthly)
-- ---------------------------------------------------------------------------------------

-- Customer churn rate = customers lost in the month / customers at the start of the month
-- x 100, and revenue churn rate = churned MRR / MRR at the start x 100. Both are NULL when
-- the month started without customers (or without MRR). An account that became a customer
-- and was canceled within the month is in neither term (new_and_lost counts them).
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

-- MRR movements of the month (see account_state_monthly for how each account is classified).
-- mrr_end = mrr_start + mrr_new + mrr_expansion - mrr_contraction - mrr_churned. Negative
-- churn: expansion exceeds what contraction and churn took away.
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

-- Net revenue retention over the customers at the start of the month:
-- NRR = (MRR at the start + expansion - contraction - churned MRR) / MRR at the start x 100.
-- New customers' MRR is left out. NULL when the month started without MRR.
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

-- Lifetime value per month, with the customer churn rate averaged over the trailing window of
-- kpi_settings.ltv_churn_window_months months ending with the month (default 3):
--   churn_rate          = customers lost / customers at the start, summed over the window, x 100
--   arpa                = MRR at the end of the month / customers at the end
--   ltv                 = arpa / (churn_rate / 100)
--   avg_monthly_revenue = MRR / customers over the window's month ends (revenue per customer-month)
--   avg_lifetime_months = 1 / (churn_rate / 100), the expected lifetime at that churn
--   clv                 = avg_monthly_revenue x avg_lifetime_months
-- ltv, avg_lifetime_months and clv are NULL when nobody churned in the window (the lifetime
-- is then unbounded) or when there is nothing to divide by.
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
    -- Each month's figures are added to the window of every month from it to window - 1
    -- months later.
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

-- Trial to paid conversion: trials that ended in the month (status left trialing) and the
-- ones among them that became active. A trial that ends in past_due or canceled did not
-- convert; a trial still running at the end of the month has not ended. conversion_rate is
-- NULL in months in which no trial ended.
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

-- ---------------------------------------------------------------------------------------
-- Answers and signals: NPS, CSAT, renewals, referrals
-- ---------------------------------------------------------------------------------------

-- Internal: each user's latest NPS answer in each month. Two answers in the same
-- millisecond: the higher score wins (score < 16, so ts_ms * 16 + score orders both).
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

-- NPS = % promoters (9-10) - % detractors (0-6) among the users who answered in the month,
-- each with their latest answer of the month; passives (7-8) count in responses only.
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

-- NPS per account and month; plan is the account's plan at the end of the month ('' when
-- the account never sent one).
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

-- NPS per plan and month, over the answering users of the accounts on that plan at the end of
-- the month (built on nps_account_monthly, so the plan comes from the same place).
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

-- Internal: every CSAT answer once.
CREATE VIEW IF NOT EXISTS csat_answers AS
SELECT
    account_id,
    event_id,
    user_id,
    toStartOfMonth(toDate(ts, 'UTC')) AS month,
    visitParamExtractInt(properties, 'score') AS score
FROM signal_events FINAL
WHERE name = '$csat';

-- CSAT = satisfied answers (4 or 5 on the 1-5 scale) / all answers of the month x 100. Every
-- answer counts, several by one user too.
CREATE VIEW IF NOT EXISTS csat_monthly AS
SELECT month, answers, satisfied, satisfied / answers * 100 AS csat
FROM
(
    SELECT month, count() AS answers, countIf(score >= 4) AS satisfied
    FROM csat_answers
    GROUP BY month
);

-- CSAT per account and month.
CREATE VIEW IF NOT EXISTS csat_account_monthly AS
SELECT month, account_id, answers, satisfied, satisfied / answers * 100 AS csat
FROM
(
    SELECT account_id, month, count() AS answers, countIf(score >= 4) AS satisfied
    FROM csat_answers
    GROUP BY account_id, month
);

-- Renewal rate = contracts renewed / contracts up for renewal in the month x 100. A $renewal
-- event says an account's contract came up for renewal; an account counts once per month,
-- with its latest $renewal of the month, so a later event corrects an earlier one.
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
        -- The latest $renewal of the account in the month (ts_ms * 2 + renewed: in a tie,
        -- renewed wins).
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

-- Referrals per account and month: $referral events and the distinct users who sent them.
CREATE VIEW IF NOT EXISTS referrals_monthly AS
SELECT account_id, month, count() AS referrals, uniqExact(user_id) AS referring_users
FROM
(
    SELECT account_id, user_id, toStartOfMonth(toDate(ts, 'UTC')) AS month
    FROM signal_events FINAL
    WHERE name = '$referral'
)
GROUP BY account_id, month;

-- ---------------------------------------------------------------------------------------
-- Users: sign-up, adoption, time to value, retention
-- ---------------------------------------------------------------------------------------

-- Each user's sign-up: the earliest $signup, or the user's first event of any name when the
-- user never sent one (signup_source says which). first_event_at is the first event either
-- way.
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
    toUInt64(adopter_counts[indexOf(adopted_features, feature)]) AS adopters,
    adopters / users_signed_up * 100 AS adoption_rate
FROM
(
    SELECT account_id, month, users_signed_up, adopted_features, adopter_counts
    FROM
    (
        -- Each user counts in every month from their sign-up month to the current one.
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
        -- One row per account and month, the adopters of each feature used as parallel
        -- arrays: a join on (account, month) is far cheaper than one per feature row.
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

-- Time to value per user: from sign-up (user_signups) to the first use of any core feature.
-- plan is the account's plan at the end of the sign-up day ('' before its first plan trait);
-- cohort_month is the sign-up month. first_value_at and seconds_to_value are NULL for users
-- who have not used a core feature yet; a first use before the recorded sign-up counts as 0.
-- Two core features first used in the same millisecond: the alphabetically first is named.
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
    -- The plan as of the end of the sign-up day: the latest plan trait sent before it, the
    -- same carrying forward as account_state_intervals, read from the $account events alone.
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

-- Median time to value per plan (at sign-up) and sign-up month, over the users who reached
-- value; users counts everyone who signed up. The median of an even count is the mean of the
-- two middle values.
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

-- Retention per weekly sign-up cohort (cohort_week is the Monday): the share of the cohort's
-- users active again exactly 1, 7 and 30 days after their sign-up day (user_activity_days).
-- Only users whose day N is over count for day N (eligible_dN); retention_dN is NULL while
-- none is.
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
        -- Per user: active on day 1, 7, 30 after the sign-up day. The activity streams through
        -- the join; only the users are held in memory.
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
