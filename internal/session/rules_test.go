package session

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

var alice = Key{Account: "acme", User: "alice"}

// at parses an RFC 3339 time into unix ms.
func at(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func day(s string) int32 { return DayOf(at(s + "T00:00:00Z")) }

func product(ts string, id uint64) Event { return Event{ID: id, TS: at(ts), Kind: event.KindProduct} }
func heartbeat(ts string, id uint64) Event {
	return Event{ID: id, TS: at(ts), Kind: event.KindHeartbeat}
}
func hidden(ts string, id uint64) Event { return Event{ID: id, TS: at(ts), Kind: event.KindHidden} }

// want is an expected session, compared on everything but Key and ID (the ID is checked
// against the first event separately).
type want struct {
	start, end string
	activeMs   int64
	events     int
	days       []Day
}

const minute = int64(60_000)

// TestSessionRules pins each rule of the contract on one user's events added in order and
// flushed once; the oracle must agree on every case too.
func TestSessionRules(t *testing.T) {
	d1, d2 := day("2026-03-01"), day("2026-03-02")
	cases := []struct {
		name   string
		events []Event
		want   []want
	}{
		{
			name:   "one event has no active time",
			events: []Event{product("2026-03-01T10:00:00Z", 1)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", 0, 1, []Day{{d1, 0, 1, true}}}},
		},
		{
			name:   "gap of exactly the idle threshold is active",
			events: []Event{product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:05:00Z", 2)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z", 5 * minute, 2, []Day{{d1, 5 * minute, 2, true}}}},
		},
		{
			name:   "gap of idle threshold plus 1 ms is idle",
			events: []Event{product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:05:00.001Z", 2)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:05:00.001Z", 0, 2, []Day{{d1, 0, 2, true}}}},
		},
		{
			name:   "gap of exactly the session timeout stays in the session",
			events: []Event{product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:30:00Z", 2)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", 0, 2, []Day{{d1, 0, 2, true}}}},
		},
		{
			name:   "gap of session timeout plus 1 ms starts a session",
			events: []Event{product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:30:00.001Z", 2)},
			want: []want{
				{"2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", 0, 1, []Day{{d1, 0, 1, true}}},
				{"2026-03-01T10:30:00.001Z", "2026-03-01T10:30:00.001Z", 0, 1, []Day{{d1, 0, 1, true}}},
			},
		},
		{
			name:   "active time splits exactly at midnight",
			events: []Event{product("2026-03-01T23:58:00Z", 1), product("2026-03-02T00:03:00Z", 2)},
			want:   []want{{"2026-03-01T23:58:00Z", "2026-03-02T00:03:00Z", 5 * minute, 2, []Day{{d1, 2 * minute, 1, true}, {d2, 3 * minute, 1, true}}}},
		},
		{
			name:   "gap ending exactly at midnight belongs to the first day",
			events: []Event{product("2026-03-01T23:58:00Z", 1), product("2026-03-02T00:00:00Z", 2)},
			want:   []want{{"2026-03-01T23:58:00Z", "2026-03-02T00:00:00Z", 2 * minute, 2, []Day{{d1, 2 * minute, 1, true}, {d2, 0, 1, true}}}},
		},
		{
			name:   "one millisecond after midnight goes to the second day",
			events: []Event{product("2026-03-01T23:58:00Z", 1), product("2026-03-02T00:00:00.001Z", 2)},
			want:   []want{{"2026-03-01T23:58:00Z", "2026-03-02T00:00:00.001Z", 2*minute + 1, 2, []Day{{d1, 2 * minute, 1, true}, {d2, 1, 1, true}}}},
		},
		{
			name:   "an idle gap across midnight gives neither day anything",
			events: []Event{product("2026-03-01T23:50:00Z", 1), product("2026-03-02T00:10:00Z", 2)},
			want:   []want{{"2026-03-01T23:50:00Z", "2026-03-02T00:10:00Z", 0, 2, []Day{{d1, 0, 1, true}, {d2, 0, 1, true}}}},
		},
		{
			name: "$hidden makes the next gap idle",
			events: []Event{
				product("2026-03-01T10:00:00Z", 1), hidden("2026-03-01T10:01:00Z", 2),
				product("2026-03-01T10:03:00Z", 3), product("2026-03-01T10:04:00Z", 4),
			},
			want: []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:04:00Z", 2 * minute, 4, []Day{{d1, 2 * minute, 4, true}}}},
		},
		{
			name: "$hidden followed by the next event after the timeout",
			events: []Event{
				product("2026-03-01T10:00:00Z", 1), hidden("2026-03-01T10:01:00Z", 2),
				product("2026-03-01T10:40:00Z", 3),
			},
			want: []want{
				{"2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z", minute, 2, []Day{{d1, minute, 2, true}}},
				{"2026-03-01T10:40:00Z", "2026-03-01T10:40:00Z", 0, 1, []Day{{d1, 0, 1, true}}},
			},
		},
		{
			name:   "two $hidden in a row: the gap between them follows a $hidden",
			events: []Event{hidden("2026-03-01T10:00:00Z", 1), hidden("2026-03-01T10:02:00Z", 2)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:02:00Z", 0, 2, []Day{{d1, 0, 2, false}}}},
		},
		{
			name:   "heartbeat-only session is active",
			events: []Event{heartbeat("2026-03-01T10:00:00Z", 1), heartbeat("2026-03-01T10:00:30Z", 2), heartbeat("2026-03-01T10:01:00Z", 3)},
			want:   []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z", minute, 3, []Day{{d1, minute, 3, true}}}},
		},
		{
			name:   "a day reached only by a $hidden has active time but is not an active day",
			events: []Event{product("2026-03-01T23:58:00Z", 1), hidden("2026-03-02T00:01:00Z", 2)},
			want:   []want{{"2026-03-01T23:58:00Z", "2026-03-02T00:01:00Z", 3 * minute, 2, []Day{{d1, 2 * minute, 1, true}, {d2, minute, 1, false}}}},
		},
		{
			name: "equal timestamps: $hidden sorting first does not idle the next gap",
			events: []Event{
				product("2026-03-01T10:00:00Z", 2), hidden("2026-03-01T10:00:00Z", 1),
				product("2026-03-01T10:02:00Z", 3),
			},
			want: []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:02:00Z", 2 * minute, 3, []Day{{d1, 2 * minute, 3, true}}}},
		},
		{
			name: "equal timestamps: $hidden sorting last idles the next gap",
			events: []Event{
				product("2026-03-01T10:00:00Z", 2), hidden("2026-03-01T10:00:00Z", 3),
				product("2026-03-01T10:02:00Z", 4),
			},
			want: []want{{"2026-03-01T10:00:00Z", "2026-03-01T10:02:00Z", 0, 3, []Day{{d1, 0, 3, true}}}},
		},
		{
			name: "a session across midnight with heartbeats",
			events: []Event{
				product("2026-03-01T23:55:00Z", 1), heartbeat("2026-03-01T23:59:00Z", 2),
				heartbeat("2026-03-02T00:01:00Z", 3), product("2026-03-02T00:20:00Z", 4),
				product("2026-03-02T00:21:30Z", 5),
			},
			want: []want{{"2026-03-01T23:55:00Z", "2026-03-02T00:21:30Z", 4*minute + 2*minute + 90_000, 5, []Day{{d1, 5 * minute, 2, true}, {d2, minute + 90_000, 3, true}}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(DefaultConfig())
			for _, e := range tc.events {
				if out := tr.Add(alice, e); out != Accepted {
					t.Fatalf("Add(%+v) = %v", e, out)
				}
			}
			ch := tr.Flush(1)
			if len(ch.Retractions) != 0 {
				t.Fatalf("retractions %+v", ch.Retractions)
			}
			checkWant(t, ch.Upserts, tc.want)
			checkWant(t, oracleSessionize(DefaultConfig(), MaxSessionLength, alice, tc.events), tc.want)
			for _, s := range ch.Upserts {
				if err := checkSession(s); err != nil {
					t.Fatal(err)
				}
			}
			// The first event is the least (TS, ID): the ID names it.
			for _, s := range ch.Upserts {
				first := slices.MinFunc(eventsIn(tc.events, s.Start, s.End), func(a, b Event) int { return cmpEv(mkEv(a), mkEv(b)) })
				if s.ID != NewSessionID(alice, first.TS, first.ID) {
					t.Fatalf("session %s is not named after its first event %+v", s.ID, first)
				}
			}
		})
	}
}

func eventsIn(evs []Event, from, to int64) []Event {
	var out []Event
	for _, e := range evs {
		if e.TS >= from && e.TS <= to {
			out = append(out, e)
		}
	}
	return out
}

func checkWant(t *testing.T, got []Session, wants []want) {
	t.Helper()
	slices.SortFunc(got, func(a, b Session) int { return int(a.Start - b.Start) })
	if len(got) != len(wants) {
		t.Fatalf("%d sessions, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Start != at(w.start) || g.End != at(w.end) || g.ActiveMs != w.activeMs || g.Events != w.events || !slices.Equal(g.Days, w.days) {
			t.Errorf("session %d:\n got %s\nwant start=%s end=%s active=%d events=%d days=%+v", i, fmtSession(g), w.start, w.end, w.activeMs, w.events, w.days)
		}
	}
}

// step is one delivery in an arrival-order test, with the outcome it must get.
type step struct {
	ev  Event
	out Outcome
}

// TestArrivalOrder pins what each out-of-order arrival changes: which IDs are upserted and
// retracted by the second flush, after the first flush wrote the in-order part.
func TestArrivalOrder(t *testing.T) {
	s1a, s1b := product("2026-03-01T10:00:00Z", 1), product("2026-03-01T10:10:00Z", 2)
	s2a, s2b := product("2026-03-01T10:45:00Z", 3), product("2026-03-01T10:55:00Z", 4)
	id := func(e Event) SessionID { return NewSessionID(alice, e.TS, e.ID) }
	cases := []struct {
		name          string
		first, second []step
		upserts       []SessionID
		retracts      []SessionID
		sessions      int // after the second flush, per the oracle
	}{
		{
			name:     "late event in the gap merges two sessions; the first keeps its ID",
			first:    []step{{s1a, Accepted}, {s1b, Accepted}, {s2a, Accepted}, {s2b, Accepted}},
			second:   []step{{product("2026-03-01T10:30:00Z", 5), Accepted}},
			upserts:  []SessionID{id(s1a)},
			retracts: []SessionID{id(s2a)},
			sessions: 1,
		},
		{
			name:     "late event becomes the first event: the old ID is retracted",
			first:    []step{{s1a, Accepted}, {s1b, Accepted}},
			second:   []step{{product("2026-03-01T09:55:00Z", 5), Accepted}},
			upserts:  []SessionID{NewSessionID(alice, at("2026-03-01T09:55:00Z"), 5)},
			retracts: []SessionID{id(s1a)},
			sessions: 1,
		},
		{
			name:  "late events that both prepend and merge retract both old IDs",
			first: []step{{s1a, Accepted}, {s1b, Accepted}, {s2a, Accepted}, {s2b, Accepted}},
			second: []step{
				{product("2026-03-01T10:30:00Z", 5), Accepted},
				{product("2026-03-01T09:56:00Z", 6), Accepted},
			},
			upserts:  []SessionID{NewSessionID(alice, at("2026-03-01T09:56:00Z"), 6)},
			retracts: []SessionID{id(s1a), id(s2a)},
			sessions: 1,
		},
		{
			name:     "equal timestamp with a smaller ID becomes the first event",
			first:    []step{{product("2026-03-01T10:00:00Z", 9), Accepted}},
			second:   []step{{product("2026-03-01T10:00:00Z", 8), Accepted}},
			upserts:  []SessionID{NewSessionID(alice, at("2026-03-01T10:00:00Z"), 8)},
			retracts: []SessionID{NewSessionID(alice, at("2026-03-01T10:00:00Z"), 9)},
			sessions: 1,
		},
		{
			name:     "late event inside a session grows it under the same ID",
			first:    []step{{s1a, Accepted}, {s1b, Accepted}},
			second:   []step{{heartbeat("2026-03-01T10:05:00Z", 5), Accepted}},
			upserts:  []SessionID{id(s1a)},
			sessions: 1,
		},
		{
			name:     "late event on its own between sessions is a new session",
			first:    []step{{s1a, Accepted}, {product("2026-03-01T12:00:00Z", 2), Accepted}},
			second:   []step{{product("2026-03-01T11:00:00Z", 5), Accepted}},
			upserts:  []SessionID{NewSessionID(alice, at("2026-03-01T11:00:00Z"), 5)},
			sessions: 3,
		},
		{
			name:   "too late: more than the lateness before the newest event",
			first:  []step{{s1a, Accepted}, {product("2026-03-01T11:00:00Z", 2), Accepted}},
			second: []step{{product("2026-03-01T09:59:59.999Z", 5), Late}, {product("2026-03-01T10:05:00Z", 5), Accepted}},
			// the same ID is not a duplicate of a late event: it was never accepted
			upserts:  []SessionID{id(s1a)},
			sessions: 2,
		},
		{
			name:     "exactly the lateness late is accepted",
			first:    []step{{product("2026-03-01T11:00:00Z", 2), Accepted}},
			second:   []step{{product("2026-03-01T10:00:00Z", 5), Accepted}},
			upserts:  []SessionID{NewSessionID(alice, at("2026-03-01T10:00:00Z"), 5)},
			sessions: 2,
		},
		{
			name:     "duplicates change nothing: exact copy, copy with another timestamp",
			first:    []step{{s1a, Accepted}, {s1b, Accepted}},
			second:   []step{{s1b, Duplicate}, {product("2026-03-01T10:10:01Z", 2), Duplicate}, {product("2026-03-01T09:10:01Z", 1), Duplicate}, {s1a, Duplicate}},
			sessions: 1,
		},
		{
			name:     "a duplicate that would be late is reported as a duplicate",
			first:    []step{{s1a, Accepted}, {product("2026-03-01T10:50:00Z", 2), Accepted}, {product("2026-03-01T11:20:00Z", 3), Accepted}},
			second:   []step{{s1a, Duplicate}},
			sessions: 2,
		},
		{
			name:     "business signals and out-of-range timestamps are not sessionized",
			first:    []step{{s1a, Accepted}},
			second:   []step{{Event{ID: 7, TS: at("2026-03-01T10:01:00Z"), Kind: event.KindNPS}, Ignored}, {Event{ID: 8, TS: MaxTS + 1, Kind: event.KindProduct}, Invalid}, {Event{ID: 8, TS: MinTS - 1, Kind: event.KindProduct}, Invalid}},
			sessions: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, DefaultConfig())
			for _, s := range tc.first {
				if out := w.deliver(delivery{alice, s.ev}); out != s.out {
					t.Fatalf("first: Add(%+v) = %v, want %v", s.ev, out, s.out)
				}
			}
			w.flush(1)
			for _, s := range tc.second {
				if out := w.deliver(delivery{alice, s.ev}); out != s.out {
					t.Fatalf("second: Add(%+v) = %v, want %v", s.ev, out, s.out)
				}
			}
			ch := w.flush(2)
			var ups, rets []SessionID
			for _, s := range ch.Upserts {
				ups = append(ups, s.ID)
			}
			for _, r := range ch.Retractions {
				rets = append(rets, r.ID)
			}
			sortIDs := func(ids []SessionID) []SessionID {
				slices.SortFunc(ids, func(a, b SessionID) int { return strings.Compare(a.String(), b.String()) })
				return ids
			}
			if !slices.Equal(sortIDs(ups), sortIDs(tc.upserts)) || !slices.Equal(sortIDs(rets), sortIDs(tc.retracts)) {
				t.Fatalf("upserts %v retractions %v, want %v and %v", ups, rets, tc.upserts, tc.retracts)
			}
			if len(w.sessions) != tc.sessions {
				t.Fatalf("%d sessions in the table, want %d", len(w.sessions), tc.sessions)
			}
			w.verify(3)
		})
	}
}

