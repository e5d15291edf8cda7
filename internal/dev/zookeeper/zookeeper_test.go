package zookeeper

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
