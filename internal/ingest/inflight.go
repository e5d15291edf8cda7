package ingest

import "sync/atomic"

// inflight counts the bytes held by requests in service against a bound. It never blocks:
// a request that does not fit is refused (503), because a queue of waiting requests is
// itself unbounded memory, and clients retry anyway.
type inflight struct {
	max int64
	cur atomic.Int64
}

// tryAcquire takes n bytes if they fit under the bound.
func (s *inflight) tryAcquire(n int64) bool {
	for {
		cur := s.cur.Load()
		if cur+n > s.max {
			return false
		}
		if s.cur.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (s *inflight) release(n int64) { s.cur.Add(-n) }

func (s *inflight) load() int64 { return s.cur.Load() }

// lease is what one request took from an inflight; release gives all of it back.
type lease struct {
	s *inflight
	n int64
}

func (l *lease) acquire(n int64) bool {
	if n <= 0 {
		return true
	}
	if !l.s.tryAcquire(n) {
		return false
	}
	l.n += n
	return true
}

func (l *lease) release() {
	l.s.release(l.n)
	l.n = 0
}
