package session

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// This file holds the test oracle and a simulated caller. The oracle is a batch
// implementation of the rules written independently of the Tracker: maps instead of sorted
// buffers, time.Time instead of millisecond arithmetic for midnights, and no incremental
// state. The simulated caller ("world") plays the stream worker: it stores accepted events,
// applies Changes to session and day tables, commits on flush, crashes and redelivers.

// oracle decides each delivery the way the contract says and keeps every accepted event.
type oracle struct {
	cfg    Config
	maxLen time.Duration // MaxSessionLength, or shorter in tests of the cap
	users  map[Key]*oracleUser
}

type oracleUser struct {
	accepted map[uint64]Event
	newest   time.Time
}

func newOracle(cfg Config, maxLen time.Duration) *oracle {
	return &oracle{cfg: cfg, maxLen: maxLen, users: map[Key]*oracleUser{}}
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (o *oracle) add(k Key, e Event) Outcome {
	if e.Kind != event.KindProduct && e.Kind != event.KindHeartbeat && e.Kind != event.KindHidden {
		return Ignored
	}
	ts := msTime(e.TS)
	if ts.Year() < 1 || ts.Year() > 9999 {
		return Invalid
	}
	u := o.users[k]
	if u == nil {
		u = &oracleUser{accepted: map[uint64]Event{}}
		o.users[k] = u
	}
	if _, dup := u.accepted[e.ID]; dup {
		return Duplicate
	}
	if len(u.accepted) > 0 && u.newest.Sub(ts) > o.cfg.Lateness {
		return Late
	}
	u.accepted[e.ID] = e
	if len(u.accepted) == 1 || ts.After(u.newest) {
		u.newest = ts
	}
	return Accepted
}

// sessions sessionizes every user's accepted events in one batch.
func (o *oracle) sessions() map[SessionID]Session {
	out := map[SessionID]Session{}
	for k, u := range o.users {
		for _, s := range oracleSessionize(o.cfg, o.maxLen, k, slices.Collect(maps.Values(u.accepted))) {
			out[s.ID] = s
		}
	}
	return out
}

// oracleSessionize is the rule book applied to one user's event set; maxLen is
// MaxSessionLength (shorter in tests of the cap).
func oracleSessionize(cfg Config, maxLen time.Duration, k Key, evs []Event) []Session {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.ID, b.ID))
	})
	var out []Session
	for len(evs) > 0 {
		n := 1
		for n < len(evs) && msTime(evs[n].TS).Sub(msTime(evs[n-1].TS)) <= cfg.SessionTimeout &&
			msTime(evs[n].TS).Sub(msTime(evs[0].TS)) <= maxLen {
			n++
		}
		out = append(out, oracleSession(cfg, k, evs[:n]))
		evs = evs[n:]
	}
	return out
}

func midnightAfter(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
}

func dayNumber(t time.Time) int32 {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return int32(d.Unix() / 86400) // exact: midnights are whole multiples of a day
}

func oracleSession(cfg Config, k Key, evs []Event) Session {
	first, last := msTime(evs[0].TS), msTime(evs[len(evs)-1].TS)
	byDay := map[int32]*Day{}
	for d := dayNumber(first); d <= dayNumber(last); d++ {
		byDay[d] = &Day{Day: d}
	}
	var active time.Duration
	for i, e := range evs {
		t := msTime(e.TS)
		day := byDay[dayNumber(t)]
		day.Events++
		day.Active = day.Active || e.Kind != event.KindHidden
		if i == 0 {
			continue
		}
		p := evs[i-1]
		a := msTime(p.TS)
		gap := t.Sub(a)
		if p.Kind == event.KindHidden || gap > cfg.IdleThreshold {
			continue
		}
		active += gap
		for a.Before(t) {
			end := midnightAfter(a)
			if end.After(t) {
				end = t
			}
			byDay[dayNumber(a)].ActiveMs += end.Sub(a).Milliseconds()
			a = end
		}
	}
	s := Session{
		Key:      k,
		ID:       NewSessionID(k, evs[0].TS, evs[0].ID),
		Start:    evs[0].TS,
		End:      evs[len(evs)-1].TS,
		ActiveMs: active.Milliseconds(),
		Events:   len(evs),
	}
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		s.Days = append(s.Days, *byDay[d])
	}
	return s
}

