package scorestore_test

import (
	"reflect"
	"testing"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
)

// npsSQL is the NPS query, whatever its window.
const npsSQL = `SELECT
    account,
    countIf(score >= 9) AS promoters,
    countIf(score >= 7 AND score < 9) AS passives,
    countIf(score < 7) AS detractors
FROM
(
    SELECT any(account_id) AS account, argMax(visitParamExtractFloat(properties, 'score'), ts_ms) AS score
    FROM signal_events
    WHERE name = '$nps' AND ts >= toDateTime(today() - ?) AND visitParamHas(properties, 'score')
    GROUP BY cityHash64(account_id, user_id)
)
GROUP BY account`

// TestQueryBuilders pins the exact SQL and arguments of every query the scorer sends. A
// change here must also run on ClickHouse 18.16 (TestReadInputs and TestHistory run them).
func TestQueryBuilders(t *testing.T) {
	tests := []struct {
		name     string
		build    func() (string, []any)
		wantSQL  string
		wantArgs []any
	}{
		{
			name:  "accounts with features",
			build: func() (string, []any) { return scorestore.AccountsQuery() },
			wantSQL: `SELECT
    account_id,
    uniqExactIf(cityHash64(name), last_day >= today() - 29 AND name NOT LIKE '$%') AS features
FROM account_event_names
GROUP BY account_id`,
			wantArgs: nil,
		},
		{
			name:  "usage",
			build: func() (string, []any) { return scorestore.UsageQuery() },
			wantSQL: `SELECT
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
    FROM session_days_raw FINAL
    WHERE day >= today() - 29 AND day <= today() AND deleted = 0 AND active = 1
    GROUP BY cityHash64(account_id, user_id)
)
GROUP BY account
SETTINGS optimize_move_to_prewhere = 0`,
			wantArgs: nil,
		},
		{
			name:  "traits as of 30 days ago",
			build: func() (string, []any) { return scorestore.TraitsQuery(30) },
			wantSQL: `SELECT
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
    WHERE name = '$account'
)
GROUP BY account_id`,
			wantArgs: []any{30},
		},
		{
			name:     "nps over 90 days",
			build:    func() (string, []any) { return scorestore.NPSQuery(90) },
			wantSQL:  npsSQL,
			wantArgs: []any{89},
		},
		{
			name:  "tickets over 30 days",
			build: func() (string, []any) { return scorestore.TicketsQuery(30) },
			wantSQL: `SELECT account, count() AS tickets
FROM
(
    SELECT any(account_id) AS account
    FROM signal_events
    WHERE name = '$ticket' AND ts >= toDateTime(today() - ?)
    GROUP BY cityHash64(account_id, event_id)
)
GROUP BY account`,
			wantArgs: []any{29},
		},
		{
			name:  "last rows",
			build: func() (string, []any) { return scorestore.LastRowsQuery() },
			wantSQL: `SELECT
    account_id,
    t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8, t.9, t.10, t.11, t.12, t.13
FROM
(
    SELECT account_id, argMax(tuple(rev, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons, inputs, change_seq), tuple(rev, ver)) AS t
    FROM account_health_raw
    GROUP BY account_id
)`,
			wantArgs: nil,
		},
		{
			name:  "history",
			build: func() (string, []any) { return scorestore.HistoryQuery("acme", 100) },
			wantSQL: `SELECT rev, scored_at, score, band, usage, nps, tickets, billing, coverage, model_version, reasons, inputs, change_seq
FROM account_health_raw FINAL
WHERE account_id = ?
ORDER BY rev DESC
LIMIT ?`,
			wantArgs: []any{"acme", 100},
		},
		{
			name:     "windows become day offsets",
			build:    func() (string, []any) { return scorestore.NPSQuery(1) },
			wantSQL:  npsSQL,
			wantArgs: []any{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotSQL, gotArgs := tt.build()
			if gotSQL != tt.wantSQL {
				t.Errorf("SQL:\n%s\nwant:\n%s", gotSQL, tt.wantSQL)
			}
			if !reflect.DeepEqual(gotArgs, tt.wantArgs) {
				t.Errorf("args %#v, want %#v", gotArgs, tt.wantArgs)
			}
		})
	}
}
