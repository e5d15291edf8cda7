// Package clickhouseserver runs a local ClickHouse server as a child process: the embedded database
// of `make run` and the shared server of integration tests (see package testenv).
//
// Invariants:
//   - Everything the server writes lives under Config.Dir (config files, data, logs), it
//     listens on 127.0.0.1 only, and it opens no port besides the native and HTTP ones. So
//     servers in different directories never clash, and a restart with the same Dir finds
//     the previous data.
//   - The server cannot outlive its parent: it runs in its own process group (Ctrl-C on the
//     terminal reaches only the parent, which stops it in order) with Pdeathsig=SIGKILL, so a
//     parent that dies without calling Stop, even by SIGKILL, takes the server with it.
//   - Start returns only once a native-protocol SELECT 1 succeeds.
//
// It works with Debian's ClickHouse 18.16 and with current releases. 18.16 runs as root
// without complaint, as long as root owns the data directory, which it does when root
// created Dir; so no privilege dropping is done. Current releases refuse to start only when
// the data directory belongs to another user than the one running the server.
package clickhouseserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/engage-oss/engage/internal/dev/process"
)

// ExitError is the error of a server that exited without being asked to.
type ExitError struct {
	// Err is what os/exec reported, e.g. "exit status 70" or "signal: killed".
	Err error
	// Log is the tail of the server's error log and console output written since Start.
	Log string
}

func (e *ExitError) Error() string {
	msg := "clickhouse-server exited unexpectedly"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Log != "" {
		msg += "\nlast lines of its logs:\n" + e.Log
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// Server is a running ClickHouse server process. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	bin      string
	pid      int
	tcpAddr  string
	httpAddr string
	marks    map[string]int64 // log file sizes at start, so errors show only this run's lines
	console  *os.File
	done     chan struct{}

	mu       sync.Mutex
	stopping bool
	err      error // unexpected exit; set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start writes the server's config under cfg.Dir, starts the server and waits until it
// answers SELECT 1 over the native protocol, for at most cfg.StartTimeout. ctx bounds only
// the start: the server runs until Stop, or until the process that started it exits.
//
// When a port was left 0 and the free port picked for it is taken by someone else before the
// server binds it, Start retries with new ports; a configured port that is taken fails at once.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	bin, args, err := FindBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, cfg, bin, args)
		if err == nil {
			return s, nil
		}
		busy := busyPort(err)
		if attempt == 3 || ctx.Err() != nil || busy == 0 || busy == cfg.TCPPort || busy == cfg.HTTPPort {
			return nil, err
		}
	}
}

var addressInUse = regexp.MustCompile(`Address already in use: \S*:([0-9]+)`)

// busyPort returns the port a failed start could not bind, from the server's log line, or 0.
func busyPort(err error) int {
	m := addressInUse.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

func start(ctx context.Context, cfg Config, bin string, args []string) (*Server, error) {
	tcpPort, httpPort, err := pickPorts(cfg.TCPPort, cfg.HTTPPort)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(cfg, tcpPort, httpPort); err != nil {
		return nil, err
	}
	logs := filepath.Join(cfg.Dir, logDir)
	marks := map[string]int64{}
	for _, name := range []string{errorLog, consoleLog} {
		if fi, err := os.Stat(filepath.Join(logs, name)); err == nil {
			marks[name] = fi.Size()
		}
	}
	console, err := os.OpenFile(filepath.Join(logs, consoleLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("clickhouseserver: opening console log: %w", err)
	}

	cmd := exec.Command(bin, append(args, "--config-file="+filepath.Join(cfg.Dir, configFile))...)
	cmd.Dir = cfg.Dir
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	s := &Server{
		cfg:      cfg,
		bin:      bin,
		tcpAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		marks:    marks,
		console:  console,
		done:     make(chan struct{}),
	}
	exited, err := process.Spawn(cmd)
	if err != nil {
		console.Close()
		return nil, fmt.Errorf("clickhouseserver: starting %s: %w", bin, err)
	}
	s.pid = cmd.Process.Pid
	go s.reap(exited)
	if err := s.waitReady(ctx); err != nil {
		s.signal(syscall.SIGKILL)
		<-s.done
		return nil, err
	}
	return s, nil
}

// reap records how the process ended. process.Spawn gave the child its Pdeathsig.
func (s *Server) reap(exited <-chan error) {
	werr := <-exited
	s.mu.Lock()
	if !s.stopping {
		s.err = &ExitError{Err: werr, Log: s.logTail()}
	}
	s.mu.Unlock()
	s.console.Close()
	close(s.done)
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{s.tcpAddr},
		DialTimeout:  time.Second,
		MaxOpenConns: 1,
		MaxIdleConns: 1,
	})
	if err != nil {
		return fmt.Errorf("clickhouseserver: client for readiness check of %s: %w", s.tcpAddr, err)
	}
	defer conn.Close()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		var one uint8
		lastErr = conn.QueryRow(qctx, "SELECT 1").Scan(&one)
		qcancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("clickhouseserver: starting %s in %s: %w", s.bin, s.cfg.Dir, s.Err())
		case <-ctx.Done():
			return fmt.Errorf("clickhouseserver: %s in %s did not answer SELECT 1 on %s in time (%w; last error: %v)\nlast lines of its logs:\n%s",
				s.bin, s.cfg.Dir, s.tcpAddr, ctx.Err(), lastErr, s.logTail())
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM, waits for the server to exit and sends SIGKILL after
// Config.StopTimeout or when ctx ends. It returns nil after an orderly shutdown, the
// ExitError when the server had already died on its own, and an error saying so when it had
// to be killed. Calling Stop again returns the same result.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()

	s.signal(syscall.SIGTERM)
	timer := time.NewTimer(s.cfg.StopTimeout)
	defer timer.Stop()
	var forced error
	select {
	case <-s.done:
	case <-timer.C:
		s.signal(syscall.SIGKILL)
		<-s.done
		forced = fmt.Errorf("clickhouseserver: clickhouse-server (pid %d) did not stop within %s of SIGTERM and was killed",
			s.pid, s.cfg.StopTimeout)
	case <-ctx.Done():
		s.signal(syscall.SIGKILL)
		<-s.done
		forced = fmt.Errorf("clickhouseserver: stopping clickhouse-server (pid %d): %w; it was killed", s.pid, ctx.Err())
	}
	if err := s.Err(); err != nil {
		return err
	}
	return forced
}

