// Package process runs child processes for engage's development tooling: Spawn is the one way
// a child is started (it dies with its parent), and Start runs one of engage's service
// binaries for the whole-system benchmarks (internal/dev/bench) and the end-to-end tests
// (tests/e2e): build them, start one with its environment, read the addresses it bound from
// its log, wait until its /readyz answers, stop it gracefully or kill it.
//
// Invariants:
//   - Every child gets Pdeathsig, forked from a thread that lives as long as the child, so a
//     benchmark or test that dies, even by SIGKILL, leaves no child running.
//   - Services are started with their listen addresses on port 0 and report the address the
//     kernel gave them in their log (internal/service.HTTPServer's "listening" line); Start
//     reads it from there. No port is picked by one process and bound later by another, so
//     nothing else can take it in between.
package process

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles services/<name> of the module rooted at src into dir, one binary per name,
// with one `go build`.
func Build(ctx context.Context, src, dir string, names ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, name := range names {
		args = append(args, "./services/"+name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = src
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building services/%s: %w\n%s", strings.Join(names, ", services/"), err, out.String())
	}
	return nil
}

// Spawn starts cmd with Pdeathsig SIGKILL added to its SysProcAttr, and reaps it: the
// returned channel receives cmd.Wait's result once the child has exited. The child cannot
// outlive this process, even when this process is killed by SIGKILL.
//
// Linux delivers Pdeathsig when the *thread* that forked the child exits, not the process,
// and the Go runtime ends threads while the process lives on (a goroutine that exits while
// locked to its thread takes the thread with it). So the fork happens on an OS thread locked
// to a goroutine that lives exactly as long as the child.
func Spawn(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// Proc is one service process.
type Proc struct {
	Name string
	pid  int
	out  *logWriter
	done chan struct{}
	err  error // set before done is closed
}

// Start runs bin with env added to the environment, in directory dir, and waits until its
// HTTP server named ready (the server field of its "listening" log line, e.g. "api" or
// "admin") answers GET /readyz with 200, for at most 60 s or until ctx is done. dir "" is
// the current directory. The service should be configured to listen on port 0; see Addr.
func Start(ctx context.Context, name, bin, dir, ready string, env ...string) (*Proc, error) {
	p := &Proc{Name: name, out: newLogWriter(64 << 10), done: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	exited, err := Spawn(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		p.err = <-exited
		close(p.done)
	}()
	if err := waitReady(ctx, p, ready, 60*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func waitReady(ctx context.Context, p *Proc, server string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: 2 * time.Second}
	for {
		addr := p.Addr(server)
		if addr != "" {
			resp, err := cl.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		where := "on " + addr
		if addr == "" {
			where = fmt.Sprintf("(it logged no address for its %q server)", server)
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.Name, p.err, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready %s: %w\n%s", p.Name, where, ctx.Err(), p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready %s after %s:\n%s", p.Name, where, timeout, p.out.String())
		}
	}
}

// Addr returns the address the process reported in its log for key, or "" if it has not
// (yet). key is the server name of a "listening" line of internal/service.HTTPServer ("api",
// "admin"), or else the message of another line with an addr field, such as the broker's
// "broker ready" with its Kafka address. Both of zap's encodings are understood: JSON and
// the console encoding of dev mode.
func (p *Proc) Addr(key string) string { return p.out.addr(key) }

// PID is the process id.
func (p *Proc) PID() int { return p.pid }

// Exited reports whether the process has exited, and the tail of its output if so.
func (p *Proc) Exited() (bool, string) {
	select {
	case <-p.done:
		return true, fmt.Sprintf("%s exited (%v):\n%s", p.Name, p.err, p.out.String())
	default:
		return false, ""
	}
}

// Stop sends SIGTERM, and SIGKILL if the process has not exited 15 s later. It reports
// whether the process exited on its own (false when it needed the SIGKILL).
func (p *Proc) Stop() bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(15 * time.Second):
		p.Kill()
		return false
	}
}

// Signal sends sig to the process. SIGSTOP and SIGCONT freeze and thaw it, as a long
// garbage-collection pause, a VM migration or a debugger would: it keeps its connections
// and its memory but answers nothing meanwhile.
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("sending %v to %s (pid %d): %w", sig, p.Name, p.pid, err)
	}
	return nil
}

// ExitErr waits for the process to exit and returns how it did: nil for exit status 0, else
// the *exec.ExitError. Call it after Stop or Kill, or once Exited reports true.
func (p *Proc) ExitErr() error {
	<-p.done
	return p.err
}

// Kill sends SIGKILL and waits for the process to exit: no shutdown code runs, as after a
// crash or an OOM kill.
func (p *Proc) Kill() {
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
}

// Output returns the last 64 KiB the process wrote to stdout and stderr.
func (p *Proc) Output() string { return p.out.String() }

// logWriter keeps the last max bytes written to it, and the addresses logged in complete
// lines (see Proc.Addr) however long ago.
type logWriter struct {
	mu      sync.Mutex
	max     int
	b       []byte
	partial []byte // an incomplete last line
	addrs   map[string]string
}

// maxLine bounds the incomplete line a logWriter keeps for parsing.
const maxLine = 64 << 10

func newLogWriter(max int) *logWriter { return &logWriter{max: max, addrs: map[string]string{}} }

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	w.partial = append(w.partial, p...)
	rest := w.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if key, addr := loggedAddr(rest[:i]); key != "" {
			w.addrs[key] = addr
		}
		rest = rest[i+1:]
	}
	if len(rest) > maxLine { // no newline in sight: not a log line worth parsing
		rest = nil
	}
	w.partial = w.partial[:copy(w.partial, rest)]
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

func (w *logWriter) addr(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addrs[key]
}

// loggedAddr returns the key (see Proc.Addr) and address of a zap log line with an addr
// field, or "" when line has none. A JSON line carries the message as "msg"; a console line
// is tab-separated time, level, [logger name], [caller] and message, then the fields as JSON.
func loggedAddr(line []byte) (key, addr string) {
	if !bytes.Contains(line, []byte(`"addr"`)) {
		return "", ""
	}
	var fields struct {
		Msg    string `json:"msg"`
		Server string `json:"server"`
		Addr   string `json:"addr"`
	}
	line = bytes.TrimSpace(line)
	if bytes.HasPrefix(line, []byte("{")) {
		if json.Unmarshal(line, &fields) != nil {
			return "", ""
		}
	} else {
		i := bytes.IndexByte(line, '{')
		if i < 0 || json.Unmarshal(line[i:], &fields) != nil {
			return "", ""
		}
		head := strings.Split(strings.TrimSpace(string(line[:i])), "\t")
		fields.Msg = strings.TrimSpace(head[len(head)-1])
	}
	if fields.Addr == "" {
		return "", ""
	}
	if fields.Msg == "listening" && fields.Server != "" {
		return fields.Server, fields.Addr
	}
	return fields.Msg, fields.Addr
}
