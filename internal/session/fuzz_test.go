package session

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

var fuzzConfigs = []Config{
	DefaultConfig(),
	{SessionTimeout: 2 * time.Second, IdleThreshold: time.Second, Lateness: 3 * time.Second},
	{SessionTimeout: time.Second, IdleThreshold: time.Second, Lateness: 0},
	// The longest windows allowed: Lateness + SessionTimeout just under MaxSessionLength.
	{SessionTimeout: 12 * time.Hour, IdleThreshold: 12 * time.Hour, Lateness: 12*time.Hour - time.Millisecond},
}

// FuzzTracker drives a Tracker, through the simulated worker, with an arbitrary sequence of
// adds, exact and retried duplicates, flushes, evictions and crashes, over a few users. It
// must never panic; every emitted session must keep sum(Days.ActiveMs) == ActiveMs and the
// other invariants (checked by world.flush); and the final tables must equal the oracle's.
//
// Event IDs are unique per add, and retries move a timestamp by at most 255 ms, because a
// copy of an event whose session was already dropped as final is only recognised through its
// lateness (see the package doc); that needs the move to stay under the session timeout.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 0, 0, 1, 20, 0, 4, 0, 0, 2, 0, 0})
	f.Add([]byte{1, 0, 0, 3, 0, 0, 0, 5, 0, 4, 1, 1, 6, 0, 7, 0, 5, 9})
	f.Add([]byte{0, 7, 0, 0, 0, 0, 0, 0, 0, 0x80, 7, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		cfg := fuzzConfigs[int(data[0])%len(fuzzConfigs)]
		data = data[1:]
		timeout, idle, late := cfg.SessionTimeout.Milliseconds(), cfg.IdleThreshold.Milliseconds(), cfg.Lateness.Milliseconds()
		// deltas right at the rule boundaries, picked by the fuzzer
		deltas := []int64{0, 1, -1, idle, idle + 1, timeout, timeout + 1, -late, -late - 1, DayMs, -timeout, 1000, 60_000, -DayMs}
		keys := []Key{{"a", "u1"}, {"a", "u2"}, {"b", "u1"}, {"", ""}}
		cur := make([]int64, len(keys))
		for i := range cur {
			cur[i] = at("2026-03-01T23:50:00Z")
		}
		w := newWorld(t, cfg)
		var sent []delivery
		nextID, now, clock := uint64(1), int64(0), int64(0)
		next := func() (byte, bool) {
			if len(data) == 0 {
				return 0, false
			}
			b := data[0]
			data = data[1:]
			return b, true
		}
		send := func(d delivery) {
			sent = append(sent, d)
			w.deliver(d)
			if d.ev.TS >= MinTS && d.ev.TS <= MaxTS {
				clock = max(clock, d.ev.TS)
			}
		}
		for len(data) > 0 {
			op, _ := next()
			switch op % 8 {
			case 0, 1, 2, 3: // a new event: user, delta, kind
				u, _ := next()
				dsel, _ := next()
				ks, _ := next()
				ui := int(u) % len(keys)
				delta := deltas[int(dsel)%len(deltas)]
				if dsel >= 128 {
					delta = int64(int8(dsel)) * 7_919 // odd steps off the boundaries
				}
				cur[ui] = min(max(cur[ui]+delta, MinTS-DayMs), MaxTS+DayMs)
				kind := event.Kind(ks % 4) // 3 is $account: ignored
				send(delivery{keys[ui], Event{ID: nextID, TS: cur[ui], Kind: kind}})
				nextID++
			case 4:
				now++
				w.flush(now)
			case 5: // an exact redelivery of an earlier record
				i, _ := next()
				if len(sent) > 0 {
					send(sent[int(i)%len(sent)])
				}
			case 6: // a client retry: same ID, timestamp moved by up to ±255 ms
				i, _ := next()
				m, _ := next()
				if len(sent) > 0 {
					d := sent[int(i)%len(sent)]
					if m&1 == 0 {
						d.ev.TS += int64(m >> 1)
					} else {
						d.ev.TS -= int64(m >> 1)
					}
					send(d)
				}
			case 7: // evict, crash, or an extreme timestamp
				sel, _ := next()
				switch sel % 4 {
				case 0:
					now++
					w.flush(now)
					w.evict(clock)
				case 1:
					w.evict(math.MaxInt64)
				case 2:
					w.crash(sel&4 != 0)
				case 3:
					var b [8]byte
					for i := range b {
						b[i], _ = next()
					}
					u, _ := next()
					ts := int64(binary.LittleEndian.Uint64(b[:]))
					send(delivery{keys[int(u)%len(keys)], Event{ID: nextID, TS: ts}})
					nextID++
				}
			}
		}
		w.verify(now + 1)
	})
}
