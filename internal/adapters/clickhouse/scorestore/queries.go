package scorestore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/engage-oss/engage/internal/scorer"
)

// The input queries. Each is a pure function of its parameters; queries_test.go and
// store_test.go run them on ClickHouse over hand-made rows. They share these rules:
//
//   - They read the raw tables, not the views: ClickHouse 18.16 does not push predicates
//     into views, and the views' de-duplication (GROUP BY over every column of the key) is
//     several times slower than what is done here.
//   - None reads events_raw. It is sorted by (account_id, event_id), so a condition on the
//     event name or time narrows nothing there, and it holds every event ever received. The
//     business events are read from signal_events (migration 0005; $ticket since 0007), whose
//     key starts with the name, so each query reads only its name's range; the account list
//     and feature counts from account_event_names (0007), one row per account and event name.
//     Materialized views fill both on every insert into events_raw, so they are as fresh.
//   - Windows are whole UTC days ending today: "30 days" is today() − 29 … today(). The
//     server's time zone must be UTC, as for the views (internal/dev/clickhouseserver configures it).
//   - Distinct strings are counted by their cityHash64 (uniqExact of a UInt64 per account),
//     or grouped by a cityHash64 of a composite key: two String keys make 18.16 use its slow
//     serialised-key aggregation, a UInt64 key does not. A 64-bit collision among one
//     account's feature names or users is not a practical concern.
//   - signal_events, like events_raw, may still hold copies of a redelivered event before
//     ClickHouse merges them, and account_event_names several rows of one account and name;
//     every query here is immune without FINAL, which costs more: distinct names and event
//     ids are counted, latest values are picked by argMax, and a name counts when any of its
//     rows is in the window.

