package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/dev/process"
	"github.com/engage-oss/engage/internal/dev/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "engage-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if err := process.Build(context.Background(), "../..", dir, "broker", "gateway", "worker", "scorer", "notifier"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	testenv.Main(m)
}

// proc is one service process of a test.
type proc struct{ *process.Proc }

// start runs a service binary with env and waits (at most 30 s) until its HTTP server named
// ready answers /readyz with 200. The test's cleanup stops it and requires a graceful exit.
func start(t *testing.T, name, ready string, env ...string) proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := process.Start(ctx, name, filepath.Join(binDir, name), "", ready, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Stop() {
			t.Errorf("%s did not stop within 15s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.Output())
		}
	})
	return proc{p}
}

// kill sends SIGKILL: no shutdown code runs, as after a crash or an OOM kill.
func (p proc) kill(t *testing.T) {
	t.Helper()
	p.Kill()
}

// stop sends SIGTERM and requires a graceful exit: within 15 s, with status 0.
func (p proc) stop(t *testing.T) {
	t.Helper()
	if !p.Stop() {
		t.Fatalf("%s did not stop within 15s of SIGTERM:\n%s", p.Name, p.Output())
	}
	if err := p.ExitErr(); err != nil {
		t.Fatalf("%s exited with %v after SIGTERM:\n%s", p.Name, err, p.Output())
	}
}

// exited waits until a process that was sent SIGTERM has exited, and requires that it exited
// within 15 s with status 0.
func (p proc) exited(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() error {
		if done, _ := p.Exited(); !done {
			return fmt.Errorf("%s still running", p.Name)
		}
		return nil
	})
	if err := p.ExitErr(); err != nil {
		t.Fatalf("%s exited with %v after SIGTERM:\n%s", p.Name, err, p.Output())
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to the process.
func (p proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// anyPort lets the kernel pick a service's port; process.Proc.Addr reads it back from the
// service's log, so no port is picked here and bound there, with a window for others to
// take it.
const anyPort = "127.0.0.1:0"

// env is the stack of one test: the addresses its services bound, filled in as they start.
type env struct {
	brokerAddr, brokerData string
	gatewayAddr            string
	chAddr, chDatabase     string
	// chCluster and chZooKeeper run the ClickHouse services in cluster mode.
	chCluster, chZooKeeper string
}

func newEnv(t *testing.T, chAddr, db string) *env {
	return &env{brokerData: filepath.Join(t.TempDir(), "broker"), chAddr: chAddr, chDatabase: db}
}

// newEnvIn returns an env on a fresh database in mode (testenv.Modes): the shared server, or
// the shared 2 × 2 cluster with the services in cluster mode.
func newEnvIn(t *testing.T, mode string) (*env, driver.Conn) {
	t.Helper()
	if mode == "cluster" {
		c := testenv.ClickHouseCluster(t)
		conn, db := c.NewDatabase(t)
		e := newEnv(t, c.Addrs()[0], db)
		e.chCluster, e.chZooKeeper = testenv.ClusterName, c.ZooKeeper()
		return e, conn
	}
	ch := testenv.ClickHouse(t)
	conn, db := ch.NewDatabase(t)
	return newEnv(t, ch.Addr(), db), conn
}

// inModes runs test once per ClickHouse mode with the same code.
func inModes(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { test(t, mode) })
	}
}

// broker starts the broker. A restarted broker listens on the Kafka address of the first, the
// one the gateway and the worker were given.
func (e *env) broker(t *testing.T) proc {
	t.Helper()
	addr := e.brokerAddr
	if addr == "" {
		addr = anyPort
	}
	p := start(t, "broker", "admin", "BROKER_ADDR="+addr, "BROKER_ADMIN_ADDR="+anyPort, "BROKER_DATA_DIR="+e.brokerData)
	e.brokerAddr = p.Addr("broker ready")
	return p
}

// gateway starts a gateway; extra environment entries override the defaults (a GATEWAY_ADDR
// restarts one on the address it had).
func (e *env) gateway(t *testing.T, extra ...string) proc {
	t.Helper()
	p := start(t, "gateway", "api", append([]string{"GATEWAY_ADDR=" + anyPort, "KAFKA_BROKERS=" + e.brokerAddr,
		"ENGAGE_DEV=true", "WRITE_KEY=e2e-key", "GATEWAY_PUBLISH_TIMEOUT=3s"}, extra...)...)
	e.gatewayAddr = p.Addr("api")
	return p
}

// worker starts a worker; extra environment entries override the defaults.
func (e *env) worker(t *testing.T, extra ...string) proc {
	t.Helper()
	env := []string{"WORKER_ADMIN_ADDR=" + anyPort, "KAFKA_BROKERS=" + e.brokerAddr,
		"CLICKHOUSE_ADDR=" + e.chAddr, "CLICKHOUSE_DATABASE=" + e.chDatabase, "WORKER_FLUSH_INTERVAL=200ms"}
	if e.chCluster != "" {
		env = append(env, "CLICKHOUSE_CLUSTER="+e.chCluster, "CLICKHOUSE_ZOOKEEPER="+e.chZooKeeper)
	}
	return start(t, "worker", "admin", append(env, extra...)...)
}

func count(ctx context.Context, t *testing.T, q func(context.Context, string, ...any) (uint64, error), query string, args ...any) uint64 {
	t.Helper()
	n, err := q(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func itoa(i int) string { return strconv.Itoa(i) }
