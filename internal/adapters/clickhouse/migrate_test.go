package clickhouse_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/schemas"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var fixtures = os.DirFS("testdata")

const fixtureDir = "migrations"

func count(t *testing.T, conn driver.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func migrate(t *testing.T, conn driver.Conn, db string, fsys fs.FS, dir string) {
	t.Helper()
	if err := clickhouse.Migrate(context.Background(), conn, db, fsys, dir); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

func TestMigrateAppliesOnceInOrder(t *testing.T) {
	ctx := context.Background()
	conn, db := testenv.ClickHouse(t).NewEmptyDatabase(t)
	migrate(t, conn, db, fixtures, fixtureDir)
	migrate(t, conn, db, fixtures, fixtureDir) // a no-op: would fail on the ALTER if not

	rows, err := conn.Query(ctx, "SELECT version, name FROM schema_migrations WHERE statement = 0 ORDER BY applied_at, version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			v    uint32
			name string
		)
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if want := "0001_tables.sql,0002_views.sql,0010_alter.sql"; strings.Join(got, ",") != want {
		t.Fatalf("recorded %q, want %s, each once", got, want)
	}
	// 0010 altered a table of 0001: it ran after it.
	if n := count(t, conn, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'visits' AND name = 'seen_at'"); n != 1 {
		t.Fatalf("0010_alter.sql did not run")
	}
}

// TestMigrateViewsBindToTargetDatabase pins the rule in the package doc: unqualified names in
// a view (FROM, JOIN, IN, materialized view TO) resolve to the migrated database, whichever
// database the session querying or inserting later has.
func TestMigrateViewsBindToTargetDatabase(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	conn1, db1 := ch.NewEmptyDatabase(t)
	conn2, db2 := ch.NewEmptyDatabase(t)
	migrate(t, conn1, db1, fixtures, fixtureDir)
	migrate(t, conn2, db2, fixtures, fixtureDir)

	insert := func(conn driver.Conn, table string, rows ...[]any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	// Written through conn2, whose default database is db2, into db1's tables.
	insert(conn2, "`"+db1+"`.accounts (account_id, plan)", []any{"acme", "pro"})
	insert(conn2, "`"+db1+"`.visits (account_id, user_id)", []any{"acme", "u1"}, []any{"acme", "u2"})

	tests := []struct {
		name  string
		conn  driver.Conn
		query string
		want  uint64
	}{
		{"view in db1 from db1", conn1, "SELECT sum(visits) FROM visits_by_plan", 2},
		{"view in db1 from db2", conn2, "SELECT sum(visits) FROM `" + db1 + "`.visits_by_plan", 2},
		{"view in db2 sees only db2", conn1, "SELECT count() FROM `" + db2 + "`.visits_by_plan", 0},
		{"materialized view wrote db1", conn1, "SELECT sum(visits) FROM visit_counts", 2},
		{"materialized view left db2 alone", conn2, "SELECT count() FROM visit_counts", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(t, tt.conn, tt.query); got != tt.want {
				t.Fatalf("%s = %d, want %d", tt.query, got, tt.want)
			}
		})
	}
}

func TestMigrateErrors(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	ok := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x")},
		"m/0002_b.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = Memory")},
	}
	tests := []struct {
		name    string
		next    fstest.MapFS // applied after ok
		wantIs  error
		wantMsg string
	}{
		{
			name: "edited after apply",
			next: fstest.MapFS{
				"m/0001_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS a (x UInt16) ENGINE = Memory")},
				"m/0002_b.sql": ok["m/0002_b.sql"],
			},
			wantIs: clickhouse.ErrChecksumMismatch, wantMsg: "0001_a.sql",
		},
		{
			name:   "applied migration missing",
			next:   fstest.MapFS{"m/0001_a.sql": ok["m/0001_a.sql"]},
			wantIs: clickhouse.ErrUnknownMigration, wantMsg: "version 2 (0002_b.sql)",
		},
		{
			name: "failing statement names file and statement",
			next: fstest.MapFS{
				"m/0001_a.sql": ok["m/0001_a.sql"],
				"m/0002_b.sql": ok["m/0002_b.sql"],
				"m/0003_c.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS c (x UInt8) ENGINE = Memory;\nCREATE TABLE d (x NoSuchType) ENGINE = Memory;")},
			},
			wantMsg: "migration 0003_c.sql in ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, db := ch.NewEmptyDatabase(t)
			migrate(t, conn, db, ok, "m")
			err := clickhouse.Migrate(ctx, conn, db, tt.next, "m")
			if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Migrate = %v, want an error (%v) containing %q", err, tt.wantIs, tt.wantMsg)
			}
		})
	}

	// 18.16 has no ALTER ... ADD COLUMN IF NOT EXISTS: rerunning statement 1 would fail, so
	// the runner must resume at the statement that failed.
	t.Run("failed migration resumes at the failed statement", func(t *testing.T) {
		conn, db := ch.NewEmptyDatabase(t)
		migrate(t, conn, db, ok, "m")
		const alter = "ALTER TABLE a ADD COLUMN y UInt8;\n"
		bad := fstest.MapFS{
			"m/0001_a.sql": ok["m/0001_a.sql"], "m/0002_b.sql": ok["m/0002_b.sql"],
			"m/0003_c.sql": {Data: []byte(alter + "SELECT no_such_function()")},
		}
		if err := clickhouse.Migrate(ctx, conn, db, bad, "m"); err == nil || !strings.Contains(err.Error(), "0003_c.sql in "+db+", statement 2 (SELECT no_such_function())") {
			t.Fatalf("Migrate = %v, want failure in statement 2 of 0003_c.sql", err)
		}
		if n := count(t, conn, "SELECT count() FROM schema_migrations WHERE version = 3 AND statement = 0"); n != 0 {
			t.Fatal("a failed migration was recorded as applied")
		}

		edited := fstest.MapFS{
			"m/0001_a.sql": ok["m/0001_a.sql"], "m/0002_b.sql": ok["m/0002_b.sql"],
			"m/0003_c.sql": {Data: []byte("ALTER TABLE a ADD COLUMN y UInt16;\nSELECT 1")},
		}
		if err := clickhouse.Migrate(ctx, conn, db, edited, "m"); !errors.Is(err, clickhouse.ErrChecksumMismatch) || !strings.Contains(err.Error(), "statement 1") {
			t.Fatalf("Migrate with an edited statement that already ran = %v, want ErrChecksumMismatch naming statement 1", err)
		}

		fixed := fstest.MapFS{
			"m/0001_a.sql": ok["m/0001_a.sql"], "m/0002_b.sql": ok["m/0002_b.sql"],
			"m/0003_c.sql": {Data: []byte(alter + "-- fixed\nSELECT 1")},
		}
		migrate(t, conn, db, fixed, "m")
		migrate(t, conn, db, fixed, "m")
		if n := count(t, conn, "SELECT count() FROM schema_migrations WHERE version = 3 AND statement = 0"); n != 1 {
			t.Fatalf("fixed migration recorded %d times, want once", n)
		}
	})

	t.Run("connection on another database", func(t *testing.T) {
		conn, _ := ch.NewEmptyDatabase(t)
		_, other := ch.NewEmptyDatabase(t)
		err := clickhouse.Migrate(ctx, conn, other, ok, "m")
		if !errors.Is(err, clickhouse.ErrWrongDatabase) || !strings.Contains(err.Error(), other) {
			t.Fatalf("Migrate = %v, want ErrWrongDatabase naming %s", err, other)
		}
	})
}