// ScopeCondition is the SQL condition that selects the accounts of a scope, with its
// arguments: nothing for every account, the partitions by cityHash64 (the same hash as
// topics.AccountPartition), or the accounts themselves. A list of accounts selects by the
// tables' primary key (account_id first), so its cost grows with the accounts listed, not
// with the table.
func ScopeCondition(sc scorer.Scope) (string, []any) {
	switch {
	case sc.Accounts != nil:
		if len(sc.Accounts) == 0 {
			return "0", nil
		}
		// Written out rather than bound: clickhouse-go binds a slice as an array literal,
		// which 18.16 does not accept after IN.
		var b strings.Builder
		b.WriteString("account_id IN (")
		for i, id := range sc.Accounts {
			if i > 0 {
				b.WriteString(", ")
			}
			quote(&b, id)
		}
		b.WriteString(")")
		return b.String(), nil
	case sc.Whole():
		return "1", nil
	case len(sc.Partitions) == 0:
		return "0", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cityHash64(account_id) %% %d IN (", sc.NumPartitions)
	for i, p := range sc.Partitions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	b.WriteString(")")
	return b.String(), nil
}

// quote writes s as a ClickHouse string literal.
func quote(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
}

// AccountsQuery lists every account that has any event (the accounts that are scored) with
// the number of distinct product event names (not starting with $) of its last 30 days:
// Inputs.FeaturesUsed30d. One pass over account_event_names does both: every event has a
// name, and a name was sent in the window when its last day is; names are counted by hash.
func AccountsQuery(sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	return `SELECT
    account_id,
    uniqExactIf(cityHash64(name), last_day >= today() - 29 AND name NOT LIKE '$%') AS features
FROM account_event_names
WHERE ` + cond + `
GROUP BY account_id`, args
}

// UsageQuery computes, per account with an active user in the last 30 days, DAU (today),
// WAU (7 days), MAU (30 days) and a bit mask of the days with an active user (bit i: today
// − i), from which active_days_14d is counted.
//
// session_days_raw is de-duplicated inline: FINAL keeps the latest version of each
// (account, day, user, session) row, and only then are deleted and inactive rows dropped.
// optimize_move_to_prewhere = 0 keeps ClickHouse from moving those conditions to PREWHERE,
// which runs before FINAL and would let an older, active version of a row replace a
// retracted one.
func UsageQuery(sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	// The scope goes to PREWHERE, before FINAL: it is a condition on account_id, which every
	// version of a row shares, so it keeps all versions of a row or none, and FINAL then
	// merges only the scope's rows. For a list of 1 % of the accounts this is 2.5 times
	// faster than the same condition after FINAL, because the granules that hold one listed
	// account hold many others (granules of 8192 rows, sorted by account).
	prewhere := ""
	if cond != "1" {
		prewhere = "\n    PREWHERE " + cond
	}
	return `SELECT
    account,
    countIf(bitAnd(days, 1) != 0) AS dau,
    countIf(bitAnd(days, 127) != 0) AS wau,
    count() AS mau,
    toUInt32(groupBitOr(days)) AS active_days
FROM
(
    SELECT
        any(account_id) AS account,
        groupBitOr(bitShiftLeft(toUInt32(1), toUInt8(today() - day))) AS days
    FROM session_days_raw FINAL` + prewhere + `
    WHERE day >= today() - 29 AND day <= today() AND deleted = 0 AND active = 1
    GROUP BY cityHash64(account_id, user_id)
)
GROUP BY account
SETTINGS optimize_move_to_prewhere = 0`, args
}

// TraitsQuery reads each account's $account traits: the latest value of each trait by event
// time (an event that does not carry a trait leaves it as it was, as in the account_traits
// view), and for the contraction reason the latest seats, plan and mrr sent before midnight
// UTC contractionDays days ago: the values in force at that moment, carried forward. A count
// of 0 means the trait was never sent (before the cut-off, for prev_*). A trait sent as null
// counts as not sent, as in event.ParseAccountTraits and the account_trait_events view: a
// {"mrr": null} must not read as an MRR of 0, which would be a contraction.
func TraitsQuery(contractionDays int, sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	return `SELECT
    account_id,
    countIf(has_seats) AS seats_n, argMaxIf(seats_v, ts_ms, has_seats) AS seats,
    countIf(has_plan) AS plan_n, argMaxIf(plan_v, ts_ms, has_plan) AS plan,
    countIf(has_mrr) AS mrr_n, argMaxIf(mrr_v, ts_ms, has_mrr) AS mrr,
    countIf(has_status) AS status_n, argMaxIf(status_v, ts_ms, has_status) AS status,
    countIf(has_seats AND old) AS prev_seats_n, argMaxIf(seats_v, ts_ms, has_seats AND old) AS prev_seats,
    countIf(has_plan AND old) AS prev_plan_n, argMaxIf(plan_v, ts_ms, has_plan AND old) AS prev_plan,
    countIf(has_mrr AND old) AS prev_mrr_n, argMaxIf(mrr_v, ts_ms, has_mrr AND old) AS prev_mrr
FROM
(
    SELECT
        account_id, ts_ms,
        ts < toDateTime(today() - ?) AS old,
        visitParamExtractRaw(properties, 'seats') NOT IN ('', 'null') AS has_seats, visitParamExtractFloat(properties, 'seats') AS seats_v,
        visitParamExtractRaw(properties, 'plan') NOT IN ('', 'null') AS has_plan, visitParamExtractString(properties, 'plan') AS plan_v,
        visitParamExtractRaw(properties, 'mrr') NOT IN ('', 'null') AS has_mrr, visitParamExtractFloat(properties, 'mrr') AS mrr_v,
        visitParamExtractRaw(properties, 'status') NOT IN ('', 'null') AS has_status, visitParamExtractString(properties, 'status') AS status_v
    FROM signal_events
    WHERE name = '$account' AND ` + cond + `
)
GROUP BY account_id`, append([]any{contractionDays}, args...)
}

// NPSQuery counts each account's NPS answers of the last windowDays days by category,
// counting only each user's latest answer in the window.
func NPSQuery(windowDays int, sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	return `SELECT
    account,
    countIf(score >= 9) AS promoters,
    countIf(score >= 7 AND score < 9) AS passives,
    countIf(score < 7) AS detractors
FROM
(
    SELECT any(account_id) AS account, argMax(visitParamExtractFloat(properties, 'score'), ts_ms) AS score
    FROM signal_events
    WHERE name = '$nps' AND ts >= toDateTime(today() - ?) AND visitParamHas(properties, 'score') AND ` + cond + `
    GROUP BY cityHash64(account_id, user_id)
)
GROUP BY account`, append([]any{windowDays - 1}, args...)
}

// TicketsQuery counts each account's $ticket events of the last windowDays days.
func TicketsQuery(windowDays int, sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	return `SELECT account, count() AS tickets
FROM
(
    SELECT any(account_id) AS account
    FROM signal_events
    WHERE name = '$ticket' AND ts >= toDateTime(today() - ?) AND ` + cond + `
    GROUP BY cityHash64(account_id, event_id)
)
GROUP BY account`, append([]any{windowDays - 1}, args...)
}

// historyColumns are the columns of account_health_raw the scorer reads back, in Scan order.
const historyColumns = `rev, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons, inputs, change_seq`

// LastRowsQuery returns every account's row with the highest (rev, ver): its latest row, and
// of that row's copies the newest. It picks rows with ORDER BY … LIMIT 1 BY, not argMax over
// a tuple: on a cluster the shards would send argMax states, and 18.16 garbles a Nullable
// inside them (migration 0008).
func LastRowsQuery(sc scorer.Scope) (string, []any) {
	cond, args := ScopeCondition(sc)
	return `SELECT account_id, ` + historyColumns + `
FROM account_health_raw
WHERE ` + cond + `
ORDER BY account_id, rev DESC, ver DESC
LIMIT 1 BY account_id`, args
}

// HistoryQuery returns an account's newest rows, newest first. It reads the table rather
// than the account_health view so that the account_id condition selects by primary key.
func HistoryQuery(accountID string, limit int) (string, []any) {
	return `SELECT ` + historyColumns + `
FROM account_health_raw FINAL
WHERE account_id = ?
ORDER BY rev DESC
LIMIT ?`, []any{accountID, limit}
}

// insertHistory writes account_health_raw rows.
const insertHistory = `INSERT INTO account_health_raw (account_id, rev, scored_at, score, band, usage, nps, tickets, billing,
 coverage, model_version, reasons, inputs, change_seq, ver)`

// LatestRowsQuery returns up to limit accounts' last rows, in account id order, after the
// account id after, that match f (band, and plan from the row's inputs).
func LatestRowsQuery(f scorer.Filter, after string, limit int) (string, []any) {
	band := ""
	if f.Band != 0 {
		band = f.Band.String()
	}
	return `SELECT account_id, ` + historyColumns + `
FROM
(
    SELECT account_id, ` + historyColumns + `
    FROM account_health_raw
    WHERE account_id > ?
    ORDER BY account_id, rev DESC, ver DESC
    LIMIT 1 BY account_id
)
WHERE (? = '' OR band = ?) AND (? = '' OR visitParamExtractString(inputs, 'plan') = ?)
ORDER BY account_id
LIMIT ?`, []any{after, band, band, f.Plan, f.Plan, limit}
}
