package scorer_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// benchAccounts is the account count of the rescoring target: 100 000 accounts in ≤ 2 s.
const benchAccounts = 100_000

// generate fills events_raw and session_days_raw with benchAccounts accounts of synthetic
// history, inside ClickHouse (INSERT … SELECT from numbers()):
//
//   - session_days_raw: 40 session-day rows per account, spread over 1–8 users and the
//     last 30 days, plus an older, idle version of 4 of them (4.4 M rows), so the FINAL
//     de-duplication has work to do;
//   - events_raw: 24 events per account (2.4 M rows): two $account events (one older than
//     30 days, so contraction has a baseline), three $nps answers, two $ticket events and
//     17 product events over 12 feature names, some older than 30 days.
//
// Traits, answers and tickets vary with the account number, and so do the bands: one account
// in ten has no session at all, one in ten has bought 2 seats for up to 8 users (power).
func generate(tb testing.TB, conn driver.Conn) {
	tb.Helper()
	ctx := context.Background()
	n := benchAccounts
	stmts := []string{
		`INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)
SELECT
    concat('acct-', toString(a)), concat('u', toString(k % (1 + a % 8))), concat('s-', toString(a), '-', toString(k)),
    today() - ((k * 7 + a) % 30), 60000 * (1 + k % 20), toUInt32(5 + k % 10), toUInt8(1), toUInt8(1), toUInt8(0), toUInt64(2)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*40) + `))
WHERE a % 10 != 4`,
		`INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)