// TestFinalityBoundary pins FinalBefore: a session that ended exactly
// SessionTimeout + Lateness before the newest event is not final, because an event exactly
// Lateness late can still land exactly SessionTimeout after it and join it.
func TestFinalityBoundary(t *testing.T) {
	cfg := DefaultConfig()
	w := newWorld(t, cfg)
	a := product("2026-03-01T10:00:00Z", 1)
	w.deliver(delivery{alice, a})
	w.deliver(delivery{alice, product("2026-03-01T11:30:00Z", 2)})
	w.flush(1)
	if _, n := w.tr.Evict(at("2026-03-01T11:30:00Z")); n != 0 {
		t.Fatalf("Evict dropped %d events of a session that is not final", n)
	}
	if out := w.deliver(delivery{alice, product("2026-03-01T10:30:00Z", 3)}); out != Accepted {
		t.Fatalf("event exactly lateness late: %v", out)
	}
	ch := w.flush(2)
	if len(ch.Upserts) != 1 || ch.Upserts[0].ID != NewSessionID(alice, a.TS, a.ID) || ch.Upserts[0].Events != 2 {
		t.Fatalf("want the 10:00 session grown to 2 events, got %+v", ch.Upserts)
	}
	w.verify(3)

	// One more millisecond and the 10:00–10:30 session is final: dropped from memory.
	w.deliver(delivery{alice, product("2026-03-01T12:00:00.001Z", 4)})
	w.flush(4)
	if st := w.tr.Stats(); st.Events != 2 || st.Sessions != 2 {
		t.Fatalf("after the session became final: %+v, want the 11:30 and 12:00 events only", st)
	}
	w.verify(5)
}