// signal signals the server's process group, unless the server is already reaped (its pid,
// and so the group id, could then belong to someone else).
func (s *Server) signal(sig syscall.Signal) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.pid, sig)
}

// TCPAddr is the native-protocol address, 127.0.0.1:port.
func (s *Server) TCPAddr() string { return s.tcpAddr }

// HTTPAddr is the HTTP address, 127.0.0.1:port.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// PID is the server's process id.
func (s *Server) PID() int { return s.pid }

// Dir is the absolute directory holding the server's config, data and logs.
func (s *Server) Dir() string { return s.cfg.Dir }

// Done is closed when the server process has exited, whether by Stop or not.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns an *ExitError once the server has exited without Stop being called, and nil
// otherwise.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// logTail returns what the server wrote to its error log and console since Start.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, name := range []string{errorLog, consoleLog} {
		tail := tailFile(filepath.Join(s.cfg.Dir, logDir, name), s.marks[name], 8<<10, 30)
		if tail != "" {
			fmt.Fprintf(&b, "==> %s <==\n%s\n", filepath.Join(logDir, name), tail)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// tailFile returns at most maxLines lines from the last maxBytes of path after offset from.
// A file smaller than from was rotated, and is read from its start.
func tailFile(path string, from, maxBytes int64, maxLines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	size := fi.Size()
	if size < from {
		from = 0
	}
	start := max(from, size-maxBytes)
	buf := make([]byte, size-start)
	n, _ := f.ReadAt(buf, start)
	text := string(buf[:n])
	if start > from {
		// Cut the partial first line.
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// pickPorts is freePorts; tests replace it to lose the race for a port on purpose.
var pickPorts = freePorts

// freePorts fills in ports left 0. ClickHouse 18.16 cannot be told to listen on port 0 and
// report the port it got, so a free port is picked here and bound by the server a moment
// later. The listeners stay open until both ports are chosen, so the two cannot be the same;
// another process may still take a port in between, which Start handles by retrying with new
// ports (see busyPort).
func freePorts(tcpPort, httpPort int) (int, int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	pick := func(p *int) error {
		if *p != 0 {
			return nil
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("clickhouseserver: picking a free port: %w", err)
		}
		lns = append(lns, ln)
		*p = ln.Addr().(*net.TCPAddr).Port
		return nil
	}
	if err := pick(&tcpPort); err != nil {
		return 0, 0, err
	}
	if err := pick(&httpPort); err != nil {
		return 0, 0, err
	}
	if tcpPort == httpPort {
		// Only possible when TCPPort was given and happened to be free: the kernel may hand
		// it out. The listener now holds it, so a second pick gets another port.
		httpPort = 0
		if err := pick(&httpPort); err != nil {
			return 0, 0, err
		}
	}
	return tcpPort, httpPort, nil
}
