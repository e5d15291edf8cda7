package zookeeper

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// TestStartStopRestart starts a server, stops it, and starts it again from the same Config:
// the same port answers, and the data directory holds the snapshot or log of the first run.
func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A write, so that the first run has a transaction on disk: a server that answered
	// a ping and was stopped at once may not have written even its first snapshot yet
	// (seen once on a loaded CI machine).
	writeZnode(t, s.Addr(), "/restart-check")
	cfg := s.Config()
	s.Stop()
	if err := s.Err(); err != nil {
		t.Fatalf("an asked-for stop is reported as %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("a stopped server still answers")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "data", "version-2"))
	if len(entries) == 0 {
		t.Fatal("no ZooKeeper data written under Dir")
	}

	again, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if again.Addr() != s.Addr() {
		t.Fatalf("restarted on %s, want %s", again.Addr(), s.Addr())
	}
	conn := dial(t, again.Addr())
	if ok, _, err := conn.Exists("/restart-check"); err != nil || !ok {
		t.Fatalf("the znode of the first run after the restart: exists %v, %v", ok, err)
	}
}

func dial(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("connecting to ZooKeeper at %s: %v", addr, err)
	}
	t.Cleanup(conn.Close)
	// A server that answers ruok may still refuse sessions for a moment; the client
	// retries until it has one.
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn
			}
		case <-timeout:
			t.Fatalf("no ZooKeeper session at %s within 30 s", addr)
		}
	}
}

func writeZnode(t *testing.T, addr, path string) {
	t.Helper()
	conn := dial(t, addr)
	if _, err := conn.Create(path, []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("creating %s: %v", path, err)
	}
	conn.Close()
}

// TestKilledIsReported: an exit nobody asked for is an error that shows the log.
func TestKilledIsReported(t *testing.T) {
	s, err := Start(context.Background(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A kill from outside, as the OOM killer would.
	p, _ := os.FindProcess(s.pid)
	_ = p.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit noticed")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "exited unexpectedly") {
		t.Fatalf("Err() = %v", err)
	}
}

// TestPortInUse: a configured port that is taken fails Start with ZooKeeper's reason.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(context.Background(), Config{Dir: t.TempDir(), Port: ln.Addr().(*net.TCPAddr).Port, StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(err.Error(), "exited unexpectedly") || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("error %v does not say the server exited", err)
	}
}
