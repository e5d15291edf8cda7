package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// genStream builds a reproducible delivery order for nUsers users of 3 accounts. Each user's
// timeline mixes gaps right at the rule boundaries (idle threshold and session timeout, ±1 ms),
// equal timestamps, midnights and long pauses. Each event is delayed by a random amount, most
// within the lateness and a few beyond it; users are interleaved at random rather than by
// time, so users days apart in event time share the stream (a per-user lateness must not care).
// Exact copies, client retries with a slightly different timestamp, and redelivered runs are
// mixed in. dense makes long gaps rare, for sessions of hundreds of events.
func genStream(rng *rand.Rand, cfg Config, nUsers, perUser int, dense bool) []delivery {
	timeout, idle := cfg.SessionTimeout.Milliseconds(), cfg.IdleThreshold.Milliseconds()
	base := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC).UnixMilli()
	perUserQueues := make([][]delivery, nUsers)
	for u := range nUsers {
		k := Key{Account: fmt.Sprintf("acct-%d", u%3), User: fmt.Sprintf("user-%d", u)}
		ts := base + rng.Int64N(10*DayMs) // users far apart in event time
		if rng.IntN(3) == 0 {
			ts = base + 2*3_600_000 + rng.Int64N(4)*DayMs - rng.Int64N(2*idle) // just before a midnight
		}
		type timed struct {
			arrival int64
			d       delivery
		}
		var evs []timed
		for i := range perUser {
			if i > 0 {
				r := rng.IntN(100)
				if dense && r >= 67 && rng.IntN(20) > 0 {
					r = 40 // long sessions: mostly gaps within the idle threshold
				}
				switch {
				case r < 3: // onto a midnight, ±1 ms, when an active gap can reach it
					if next := (ts/DayMs + 1) * DayMs; next-ts <= idle+1 {
						ts = next + rng.Int64N(3) - 1
					}
				case r < 35:
					ts += rng.Int64N(60_000)
				case r < 45: // equal timestamps
				case r < 55:
					ts += idle + rng.Int64N(3) - 1
				case r < 67:
					ts += rng.Int64N(10 * 60_000)
				case r < 77:
					ts += timeout + rng.Int64N(3) - 1
				case r < 90:
					ts += timeout + rng.Int64N(3*3_600_000)
				default:
					ts += rng.Int64N(30 * 3_600_000)
				}
			}
			kind := event.KindProduct
			switch r := rng.IntN(10); {
			case r < 2:
				kind = event.KindHeartbeat
			case r < 3:
				kind = event.KindHidden
			}
			id := rng.Uint64()
			if rng.IntN(4) == 0 {
				id = uint64(u)<<32 | uint64(i) // small, ordered ids: tie-break order matters
			}
			delay := rng.Int64N(10_000)
			switch r := rng.IntN(100); {
			case r < 20:
				delay = rng.Int64N(50 * 60_000)
			case r < 27:
				delay = rng.Int64N(cfg.Lateness.Milliseconds() + 1)
			case r < 30:
				delay = rng.Int64N(3 * 3_600_000)
			}
			evs = append(evs, timed{ts + delay, delivery{k, Event{ID: id, TS: ts, Kind: kind}}})
		}
		slices.SortStableFunc(evs, func(a, b timed) int { return int(a.arrival - b.arrival) })
		for _, e := range evs {
			perUserQueues[u] = append(perUserQueues[u], e.d)
		}
	}
	var out []delivery
	for {
		var live []int
		for u, q := range perUserQueues {
			if len(q) > 0 {
				live = append(live, u)
			}
		}
		if len(live) == 0 {
			break
		}
		u := live[rng.IntN(len(live))]
		d := perUserQueues[u][0]
		perUserQueues[u] = perUserQueues[u][1:]
		out = append(out, d)
		switch r := rng.IntN(100); {
		case r < 5: // exact copy, delivered again later
			q := perUserQueues[u]
			at := rng.IntN(len(q) + 1)
			perUserQueues[u] = slices.Insert(q, at, d)
		case r < 7: // a client retry, clock-corrected to a slightly different timestamp
			c := d
			c.ev.TS += rng.Int64N(4_001) - 2_000
			q := perUserQueues[u]
			perUserQueues[u] = slices.Insert(q, rng.IntN(len(q)+1), c)
		case r < 8: // a redelivered run of recent records
			n := 1 + rng.IntN(20)
			out = append(out, out[max(0, len(out)-n):]...)
		}
	}
	return out
}

// runStream plays the stream through a world with flushes, evictions (sometimes forcing
// every clean user out), crashes with eager or lazy restores, and checks the tables against
// the oracle at the end.
func runStream(t *testing.T, cfg Config, seed uint64, nUsers, perUser int, dense bool) *world {
	return runStreamCap(t, cfg, MaxSessionLength, minFold, seed, nUsers, perUser, dense)
}

