package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/event"
)

func benchKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		// user ids shaped like UUIDs, the common case for SDKs
		keys[i] = Key{Account: fmt.Sprintf("acct-%05d", i%1000), User: fmt.Sprintf("%08x-7d1e-7a4b-9c7e-%012x", i, i*7919)}
	}
	return keys
}

// BenchmarkTrackerAdd measures the worker's steady state: events of many users in per-user
// time order (as Kafka delivers them), a Flush every flushEvery events and an Evict every
// 100 flushes, all inside the timed loop. One op is one event.
//
//   - typical: 100k users, an event every ~20 s, a session break every 30 events. Each
//     user gets one event per flush, so every event is an upsert; with this many users the
//     cost is mostly cache misses (map, user, buffers).
//   - typical-10k-users: the same with a working set that fits in the CPU caches better.
//   - heartbeat-day: 1k users heartbeating every 30 s without a break for a whole day
//     (2 880 events): every Flush recomputes each user's long open session, the worst case
//     of recomputing per flush.
//   - out-of-order: typical, with 10 % of events delivered up to 10 min late.
func BenchmarkTrackerAdd(b *testing.B) {
	cases := []struct {
		name       string
		users      int
		flushEvery int
		sessionLen int     // events per session
		step       int64   // ms between a user's events
		late       float64 // share of events delivered late
	}{
		{"typical", 100_000, 10_000, 30, 20_000, 0},
		{"typical-10k-users", 10_000, 1_000, 30, 20_000, 0},
		{"heartbeat-day", 1_000, 1_000, 2_880, 30_000, 0},
		{"out-of-order", 100_000, 10_000, 30, 20_000, 0.1},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			keys := benchKeys(tc.users)
			tr := NewTracker(DefaultConfig())
			rng := rand.New(rand.NewPCG(1, 2))
			base := at("2026-03-01T00:00:00Z")
			seq := make([]int64, tc.users) // events sent per user
			var clock int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				u := i % tc.users
				n := seq[u]
				seq[u]++
				ts := base + n*tc.step + (n/int64(tc.sessionLen))*45*minute + int64(u)
				if tc.late > 0 && rng.Float64() < tc.late {
					ts -= rng.Int64N(10 * minute)
				}
				tr.Add(keys[u], Event{ID: uint64(i)*0x9E3779B97F4A7C15 + 1, TS: ts, Kind: event.Kind(n % 2)})
				clock = max(clock, ts)
				if i%tc.flushEvery == tc.flushEvery-1 {
					tr.Flush(int64(i))
					if i%(100*tc.flushEvery) == 100*tc.flushEvery-1 {
						tr.Evict(clock)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			st := tr.Stats()
			b.ReportMetric(float64(st.Events)/float64(max(st.Users, 1)), "buffered/user")
		})
	}
}

// BenchmarkFlush measures Flush alone: 10k dirty users, each with one new event appended to
// an open session of 20 events. One op is one user flushed.
func BenchmarkFlush(b *testing.B) {
	const users = 10_000
	keys := benchKeys(users)
	tr := NewTracker(DefaultConfig())
	base := at("2026-03-01T10:00:00Z")
	for n := range 20 {
		for u := range users {
			tr.Add(keys[u], Event{ID: uint64(n*users + u), TS: base + int64(n)*10_000})
		}
	}
	tr.Flush(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := i % users
		tr.Add(keys[u], Event{ID: uint64(1_000_000 + i), TS: base + 200_000 + int64(i/users)})
		if u == users-1 {
			tr.Flush(int64(i))
		}
	}
}

// BenchmarkMemory1MUsers measures the heap the Tracker holds for 1M open users after a
// Flush (so with their emitted-session records), first with one buffered event each, then
// with two, and reports bytes per user (with its first event) and per further buffered
// event, plus Stats().Bytes over the measured heap. Buffers grow by doubling, so a user with
// n events holds up to 2n slots: per event, count 16 bytes plus that slack, plus 8–16 bytes
// of duplicate index once a user has more than 24 events. Keys are 10-byte accounts and 36-byte
// UUID users; the Tracker holds its own copy of them.
func BenchmarkMemory1MUsers(b *testing.B) {
	const users, more = 1_000_000, 1
	keys := benchKeys(users)
	base := at("2026-03-01T10:00:00Z")
	// Collect only when measuring: background cycles over a growing 1M-object heap would
	// triple the run time and change nothing measured.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for i := 0; i < b.N; i++ {
		heap0 := heapInUse()
		tr := NewTracker(DefaultConfig())
		for u, k := range keys {
			tr.Add(k, Event{ID: uint64(u), TS: base + int64(u%1000)})
		}
		tr.Flush(1)
		heap1 := heapInUse()
		for n := 1; n <= more; n++ {
			for u, k := range keys {
				tr.Add(k, Event{ID: uint64(n*users + u), TS: base + int64(n)*30_000 + int64(u%1000)})
			}
		}
		tr.Flush(2)
		heap2 := heapInUse()
		b.ReportMetric(float64(heap1-heap0)/users, "B/user")
		b.ReportMetric(float64(heap2-heap1)/(more*users), "B/event")
		b.ReportMetric(float64(tr.Stats().Bytes)/float64(heap2-heap0), "stats/measured")
		runtime.KeepAlive(tr)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// nopStore is a Store with nothing stored, so that BenchmarkSessionizerApply measures the
// sessionizer's own work.
type nopStore struct{}

func (nopStore) PartitionClock(context.Context, int32) (int64, error) { return 0, nil }
func (nopStore) Load(context.Context, Restore) (Restored, error)      { return Restored{}, nil }
func (nopStore) WriteRows(context.Context, *Rows) error               { return nil }

// BenchmarkSessionizerApply measures what the worker pays per event on top of the Tracker:
// batches of 10,000 records over 8 partitions (10k users, an event every 20 s), grouped by
// partition, turned into Rows. One op is one event.
func BenchmarkSessionizerApply(b *testing.B) {
	const users, batch, parts = 10_000, 10_000, 8
	s, err := NewSessionizer(DefaultConfig(), nopStore{}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	all := make([]int32, parts)
	for p := range all {
		all[p] = int32(p)
	}
	if err := s.Assign(ctx, all); err != nil {
		b.Fatal(err)
	}
	keys := benchKeys(users)
	ids := make([]string, batch)
	for i := range ids {
		ids[i] = fmt.Sprintf("0199a3c2-7d1e-7a4b-9c7e-%012x", i)
	}
	base := at("2026-03-01T00:00:00Z")
	recs := make([]Record, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer() // building the batch is the consumer's work, not the sessionizer's
		for i := range recs {
			n := done + i
			u := n % users
			recs[i] = Record{Partition: int32(u % parts), Key: keys[u], EventID: ids[i] + fmt.Sprint(n/batch),
				TsMs: base + int64(n/users)*20_000, Kind: event.KindProduct}
		}
		b.StartTimer()
		rows, err := s.Apply(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		if rows.Len() == 0 {
			b.Fatal("no rows")
		}
		s.Evict()
	}
}
