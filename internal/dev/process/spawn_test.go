package process_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/dev/process"
	"github.com/engage-oss/engage/internal/dev/testenv"
)

// An external test package: testenv imports clickhouseserver, which imports this package.

// TestSpawnSurvivesThreadExit pins why Spawn locks a thread: the goroutine calling Spawn
// here locks its OS thread and returns, which ends that thread. Had the child been forked on
// it, Pdeathsig would kill the child then; it must live on until this process dies.
func TestSpawnSurvivesThreadExit(t *testing.T) {
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tid, exited := spawnFromEndingThread(t, cmd)
	// The thread is gone from /proc only after the kernel has sent any Pdeathsig.
	testenv.EventuallyEvery(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err == nil {
			return fmt.Errorf("thread %d that called Spawn still runs", tid)
		}
		return nil
	})
	// A killed cat cannot echo: its stdout ends instead.
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	if _, err := io.WriteString(stdin, "ping\n"); err != nil {
		t.Fatalf("writing to the child: %v", err)
	}
	select {
	case line := <-lines:
		if line != "ping\n" {
			t.Fatalf("child answered %q, want ping (killed with its parent thread?)", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not answer within 10 s")
	}
	stdin.Close()
	if err := <-exited; err != nil {
		t.Fatalf("child exited with %v, want a clean exit once its input ended", err)
	}
}

// spawnFromEndingThread calls Spawn(cmd) from a goroutine that locks its OS thread and
// returns without unlocking it, which makes the runtime end the thread. It returns the
// thread's id. The runtime never ends the main thread (it parks it instead), so a goroutine
// that finds itself there holds on to it and tries again from a new goroutine, which then
// runs on another thread.
func spawnFromEndingThread(t *testing.T, cmd *exec.Cmd) (tid int, exited <-chan error) {
	t.Helper()
	type result struct {
		tid    int
		exited <-chan error
		err    error
	}
	var try func(res chan<- result)
	try = func(res chan<- result) {
		runtime.LockOSThread()
		tid := syscall.Gettid()
		if tid == syscall.Getpid() {
			defer runtime.UnlockOSThread()
			inner := make(chan result, 1)
			go try(inner)
			res <- <-inner
			return
		}
		exited, err := process.Spawn(cmd)
		res <- result{tid, exited, err}
	}
	res := make(chan result, 1)
	go try(res)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tid, r.exited
}