// runStreamCap is runStream with sessions capped at maxLen, and folds of as few as fold
// events.
func runStreamCap(t *testing.T, cfg Config, maxLen time.Duration, fold int, seed uint64, nUsers, perUser int, dense bool) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x5e55))
	stream := genStream(rng, cfg, nUsers, perUser, dense)
	w := newWorldCap(t, cfg, maxLen)
	w.minFold = fold
	w.tr = w.newTracker()
	now := int64(1_000)
	var clock int64
	for i, d := range stream {
		w.deliver(d)
		clock = max(clock, d.ev.TS)
		now += rng.Int64N(3)
		switch r := rng.IntN(1000); {
		case r < 15:
			w.flush(now)
		case r < 17:
			w.flush(now)
			w.evict(clock)
		case r < 18:
			w.flush(now)
			w.evict(clock + 100*DayMs) // everyone out: every later event needs a restore
		case r < 19:
			w.evict(clock) // between flushes: dirty users must be skipped
		case r < 21:
			w.crash(i%2 == 0)
		}
	}
	w.verify(now + 1)
	return w
}

// TestTrackerMatchesOracle is the property test: for random multi-user streams with
// out-of-order, late, duplicated and redelivered events, restarts and evictions, the session
// and day tables built from Changes equal exactly the oracle's batch sessionization of the
// events it accepted.
func TestTrackerMatchesOracle(t *testing.T) {
	configs := []struct {
		name string
		cfg  Config
	}{
		{"defaults", DefaultConfig()},
		{"no lateness", Config{SessionTimeout: 30 * time.Minute, IdleThreshold: 5 * time.Minute}},
		{"idle equals timeout", Config{SessionTimeout: 10 * time.Minute, IdleThreshold: 10 * time.Minute, Lateness: 3 * time.Hour}},
	}
	for _, c := range configs {
		for seed := uint64(1); seed <= 12; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				w := runStream(t, c.cfg, seed, 40, 100, false)
				if seed == 1 {
					t.Logf("outcomes %v, %d sessions, %d restores, %d users evicted",
						w.outcomes, len(w.sessions), w.restores, w.evictedUsers)
				}
			})
		}
	}
}

// TestTrackerMatchesOracleLongSessions is the property test on sessions of hundreds of
// events, where Flush resumes a long open session from its kept totals instead of
// recomputing it.
func TestTrackerMatchesOracleLongSessions(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runStream(t, DefaultConfig(), seed, 8, 600, true)
		})
	}
}

// TestTrackerMatchesOracleCapped is the property test on sessions that reach the length cap
// (shortened to a few hours so that random streams reach it) and on long open sessions whose
// oldest events are folded (from 2 events on rather than minFold, so that random streams
// fold): restores then start from stored Folds, and the tables must still equal the
// oracle's.
func TestTrackerMatchesOracleCapped(t *testing.T) {
	configs := []struct {
		name   string
		cfg    Config
		maxLen time.Duration
	}{
		{"defaults, 3h cap", DefaultConfig(), 3 * time.Hour},
		{"short timeout, 30min cap", Config{SessionTimeout: 5 * time.Minute, IdleThreshold: time.Minute, Lateness: 20 * time.Minute}, 30 * time.Minute},
		{"no lateness, 24h cap", Config{SessionTimeout: 10 * time.Minute, IdleThreshold: 5 * time.Minute}, MaxSessionLength},
	}
	for _, c := range configs {
		folds, foldRestores, capped := 0, 0, 0
		for seed := uint64(1); seed <= 8; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				w := runStreamCap(t, c.cfg, c.maxLen, 2, seed, 6, 1500, true)
				folds += w.foldsEmitted
				foldRestores += w.foldRestores
				// A session followed within the timeout by the next one of its user ended at
				// the cap.
				starts := map[Key][]int64{}
				for _, s := range w.sessions {
					starts[s.Key] = append(starts[s.Key], s.Start)
				}
				for _, s := range w.sessions {
					for _, st := range starts[s.Key] {
						if st > s.End && st-s.End <= c.cfg.SessionTimeout.Milliseconds() {
							capped++
						}
					}
				}
			})
		}
		t.Logf("%s: %d folds emitted, %d restores from a fold, %d sessions cut at the cap", c.name, folds, foldRestores, capped)
		if folds == 0 || foldRestores == 0 {
			t.Errorf("%s: the streams never folded or never restored from a fold (%d, %d): the test does not test folds", c.name, folds, foldRestores)
		}
		if c.maxLen < MaxSessionLength && capped == 0 {
			t.Errorf("%s: no session reached the cap: the test does not test it", c.name)
		}
	}
}

// TestRestoreWholeHistory pins that the tail passed to Restore may start at any earlier
// session boundary: restoring every stored event gives the same state as the minimal tail.
func TestRestoreWholeHistory(t *testing.T) {
	cfg := DefaultConfig()
	rng := rand.New(rand.NewPCG(7, 7))
	stream := genStream(rng, cfg, 10, 200, true)
	w := newWorld(t, cfg)
	for i, d := range stream {
		w.deliver(d)
		if i%37 == 0 {
			w.flush(int64(i + 1))
			w.tr = w.newTracker() // a restart right after a commit
			for k := range w.stored {
				w.restore(k, i%2 == 0)
			}
		}
	}
	w.verify(int64(len(stream) + 1))
}
