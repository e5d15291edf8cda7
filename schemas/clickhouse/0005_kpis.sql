-- Customer-success KPIs (docs/KPIS.md): account history, churn, MRR movements, NRR, LTV/CLV,
-- NPS, CSAT, trial conversion, adoption, time to value, retention cohorts, renewals and
-- referrals, all computed from events_raw at query time.
--
-- Why views over the raw events and no materialized state: a late $account event (or any
-- late answer) must change history exactly, and a view recomputed from events_raw is right
-- by construction. What keeps them fast on 18.16, which pushes no predicate into a view, is
-- that each view reads only the few event names it needs and works on compact intermediate
-- forms: one row per account and *change* day (account_state_intervals), per account and
-- month (account_state_monthly), per user (user_signups). Only account_state_daily expands
-- to one row per account and day, and no other view reads it.
--
-- De-duplication: events_raw is a ReplacingMergeTree keyed by (account_id, event_id) whose
-- first copy wins. Views that count events de-duplicate with GROUP BY (account_id, event_id)
-- and argMax(…, ver), after filtering by name, so only the business events are grouped.
-- Views that take a minimum or a set over product events (first use, active days) read
-- events_raw FINAL.
--
-- "Latest" always means the greatest (ts_ms, event_id): the event id breaks timestamp ties so
-- that every view is deterministic. Days and months are UTC.
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
-- Account history
-- ---------------------------------------------------------------------------------------

-- Internal: every $account event once, with each trait and whether the event carried it. A
-- trait sent as null counts as not sent, as in event.ParseAccountTraits.
CREATE VIEW IF NOT EXISTS account_trait_events AS
SELECT
    account_id,
    event_id,
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
FROM
(
    SELECT
        account_id, event_id,
        argMax(ts, ver) AS ts,
        argMax(ts_ms, ver) AS ts_ms,
        argMax(properties, ver) AS properties
    FROM events_raw
    WHERE name = '$account'
    GROUP BY account_id, event_id
);

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
                arrayMap(e -> e.3, ev) AS days,
                arrayMap(c -> sent_statuses[c], arrayCumSum(arrayMap(e -> e.4, ev))) AS statuses,
                arrayMap(c -> sent_plans[c], arrayCumSum(arrayMap(e -> e.6, ev))) AS plans,
                arrayMap(c -> toUInt8(c > 0), arrayCumSum(arrayMap(e -> e.8, ev))) AS seats_known,
                arrayMap(c -> sent_seats[c], arrayCumSum(arrayMap(e -> e.8, ev))) AS seats,
                arrayMap(c -> toUInt8(c > 0), arrayCumSum(arrayMap(e -> e.10, ev))) AS mrr_known,
                arrayMap(c -> sent_mrrs[c], arrayCumSum(arrayMap(e -> e.10, ev))) AS mrrs,
                arrayMap(e -> e.5, arrayFilter(e -> e.4 = 1, ev)) AS sent_statuses,
                arrayMap(e -> e.7, arrayFilter(e -> e.6 = 1, ev)) AS sent_plans,
                arrayMap(e -> e.9, arrayFilter(e -> e.8 = 1, ev)) AS sent_seats,
                arrayMap(e -> e.11, arrayFilter(e -> e.10 = 1, ev)) AS sent_mrrs
            FROM
            (
                SELECT
                    account_id,
                    -- Sorted by (ts_ms, event_id): the order in which traits are applied.
                    arraySort(groupArray(tuple(ts_ms, event_id, day, has_status, status, has_plan, plan,
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
            -- A customer at the start or at the end of any changed day in the month.
            maxIf(paying, k >= 1 OR k = 0) AS paying_during,
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