// TestMigrateRealSchemas applies the project's migrations on the test server (18.16 in dev
// and CI) twice in a row: the second run must find nothing to do.
func TestMigrateRealSchemas(t *testing.T) {
	conn, db := testenv.ClickHouse(t).NewEmptyDatabase(t)
	begin := time.Now()
	migrate(t, conn, db, schemas.ClickHouse, "clickhouse")
	t.Logf("applied schemas.ClickHouse in %s", time.Since(begin).Round(time.Millisecond))
	migrate(t, conn, db, schemas.ClickHouse, "clickhouse")

	ms, err := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count() FROM schema_migrations WHERE statement = 0"); n != uint64(len(ms)) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
}

func TestSetup(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	admin, _ := ch.NewEmptyDatabase(t)
	db := "setup_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	t.Cleanup(func() { _ = clickhouse.DropDatabase(context.Background(), admin, db) })

	for i := range 2 { // the second run finds the database and the migrations in place
		conn, err := clickhouse.Setup(ctx, clickhouse.Config{Addr: ch.Addr(), Database: db}, fixtures, fixtureDir)
		if err != nil {
			t.Fatalf("Setup run %d: %v", i+1, err)
		}
		if n := count(t, conn, "SELECT count() FROM schema_migrations WHERE statement = 0"); n != 3 {
			t.Fatalf("run %d: %d migrations recorded, want 3", i+1, n)
		}
		conn.Close()
	}
}