SELECT
    concat('acct-', toString(a)), concat('u', toString(k % (1 + a % 8))), concat('s-', toString(a), '-', toString(k)),
    today() - ((k * 7 + a) % 30), 0, toUInt32(1), toUInt8(0), toUInt8(1), toUInt8(0), toUInt64(1)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*4) + `))`,
		`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms, sent_at_ms, received_at, received_ms,
 properties, kafka_partition, kafka_offset, late, ver)
SELECT
    concat('e-', toString(a), '-', toString(k)), concat('acct-', toString(a)), concat('u', toString(k % 5)),
    multiIf(k < 2, '$account', k < 5, '$nps', k < 7, '$ticket', concat('feature_', toString(k % 12))) AS name,
    toDateTime(now() - 86400 * multiIf(k = 0, 45, k % 3 = 0, 40, k % 25) - a % 3600) AS t,
    toInt64(toUInt32(t)) * 1000, toInt64(toUInt32(t)) * 1000, toInt64(toUInt32(t)) * 1000, t, toInt64(toUInt32(t)) * 1000,
    multiIf(
        k = 0, concat('{"seats":', toString(10 + a % 20), ',"plan":"pro","mrr":', toString(100 + a % 500), ',"status":"active"}'),
        k = 1, concat('{"seats":', toString(if(a % 10 = 0, 2, 5 + a % 20)), ',"status":"', arrayElement(['active', 'past_due', 'trialing', 'active', 'canceled'], 1 + a % 5), '"}'),
        k < 5, concat('{"score":', toString((a + k) % 11), '}'),
        k < 7, '{"severity":"high"}',
        ''),
    toUInt16(a % 8), toInt64(a * 100 + k), toUInt8(0), toUInt64(1)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*24) + `))`,
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			tb.Fatalf("generating benchmark data: %v", err)
		}
	}
	// A long-running table has most of its rows in a few large parts that background merges
	// produced, and a few small new ones; freshly inserted data has several equal parts
	// instead, which makes FINAL slower than it will be in production. Merge them, and the
	// narrow tables the materialized views filled from events_raw, which the scorer reads.
	for _, table := range []string{"session_days_raw", "events_raw", "signal_events", "account_event_names"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			tb.Fatalf("merging %s: %v", table, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// discard is a ChangeTopic with nothing on it that accepts every change: the benchmark
// measures ClickHouse and the scorer, not a broker.
type discard struct{}

func (discard) Open(context.Context, int32) (scorer.PartitionLog, error) { return discard{}, nil }
func (discard) Emit(context.Context, []scorer.Change) error              { return nil }
func (discard) Replay(context.Context, func(scorer.Record) error) error  { return nil }
func (discard) Epoch() int16                                             { return 1 }
func (discard) Close()                                                   {}

// notified is a Group that owns every partition and reports its accounts as changed at
// every Take.
type notified struct{ ids []string }

func (g notified) Take(int32) ([]string, int64)                { return g.ids, -1 }
func (notified) Commit(context.Context, map[int32]int64) error { return nil }
func (notified) Owns(context.Context, int32) error             { return nil }

// freshHistory writes to ClickHouse but restores nothing, so every iteration scores every
// account as new: each writes all 100 000 rows and emits 100 000 changes, the worst case
// (the first rescoring, or a model change that moves every score).
type freshHistory struct{ *scorestore.Store }

func (freshHistory) LastRows(context.Context, scorer.Scope) ([]scorer.Row, error) { return nil, nil }

func bandCounts(s *scorer.Scorer) map[string]int {
	out := map[string]int{}
	page, _ := s.Snapshot().List(scorer.Filter{}, "", benchAccounts)
	for _, a := range page {
		out[a.Band.String()]++
	}
	return out
}

// BenchmarkRescore100k measures one rescoring of 100 000 accounts against a real ClickHouse
// (testenv), split into query (the five input queries), compute (scoring, hysteresis,
// reasons) and write (account_health rows). "worst case" rescores accounts the scorer
// has never seen, so every account gets a row and a change; "steady" rescores a warm
// scorer whose accounts did not change, the every-10-seconds case.
//
//	go test -run '^$' -bench Rescore100k -benchtime 3x ./internal/scorer
func BenchmarkRescore100k(b *testing.B) {
	conn, _ := testenv.ClickHouse(b).NewDatabase(b)
	generate(b, conn)
	store := scorestore.New(conn)
	ctx := context.Background()
	newScorer := func(h scorer.History) *scorer.Scorer {
		s, err := scorer.New(scorer.Config{}, scorer.Deps{
			Model: scorer.StaticModel{M: health.DefaultModel()}, Source: store, History: h, Topic: discard{}, Group: notified{},
		}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Assign([]int32{0})
		return s
	}
	report := func(b *testing.B, n int, sum scorer.Stats, accounts, rows int) {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
		b.ReportMetric(per(sum.Query), "query-ms/op")
		b.ReportMetric(per(sum.Compute), "compute-ms/op")
		b.ReportMetric(per(sum.Write), "write-ms/op")
		b.ReportMetric(per(sum.Query+sum.Compute+sum.Emit+sum.Write), "total-ms/op")
		b.ReportMetric(float64(accounts/n), "accounts/op")
		b.ReportMetric(float64(rows/n), "rows/op")
	}
	add := func(sum *scorer.Stats, st scorer.Stats) {
		sum.Query += st.Query
		sum.Compute += st.Compute
		sum.Emit += st.Emit
		sum.Write += st.Write
	}

	logged := false
	b.Run("worst case", func(b *testing.B) {
		var (
			sum scorer.Stats
			s   *scorer.Scorer
		)
		n, accounts, rows := 0, 0, 0
		for b.Loop() {
			s = newScorer(freshHistory{store})
			st, err := s.Rescore(ctx)
			if err != nil {
				b.Fatal(err)
			}
			add(&sum, st)
			n, accounts, rows = n+1, accounts+st.Accounts, rows+st.Rows
		}
		if accounts/n != benchAccounts {
			b.Fatalf("scored %d accounts per rescoring, want %d", accounts/n, benchAccounts)
		}
		if !logged {
			logged = true
			b.Logf("bands of the benchmark's accounts: %v", bandCounts(s))
		}
		report(b, n, sum, accounts, rows)
	})

	b.Run("steady", func(b *testing.B) {
		s := newScorer(store)
		if _, err := s.Rescore(ctx); err != nil { // restores the rows written above
			b.Fatal(err)
		}
		var sum scorer.Stats
		n, accounts, rows := 0, 0, 0
		for b.Loop() {
			st, err := s.Rescore(ctx)
			if err != nil {
				b.Fatal(err)
			}
			add(&sum, st)
			n, accounts, rows = n+1, accounts+st.Accounts, rows+st.Rows
		}
		report(b, n, sum, accounts, rows)
	})
}
