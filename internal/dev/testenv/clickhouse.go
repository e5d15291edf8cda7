// Package testenv gives integration tests real infrastructure: a ClickHouse server shared by
// all tests of a test binary, with a fresh, fully migrated database per test, and an
// in-process Kafka cluster (kfake) per test.
//
// Invariants:
//   - Tests never skip for lack of infrastructure. When ClickHouse cannot be started the test
//     fails with the reason and how to install it.
//   - One ClickHouse server per test binary, started on first use in a temporary directory
//     with free ports, and gone when the binary exits: Main stops it and removes its
//     directory; without Main it dies with the process (Pdeathsig) and the directory is
//     removed by the next test binary that starts a server.
//   - Setting ENGAGE_TEST_CLICKHOUSE_ADDR=host:port uses that server instead; nothing is
//     started then.
//   - Each database from NewDatabase has a unique name and all of schemas.ClickHouse applied.
//     It is dropped when its test passes and kept, with its name logged, when the test fails.
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/schemas"
)

// EnvClickHouseAddr names the variable that points tests at an existing server (native
// protocol host:port, user default without password) instead of starting one.
const EnvClickHouseAddr = "ENGAGE_TEST_CLICKHOUSE_ADDR"

// dirPrefix starts the name of each shared server's directory; the pid that follows lets a
// later run find directories of dead test binaries.
const dirPrefix = "engage-clickhouse-"

// CH is the shared ClickHouse server of this test binary.
type CH struct {
	addr   string
	admin  driver.Conn              // default database; creates and drops test databases
	server *clickhouseserver.Server // nil when EnvClickHouseAddr is set
	dir    string                   // server directory, removed by Shutdown
}

var shared struct {
	mu      sync.Mutex
	started bool
	ch      *CH
	err     error
}

// ClickHouse returns the shared server, starting it on first use. It fails t when the server
// cannot be started or has died; a failed start is not retried by later tests.
func ClickHouse(t testing.TB) *CH {
	t.Helper()
	shared.mu.Lock()
	if !shared.started {
		shared.started = true
		shared.ch, shared.err = startClickHouse(context.Background())
	}
	ch, err := shared.ch, shared.err
	shared.mu.Unlock()
	if err != nil {
		t.Fatal(failureMessage(err))
	}
	if ch.server != nil {
		select {
		case <-ch.server.Done():
			t.Fatalf("testenv: the shared ClickHouse server died during the tests: %v", ch.server.Err())
		default:
		}
	}
	return ch
}

// failureMessage explains a start failure to a developer who may never have installed
// ClickHouse.
func failureMessage(err error) string {
	msg := "testenv: ClickHouse is needed by this test and could not be started: " + err.Error()
	if errors.Is(err, clickhouseserver.ErrNotInstalled) {
		msg += "\nInstall it with scripts/install-deps.sh (make deps)"
	}
	return msg + "\nor set " + EnvClickHouseAddr + "=host:port to use a running server."
}

func startClickHouse(ctx context.Context) (*CH, error) {
	if addr := os.Getenv(EnvClickHouseAddr); addr != "" {
		admin, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: "default"})
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvClickHouseAddr, addr, err)
		}
		return &CH{addr: addr, admin: admin}, nil
	}

	removeStaleDirs()
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the test server: %w", err)
	}
	srv, err := clickhouseserver.Start(ctx, clickhouseserver.Config{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	admin, err := clickhouse.Open(ctx, clickhouse.Config{Addr: srv.TCPAddr(), Database: "default"})
	if err != nil {
		_ = srv.Stop(ctx)
		os.RemoveAll(dir)
		return nil, err
	}
	return &CH{addr: srv.TCPAddr(), admin: admin, server: srv, dir: dir}, nil
}

// removeStaleDirs deletes server directories left by test binaries that died without
// Shutdown. Their servers died with them (Pdeathsig); only the files remain.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*-*"))
	for _, dir := range matches {
		rest := strings.TrimPrefix(filepath.Base(dir), dirPrefix)
		pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(dir)
		}
	}
}

// Main runs the tests, then stops the shared server (if one was started) and removes its
// files. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if err := shutdownCluster(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Shutdown stops the shared server and removes its directory. Later calls of ClickHouse
// start a new one. Main calls it; call it yourself only with a TestMain of your own.
func Shutdown() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	ch := shared.ch
	shared.started, shared.ch, shared.err = false, nil, nil
	if ch == nil {
		return nil
	}
	ch.admin.Close()
	if ch.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ch.server.Stop(ctx)
	if rerr := os.RemoveAll(ch.dir); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("testenv: stopping the shared ClickHouse server: %w", err)
	}
	return nil
}

// Addr is the server's native-protocol address, host:port.
func (c *CH) Addr() string { return c.addr }

// NewDatabase creates a database for t with every migration of schemas.ClickHouse applied,
// and returns a connection whose default database it is, so unqualified names work.
func (c *CH) NewDatabase(t testing.TB) (driver.Conn, string) {
	t.Helper()
	return c.newDatabase(t, true)
}

// NewEmptyDatabase is NewDatabase without migrations, for tests of migrations themselves.
func (c *CH) NewEmptyDatabase(t testing.TB) (driver.Conn, string) {
	t.Helper()
	return c.newDatabase(t, false)
}

func (c *CH) newDatabase(t testing.TB, migrate bool) (driver.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := databaseName(t.Name())
	if err := clickhouse.EnsureDatabase(ctx, c.admin, name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Registered before anything else can fail, so a half-made database is kept or dropped
	// by the same rule.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: kept ClickHouse database %s on %s for debugging", name, c.addr)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := clickhouse.DropDatabase(ctx, c.admin, name); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	conn, err := clickhouse.Open(ctx, clickhouse.Config{Addr: c.addr, Database: name, MaxOpenConns: 4, MaxIdleConns: 2})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if migrate {
		if err := clickhouse.Migrate(ctx, conn, name, schemas.ClickHouse, "clickhouse"); err != nil {
			t.Fatalf("testenv: migrating database %s: %v", name, err)
		}
	}
	return conn, name
}

// databaseName makes a valid, unique database name that still says which test made it.
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("test_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 45 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}
