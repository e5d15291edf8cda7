package kpi_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/schemas"
)

// sessionDay is one row of session_days_raw.
type sessionDay struct {
	account, user, session string
	day                    time.Time
	activeMs               int64
	events                 uint32
	active, started, del   bool
	ver                    uint64
}

// workerLikeSessionDays generates what the worker writes for random users, keeping to the
// rule user_engaged_days relies on: a user-day that some version showed active stays active
// in a live session. Each user has active days with gaps around the window edges (6, 7, 8,
// 13, 14, 15, 29, 30, 31 days), some in the future and some today; each active day has one
// to three sessions, several versions of them, some retracted and rewritten under another
// id (a merge), and days on which the user only sent $hidden (not active).
func workerLikeSessionDays(rng *rand.Rand, accounts, usersPerAccount int, today time.Time) []sessionDay {
	gaps := []int{1, 1, 2, 3, 6, 7, 8, 13, 14, 15, 29, 30, 31, 45}
	var rows []sessionDay
	var ver uint64
	next := func() uint64 { ver++; return ver }
	for a := range accounts {
		account := fmt.Sprintf("acc%d", a)
		for u := range usersPerAccount {
			user := fmt.Sprintf("user%d", u)
			day := today.AddDate(0, 0, -200+rng.IntN(60))
			for n := 0; n < 12+rng.IntN(20); n++ {
				day = day.AddDate(0, 0, gaps[rng.IntN(len(gaps))])
				if day.After(today.AddDate(0, 0, 3)) {
					break
				}
				for s := range 1 + rng.IntN(3) {
					id := fmt.Sprintf("%s-%s-%d", user, day.Format("20060102"), s)
					row := sessionDay{account: account, user: user, session: id, day: day, activeMs: int64(rng.IntN(3_600_000)),
						events: uint32(1 + rng.IntN(20)), active: true, started: true}
					for range rng.IntN(3) { // earlier, smaller versions
						v := row
						v.ver, v.activeMs, v.events = next(), v.activeMs/2, v.events/2+1
						rows = append(rows, v)
					}
					row.ver = next()
					rows = append(rows, row)
					if rng.IntN(4) == 0 { // merged into a session with another id
						gone := row
						gone.ver, gone.del = next(), true
						moved := row
						moved.session, moved.ver = id+"-merged", next()
						rows = append(rows, gone, moved)
					}
				}
				if rng.IntN(5) == 0 { // a $hidden alone on the next day: a session-day, not active
					d := day.AddDate(0, 0, 1)
					rows = append(rows, sessionDay{account: account, user: user, session: fmt.Sprintf("%s-%s-h", user, d.Format("20060102")),
						day: d, activeMs: 60_000, events: 1, started: false, ver: next()})
				}
			}
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// u8 is a ClickHouse UInt8 flag.
func u8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

func insertSessionDays(tb testing.TB, conn driver.Conn, rows []sessionDay) {
	tb.Helper()
	ctx := context.Background()
	// Several inserts, so the materialized view sees versions of one session in different
	// blocks as the worker's batches do.
	for len(rows) > 0 {
		n := min(len(rows), 2000)
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)")
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows[:n] {
			if err := batch.Append(r.account, r.user, r.session, r.day, r.activeMs, r.events, u8(r.active), u8(r.started), u8(r.del), r.ver); err != nil {
				tb.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			tb.Fatal(err)
		}
		rows = rows[n:]
	}
}

// TestRewrittenEngagementViewsMatch0003 pins migration 0012, which rewrote user_active_days
// and account_engagement (and so plan_engagement) for speed only: on worker-like session
// rows (versions, retractions, merges, inactive days, window edges, future days) each must
// return exactly the rows and column types of its 0003 definition, taken from the migration
// files themselves. It runs in both modes: on the cluster the per-user arrays are merged
// from both shards.
func TestRewrittenEngagementViewsMatch0003(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { rewrittenEngagementViews(t, mode) })
	}
}

func rewrittenEngagementViews(t *testing.T, mode string) {
	ctx := context.Background()
	conn, _ := testenv.Database(t, mode)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	insertSessionDays(t, conn, workerLikeSessionDays(rand.New(rand.NewPCG(1, 2)), 40, 6, today))
	// $account traits: three events per account (the latest trait wins, a trait not sent
	// is kept, null counts as sent), and for some events a second copy with other traits
	// that loses (lower ver), as a redelivery under a reused id would.
	for _, stmt := range []string{`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver)
SELECT concat('t', toString(number)), concat('acc', toString(number % 40)), '', '$account', t, toInt64(toUInt32(t)) * 1000, t,
       multiIf(number % 5 = 0, '{"seats":4,"plan":"pro","mrr":120.5,"status":"active"}', number % 5 = 1, '{"seats":0,"plan":"free"}',
               number % 5 = 2, '{"plan":"team","seats":null}', number % 5 = 3, '{"status":"canceled"}', '{"mrr":99}'), 10
FROM (SELECT number, now() - 86400 * (number % 7) - number AS t FROM numbers(120))`,
		`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, properties, ver)
SELECT concat('t', toString(number * 3)), concat('acc', toString(number * 3 % 40)), '', '$account', now(), toInt64(toUInt32(now())) * 1000, now(),
       '{"seats":999,"plan":"lost"}', 5
FROM numbers(30)`,
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}

	ms, err := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	var v3 []string
	for _, m := range ms {
		switch m.Version {
		case 3:
			v3 = m.Statements
		}
	}
	// The 0003 views, renamed *_0003 and built on each other.
	renames := []string{"user_active_days", "account_engagement", "plan_engagement", "account_traits"}
	for _, stmt := range []string{
		statementOf(t, v3, regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS account_traits AS\b`)),
		statementOf(t, v3, regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS user_active_days AS\b`)),
		statementOf(t, v3, regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS account_engagement AS\b`)),
		statementOf(t, v3, regexp.MustCompile(`(?m)^CREATE VIEW IF NOT EXISTS plan_engagement AS\b`)),
	} {
		for _, name := range renames {
			stmt = regexp.MustCompile(`\b`+name+`\b`).ReplaceAllString(stmt, name+"_0003")
		}
		stmt = strings.Replace(stmt, "CREATE VIEW IF NOT EXISTS", "CREATE VIEW", 1)
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}

	for _, v := range []struct{ name, order string }{
		{"user_active_days", "account_id, user_id, day"},
		{"account_engagement", "account_id, day"},
		{"plan_engagement", "plan, day"},
		{"account_traits", "account_id"},
	} {
		t.Run(v.name, func(t *testing.T) {
			types := func(view string) []string {
				lines, err := queryLines(ctx, conn, "DESCRIBE TABLE "+view)
				if err != nil {
					t.Fatal(err)
				}
				return lines
			}
			if got, want := strings.Join(types(v.name), ", "), strings.Join(types(v.name+"_0003"), ", "); got != want {
				t.Errorf("columns:\n\tgot  %s\n\twant %s", got, want)
			}
			query := func(view string) []string {
				lines, err := queryLines(ctx, conn, "SELECT * FROM "+view+" ORDER BY "+v.order)
				if err != nil {
					t.Fatal(err)
				}
				return lines
			}
			want := query(v.name + "_0003")
			if len(want) < 40 {
				t.Fatalf("the 0003 definition returns %d rows: too few to compare", len(want))
			}
			got := query(v.name)
			for i := range max(len(got), len(want)) {
				if i >= len(got) || i >= len(want) || !sameRow(got[i], want[i]) {
					t.Fatalf("%d rows, 0003 has %d; first difference at row %d:\n\tgot  %s\n\twant %s",
						len(got), len(want), i, at(got, i), at(want, i))
				}
			}
		})
	}
}

// sameRow compares two rendered rows, numbers within one unit of the fourth decimal that
// render prints: averages of floats depend on the order in which ClickHouse's threads add
// them up, in either definition.
func sameRow(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] == fb[i] {
			continue
		}
		x, errX := strconv.ParseFloat(fa[i], 64)
		y, errY := strconv.ParseFloat(fb[i], 64)
		if errX != nil || errY != nil || math.Abs(x-y) > 1.5e-4 {
			return false
		}
	}
	return true
}

// TestPredicatePushdownKeepsRows pins what the local servers' profile relies on:
// enable_optimize_predicate_expression = 1 (the default of current ClickHouse releases; off in
// 18.16) lets a one-account query of a view read that account's rows only, and must not
// change what any view returns. Each view's typical query and a one-account (or one-month)
// filter are compared with the setting off and on.
func TestPredicatePushdownKeepsRows(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			conn, _ := testenv.Database(t, mode)
			synthetic{accounts: 60, usersPerAccount: 3, eventsPerUser: 60}.load(t, conn)
			today := time.Now().UTC().Truncate(24 * time.Hour)
			insertSessionDays(t, conn, workerLikeSessionDays(rand.New(rand.NewPCG(3, 4)), 20, 4, today))
			with := func(on int) context.Context {
				return ch.Context(ctx, ch.WithSettings(ch.Settings{"enable_optimize_predicate_expression": on}))
			}
			for _, v := range allViews {
				queries := []string{v.typical}
				if slices.Contains(v.columns, "account_id") {
					queries = append(queries, "SELECT * FROM "+v.name+" WHERE account_id IN ('a7', 'acc3') ORDER BY "+strings.Join(v.columns, ", "))
				}
				for _, q := range queries {
					off, err := queryLines(with(0), conn, q)
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					on, err := queryLines(with(1), conn, q)
					if err != nil {
						t.Fatalf("%s with enable_optimize_predicate_expression: %v", q, err)
					}
					if len(off) == 0 {
						t.Errorf("%s returns no rows: nothing to compare", q)
					}
					slices.Sort(off)
					slices.Sort(on)
					if strings.Join(off, "\n") != strings.Join(on, "\n") {
						t.Errorf("%s: %d rows without the pushdown, %d with it; they differ", q, len(off), len(on))
					}
				}
			}
		})
	}
}

// TestEngagedDaysBackfill checks that migration 0012 fills user_engaged_days from the session
// rows stored before it: user_active_days must then hold the active days of the live
// sessions, as it does for rows the materialized view saw.
func TestEngagedDaysBackfill(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	db, name := ch.NewEmptyDatabase(t)
	if err := clickhouse.Migrate(ctx, db, name, migrationsBefore(t, "0012_"), "clickhouse"); err != nil {
		t.Fatal(err)
	}
	insertSessionDays(t, db, workerLikeSessionDays(rand.New(rand.NewPCG(5, 6)), 10, 5, time.Now().UTC().Truncate(24*time.Hour)))
	if err := clickhouse.Migrate(ctx, db, name, schemas.ClickHouse, "clickhouse"); err != nil {
		t.Fatal(err)
	}
	got, err := queryLines(ctx, db, "SELECT * FROM user_active_days ORDER BY account_id, user_id, day")
	if err != nil {
		t.Fatal(err)
	}
	want, err := queryLines(ctx, db, "SELECT account_id, user_id, day FROM session_days_latest WHERE active = 1 GROUP BY account_id, user_id, day ORDER BY account_id, user_id, day")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("user_active_days after the backfill: %d rows, want the %d active days of live sessions", len(got), len(want))
	}
}