// TestRetractedIDsNeverReturn pins the identity invariant on a stream built to retract
// often: events arrive newest first, within the lateness, so almost every one prepends.
func TestRetractedIDsNeverReturn(t *testing.T) {
	w := newWorld(t, DefaultConfig())
	base := at("2026-03-01T10:00:00Z")
	retractions := 0
	for i := range 200 {
		// each event is 20 s before the previous one; every other one skips 31 min back
		ts := base - int64(i)*20_000 - int64(i/2)*31*minute%(50*minute)
		w.deliver(delivery{alice, Event{ID: uint64(1000 - i), TS: ts, Kind: event.KindProduct}})
		if i%3 == 0 {
			retractions += len(w.flush(int64(i + 1)).Retractions) // world.flush fails on a returning ID
		}
	}
	w.verify(1000)
	if retractions == 0 {
		t.Fatal("the stream retracted nothing: it does not test the invariant")
	}
}

func TestOutcomeString(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want string
	}{{Accepted, "accepted"}, {Duplicate, "duplicate"}, {Late, "late"}, {Ignored, "ignored"}, {Invalid, "invalid"}, {Outcome(99), "unknown"}} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.o.String(); got != tc.want {
				t.Fatalf("%d.String() = %q", tc.o, got)
			}
		})
	}
}

