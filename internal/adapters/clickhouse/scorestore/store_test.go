package scorestore_test

import (
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture is rows of events_raw and session_days_raw, as in testdata/inputs_fixture.json.
type fixture struct {
	Events      []fixtureEvent      `json:"events"`
	SessionDays []fixtureSessionDay `json:"session_days"`
}

type fixtureEvent struct {
	EventID    string `json:"event_id"`
	AccountID  string `json:"account_id"`
	UserID     string `json:"user_id"`
	Name       string `json:"name"`
	DaysAgo    int    `json:"days_ago"`
	Properties string `json:"properties"`
	Ver        uint64 `json:"ver"`
}

type fixtureSessionDay struct {
	AccountID string `json:"account_id"`
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	DaysAgo   int    `json:"days_ago"`
	Active    uint8  `json:"active"`
	Deleted   uint8  `json:"deleted"`
	Ver       uint64 `json:"ver"`
}

// todayUTC is midnight UTC today, the server's today() (its time zone is UTC).
func todayUTC() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

func loadFixture(t *testing.T, conn driver.Conn, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	insertFixture(t, conn, fx)
}

// insertFixture writes fx's rows, placing each days_ago UTC days before today.
func insertFixture(t *testing.T, conn driver.Conn, fx fixture) {
	t.Helper()
	ctx := context.Background()
	today := todayUTC()
	ev, err := conn.PrepareBatch(ctx, `INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms,
 sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)`)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range fx.Events {
		// 30 s after midnight keeps every event in the past and on its day.
		ts := today.AddDate(0, 0, -e.DaysAgo).Add(30 * time.Second)
		ms := ts.UnixMilli()
		if err := ev.Append(e.EventID, e.AccountID, e.UserID, e.Name, ts, ms, ms, ms, ts, ms, e.Properties,
			uint16(0), int64(i), uint8(0), max(e.Ver, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(fx.Events) == 0 {
		_ = ev.Abort()
	} else if err := ev.Send(); err != nil {
		t.Fatal(err)
	}
	sd, err := conn.PrepareBatch(ctx, `INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range fx.SessionDays {
		if err := sd.Append(d.AccountID, d.UserID, d.SessionID, today.AddDate(0, 0, -d.DaysAgo), int64(60_000), uint32(3),
			d.Active, uint8(1), d.Deleted, max(d.Ver, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(fx.SessionDays) == 0 {
		_ = sd.Abort()
		return
	}
	if err := sd.Send(); err != nil {
		t.Fatal(err)
	}
}

// TestReadInputs runs the input queries on real ClickHouse over a fixture that has every
// trap the queries must avoid (redelivered events, session-day rows retracted or made idle
// by a later version, answers and tickets just outside their windows, traits sent in
// several events or as null) and compares with testdata/inputs_want.json.
func TestReadInputs(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { readInputs(t, mode) })
	}
}

func readInputs(t *testing.T, mode string) {
	conn, _ := testenv.Database(t, mode)
	loadFixture(t, conn, filepath.Join("testdata", "inputs_fixture.json"))
	checkInputs(t, conn, *update)
	checkScopes(t, conn)
}

// checkScopes: a scope of some partitions, or of some accounts, reads exactly the subset of
// the whole that topics.AccountPartition puts there: ClickHouse's cityHash64 and the Go one
// agree, on a single node and through Distributed tables.
func checkScopes(t *testing.T, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	w := scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 30}
	st := scorestore.New(conn)
	all, err := st.ReadInputs(ctx, w, everyAccount)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]scorer.AccountInputs{}
	for _, a := range all {
		byID[a.AccountID] = a
	}
	ids := slices.Sorted(maps.Keys(byID))
	tests := []struct {
		name string
		sc   scorer.Scope
	}{
		{"partitions 1 and 2 of 3", scorer.Scope{NumPartitions: 3, Partitions: []int32{1, 2}}},
		{"partition 0 of 3", scorer.Scope{NumPartitions: 3, Partitions: []int32{0}}},
		{"two accounts", scorer.Scope{NumPartitions: 3, Partitions: []int32{0, 1, 2}, Accounts: []string{ids[0], ids[len(ids)-1]}}},
		{"no account", scorer.Scope{NumPartitions: 3, Partitions: []int32{0, 1, 2}, Accounts: []string{}}},
	}
	for _, tt := range tests {
		got, err := st.ReadInputs(ctx, w, tt.sc)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := []scorer.AccountInputs{}
		for _, id := range ids {
			if tt.sc.Has(id) && (tt.sc.Accounts == nil || slices.Contains(tt.sc.Accounts, id)) {
				want = append(want, byID[id])
			}
		}
		slices.SortFunc(got, func(a, b scorer.AccountInputs) int { return strings.Compare(a.AccountID, b.AccountID) })
		gb, _ := json.Marshal(append([]scorer.AccountInputs{}, got...))
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s: got %d accounts %s, want %d: %s", tt.name, len(got), gb, len(want), wb)
		}
	}
}

// checkInputs compares ReadInputs on conn with testdata/inputs_want.json, after rewriting it
// when write is set.
func checkInputs(t *testing.T, conn driver.Conn, write bool) {
	t.Helper()
	got, err := scorestore.New(conn).ReadInputs(context.Background(), scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 30}, everyAccount)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b scorer.AccountInputs) int { return strings.Compare(a.AccountID, b.AccountID) })
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	golden := filepath.Join("testdata", "inputs_want.json")
	if write {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Errorf("inputs differ from %s:\n got %s\nwant %s", golden, b, want)
	}
}

// TestReadInputsAfterUpgrade pins the upgrade path of migration 0007, whose tables the
// queries read: on a database that already holds the events when 0007 runs, its copy of the
// stored events gives the inputs a database that received them after every migration gives,
// and so does running 0007 again from its first statement, as the next start does after a
// crash in the middle of it (the copies then hold every event twice).
func TestReadInputsAfterUpgrade(t *testing.T) {
	const upgrade = "clickhouse/0007_"
	all, err := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	var upgradeFile string
	for _, p := range all {
		if strings.HasPrefix(p, upgrade) {
			upgradeFile = p
		}
		if p >= upgrade {
			continue
		}
		b, err := fs.ReadFile(schemas.ClickHouse, p)
		if err != nil {
			t.Fatal(err)
		}
		older[p] = &fstest.MapFile{Data: b}
	}
	if upgradeFile == "" {
		t.Fatalf("no %s*.sql in schemas.ClickHouse", upgrade)
	}
	ms, err := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	var rerun []string
	for _, m := range ms {
		if "clickhouse/"+m.Name == upgradeFile {
			rerun = m.Statements
		}
	}

	tests := []struct {
		name  string
		rerun bool
	}{
		{"events before the migration", false},
		{"migration run again after a crash", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			conn, db := testenv.ClickHouse(t).NewEmptyDatabase(t)
			if err := clickhouse.Migrate(ctx, conn, db, older, "clickhouse"); err != nil {
				t.Fatal(err)
			}
			loadFixture(t, conn, filepath.Join("testdata", "inputs_fixture.json"))
			if err := clickhouse.Migrate(ctx, conn, db, schemas.ClickHouse, "clickhouse"); err != nil {
				t.Fatal(err)
			}
			if tt.rerun {
				for i, stmt := range rerun {
					if err := conn.Exec(ctx, stmt); err != nil {
						t.Fatalf("%s statement %d again: %v", upgradeFile, i+1, err)
					}
				}
			}
			checkInputs(t, conn, false)
		})
	}
}

// TestReadInputsEmpty: no events, no accounts, no error.
func TestReadInputsEmpty(t *testing.T) {
	conn, _ := testenv.ClickHouse(t).NewDatabase(t)
	got, err := scorestore.New(conn).ReadInputs(context.Background(), scorer.Windows{NPSDays: 90, TicketsDays: 30, ContractionDays: 30}, everyAccount)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadInputs on an empty database = %v, %v; want nothing", got, err)
	}
}

func historyRow(account string, rev, seq uint64, at time.Time, band health.Band, score float64) scorer.Row {
	m := health.DefaultModel()
	in := health.Inputs{MAU: int(rev), Status: ptr(health.StatusActive)}
	r := health.Score(m, in)
	r.Score = score
	return scorer.Row{AccountID: account, Rev: rev, ScoredAt: at, Band: band, Result: r,
		Reasons: []string{health.ReasonUsageRose}, Inputs: in, ChangeSeq: seq}
}

func ptr[T any](v T) *T { return &v }

// TestHistory writes rows, rewrites one revision (a retried write) and reads them back
// through LastRows, History and the account_health views.
func TestHistory(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { history(t, mode) })
	}
}

func history(t *testing.T, mode string) {
	conn, _ := testenv.Database(t, mode)
	st := scorestore.New(conn)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	first := []scorer.Row{
		historyRow("acme", 1, 1, t0, health.BandYellow, 55),
		historyRow("acme", 2, 1, t0.Add(time.Minute), health.BandYellow, 60),
		historyRow("beta", 1, 1, t0, health.BandRed, 12.5),
	}
	first[2].Result.Components[health.ComponentNPS] = health.Component{} // no data: NULL
	if err := st.WriteRows(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The write of acme's rev 2 is retried with a later score, as after an unknown outcome.
	retry := historyRow("acme", 2, 2, t0.Add(2*time.Minute), health.BandGreen, 74)
	if err := st.WriteRows(ctx, []scorer.Row{retry}); err != nil {
		t.Fatal(err)
	}

	last, err := st.LastRows(ctx, everyAccount)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(last, func(a, b scorer.Row) int { return strings.Compare(a.AccountID, b.AccountID) })
	if len(last) != 2 || last[0].Rev != 2 || last[0].Result.Score != 74 || last[0].Band != health.BandGreen || last[0].ChangeSeq != 2 {
		t.Fatalf("LastRows = %+v, want acme rev 2 (the retried write) and beta", last)
	}
	if !last[0].ScoredAt.Equal(retry.ScoredAt) || last[0].Inputs.MAU != 2 || *last[0].Inputs.Status != health.StatusActive ||
		!slices.Equal(last[0].Reasons, []string{health.ReasonUsageRose}) || last[0].Result.ModelVersion != "default-1" {
		t.Errorf("LastRows lost a field: %+v", last[0])
	}
	if c := last[1].Result.Components; !c[health.ComponentUsage].Present || c[health.ComponentNPS].Present {
		t.Errorf("beta's components %+v: want usage present and NPS absent (NULL)", c)
	}

	hist, err := st.History(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Rev != 2 || hist[0].Result.Score != 74 || hist[1].Rev != 1 {
		t.Fatalf("History = %+v, want revs 2 (74) and 1, newest first", hist)
	}
	if hist, err := st.History(ctx, "acme", 1); err != nil || len(hist) != 1 || hist[0].Rev != 2 {
		t.Fatalf("History with limit 1 = %+v, %v; want acme's newest row only (rev 2)", hist, err)
	}
	if hist, err := st.History(ctx, "beta", 10); err != nil || len(hist) != 1 || hist[0].AccountID != "beta" || hist[0].Result.Score != 12.5 {
		t.Fatalf("History of beta = %+v, %v; want beta's one row", hist, err)
	}
	if hist, err := st.History(ctx, "nobody", 10); err != nil || len(hist) != 0 {
		t.Fatalf("History of an unknown account = %+v, %v; want nothing", hist, err)
	}

	// A late copy of acme's rev 2 by a predecessor whose ownership was fenced (a lower
	// epoch) loses to the successor's, although it is written later.
	late := historyRow("acme", 2, 1, t0.Add(3*time.Minute), health.BandYellow, 58)
	retry.Fence, late.Fence = 3, 2
	if err := st.WriteRows(ctx, []scorer.Row{retry}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteRows(ctx, []scorer.Row{late}); err != nil {
		t.Fatal(err)
	}
	last, err = st.LastRows(ctx, everyAccount)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range last {
		if r.AccountID == "acme" && r.Result.Score != 74 {
			t.Errorf("acme's last row after a fenced late write: score %v, want the successor's 74", r.Result.Score)
		}
	}

	// What other instances' read APIs show: the latest row and when its band was entered.
	lr, ok, err := st.LatestRow(ctx, "acme")
	if err != nil || !ok || lr.Row.Result.Score != 74 || lr.Row.Band != health.BandGreen || !lr.BandSince.Equal(retry.ScoredAt) {
		t.Errorf("LatestRow(acme) = %+v, %v, %v; want 74 green since %s", lr, ok, err, retry.ScoredAt)
	}
	if _, ok, err := st.LatestRow(ctx, "nobody"); err != nil || ok {
		t.Errorf("LatestRow(nobody) = %v, %v", ok, err)
	}
	page, more, err := st.LatestRows(ctx, scorer.Filter{}, "", 1)
	if err != nil || len(page) != 1 || page[0].Row.AccountID != "acme" || !more {
		t.Fatalf("LatestRows page 1 = %+v, %v, %v", page, more, err)
	}
	page, more, err = st.LatestRows(ctx, scorer.Filter{}, "acme", 1)
	if err != nil || len(page) != 1 || page[0].Row.AccountID != "beta" || more || !page[0].BandSince.Equal(t0) {
		t.Fatalf("LatestRows page 2 = %+v, %v, %v", page, more, err)
	}
	for _, f := range []scorer.Filter{{Band: health.BandRed}, {Band: health.BandGreen}, {Plan: "nope"}} {
		page, _, err := st.LatestRows(ctx, f, "", 10)
		want := map[health.Band]string{health.BandRed: "beta", health.BandGreen: "acme"}[f.Band]
		if err != nil || (want == "" && len(page) != 0) || (want != "" && (len(page) != 1 || page[0].Row.AccountID != want)) {
			t.Errorf("LatestRows(%+v) = %+v, %v; want %q", f, page, err, want)
		}
	}

	// The views.
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM account_health WHERE account_id = 'acme'").Scan(&n); err != nil || n != 2 {
		t.Errorf("account_health has %d rows for acme (%v), want 2: a retried write shows once", n, err)
	}
	var (
		score float64
		band  string
		nps   *float64
	)
	if err := conn.QueryRow(ctx, "SELECT score, band, nps FROM account_health_latest WHERE account_id = 'acme'").Scan(&score, &band, &nps); err != nil {
		t.Fatal(err)
	}
	if score != 74 || band != "green" {
		t.Errorf("account_health_latest: %v %s, want 74 green", score, band)
	}
	if err := conn.QueryRow(ctx, "SELECT nps FROM account_health_latest WHERE account_id = 'beta'").Scan(&nps); err != nil || nps != nil {
		t.Errorf("account_health_latest nps of beta = %v (%v), want NULL", nps, err)
	}
}

// everyAccount is the scope of a single scorer instance on one partition.
var everyAccount = scorer.Scope{NumPartitions: 1, Partitions: []int32{0}}
