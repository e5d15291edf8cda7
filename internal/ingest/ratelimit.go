package ingest

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket of events for one write key. Requests are admitted while the
// bucket holds at least one token, and pay for their events once decoded (take may overdraw:
// refusing a batch after decoding it would waste the work and the client's retry would cost
// the same again). An overdrawn bucket refuses requests until refilled, which is what holds
// the key to its rate on average.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

type limiter struct {
	rate  float64 // tokens per second; 0 disables the limiter
	burst float64
}

func (l limiter) refill(b *bucket, now time.Time) {
	if b.last.IsZero() {
		b.tokens = l.burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
	}
	b.last = now
}

// admit reports whether a request may proceed, or how long until it may.
func (l limiter) admit(b *bucket, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l.refill(b, now)
	if b.tokens >= 1 {
		return true, 0
	}
	wait := (1 - b.tokens) / l.rate
	return false, time.Duration(wait * float64(time.Second))
}

// take pays for n events.
func (l limiter) take(b *bucket, now time.Time, n int) {
	b.mu.Lock()
	l.refill(b, now)
	b.tokens -= float64(n)
	b.mu.Unlock()
}
