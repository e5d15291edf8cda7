package kpi_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
	"github.com/engage-oss/engage/schemas"
)

// synthetic describes a generated history: accounts over the 12 months before the current
// one plus the current month, usersPerAccount users each, eventsPerUser product events per
// user. It is inserted with INSERT … SELECT FROM numbers() so that even 10k accounts load in
// seconds.
type synthetic struct {
	accounts        int
	usersPerAccount int
	eventsPerUser   int
}

// The history, for account a (0-based) and user u (user index; its account is u % accounts):
//   - $account: month 0 trialing; months 1..12 active on pro or enterprise with seats and MRR
//     that move every month (expansions and contractions), except that an account with
//     a % 100 < 12 cancels in month 1 + a % 100 and repeats "canceled" afterwards.
//   - $signup on day u % 300 of the history; product events and heartbeats from then on,
//     three on every seventh day; $nps and $csat each quarter; one $referral; one $renewal
//     per account.
func (s synthetic) statements() []string {
	users := s.accounts * s.usersPerAccount
	const base = "addMonths(toStartOfMonth(toDate(now(), 'UTC')), -12)"
	// ts at day d (an expression) of the history, h hours past midnight, never in the future.
	at := func(d, h string) string {
		return fmt.Sprintf("least(toDateTime(%s, 'UTC') + (%s) * 86400 + (%s) * 3600, now())", base, d, h)
	}
	// the same, s more seconds.
	atPlus := func(d, h, s string) string {
		return fmt.Sprintf("least(toDateTime(%s, 'UTC') + (%s) * 86400 + (%s) * 3600 + (%s), now())", base, d, h, s)
	}
	insert := func(prefix, n, account, user, name, ts, props string) string {
		return fmt.Sprintf(`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver)
SELECT concat('%s', toString(number)), %s, %s, %s, t, toInt64(toUInt32(t)) * 1000, t, %s, 4611686018427387904 - number
FROM (SELECT number, %s AS t FROM numbers(%s))`, prefix, account, user, name, props, ts, n)
	}
	acct := func(expr string) string { return fmt.Sprintf("concat('a', toString(%s))", expr) }
	userAcct := acct(fmt.Sprintf("number %% %d", users) + fmt.Sprintf(" %% %d", s.accounts))
	user := fmt.Sprintf("concat('u', toString(intDiv(number %% %d, %d)))", users, s.accounts)
	uIdx := fmt.Sprintf("(number %% %d)", users)
	signupDay := fmt.Sprintf("(%s %% 300)", uIdx)
	// The k-th active day of user uIdx (an expression), as a day of the history.
	activeDay := func(k string) string {
		return fmt.Sprintf("%s + (%s * 7 + %s %% 7) %% (365 - %s)", signupDay, k, uIdx, signupDay)
	}
	activeDays := s.eventsPerUser / 3
	// The sessions the worker would write for the product events: one per user and active
	// day (n = u + users * k), 8 active minutes, on the day it starts.
	sessionDay := fmt.Sprintf("toDate(%s, 'UTC')", at(activeDay(fmt.Sprintf("intDiv(number, %d)", users)), "9"))
	sessionID := fmt.Sprintf("concat('s', toString(number %% %d), '-', toString(%s))", users, sessionDay)
	sessionsInsert := fmt.Sprintf(`INSERT INTO sessions_raw (account_id, user_id, session_id, started_at, ended_at, start_ms, end_ms, active_ms, event_count, kafka_partition, deleted, ver)
SELECT %s, %s, %s, t, t + 480, toInt64(toUInt32(t)) * 1000, toInt64(toUInt32(t)) * 1000 + 480000, 480000, 3, 0, 0, 1
FROM (SELECT number, %s AS t FROM numbers(%d))`, userAcct, user, sessionID, at(activeDay(fmt.Sprintf("intDiv(number, %d)", users)), "9"), users*activeDays)
	sessionDaysInsert := fmt.Sprintf(`INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)
SELECT %s, %s, %s, %s, 480000, 3, 1, 1, 0, 1 FROM numbers(%d)`, userAcct, user, sessionID, sessionDay, users*activeDays)
	return []string{
		// $account: n = a + accounts * k, k = 0..12.
		insert("acct-", fmt.Sprint(s.accounts*13), acct(fmt.Sprintf("number %% %d", s.accounts)), "''", "'$account'",
			fmt.Sprintf("least(toDateTime(addMonths(%s, intDiv(number, %d)), 'UTC') + (number %% 27) * 86400 + 9 * 3600, now())", base, s.accounts),
			fmt.Sprintf(`multiIf(
    intDiv(number, %[1]d) = 0, '{"status":"trialing","plan":"trial","seats":5,"mrr":0}',
    (number %% %[1]d) %% 100 < 12 AND intDiv(number, %[1]d) >= 1 + (number %% %[1]d) %% 100, '{"status":"canceled"}',
    concat('{"status":"active","plan":"', if(number %% 3 = 0, 'enterprise', 'pro'),
           '","seats":', toString(5 + (number + intDiv(number, %[1]d)) %% 10),
           ',"mrr":', toString(50 * (5 + (number + intDiv(number, %[1]d)) %% 10)), '}'))`, s.accounts)),
		insert("signup-", fmt.Sprint(users), userAcct, user, "'$signup'", at(signupDay, "8"), "''"),
		// Product events: n = u + users * e, e = 0..eventsPerUser-1; three per active day, at
		// 9:00, 9:04 and 9:08 (one session of 8 active minutes).
		insert("p-", fmt.Sprint(users*s.eventsPerUser), userAcct, user,
			fmt.Sprintf("['dashboard.viewed','report.viewed','search.performed','invoice.created','filter.applied','report.created','invoice.sent','customer.updated','$heartbeat'][(number + intDiv(number, %d)) %% 9 + 1]", users),
			atPlus(activeDay(fmt.Sprintf("intDiv(intDiv(number, %d), 3)", users)), "9",
				fmt.Sprintf("intDiv(number, %d) %% 3 * 240", users)),
			"''"),
		insert("nps-", fmt.Sprint(users*4), userAcct, user, "'$nps'",
			at(fmt.Sprintf("intDiv(number, %d) * 91 + %s %% 80", users, uIdx), "10"),
			fmt.Sprintf(`concat('{"score":', toString((number + intDiv(number, %d)) %% 11), '}')`, users)),
		insert("csat-", fmt.Sprint(users*4), userAcct, user, "'$csat'",
			at(fmt.Sprintf("intDiv(number, %d) * 91 + %s %% 85", users, uIdx), "11"),
			fmt.Sprintf(`concat('{"score":', toString(1 + (number + intDiv(number, %d)) %% 5), '}')`, users)),
		insert("ref-", fmt.Sprint(users), userAcct, user, "'$referral'", at(signupDay+" + 10", "12"), "''"),
		sessionsInsert,
		sessionDaysInsert,
		insert("renewal-", fmt.Sprint(s.accounts), acct("number"), "'u0'", "'$renewal'",
			at(fmt.Sprintf("number %% 360"), "13"),
			`if(number % 5 = 0, '{"renewed":false}', '{"renewed":true}')`),
	}
}

