// Package devstack supervises engage's development stack for `make run`: ClickHouse, the
// embedded broker and every service as child processes, in dependency order, with one
// prefixed log stream.
//
// Invariants: children run in their own process groups with a parent-death signal, so a
// killed supervisor leaves no orphans; a child that exits on its own stops the whole stack
// with a message naming it; shutdown stops children in reverse start order and kills
// whatever is left when the deadline passes.
package devstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/engage-oss/engage/internal/dev/process"
)

// Proc describes one child process.
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string // added to the supervisor's environment
	// ReadyURL is polled until it answers 200 before dependents start; empty means ready
	// as soon as it started.
	ReadyURL string
}

type running struct {
	proc Proc
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// output serialises prefixed lines from every child onto one writer.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

var colors = []string{"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m", "\x1b[34m", "\x1b[31m"}

func (o *output) printf(name string, color int, format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%s%-9s|\x1b[0m %s\n", colors[color%len(colors)], name, fmt.Sprintf(format, args...))
}

// lineWriter is a child's stdout and stderr: it prints each complete line with the child's
// prefix, so lines of different children never interleave mid-line.
type lineWriter struct {
	out     *output
	name    string
	color   int
	partial []byte
}

// maxLine is the longest line printed as one; a longer one is cut into pieces.
const maxLine = 1 << 20

// Write is called by one goroutine at a time (os/exec copies the child's output, both
// streams through one pipe, in one goroutine).
func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	rest := w.partial
	for {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			w.out.printf(w.name, w.color, "%s", rest[:i])
			rest = rest[i+1:]
		} else if len(rest) >= maxLine {
			w.out.printf(w.name, w.color, "%s", rest[:maxLine])
			rest = rest[maxLine:]
		} else {
			break
		}
	}
	w.partial = w.partial[:copy(w.partial, rest)]
	return len(p), nil
}

// flush prints what is left after the last newline; call it once the child has exited.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.out.printf(w.name, w.color, "%s", w.partial)
		w.partial = w.partial[:0]
	}
}

// start runs p with process.Spawn, so the child dies with the supervisor (Pdeathsig from a
// thread that lives as long as the child), in its own process group, so that Ctrl-C on the
// terminal reaches only the supervisor, which then stops the children in order.
func start(p Proc, env []string, out *output, color int) (*running, error) {
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(append([]string{}, env...), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lw := &lineWriter{out: out, name: p.Name, color: color}
	cmd.Stdout, cmd.Stderr = lw, lw
	exited, err := process.Spawn(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", p.Name, p.Path, err)
	}
	r := &running{proc: p, cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = <-exited // Wait returns once the output is copied too
		lw.flush()
		close(r.done)
	}()
	return r, nil
}

// signal sends sig to the child's whole process group.
func (r *running) signal(sig syscall.Signal) {
	if r.cmd.Process != nil {
		_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	}
}

func waitReady(ctx context.Context, r *running, timeout time.Duration) error {
	if r.proc.ReadyURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		resp, err := client.Get(r.proc.ReadyURL)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-r.done:
			return fmt.Errorf("%s exited before it was ready: %v", r.proc.Name, r.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last answer: %s)", r.proc.Name, timeout, last)
		case <-tick.C:
		}
	}
}
