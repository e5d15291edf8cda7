package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
	if err := process.Build(context.Background(), "../..", dir, "broker", "gateway", "worker"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	testenv.Main(m)
}

// proc is one service process of a test.
type proc struct{ *process.Proc }

// start runs a service binary with env and waits (at most 30 s) until its /readyz answers
// 200 at admin. The test's cleanup stops it and requires a graceful exit.
func start(t *testing.T, name, admin string, env ...string) proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := process.Start(ctx, name, filepath.Join(binDir, name), "", admin, env...)
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

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := process.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// env is the set of addresses one test's stack uses.
type env struct {
	brokerAddr, brokerAdmin, brokerData string
	gatewayAddr, workerAdmin            string
	chAddr, chDatabase                  string
}

func newEnv(t *testing.T, chAddr, db string) env {
	return env{
		brokerAddr: freeAddr(t), brokerAdmin: freeAddr(t), brokerData: filepath.Join(t.TempDir(), "broker"),
		gatewayAddr: freeAddr(t), workerAdmin: freeAddr(t), chAddr: chAddr, chDatabase: db,
	}
}

func (e env) broker(t *testing.T) proc {
	return start(t, "broker", e.brokerAdmin, "BROKER_ADDR="+e.brokerAddr, "BROKER_ADMIN_ADDR="+e.brokerAdmin, "BROKER_DATA_DIR="+e.brokerData)
}

func (e env) gateway(t *testing.T, extra ...string) proc {
	return start(t, "gateway", e.gatewayAddr, append([]string{"GATEWAY_ADDR=" + e.gatewayAddr, "KAFKA_BROKERS=" + e.brokerAddr,
		"ENGAGE_DEV=true", "WRITE_KEY=e2e-key", "GATEWAY_PUBLISH_TIMEOUT=3s"}, extra...)...)
}

func (e env) worker(t *testing.T) proc {
	return start(t, "worker", e.workerAdmin, "WORKER_ADMIN_ADDR="+e.workerAdmin, "KAFKA_BROKERS="+e.brokerAddr,
		"CLICKHOUSE_ADDR="+e.chAddr, "CLICKHOUSE_DATABASE="+e.chDatabase, "WORKER_FLUSH_INTERVAL=200ms")
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
