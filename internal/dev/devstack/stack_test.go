package devstack

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	s := &Stack{Out: out, Steps: []Step{longRunning("first"), sh("dies", "sleep 0.3; exit 3"), longRunning("last")}}
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
	time.Sleep(300 * time.Millisecond) // let the shells install their traps
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
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(-pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