func (s synthetic) load(tb testing.TB, conn driver.Conn) {
	tb.Helper()
	ctx := context.Background()
	for _, stmt := range s.statements() {
		if err := conn.Exec(ctx, stmt); err != nil {
			tb.Fatalf("%v\n%s", err, stmt)
		}
	}
}

// TestSyntheticHistory loads a small synthetic history and checks the invariants that must
// hold on any data: MRR movements add up, rates stay within their ranges, every view
// answers. It also keeps the benchmark's generator working.
// It runs in both modes: on the cluster every view reads rows from both shards (the fixture's
// few accounts did not, and missed that 18.16 broke adoption there, see migration 0009).
func TestSyntheticHistory(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { syntheticHistory(t, mode) })
	}
}

func syntheticHistory(t *testing.T, mode string) {
	ctx := context.Background()
	conn, _ := testenv.Database(t, mode)
	synthetic{accounts: 200, usersPerAccount: 3, eventsPerUser: 30}.load(t, conn)

	moves, err := kpi.MRRMovementsMonthly(ctx, conn, kpi.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 13 {
		t.Errorf("mrr_movements_monthly has %d months, want 13", len(moves))
	}
	var expanded, contracted, churned bool
	for _, m := range moves {
		if sum := m.MRRStart + m.MRRNew + m.MRRExpansion - m.MRRContraction - m.MRRChurned; math.Abs(sum-m.MRREnd) > 1e-6 {
			t.Errorf("%s: start + new + expansion - contraction - churned = %v, end = %v", m.Month.Format("2006-01"), sum, m.MRREnd)
		}
		expanded = expanded || m.MRRExpansion > 0
		contracted = contracted || m.MRRContraction > 0
		churned = churned || m.MRRChurned > 0
	}
	if !expanded || !contracted || !churned {
		t.Errorf("the history should move MRR every way: expansion %v, contraction %v, churn %v", expanded, contracted, churned)
	}

	churn, err := kpi.ChurnMonthly(ctx, conn, kpi.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range churn {
		if c.ChurnRate != nil && (*c.ChurnRate < 0 || *c.ChurnRate > 100) {
			t.Errorf("%s: churn rate %v", c.Month.Format("2006-01"), *c.ChurnRate)
		}
		if c.CustomersEnd != c.CustomersStart+c.CustomersNew-c.CustomersLost {
			t.Errorf("%s: customers %d + %d - %d != %d", c.Month.Format("2006-01"), c.CustomersStart, c.CustomersNew, c.CustomersLost, c.CustomersEnd)
		}
	}

	adoption, err := kpi.Adoption(ctx, conn, kpi.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range adoption {
		if a.AdoptionRate < 0 || a.AdoptionRate > 100 {
			t.Fatalf("adoption %+v", a)
		}
	}

	for _, v := range allViews {
		t.Run(v.name, func(t *testing.T) {
			var n uint64
			if err := conn.QueryRow(ctx, v.fullQuery()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("%s is empty", v.name)
			}
		})
	}
}

// benchView is a view and the typical query a data engineer runs on it.
type benchView struct {
	name    string
	columns []string
	typical string
}

// fullQuery computes every column of every row without sending the rows: ignore() keeps
// the columns from being pruned.
func (v benchView) fullQuery() string {
	return "SELECT count() FROM " + v.name + " WHERE NOT ignore(" + strings.Join(v.columns, ", ") + ")"
}

func cols(s string) []string { return strings.Split(s, ", ") }

var allViews = []benchView{
	{"account_state_changes", cols("account_id, day, valid_to, status, plan, seats, mrr, paying, prev_status"),
		"SELECT * FROM account_state_changes WHERE account_id = 'a42'"},
	{"account_state_daily", cols("account_id, day, status, plan, seats, mrr, paying, changed"),
		"SELECT * FROM account_state_daily WHERE day = addMonths(toDate(now(), 'UTC'), -6)"},
	{"account_state_monthly", cols("account_id, month, status_start, plan_start, paying_start, mrr_start, status_end, plan_end, seats_end, paying_end, mrr_end, movement, mrr_new, mrr_expansion, mrr_contraction, mrr_churned, lost, new_customer, new_and_lost, trials_started, trials_ended, trials_converted"),
		"SELECT * FROM account_state_monthly WHERE account_id = 'a42'"},
	{"churn_monthly", cols("month, customers_start, customers_new, customers_lost, customers_new_and_lost, customers_end, churn_rate, mrr_start, mrr_churned, revenue_churn_rate"),
		"SELECT * FROM churn_monthly"},
	{"mrr_movements_monthly", cols("month, mrr_start, mrr_new, mrr_expansion, mrr_contraction, mrr_churned, mrr_end, mrr_net_change, negative_churn"),
		"SELECT * FROM mrr_movements_monthly"},
	{"nrr_monthly", cols("month, customers_start, mrr_start, mrr_expansion, mrr_contraction, mrr_churned, mrr_retained, nrr"),
		"SELECT * FROM nrr_monthly"},
	{"ltv", cols("month, window_months, customers, mrr, arpa, window_customers_start, window_customers_lost, churn_rate, ltv, avg_monthly_revenue, avg_lifetime_months, clv"),
		"SELECT * FROM ltv"},
	{"trial_conversion_monthly", cols("month, trials_started, trials_ended, trials_converted, conversion_rate"),
		"SELECT * FROM trial_conversion_monthly"},
	{"nps_monthly", cols("month, responses, promoters, passives, detractors, nps"),
		"SELECT * FROM nps_monthly"},
	{"nps_account_monthly", cols("month, account_id, plan, responses, promoters, passives, detractors, nps"),
		"SELECT * FROM nps_account_monthly WHERE account_id = 'a42'"},
	{"nps_plan_monthly", cols("month, plan, accounts, responses, promoters, passives, detractors, nps"),
		"SELECT * FROM nps_plan_monthly"},
	{"csat_monthly", cols("month, answers, satisfied, csat"),
		"SELECT * FROM csat_monthly"},
	{"csat_account_monthly", cols("month, account_id, answers, satisfied, csat"),
		"SELECT * FROM csat_account_monthly WHERE account_id = 'a42'"},
	{"renewal_monthly", cols("month, up_for_renewal, renewed, not_renewed, renewal_rate"),
		"SELECT * FROM renewal_monthly"},
	{"referrals_monthly", cols("account_id, month, referrals, referring_users"),
		"SELECT * FROM referrals_monthly WHERE account_id = 'a42'"},
	{"user_signups", cols("account_id, user_id, signed_up_at, signup_source, first_event_at"),
		"SELECT * FROM user_signups WHERE account_id = 'a42'"},
	{"adoption", cols("account_id, feature, month, users_signed_up, adopters, adoption_rate"),
		"SELECT * FROM adoption WHERE account_id = 'a42'"},
	{"time_to_value", cols("account_id, user_id, signed_up_at, signup_source, cohort_month, plan, first_value_at, first_value_feature, seconds_to_value"),
		"SELECT * FROM time_to_value WHERE account_id = 'a42'"},
	{"time_to_value_summary", cols("plan, cohort_month, users, users_reached_value, median_seconds_to_value, median_days_to_value"),
		"SELECT * FROM time_to_value_summary"},
	{"retention_cohorts", cols("cohort_week, users, eligible_d1, retained_d1, retention_d1, eligible_d7, retained_d7, retention_d7, eligible_d30, retained_d30, retention_d30"),
		"SELECT * FROM retention_cohorts"},
	// The engagement views (migrations 0002 and 0003).
	{"sessions", cols("account_id, user_id, session_id, started_at, ended_at, active_seconds, event_count"),
		"SELECT * FROM sessions WHERE account_id = 'a42'"},
	{"user_daily", cols("account_id, user_id, day, active_seconds, sessions, events"),
		"SELECT * FROM user_daily WHERE account_id = 'a42'"},
	{"account_daily", cols("account_id, day, dau, active_seconds, sessions, events"),
		"SELECT * FROM account_daily WHERE account_id = 'a42'"},
	{"account_traits", cols("account_id, seats, plan, mrr, status, updated_at"),
		"SELECT * FROM account_traits WHERE account_id = 'a42'"},
	{"account_engagement", cols("account_id, day, dau, wau, mau, active_days_14d, seats, license_utilisation, stickiness"),
		"SELECT * FROM account_engagement WHERE account_id = 'a42'"},
	{"feature_daily", cols("account_id, day, name, users, events"),
		"SELECT * FROM feature_daily WHERE account_id = 'a42'"},
	{"plan_engagement", cols("plan, day, accounts, avg_dau, avg_active_days_14d, avg_license_utilisation, avg_active_seconds_per_active_user"),
		"SELECT * FROM plan_engagement"},
}

// BenchmarkViews times every KPI view over 10k accounts x 12 months of history (plus the
// current month): 130k $account events, 50k users with 144 product events each (7.2M),
// 200k NPS and 200k CSAT answers, 50k referrals, 10k renewals. For each view, "full"
// computes every row and column (what an unfiltered query costs, since 18.16 pushes no
// predicate into a view) and "typical" runs the query of the view's table in allViews,
// rows sent to the client. The goal is under 1 s each. Run it with
//
//	go test -run '^$' -bench BenchmarkViews -benchtime 3x ./pkg/kpi
//
// KPI_BENCH_USERS_PER_ACCOUNT (default 5) changes the number of users per account, to see
// how the user views scale: `make demo`'s population averages 16.
func BenchmarkViews(b *testing.B) {
	ctx := context.Background()
	users := 5
	if v := os.Getenv("KPI_BENCH_USERS_PER_ACCOUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("KPI_BENCH_USERS_PER_ACCOUNT=%q: want a positive integer", v)
		}
		users = n
	}
	// KPI_BENCH_CLICKHOUSE=cluster runs the views on the local 2 × 2 cluster instead of one
	// server (docs/SCALING.md).
	mode := "single"
	if v := os.Getenv("KPI_BENCH_CLICKHOUSE"); v != "" {
		mode = v
	}
	hist := synthetic{accounts: 10_000, usersPerAccount: users, eventsPerUser: 144}
	var conn driver.Conn
	var rows uint64
	if addr, db := os.Getenv("KPI_BENCH_CLICKHOUSE_ADDR"), os.Getenv("KPI_BENCH_DATABASE"); addr != "" && db != "" {
		// A history of a million users takes minutes to load: keep it in a database of
		// its own on a server of one's own and reuse it between runs.
		conn = keptDatabase(b, addr, db)
		start := time.Now()
		hist.loadResumable(b, conn)
		b.Logf("loaded in %s", time.Since(start).Round(time.Millisecond))
	} else {
		conn, _ = testenv.Database(b, mode)
		start := time.Now()
		hist.load(b, conn)
		b.Logf("loaded in %s", time.Since(start).Round(time.Millisecond))
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM events_raw").Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("history: %d events, %d users", rows, hist.accounts*hist.usersPerAccount)

	for _, v := range allViews {
		b.Run(v.name+"/full", func(b *testing.B) {
			for b.Loop() {
				var n uint64
				if err := conn.QueryRow(ctx, v.fullQuery()).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(v.name+"/typical", func(b *testing.B) {
			for b.Loop() {
				rs, err := conn.Query(ctx, v.typical)
				if err != nil {
					b.Fatal(err)
				}
				for rs.Next() {
				}
				if err := rs.Err(); err != nil {
					b.Fatal(err)
				}
				rs.Close()
			}
		})
	}
}

// loadResumable is load for a kept database: it records each statement it ran in
// bench_loaded, and runs only the others.
func (s synthetic) loadResumable(tb testing.TB, conn driver.Conn) {
	tb.Helper()
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS bench_loaded (step UInt32) ENGINE = TinyLog"); err != nil {
		tb.Fatal(err)
	}
	for i, stmt := range s.statements() {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM bench_loaded WHERE step = ?", uint32(i)).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			continue
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			tb.Fatalf("%v\n%s", err, stmt)
		}
		if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO bench_loaded (step) SELECT toUInt32(%d)", i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// keptDatabase opens (creating and migrating it if needed) database db on the server at addr,
// which the benchmark never drops.
func keptDatabase(tb testing.TB, addr, db string) driver.Conn {
	tb.Helper()
	ctx := context.Background()
	admin, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: "default"})
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if err := clickhouse.EnsureDatabase(ctx, admin, db); err != nil {
		tb.Fatal(err)
	}
	conn, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: db, MaxOpenConns: 4, MaxIdleConns: 2, ReadTimeout: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if err := clickhouse.Migrate(ctx, conn, db, schemas.ClickHouse, "clickhouse"); err != nil {
		tb.Fatal(err)
	}
	return conn
}
