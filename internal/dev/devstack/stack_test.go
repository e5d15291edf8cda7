package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/dev/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sh runs a shell snippet as a stack member; trap makes SIGTERM print the member's name so
// tests can see the stop order.
func sh(name, script string) Step {
	return Step{Proc: &Proc{Name: name, Path: "/bin/sh", Args: []string{"-c", script}}}
}

func longRunning(name string) Step {
	return sh(name, `trap 'echo stopping `+name+`; exit 0' TERM; echo started `+name+`; while :; do sleep 0.05; done`)
}

// TestMemberDiesStopsTheRest: when one part exits on its own, Run names it and stops the
// others, as make run must when the broker or ClickHouse dies.
func TestMemberDiesStopsTheRest(t *testing.T) {
	out := &lockedBuffer{}
	// dies exits once the others have their traps in place, so they can show that they were
	// stopped.
	flag := filepath.Join(t.TempDir(), "others-started")
	s := &Stack{Out: out, Steps: []Step{longRunning("first"), sh("dies", `while [ ! -e '`+flag+`' ]; do sleep 0.01; done; exit 3`), longRunning("last")},
		OnReady: func() {
			waitOutput(t, out, "started first", "started last")
			if err := os.WriteFile(flag, nil, 0o644); err != nil {
				t.Error(err)
			}
		}}
	start := time.Now()
	err := s.Run(context.Background())
	if !errors.Is(err, ErrMemberDied) || !strings.Contains(err.Error(), "dies exited unexpectedly") {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
	o := out.String()
	if !strings.Contains(o, "stopping last") || !strings.Contains(o, "stopping first") {
		t.Fatalf("the others were not stopped:\n%s", o)
	}
}

// TestStopOrderAndDeadline: on Ctrl-C members stop in reverse start order; one ignoring
// SIGTERM is killed at the deadline, so the stack still stops in time.
func TestStopOrderAndDeadline(t *testing.T) {
	out := &lockedBuffer{}
	stubborn := sh("stubborn", `trap '' TERM; echo started stubborn; while :; do sleep 0.05; done`)
	ready := make(chan struct{})
	s := &Stack{Out: out, Steps: []Step{stubborn, longRunning("first"), longRunning("second")},
		StopTimeout: 2 * time.Second, OnReady: func() { close(ready) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-ready
	waitOutput(t, out, "started stubborn", "started first", "started second")
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("stopping took %s, want about the 2 s deadline", d)
	}
	o := out.String()
	if i, j := strings.Index(o, "stopping second"), strings.Index(o, "stopping first"); i < 0 || j < 0 || i > j {
		t.Fatalf("want second stopped before first:\n%s", o)
	}
	if !strings.Contains(o, "stubborn did not stop in time and was killed") {
		t.Fatalf("stubborn member not reported:\n%s", o)
	}
}

// TestNoOrphans: after Run returns, no child process is left.
func TestNoOrphans(t *testing.T) {
	r, err := start(Proc{Name: "child", Path: "/bin/sh", Args: []string{"-c", "sleep 30 & sleep 30"}}, nil, &output{w: &lockedBuffer{}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pid := r.cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = procMember{r}.Stop(ctx)
	// The whole process group is signalled: the backgrounded sleep must be gone too. It dies
	// asynchronously, so poll for a while before calling it an orphan.
	testenv.EventuallyEvery(t, 3*time.Second, 20*time.Millisecond, func() error {
		if syscall.Kill(-pid, 0) == nil {
			return fmt.Errorf("process group %d still has members", pid)
		}
		return nil
	})
}

// waitOutput waits until out holds every one of lines: the shells of longRunning print
// "started <name>" once their SIGTERM trap is in place.
func waitOutput(t *testing.T, out *lockedBuffer, lines ...string) {
	t.Helper()
	testenv.EventuallyEvery(t, 10*time.Second, 10*time.Millisecond, func() error {
		o := out.String()
		for _, l := range lines {
			if !strings.Contains(o, l) {
				return fmt.Errorf("no %q in the output yet:\n%s", l, o)
			}
		}
		return nil
	})
}

// TestChildOutlivesStartingThread is the regression test of Pdeathsig without a locked
// thread: Linux sends the parent-death signal when the *thread* that forked the child ends.
// The goroutine that starts the child here locks its thread and then returns, which ends the
// thread; the child must live on and stop in order on SIGTERM, not die by SIGKILL.
func TestChildOutlivesStartingThread(t *testing.T) {
	out := &lockedBuffer{}
	release := make(chan struct{})
	type result struct {
		tid int
		r   *running
		err error
	}
	// The runtime never ends the main thread (it parks it), so a goroutine that finds itself
	// there holds it and starts the child from a new goroutine, which runs on another thread.
	var try func(res chan<- result)
	try = func(res chan<- result) {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tid := syscall.Gettid()
		if tid == syscall.Getpid() {
			defer runtime.UnlockOSThread()
			inner := make(chan result, 1)
			go try(inner)
			res <- <-inner
			return
		}
		r, err := start(*longRunning("child").Proc, nil, &output{w: out}, 0)
		res <- result{tid, r, err}
		<-release
	}
	res := make(chan result, 1)
	go try(res)
	got := <-res
	if got.err != nil {
		t.Fatal(got.err)
	}
	waitOutput(t, out, "started child")
	close(release)
	// The thread leaves /proc only after the kernel has sent any parent-death signal.
	testenv.EventuallyEvery(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", got.tid)); err == nil {
			return fmt.Errorf("thread %d that started the child still runs", got.tid)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := (procMember{got.r}).Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got.r.err != nil || !strings.Contains(out.String(), "stopping child") {
		t.Fatalf("child ended with %v, want a clean exit on SIGTERM; output:\n%s", got.r.err, out.String())
	}
}

// TestLineWriter: every line gets the child's prefix, a line written in pieces is printed
// once, a line that grows past maxLine without a newline is cut, and the rest after the last newline is printed at exit.
func TestLineWriter(t *testing.T) {
	out := &lockedBuffer{}
	w := &lineWriter{out: &output{w: out}, name: "svc", color: 0}
	long := strings.Repeat("x", maxLine+3)
	for _, piece := range []string{"one\ntw", "o\n", long, "\n", "tail"} {
		if _, err := w.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	prefix := colors[0] + "svc      |\x1b[0m "
	want := prefix + "one\n" + prefix + "two\n" + prefix + long[:maxLine] + "\n" + prefix + "xxx\n" + prefix + "tail\n"
	if got := out.String(); got != want {
		t.Errorf("output differs (%d bytes, want %d): %.200q", len(got), len(want), got)
	}
}
