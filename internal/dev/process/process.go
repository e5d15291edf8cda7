// Package process runs engage's service binaries as child processes for the whole-system
// benchmarks (internal/dev/bench) and the end-to-end tests (tests/e2e): build them, start one with
// its environment, wait until its /readyz answers, stop it gracefully or kill it.
//
// Every child gets Pdeathsig, so a benchmark or test that dies leaves no service running.
package process

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

// Proc is one service process.
type Proc struct {
	Name string
	pid  int
	out  *tailBuffer
	done chan struct{}
	err  error // set before done is closed
}

// Start runs bin with env added to the environment, in directory dir, and waits until
// http://ready/readyz answers 200, for at most 60 s or until ctx is done. dir "" is the
// current directory.
func Start(ctx context.Context, name, bin, dir, ready string, env ...string) (*Proc, error) {
	p := &Proc{Name: name, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Pdeathsig is delivered when the thread that forked the child exits, so the fork happens
	// on a locked thread that lives as long as the child (see internal/dev/clickhouseserver).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if err := waitReady(ctx, p, ready, 60*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func waitReady(ctx context.Context, p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := cl.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.Name, p.err, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready on %s: %w\n%s", p.Name, addr, ctx.Err(), p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s after %s:\n%s", p.Name, addr, timeout, p.out.String())
		}
	}
}

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

// Kill sends SIGKILL and waits for the process to exit: no shutdown code runs, as after a
// crash or an OOM kill.
func (p *Proc) Kill() {
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
}

// Output returns the last 64 KiB the process wrote to stdout and stderr.
func (p *Proc) Output() string { return p.out.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
