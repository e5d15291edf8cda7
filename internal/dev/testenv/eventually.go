package testenv

import (
	"testing"
	"time"
)

// Eventually polls fn every 100 ms until it returns nil, and fails t with fn's last error
// when timeout passes first. Tests wait for asynchronous effects this way, never with a bare
// sleep; fn's error should say what it saw ("count() = 3, want 4"), as that is the failure
// message.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	EventuallyEvery(t, timeout, 100*time.Millisecond, fn)
}

// EventuallyEvery is Eventually polling every interval instead of every 100 ms, for
// in-process conditions that settle within milliseconds, where a 100 ms step would dominate
// the test's run time or a benchmark's timing.
func EventuallyEvery(t testing.TB, timeout, interval time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
