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
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
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

func (o *output) pipe(name string, color int, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		o.printf(name, color, "%s", sc.Text())
	}
}

func start(p Proc, env []string, out *output, color int) (*running, error) {
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(append([]string{}, env...), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", p.Name, p.Path, err)
	}
	r := &running{proc: p, cmd: cmd, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); out.pipe(p.Name, color, stdout) }()
	go func() {
		wg.Wait() // drain output before Wait closes the pipe
		r.err = cmd.Wait()
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
