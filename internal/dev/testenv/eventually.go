package testenv

import (
	"testing"
	"time"
)

// Eventually polls fn every 100 ms until it returns nil, and fails t with fn's last error
// when timeout passes first. Tests wait for asynchronous effects this way, never with a bare
// sleep.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