func TestFlushVersion(t *testing.T) {
	tr := NewTracker(DefaultConfig())
	for _, tc := range []struct {
		name      string
		now, want int64
	}{{"first", 5, 5}, {"same now", 5, 6}, {"clock went back", 3, 7}, {"clock ahead", 100, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tr.Flush(tc.now).Version; got != tc.want {
				t.Fatalf("Flush(%d).Version = %d, want %d", tc.now, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	def := DefaultConfig()
	with := func(f func(*Config)) Config { c := def; f(&c); return c }
	cases := []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"defaults", def, ""},
		{"zero lateness", with(func(c *Config) { c.Lateness = 0 }), ""},
		{"longest timeout with zero lateness", with(func(c *Config) { c.SessionTimeout = 24*time.Hour - time.Millisecond; c.Lateness = 0 }), ""},
		// With the 24 h cap, a session's first event must be settled before the session
		// can reach 24 h.
		{"timeout and lateness reach the cap", with(func(c *Config) { c.SessionTimeout = 23 * time.Hour }), "MaxSessionLength"},
		{"zero value", Config{}, "SessionTimeout"},
		{"every bad field is named", Config{SessionTimeout: -time.Minute, IdleThreshold: time.Nanosecond, Lateness: -time.Second}, "SessionTimeout|IdleThreshold|Lateness"},
		{"timeout over a day", with(func(c *Config) { c.SessionTimeout = 24*time.Hour + time.Millisecond }), "SessionTimeout"},
		{"sub-ms timeout", with(func(c *Config) { c.SessionTimeout += time.Microsecond }), "SessionTimeout"},
		{"zero idle", with(func(c *Config) { c.IdleThreshold = 0 }), "IdleThreshold"},
		{"idle over timeout", with(func(c *Config) { c.IdleThreshold = 31 * time.Minute }), "IdleThreshold"},
		{"sub-ms idle", with(func(c *Config) { c.IdleThreshold = time.Nanosecond }), "IdleThreshold"},
		{"negative lateness", with(func(c *Config) { c.Lateness = -time.Second }), "Lateness"},
		{"sub-ms lateness", with(func(c *Config) { c.Lateness = 1500 * time.Microsecond }), "Lateness"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, field := range strings.Split(tc.field, "|") {
				if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), field) {
					t.Fatalf("Validate() = %v, want an ErrConfig naming %s", err, field)
				}
			}
		})
	}
	t.Run("NewTracker panics on an invalid config", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		NewTracker(Config{})
	})
}