// checkSession verifies the invariants every emitted session must keep.
func checkSession(s Session) error {
	if len(s.Days) == 0 {
		return fmt.Errorf("session %s has no days", s.ID)
	}
	if s.Days[0].Day != DayOf(s.Start) || s.Days[len(s.Days)-1].Day != DayOf(s.End) {
		return fmt.Errorf("session %s: days %d..%d, want %d..%d", s.ID, s.Days[0].Day, s.Days[len(s.Days)-1].Day, DayOf(s.Start), DayOf(s.End))
	}
	var active int64
	var events int
	for i, d := range s.Days {
		if i > 0 && d.Day != s.Days[i-1].Day+1 {
			return fmt.Errorf("session %s: days not contiguous: %+v", s.ID, s.Days)
		}
		if d.ActiveMs < 0 || d.Events < 1 {
			return fmt.Errorf("session %s: bad day %+v", s.ID, d)
		}
		active += d.ActiveMs
		events += d.Events
	}
	if active != s.ActiveMs {
		return fmt.Errorf("session %s: sum of day active %d != ActiveMs %d", s.ID, active, s.ActiveMs)
	}
	if events != s.Events {
		return fmt.Errorf("session %s: sum of day events %d != Events %d", s.ID, events, s.Events)
	}
	if s.Start > s.End || s.ActiveMs > s.End-s.Start {
		return fmt.Errorf("session %s: start %d end %d active %d", s.ID, s.Start, s.End, s.ActiveMs)
	}
	return nil
}

type delivery struct {
	key Key
	ev  Event
}

type dayKey struct {
	id  SessionID
	day int32
}

// world is the simulated stream worker and its store. Everything in "durable" survives a
// crash; the Tracker, pending and uncommitted do not.
type world struct {
	tb      testing.TB
	cfg     Config
	maxLen  time.Duration
	minFold int // the Tracker's minFold: lowered so that short streams fold
	tr      *Tracker
	oracle  *oracle

	// durable
	stored    map[Key][]Event // events written flagged as sessionized
	sessions  map[SessionID]Session
	days      map[dayKey]Day
	retracted map[SessionID]bool
	folds     map[Key]Fold // the latest Fold of each user, as stored (encoded and decoded)
	version   int64

	// lost on crash
	pending     map[Key][]Event
	uncommitted []delivery

	restores, foldRestores, evictedUsers, foldsEmitted int
	outcomes                                           [Invalid + 1]int
}

func newWorld(tb testing.TB, cfg Config) *world { return newWorldCap(tb, cfg, MaxSessionLength) }

// newWorldCap is newWorld with sessions capped at maxLen instead of MaxSessionLength, so that
// tests reach the cap with few events.
func newWorldCap(tb testing.TB, cfg Config, maxLen time.Duration) *world {
	w := &world{
		tb: tb, cfg: cfg, maxLen: maxLen, minFold: minFold, oracle: newOracle(cfg, maxLen),
		stored: map[Key][]Event{}, sessions: map[SessionID]Session{}, days: map[dayKey]Day{},
		retracted: map[SessionID]bool{}, folds: map[Key]Fold{}, pending: map[Key][]Event{},
	}
	w.tr = w.newTracker()
	return w
}

func (w *world) newTracker() *Tracker {
	tr := NewTracker(w.cfg)
	tr.maxLen = w.maxLen.Milliseconds()
	tr.minFold = w.minFold
	return tr
}

// deliver is one record read from the topic.
func (w *world) deliver(d delivery) Outcome {
	w.oracle.add(d.key, d.ev)
	if !w.tr.Has(d.key) {
		w.restore(d.key, false)
	}
	out := w.tr.Add(d.key, d.ev)
	w.outcomes[out]++
	w.uncommitted = append(w.uncommitted, d)
	if out == Accepted {
		w.pending[d.key] = append(w.pending[d.key], d.ev)
	}
	return out
}

// tail is what the worker loads for Restore: the stored events from the start of the
// user's earliest session that is not final, or, when that session has a stored Fold, the
// Fold and the events from its Cut. whole loads every stored event instead, which must give
// the same result.
func (w *world) tail(k Key, whole bool) (*Fold, []Event) {
	if len(w.pending[k]) > 0 {
		w.tb.Fatalf("restoring %v with unflushed events", k)
	}
	evs := w.stored[k]
	if whole || len(evs) == 0 {
		return nil, slices.Clone(evs)
	}
	ss := oracleSessionize(w.cfg, w.maxLen, k, evs)
	before := w.cfg.FinalBefore(ss[len(ss)-1].End)
	from := ss[len(ss)-1].Start
	for i := len(ss) - 1; i >= 0 && ss[i].End >= before; i-- {
		from = ss[i].Start
	}
	var fold *Fold
	if f, ok := w.folds[k]; ok && f.Start == from {
		fold, from = &f, f.Cut
	}
	var out []Event
	for _, e := range evs {
		if e.TS >= from {
			out = append(out, e)
		}
	}
	return fold, out
}

func (w *world) restore(k Key, whole bool) {
	w.restores++
	f, evs := w.tail(k, whole)
	if f == nil {
		w.tr.Restore(k, evs)
		return
	}
	w.foldRestores++
	w.tr.RestoreFold(k, *f, evs)
}

