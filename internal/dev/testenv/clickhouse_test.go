package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
)

func TestMain(m *testing.M) { Main(m) }

func TestClickHouseIsShared(t *testing.T) {
	a, b := ClickHouse(t), ClickHouse(t)
	if a != b {
		t.Fatalf("ClickHouse returned two servers: %s and %s", a.Addr(), b.Addr())
	}
}

func databaseExists(t *testing.T, conn driver.Conn, name string) bool {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestNewDatabase pins that each test database is migrated and isolated: the contract's
// views read their own database's tables, not the one of whoever created or queries them.
func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	ch := ClickHouse(t)
	conn1, db1 := ch.NewDatabase(t)
	conn2, db2 := ch.NewDatabase(t)
	if db1 == db2 {
		t.Fatalf("two databases named %s", db1)
	}

	var applied uint64
	if err := conn1.QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied == 0 {
		t.Fatal("no migrations recorded")
	}

	batch, err := conn1.PrepareBatch(ctx, "INSERT INTO events_raw (event_id, account_id, user_id, name, ts, received_at, properties, ver)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := batch.Append("e1", "acme", "u1", "report.viewed", now, now, "{}", uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		conn driver.Conn
		view string
		want uint64
	}{
		{conn1, "events", 1},
		{conn2, "events", 0},
		{conn2, "`" + db1 + "`.events", 1}, // another session querying db1's view
		{conn1, "`" + db2 + "`.events", 0},
	} {
		var n uint64
		if err := tc.conn.QueryRow(ctx, "SELECT count() FROM "+tc.view).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("SELECT count() FROM %s = %d, want %d", tc.view, n, tc.want)
		}
	}
}

func TestDatabaseDroppedWhenTestPasses(t *testing.T) {
	ch := ClickHouse(t)
	var name string
	t.Run("passing", func(t *testing.T) { _, name = ch.NewDatabase(t) })
	if databaseExists(t, ch.admin, name) {
		t.Fatalf("database %s of a passed test still exists", name)
	}
}

// failingTB is a testing.TB whose test has failed, with cleanups run on demand.
type failingTB struct {
	testing.TB
	cleanups []func()
	logs     []string
}

func (f *failingTB) Failed() bool      { return true }
func (f *failingTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failingTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *failingTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestDatabaseKeptWhenTestFails(t *testing.T) {
	ch := ClickHouse(t)
	ft := &failingTB{TB: t}
	_, name := ch.NewDatabase(ft)
	ft.runCleanups()
	t.Cleanup(func() { _ = ch.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`") })

	if !databaseExists(t, ch.admin, name) {
		t.Fatalf("database %s of a failed test was dropped", name)
	}
	if len(ft.logs) != 1 || !strings.Contains(ft.logs[0], name) {
		t.Fatalf("logs = %q, want one line naming %s", ft.logs, name)
	}
}

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	for _, name := range []string{
		"TestX",
		"TestSessions/late_event,_1h/#01",
		strings.Repeat("VeryLongTestName", 20),
		"Test/ünïcode",
	} {
		t.Run(name, func(t *testing.T) {
			a, b := databaseName(name), databaseName(name)
			if !valid.MatchString(a) || len(a) > 64 {
				t.Fatalf("databaseName(%q) = %q, want a short plain identifier", name, a)
			}
			if a == b {
				t.Fatalf("databaseName(%q) returned %q twice", name, a)
			}
		})
	}
}

// TestExternalServer pins ENGAGE_TEST_CLICKHOUSE_ADDR: the tests use that server and start
// none. The shared server stands in for the external one.
func TestExternalServer(t *testing.T) {
	t.Setenv(EnvClickHouseAddr, ClickHouse(t).Addr())
	ext, err := startClickHouse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ext.admin.Close() })
	if ext.server != nil {
		t.Fatal("a server was started although " + EnvClickHouseAddr + " is set")
	}
	conn, _ := ext.NewDatabase(t)
	var one uint8
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}

	t.Setenv(EnvClickHouseAddr, "127.0.0.1:1")
	if _, err := startClickHouse(context.Background()); err == nil || !strings.Contains(err.Error(), EnvClickHouseAddr) {
		t.Fatalf("unreachable external server: err = %v, want one naming %s", err, EnvClickHouseAddr)
	}
}

func TestFailureMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{name: "not installed", err: fmt.Errorf("x: %w", clickhouseserver.ErrNotInstalled),
			want: []string{"ClickHouse is not installed", "scripts/install-deps.sh", EnvClickHouseAddr}},
		{name: "crashed", err: &clickhouseserver.ExitError{Log: "Cannot lock file"},
			want: []string{"could not be started", "Cannot lock file", EnvClickHouseAddr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failureMessage(tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("message %q lacks %q", got, w)
				}
			}
		})
	}
}

func TestRemoveStaleDirs(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dead := filepath.Join(os.TempDir(), dirPrefix+"999999999-abc")
	mine := filepath.Join(os.TempDir(), dirPrefix+fmt.Sprint(os.Getpid())+"-abc")
	parent := filepath.Join(os.TempDir(), dirPrefix+fmt.Sprint(os.Getppid())+"-abc")
	other := filepath.Join(os.TempDir(), "unrelated-1-abc")
	for _, d := range []string{dead, mine, parent, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleDirs()
	for d, wantGone := range map[string]bool{dead: true, mine: false, parent: false, other: false} {
		_, err := os.Stat(d)
		if gone := os.IsNotExist(err); gone != wantGone {
			t.Errorf("%s: gone = %v, want %v", filepath.Base(d), gone, wantGone)
		}
	}
}
