package session

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// TestHashID pins HashID to FNV-1a 64: stored IDs must hash the same in every release.
func TestHashID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
		{"0190c3a8-7d1e-7a4b-9c7e-3f1d2b4a5c6d", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			h := fnv.New64a()
			h.Write([]byte(tc.in))
			if tc.want == 0 {
				tc.want = h.Sum64()
			}
			if got := HashID(tc.in); got != tc.want || got != h.Sum64() {
				t.Fatalf("HashID(%q) = %#x, want %#x", tc.in, got, tc.want)
			}
		})
	}
}

// TestSessionID pins the session ID derivation; the vectors were computed with another
// SHA-256 implementation from the documented byte layout.
func TestSessionID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		k       Key
		ts      int64
		id      uint64
		wantHex string
	}{
		{"typical", alice, at("2026-03-01T10:00:00Z"), 1, "507f8844e6a95b393c927a0448b19b87"},
		{"empty key, negative ts, max id", Key{}, -5, math.MaxUint64, "de02dbd8b8d8a94f9711a6c8b4df9517"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := NewSessionID(tc.k, tc.ts, tc.id)
			if id.String() != tc.wantHex {
				t.Fatalf("ID %s, want %s", id, tc.wantHex)
			}
			b, _ := json.Marshal(id)
			var back SessionID
			if err := json.Unmarshal(b, &back); err != nil || back != id {
				t.Fatalf("JSON round trip %s: %v, %s", b, err, back)
			}
		})
	}
	t.Run("length prefix separates account from user", func(t *testing.T) {
		if NewSessionID(Key{"ab", "c"}, 0, 0) == NewSessionID(Key{"a", "bc"}, 0, 0) {
			t.Fatal("collision")
		}
	})
	t.Run("bad text", func(t *testing.T) {
		var id SessionID
		for _, s := range []string{"", "00", "zz7f8844e6a95b393c927a0448b19b87"} {
			if err := id.UnmarshalText([]byte(s)); err == nil {
				t.Errorf("UnmarshalText(%q) accepted", s)
			}
		}
	})
}

func TestDayOf(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		want int32
	}{{0, 0}, {DayMs - 1, 0}, {DayMs, 1}, {-1, -1}, {-DayMs, -1}, {-DayMs - 1, -2}, {MinTS, -719162}, {MaxTS, 2932896}} {
		t.Run(msTime(tc.ts).String(), func(t *testing.T) {
			if got := DayOf(tc.ts); got != tc.want || got != dayNumber(msTime(tc.ts)) {
				t.Fatalf("DayOf(%d) = %d, want %d", tc.ts, got, tc.want)
			}
		})
	}
}