// flush writes the changes, then the events, then commits the offsets.
func (w *world) flush(now int64) Changes {
	ch := w.tr.Flush(now)
	if ch.Version <= w.version {
		w.tb.Fatalf("version %d after %d", ch.Version, w.version)
	}
	w.version = ch.Version
	for _, s := range ch.Upserts {
		if err := checkSession(s); err != nil {
			w.tb.Fatal(err)
		}
		if w.retracted[s.ID] {
			w.tb.Fatalf("upsert of retracted session %s", s.ID)
		}
		if old, ok := w.sessions[s.ID]; ok {
			if old.Start != s.Start || old.End > s.End || old.Events >= s.Events {
				w.tb.Fatalf("session %s went from %+v to %+v", s.ID, old, s)
			}
			for _, d := range old.Days {
				if d.Day < s.Days[0].Day || d.Day > s.Days[len(s.Days)-1].Day {
					w.tb.Fatalf("session %s lost day %d", s.ID, d.Day)
				}
			}
		}
		w.sessions[s.ID] = s
		for _, d := range s.Days {
			w.days[dayKey{s.ID, d.Day}] = d
		}
	}
	for _, r := range ch.Retractions {
		old, ok := w.sessions[r.ID]
		if !ok {
			w.tb.Fatalf("retraction of unknown session %s", r.ID)
		}
		if old.Start != r.Start || old.End != r.End || old.Key != r.Key {
			w.tb.Fatalf("retraction %+v of %+v", r, old)
		}
		delete(w.sessions, r.ID)
		first, last := r.DayRange()
		for d := first; d <= last; d++ {
			delete(w.days, dayKey{r.ID, d})
		}
		w.retracted[r.ID] = true
	}
	for k, evs := range w.pending {
		w.stored[k] = append(w.stored[k], evs...)
	}
	clear(w.pending)
	for _, f := range ch.Folds {
		s, ok := w.sessions[f.SessionID()]
		if !ok || s.Start != f.Start || s.End < f.Cut || s.Events <= f.Events {
			w.tb.Fatalf("fold %+v of session %+v", f, s)
		}
		got, err := DecodeFold(f.Key, f.AppendBinary(nil))
		if err != nil {
			w.tb.Fatalf("fold %+v: %v", f, err)
		}
		w.folds[f.Key] = got
		w.foldsEmitted++
	}
	w.uncommitted = w.uncommitted[:0]
	return ch
}

// crash loses the Tracker and everything not committed, restores the users with stored
// events eagerly when eager is set (lazily through Has otherwise), and redelivers the
// uncommitted records in their order.
func (w *world) crash(eager bool) {
	replay := slices.Clone(w.uncommitted)
	w.uncommitted = w.uncommitted[:0]
	clear(w.pending)
	w.tr = w.newTracker()
	if eager {
		for k := range w.stored {
			w.restore(k, false)
		}
	}
	for _, d := range replay {
		w.deliver(d)
	}
}

func (w *world) evict(clock int64) {
	users, _ := w.tr.Evict(clock)
	w.evictedUsers += users
}

// verify compares the durable tables with the oracle after a final flush.
func (w *world) verify(now int64) {
	w.tb.Helper()
	w.flush(now)
	want := w.oracle.sessions()
	var diffs []string
	for id, s := range want {
		got, ok := w.sessions[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s", fmtSession(s)))
			continue
		}
		if g, wt := fmtSession(got), fmtSession(s); g != wt {
			diffs = append(diffs, fmt.Sprintf("got  %s\nwant %s", g, wt))
		}
	}
	for id, s := range w.sessions {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s", fmtSession(s)))
		}
	}
	nDays := 0
	for _, s := range want {
		for _, d := range s.Days {
			nDays++
			if got, ok := w.days[dayKey{s.ID, d.Day}]; !ok || got != d {
				diffs = append(diffs, fmt.Sprintf("day row %s/%d: got %+v want %+v", s.ID, d.Day, got, d))
			}
		}
	}
	if nDays != len(w.days) {
		diffs = append(diffs, fmt.Sprintf("%d day rows, want %d", len(w.days), nDays))
	}
	for k, u := range w.oracle.users {
		if len(w.stored[k]) != len(u.accepted) {
			diffs = append(diffs, fmt.Sprintf("user %v: %d events stored as sessionized, want %d", k, len(w.stored[k]), len(u.accepted)))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("… and %d more", len(diffs)-20))
		}
		w.tb.Fatalf("table differs from the oracle:\n%s", strings.Join(diffs, "\n"))
	}
}

func fmtSession(s Session) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s %s..%s active=%d events=%d days=[",
		s.ID, s.Key.Account, s.Key.User, msTime(s.Start).Format(time.RFC3339Nano), msTime(s.End).Format(time.RFC3339Nano), s.ActiveMs, s.Events)
	for i, d := range s.Days {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d/%d/%t", time.Unix(int64(d.Day)*86400, 0).UTC().Format(time.DateOnly), d.ActiveMs, d.Events, d.Active)
	}
	b.WriteByte(']')
	return b.String()
}
