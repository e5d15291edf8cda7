package clickhouseserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// helperEnv makes the test binary act as a parent that starts a server and then waits to be
// killed; see TestParentDeathKillsServer.
const helperEnv = "CHSERVER_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		s, err := Start(context.Background(), Config{Dir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(s.PID())
		select {}
	}
	os.Exit(m.Run())
}

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	begin := time.Now()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("server in %s answered SELECT 1 on %s after %s", cfg.Dir, s.TCPAddr(), time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func connect(t *testing.T, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestStartStopRestart pins that data survives Stop and Start with the same Dir, that an
// orderly Stop is quick and not reported as an unexpected exit, and that the server runs in UTC.
func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := startServer(t, Config{Dir: dir})

	for _, sub := range []string{dataDir, tmpDir, userFiles, formatDir, logDir, configFile, usersFile} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Errorf("expected %s under Dir: %v", sub, err)
		}
	}
	conn := connect(t, s.TCPAddr())
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS restart_test",
		"CREATE TABLE restart_test.t (id UInt32, s String) ENGINE = MergeTree ORDER BY id",
		"INSERT INTO restart_test.t (id, s) SELECT number, toString(number) FROM system.numbers LIMIT 3",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tcpPort := s.TCPAddr()[strings.LastIndexByte(s.TCPAddr(), ':')+1:]

	// conn stays open and idle: 18.16 waits for such connections on shutdown, which took
	// over 10 s (and so a SIGKILL) until poll_interval was lowered.
	begin := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Stop with an idle client connection took %s", d)
	}
	t.Logf("Stop took %s", time.Since(begin).Round(time.Millisecond))
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err after Stop = %v, want nil", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop = %v, want nil", err)
	}

	// Same Dir, and the same TCP port given explicitly: clients configured with it reconnect.
	// The process time zone must not matter: days are UTC days whatever the machine's zone.
	t.Setenv("TZ", "Asia/Tokyo")
	port, _ := strconv.Atoi(tcpPort)
	s2 := startServer(t, Config{Dir: dir, TCPPort: port})
	if s2.TCPAddr() != s.TCPAddr() {
		t.Fatalf("TCPAddr after restart = %s, want %s", s2.TCPAddr(), s.TCPAddr())
	}
	conn2 := connect(t, s2.TCPAddr())
	var n uint64
	if err := conn2.QueryRow(ctx, "SELECT count() FROM restart_test.t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("rows after restart = %d, want 3", n)
	}
	var epoch string
	if err := conn2.QueryRow(ctx, "SELECT toString(toDateTime(86400))").Scan(&epoch); err != nil {
		t.Fatal(err)
	}
	if epoch != "1970-01-02 00:00:00" {
		t.Fatalf("toString(toDateTime(86400)) = %q, want the UTC rendering 1970-01-02 00:00:00", epoch)
	}
}

// TestUnexpectedExit pins Done/Err for a server that dies on its own, and that Stop then
// reports that death rather than success.
func TestUnexpectedExit(t *testing.T) {
	s := startServer(t, Config{Dir: t.TempDir()})
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed 10 s after the server was killed")
	}
	var exitErr *ExitError
	if err := s.Err(); !errors.As(err, &exitErr) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Err() = %v, want an *ExitError saying it was killed", err)
	}
	if err := s.Stop(context.Background()); !errors.As(err, &exitErr) {
		t.Fatalf("Stop after crash = %v, want the *ExitError", err)
	}
}

// TestSecondServerSameDir pins that a start failure carries the server's own explanation
// (from its logs) instead of a bare exit status.
func TestSecondServerSameDir(t *testing.T) {
	dir := t.TempDir()
	startServer(t, Config{Dir: dir})
	s2, err := Start(context.Background(), Config{Dir: dir})
	if err == nil {
		_ = s2.Stop(context.Background())
		t.Fatal("second server in the same Dir started")
	}
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || !strings.Contains(exitErr.Log, "lock") {
		t.Fatalf("Start error = %v, want an *ExitError whose log mentions the lock", err)
	}
}

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Config{Dir: t.TempDir(), Binary: filepath.Join(t.TempDir(), "clickhouse-server")})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start error = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "ClickHouse is not installed: run scripts/install-deps.sh (make deps)") {
		t.Fatalf("Start error = %q, want the install hint", err)
	}
}

// TestParentDeathKillsServer pins the no-orphan rule: a parent killed by SIGKILL, which runs
// no cleanup at all, still takes its server down.
func TestParentDeathKillsServer(t *testing.T) {
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+t.TempDir())
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("helper did not report a server pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q: %v", line, err)
	}
	if !alive(pid) {
		t.Fatalf("server pid %d not running while its parent is", pid)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server pid %d still running 10 s after its parent was killed", pid)
		}
		// A poll, not testenv.Eventually: testenv imports this package.
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a running process; a zombie waiting for a reaper is dead.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself contain spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// TestPortInUse pins that a taken port fails Start at once with the server's own reason; an
// explicitly configured port is not silently replaced by another.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	begin := time.Now()
	s, err := Start(context.Background(), Config{Dir: t.TempDir(), TCPPort: port})
	if err == nil {
		_ = s.Stop(context.Background())
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("Start error = %v, want the server's 'Address already in use'", err)
	}
	// "At once" means from the server's exit, not from the start timeout running out; on a
	// loaded two-core machine the server itself needs seconds to give up.
	if d := time.Since(begin); d > DefaultStartTimeout/2 {
		t.Fatalf("Start took %s to report a taken port: it waited for the start timeout instead of the server's exit", d)
	}
}

// TestPickedPortTakenRetries: ClickHouse 18.16 cannot listen on port 0, so free ports are
// picked before it starts, and another process may take one in between. Start then tries
// again with new ports instead of failing.
func TestPickedPortTakenRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	picks := 0
	pickPorts = func(tcpPort, httpPort int) (int, int, error) {
		picks++
		tcp, http, err := freePorts(tcpPort, httpPort)
		if picks == 1 {
			tcp = taken // someone else bound it after it was picked
		}
		return tcp, http, err
	}
	t.Cleanup(func() { pickPorts = freePorts })
	s := startServer(t, Config{Dir: t.TempDir()})
	if picks != 2 {
		t.Errorf("ports picked %d times, want 2: the first pick lost the race", picks)
	}
	if s.TCPAddr() == ln.Addr().String() {
		t.Errorf("TCPAddr %s is the port someone else holds", s.TCPAddr())
	}
}

func TestStopWithCancelledContextKills(t *testing.T) {
	s := startServer(t, Config{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Stop(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop(cancelled) = %v, want context.Canceled and a word that it was killed", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop returned")
	}
	if alive(s.PID()) {
		t.Fatalf("server pid %d still running", s.PID())
	}
}