// TestRestore pins that Restore emits nothing, rebuilds what the store holds, and cleans its
// input the way Add would have.
func TestRestore(t *testing.T) {
	a, b, c := product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:01:00Z", 2), hidden("2026-03-01T10:02:00Z", 3)
	cases := []struct {
		name   string
		tail   []Event
		events int // buffered after Restore
	}{
		{"in order", []Event{a, b, c}, 3},
		{"shuffled", []Event{c, a, b}, 3},
		{"exact copies", []Event{a, b, a, c, b}, 3},
		{"same ID with another timestamp keeps the earlier", []Event{a, b, c, {ID: 2, TS: at("2026-03-01T10:01:30Z")}}, 3},
		{"other kinds and bad timestamps are skipped", []Event{a, b, c, {ID: 9, TS: a.TS, Kind: event.KindTicket}, {ID: 10, TS: MaxTS + 1}}, 3},
		{"final sessions are dropped at once", []Event{product("2026-02-28T10:00:00Z", 7), a, b, c}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(DefaultConfig())
			tr.Restore(alice, tc.tail)
			if !tr.Has(alice) {
				t.Fatal("Has is false after Restore")
			}
			if ch := tr.Flush(1); len(ch.Upserts)+len(ch.Retractions) != 0 {
				t.Fatalf("Restore emitted %+v", ch)
			}
			if st := tr.Stats(); st.Events != tc.events || st.Sessions != 1 || st.Users != 1 {
				t.Fatalf("stats %+v", st)
			}
			// The restored session is the emitted one: growing it upserts the same ID.
			if out := tr.Add(alice, product("2026-03-01T10:01:00Z", 2)); out != Duplicate {
				t.Fatalf("re-adding a restored event: %v", out)
			}
			if out := tr.Add(alice, product("2026-03-01T10:04:00Z", 4)); out != Accepted {
				t.Fatalf("Add: %v", out)
			}
			ch := tr.Flush(2)
			if len(ch.Upserts) != 1 || len(ch.Retractions) != 0 || ch.Upserts[0].ID != NewSessionID(alice, a.TS, a.ID) || ch.Upserts[0].Events != 4 {
				t.Fatalf("after Restore and Add: %+v", ch)
			}
			if got := ch.Upserts[0].ActiveMs; got != 2*minute {
				t.Fatalf("active %d, want 2 min (the gap after the $hidden is idle)", got)
			}
		})
	}
	t.Run("empty tail forgets the user", func(t *testing.T) {
		tr := NewTracker(DefaultConfig())
		tr.Add(alice, a)
		tr.Restore(alice, nil)
		if tr.Has(alice) || tr.Stats().Events != 0 {
			t.Fatal("user still held")
		}
		if ch := tr.Flush(1); len(ch.Upserts) != 0 {
			t.Fatalf("pending changes of a forgotten user were emitted: %+v", ch)
		}
	})
	t.Run("Restore discards unflushed changes", func(t *testing.T) {
		tr := NewTracker(DefaultConfig())
		tr.Add(alice, a)
		tr.Restore(alice, []Event{a, b})
		if ch := tr.Flush(1); len(ch.Upserts) != 0 {
			t.Fatalf("emitted %+v", ch)
		}
		if st := tr.Stats(); st.Events != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("a big tail builds the duplicate index", func(t *testing.T) {
		tr := NewTracker(DefaultConfig())
		var tail []Event
		for i := range 100 {
			tail = append(tail, Event{ID: uint64(i) * 7, TS: a.TS + int64(i)*1000})
		}
		tail = append(tail, Event{ID: 7, TS: a.TS + 500_000}) // same ID, later: dropped
		tr.Restore(alice, tail)
		if st := tr.Stats(); st.Events != 100 {
			t.Fatalf("stats %+v", st)
		}
		for _, e := range []Event{tail[50], {ID: 21, TS: a.TS + 99_999}} {
			if out := tr.Add(alice, e); out != Duplicate {
				t.Fatalf("Add(%+v) = %v", e, out)
			}
		}
		if out := tr.Add(alice, Event{ID: 8, TS: a.TS + 5}); out != Accepted {
			t.Fatalf("new ID: %v", out)
		}
	})
}

// TestEvict pins which users and events Evict drops.
func TestEvict(t *testing.T) {
	cfg := DefaultConfig()
	bob, carol, dave := Key{"acme", "bob"}, Key{"acme", "carol"}, Key{"acme", "dave"}
	tr := NewTracker(cfg)
	clock := at("2026-03-01T12:00:00Z")
	horizon := clock - 2*cfg.SessionTimeout.Milliseconds() - cfg.Lateness.Milliseconds() // 10:00
	tr.Add(alice, Event{ID: 1, TS: horizon - 1})                                         // older than the horizon: dropped
	tr.Add(bob, Event{ID: 1, TS: horizon})                                               // at the horizon: kept
	// carol has a final session (ended 09:00, newest 11:00) and an open one
	tr.Add(carol, product("2026-03-01T08:50:00Z", 1))
	tr.Add(carol, product("2026-03-01T09:00:00Z", 2))
	tr.Add(carol, product("2026-03-01T10:00:00Z", 3))
	tr.Add(carol, product("2026-03-01T11:00:00Z", 4))
	tr.Flush(1) // trims carol's final session already
	if st := tr.Stats(); st.Events != 4 || st.Users != 3 {
		t.Fatalf("after Flush: %+v", st)
	}
	tr.Add(dave, Event{ID: 1, TS: horizon - DayMs}) // old but unflushed: skipped
	users, events := tr.Evict(clock)
	if users != 1 || events != 1 {
		t.Fatalf("Evict = %d users, %d events; want 1, 1", users, events)
	}
	for _, tc := range []struct {
		k    Key
		want bool
	}{{alice, false}, {bob, true}, {carol, true}, {dave, true}} {
		if tr.Has(tc.k) != tc.want {
			t.Errorf("Has(%v) = %v, want %v", tc.k, !tc.want, tc.want)
		}
	}
	if ch := tr.Flush(2); len(ch.Upserts) != 1 || ch.Upserts[0].Key != dave {
		t.Fatalf("dave's pending session lost: %+v", ch)
	}
	if users, _ := tr.Evict(clock); users != 1 {
		t.Fatalf("dave not evicted once flushed")
	}
	if users, _ := tr.Evict(math.MinInt64); users != 0 {
		t.Fatal("a clock at MinInt64 evicted someone")
	}
	if users, _ := tr.Evict(math.MaxInt64); users != 2 {
		t.Fatal("a clock at MaxInt64 did not evict everyone")
	}
	if st := tr.Stats(); st != (Stats{}) {
		t.Fatalf("stats after evicting everyone: %+v", st)
	}
}

// TestEvictRebuildsMap pins that users kept through the map rebuild that follows a large
// eviction are still found.
func TestEvictRebuildsMap(t *testing.T) {
	tr := NewTracker(DefaultConfig())
	keys := benchKeys(10_000)
	base := at("2026-03-01T10:00:00Z")
	for i, k := range keys {
		ts := base
		if i%100 == 0 {
			ts += DayMs // these stay
		}
		tr.Add(k, Event{ID: 1, TS: ts})
	}
	tr.Flush(1)
	if users, _ := tr.Evict(base + DayMs); users != 9_900 {
		t.Fatalf("evicted %d users, want 9900", users)
	}
	for i, k := range keys {
		if tr.Has(k) != (i%100 == 0) {
			t.Fatalf("Has(%v) = %v", k, !(i%100 == 0))
		}
	}
	if out := tr.Add(keys[0], Event{ID: 1, TS: base + DayMs}); out != Duplicate {
		t.Fatalf("kept user lost its events: %v", out)
	}
}

// TestKeyNotRetained pins that the Tracker copies the key's strings, so a caller may pass
// strings that alias a reused decode buffer.
func TestKeyNotRetained(t *testing.T) {
	buf := []byte("acme" + "alice")
	k := Key{Account: string(buf[:4]), User: string(buf[4:])}
	tr := NewTracker(DefaultConfig())
	tr.Add(k, product("2026-03-01T10:00:00Z", 1))
	ch := tr.Flush(1)
	if ch.Upserts[0].Key != alice || !tr.Has(alice) {
		t.Fatalf("key %+v", ch.Upserts[0].Key)
	}
}

// TestLargeUserDuplicates exercises the fingerprint index through growth and trimming.
func TestLargeUserDuplicates(t *testing.T) {
	w := newWorld(t, DefaultConfig())
	base := at("2026-03-01T10:00:00Z")
	for i := range 3000 {
		ts := base + int64(i)*10_000 + int64(i/500)*40*minute // a new session every 500 events
		d := delivery{alice, Event{ID: uint64(i) * 0x1_0000_0000, TS: ts}}
		if out := w.deliver(d); out != Accepted {
			t.Fatalf("event %d: %v", i, out)
		}
		if i%7 == 0 {
			d.ev.TS -= 3 // a retry with a corrected timestamp
			if out := w.deliver(d); out != Duplicate {
				t.Fatalf("retry of event %d: %v", i, out)
			}
		}
		if i%100 == 99 {
			w.flush(int64(i))
		}
	}
	w.verify(1 << 40)
	if st := w.tr.Stats(); st.Sessions != 1 || st.Events != 500 {
		t.Fatalf("final sessions not trimmed: %+v", st)
	}
}

// TestDayLongSessionMemory plays one user sending 100 events/s without a pause for 26 h of
// event time (a kiosk or a bot), flushing every 0.5 s like the worker. The Tracker must hold
// a bounded number of events whatever the session's length (the session's head is folded),
// cut the session at MaxSessionLength, and a restore from the last Fold must continue exactly
// like the Tracker that never stopped.
func TestDayLongSessionMemory(t *testing.T) {
	const (
		rate  = 100 // events per second
		step  = 1000 / rate
		batch = 500 // ms of events per flush
	)
	cfg := DefaultConfig()
	k := Key{Account: "acme", User: "kiosk"}
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixMilli()
	end := t0 + 26*3_600_000
	ev := func(ts int64) Event { return Event{ID: uint64(ts), TS: ts, Kind: event.KindHeartbeat} }

	// The bound: the events of the last Lateness + 2·SessionTimeout (the fold cut moves in
	// steps of SessionTimeout) plus minFold, at 16 bytes, twice over for slice growth, and
	// the ID fingerprint table (at most 8 slots of 4 bytes per event).
	window := (cfg.Lateness + 2*cfg.SessionTimeout).Milliseconds()
	maxEvents := int(window/step) + minFold + batch/step
	maxBytes := int64(maxEvents) * (2*16 + 8*4)

	tr := NewTracker(cfg)
	sessions := map[SessionID]Session{}
	var last Fold
	var peakEvents int
	var peakBytes int64
	for ts := t0; ts <= end; {
		for stop := min(ts+batch, end+1); ts < stop; ts += step {
			if out := tr.Add(k, ev(ts)); out != Accepted {
				t.Fatalf("event at %d: %v", ts, out)
			}
		}
		ch := tr.Flush(ts)
		for _, s := range ch.Upserts {
			sessions[s.ID] = s
		}
		if len(ch.Retractions) > 0 {
			t.Fatalf("retractions in an in-order stream: %+v", ch.Retractions)
		}
		for _, f := range ch.Folds {
			last = f
		}
		st := tr.Stats()
		peakEvents = max(peakEvents, st.Events)
		peakBytes = max(peakBytes, st.Bytes)
	}
	t.Logf("peak: %d events, %d bytes held (bound %d events, %d bytes); 26 h = %d events", peakEvents, peakBytes, maxEvents, maxBytes, (end-t0)/step+1)
	if peakEvents > maxEvents || peakBytes > maxBytes {
		t.Errorf("peak %d events / %d bytes, want at most %d / %d", peakEvents, peakBytes, maxEvents, maxBytes)
	}

	first := NewSessionID(k, t0, uint64(t0))
	second := NewSessionID(k, t0+DayMs+step, uint64(t0+DayMs+step))
	d := DayOf(t0)
	want := map[SessionID]Session{
		// 08:00 to 08:00 the next day: an event exactly 24 h after the first stays in.
		first: {Key: k, ID: first, Start: t0, End: t0 + DayMs, ActiveMs: DayMs, Events: int(DayMs/step) + 1,
			Days: []Day{{Day: d, ActiveMs: 16 * 3_600_000, Events: 16 * 3600 * rate, Active: true},
				{Day: d + 1, ActiveMs: 8 * 3_600_000, Events: 8*3600*rate + 1, Active: true}}},
		// The next event is more than 24 h after the first: a new session, until the end.
		second: {Key: k, ID: second, Start: t0 + DayMs + step, End: end, ActiveMs: end - (t0 + DayMs + step), Events: int((end-(t0+DayMs+step))/step) + 1,
			Days: []Day{{Day: d + 1, ActiveMs: end - (t0 + DayMs + step), Events: int((end-(t0+DayMs+step))/step) + 1, Active: true}}},
	}
	if len(sessions) != len(want) {
		t.Fatalf("%d sessions, want 2", len(sessions))
	}
	for id, w := range want {
		if g := fmtSession(sessions[id]); g != fmtSession(w) {
			t.Errorf("session\n got %s\nwant %s", g, fmtSession(w))
		}
	}

	// A restart: restore from the last Fold and the events from its Cut, then both Trackers
	// take the same next hour; they must emit the same rows.
	if last.Start != t0+DayMs+step || last.Cut <= last.Start || last.Cut > cfg.FoldCut(end) {
		t.Fatalf("last fold %+v", last)
	}
	restored := NewTracker(cfg)
	var tail []Event
	for ts := last.Cut; ts <= end; ts += step {
		tail = append(tail, ev(ts))
	}
	restored.RestoreFold(k, last, tail)
	if ch := restored.Flush(1); len(ch.Upserts)+len(ch.Retractions)+len(ch.Folds) > 0 {
		t.Fatalf("restore emitted %+v", ch)
	}
	if got, want := restored.Stats().Events, tr.Stats().Events; got > want+minFold {
		t.Errorf("restored Tracker holds %d events, the original %d", got, want)
	}
	for ts := end + step; ts <= end+3_600_000; {
		for stop := ts + batch; ts < stop; ts += step {
			tr.Add(k, ev(ts))
			restored.Add(k, ev(ts))
		}
		a, b := tr.Flush(ts), restored.Flush(ts)
		if fmt.Sprint(a.Upserts, a.Retractions) != fmt.Sprint(b.Upserts, b.Retractions) {
			t.Fatalf("after the restore, at %d:\n got %+v\nwant %+v", ts, b, a)
		}
	}
}
