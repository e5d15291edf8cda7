package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engage-oss/engage/pkg/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "engage-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, s := range []string{"broker", "gateway", "worker"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, s), "../../services/"+s)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", s, err)
			os.Exit(1)
		}
	}
	defer os.RemoveAll(dir)
	testenv.Main(m)
}

// proc is one service process of a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a service binary with env and waits until its /readyz answers 200 at admin.
func start(t *testing.T, name, admin string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name))
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s:\n%s", name, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown code runs, as after a crash or an OOM kill.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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

func (e env) broker(t *testing.T) *proc {
	return start(t, "broker", e.brokerAdmin, "BROKER_ADDR="+e.brokerAddr, "BROKER_ADMIN_ADDR="+e.brokerAdmin, "BROKER_DATA_DIR="+e.brokerData)
}

func (e env) gateway(t *testing.T, extra ...string) *proc {
	return start(t, "gateway", e.gatewayAddr, append([]string{"GATEWAY_ADDR=" + e.gatewayAddr, "KAFKA_BROKERS=" + e.brokerAddr,
		"ENGAGE_DEV=true", "WRITE_KEY=e2e-key", "GATEWAY_PUBLISH_TIMEOUT=3s"}, extra...)...)
}

func (e env) worker(t *testing.T) *proc {
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
