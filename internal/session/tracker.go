package session

import (
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/engage-oss/engage/internal/event"
)

// ev is a buffered event: 16 bytes. The kind lives in the two low bits of tk (TS is within
// ±2⁴⁸, so TS<<2 cannot overflow); the order is by (TS, ID) and never looks at the kind.
type ev struct {
	tk int64 // TS<<2 | Kind
	id uint64
}

func mkEv(e Event) ev { return ev{tk: e.TS<<2 | int64(e.Kind), id: e.ID} }

func (e ev) ts() int64 { return e.tk >> 2 }

func (e ev) hidden() bool { return e.tk&3 == int64(event.KindHidden) }

// before orders events by (TS, ID).
func (e ev) before(o ev) bool {
	a, b := e.ts(), o.ts()
	return a < b || a == b && e.id < o.id
}

func (e ev) same(o ev) bool { return e.id == o.id && e.ts() == o.ts() }

func cmpEv(a, b ev) int {
	switch {
	case a.before(b):
		return -1
	case b.before(a):
		return 1
	}
	return 0
}

// span is a session as last emitted (or, during Flush, as recomputed): enough to find its
// events again, to tell whether it changed (events) and to retract it (first, last, id). The
// ID is kept rather than rehashed because an open session is upserted at nearly every flush.
type span struct {
	firstTS int64
	firstID uint64
	lastTS  int64
	events  int
	id      SessionID
}

func (s span) before(o span) bool {
	return s.firstTS < o.firstTS || s.firstTS == o.firstTS && s.firstID < o.firstID
}

// clean is user.dirtyFrom of a user without unflushed events.
const clean = math.MaxInt64

// smallUser is the event count up to which duplicates are found by scanning the user's
// events; above it, a fingerprint table (ids) answers in O(1).
const smallUser = 24

// user is the state of one Key. Between flushes, sess describes evs as of the last Flush or
// Restore (what the store holds); evs may have more events since, all with TS ≥ dirtyFrom.
// evs always starts at a session boundary (only whole final sessions are ever dropped), or,
// when prefix is set, in the middle of the first session, right after the events prefix
// folded.
type user struct {
	key       Key
	evs       []ev   // sorted by (TS, ID), no two with the same ID
	sess      []span // emitted sessions, in order
	ids       []uint32
	maxTS     int64 // newest accepted TS; meaningful when len(evs) > 0
	dirtyFrom int64 // lowest TS accepted since the last flush, or clean
	tail      *acc  // the last session's totals when it is long, else nil
	// prefix holds the totals of sess[0]'s events that were dropped from evs (a fold), when
	// sess[0] is a long open session; nil otherwise. evs[0] is then sess[0]'s first event in
	// memory, and every event accepted since has a later TS (see FoldCut).
	prefix *acc
}

// acc is a session's totals over its first events: what emit accumulates, what a fold keeps
// of the events it drops (user.prefix) and what a long last session's flush resumes from
// (user.tail, so that a flush that only appends to the session costs the new events, not the
// whole session: an app heartbeating every 30 s all day makes 2 880 events). A tail is used
// only when it still names the last emitted session (first event and count), so a stale one
// is harmless.
type acc struct {
	firstTS  int64
	firstID  uint64
	events   int
	activeMs int64
	last     ev    // the last event counted
	days     []Day // one per UTC day from DayOf(firstTS) to DayOf(last.ts())
}

// longSession is the session length from which a user keeps a tail: below it a recompute
// costs less than the 64+ bytes would.
const longSession = 64

// minFold is the fewest events a fold drops: a user whose open session holds fewer events
// before the cut keeps them, which spares ordinary users the Fold rows (one per fold) for a
// few hundred bytes at most.
const minFold = 256

// Tracker holds the sessionization state of the users of one partition. It is not safe for
// concurrent use.
type Tracker struct {
	cfg                 Config
	timeout, idle, late int64 // ms
	maxLen              int64 // MaxSessionLength in ms; tests shorten it
	minFold             int   // the constant minFold; tests lower it
	users               map[Key]*user
	peak                int     // the most users since the map was last rebuilt
	dirty               []*user // users that became dirty since the last Flush, in that order
	events              int     // buffered events over all users
	version             int64

	// Scratch reused by Flush so that steady-state flushing allocates only its result.
	hashBuf []byte
	spans   []span
	begins  []int
}

// NewTracker returns an empty Tracker. It panics if cfg is invalid: services validate their
// configuration at startup (Config.Validate), so an invalid one here is a programming error.
func NewTracker(cfg Config) *Tracker {
	if err := cfg.Validate(); err != nil {
		panic("session.NewTracker: " + err.Error())
	}
	return &Tracker{
		cfg:     cfg,
		timeout: cfg.SessionTimeout.Milliseconds(),
		idle:    cfg.IdleThreshold.Milliseconds(),
		late:    cfg.Lateness.Milliseconds(),
		maxLen:  MaxSessionLength.Milliseconds(),
		minFold: minFold,
		users:   make(map[Key]*user),
		hashBuf: make([]byte, 0, 8+2*event.MaxUserIDLen+16),
	}
}

// Has reports whether the Tracker holds state for k. When it does not, the caller must
// Restore k from the store before its next Add (see the package doc).
func (t *Tracker) Has(k Key) bool {
	_, ok := t.users[k]
	return ok
}

// Add offers one event of k. It never allocates once the user's buffers have grown,
// except to remember a new user.
func (t *Tracker) Add(k Key, e Event) Outcome {
	if !e.Kind.Sessionized() {
		return Ignored
	}
	if e.TS < MinTS || e.TS > MaxTS {
		return Invalid
	}
	u := t.users[k]
	if u == nil {
		u = t.newUser(k)
	}
	x := mkEv(e)
	n := len(u.evs)
	pos := n
	if n > 0 && !u.evs[n-1].before(x) {
		// Out of order (or a redelivery): the rare path.
		pos = u.search(x)
		if pos < n && u.evs[pos].same(x) {
			return Duplicate
		}
	}
	if u.hasID(x.id) {
		return Duplicate
	}
	if n > 0 && u.maxTS-e.TS > t.late {
		return Late
	}
	if pos == n {
		u.evs = append(u.evs, x)
	} else {
		u.evs = slices.Insert(u.evs, pos, x)
	}
	u.addID(x.id)
	if n == 0 || e.TS > u.maxTS {
		u.maxTS = e.TS
	}
	t.events++
	if u.dirtyFrom == clean {
		t.dirty = append(t.dirty, u)
	}
	u.dirtyFrom = min(u.dirtyFrom, e.TS)
	return Accepted
}

// newUser registers k. The key's strings are copied into one allocation: callers usually
// decode them from a Kafka record, and the Tracker must not pin the record's buffer.
func (t *Tracker) newUser(k Key) *user {
	var b strings.Builder
	b.Grow(len(k.Account) + len(k.User))
	b.WriteString(k.Account)
	b.WriteString(k.User)
	s := b.String()
	k = Key{Account: s[:len(k.Account)], User: s[len(k.Account):]}
	u := &user{key: k, dirtyFrom: clean}
	t.users[k] = u
	t.peak = max(t.peak, len(t.users))
	return u
}

// search returns the index of the first buffered event not before x.
func (u *user) search(x ev) int {
	lo, hi := 0, len(u.evs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if u.evs[m].before(x) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// afterTS returns the index of the first buffered event with TS > ts.
func (u *user) afterTS(ts int64) int {
	lo, hi := 0, len(u.evs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if u.evs[m].ts() <= ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Restore replaces whatever the Tracker holds for k with the user's stored events (see the
// package doc for which ones), without emitting anything: afterwards the Tracker considers
// emitted exactly the sessions a recompute of events gives, as the store holds them. Events
// of other kinds or out of range are skipped; events with the same ID are kept once (the
// first in (TS, ID) order). An empty tail forgets k. Sessions of the tail that are already
// final are dropped at once.
func (t *Tracker) Restore(k Key, events []Event) { t.restore(k, nil, events) }

// RestoreFold is Restore from a Fold the Tracker emitted for k (Changes.Folds) and the user's
// stored events with TS ≥ f.Cut, instead of from the start of the session f folded: a session
// that has been open all day is restored from its totals and its last hours of events. Events
// before f.Cut are skipped. A Fold that the events do not continue (its session's next event
// is missing) cannot come from a store that keeps the order of Rows; it is ignored, and k is
// restored from the events alone.
func (t *Tracker) RestoreFold(k Key, f Fold, events []Event) { t.restore(k, &f, events) }

// restore implements Restore and RestoreFold and returns the IDs of every session the events
// make, final ones included: the sessions the store may show as live.
func (t *Tracker) restore(k Key, f *Fold, events []Event) []SessionID {
	u := t.users[k]
	var evs []ev
	if u != nil {
		t.events -= len(u.evs)
		u.dirtyFrom = clean // a pending dirty entry for u is skipped by Flush
		evs = u.evs[:0]
	}
	for _, e := range events {
		if e.Kind.Sessionized() && e.TS >= MinTS && e.TS <= MaxTS && (f == nil || e.TS >= f.Cut) {
			evs = append(evs, mkEv(e))
		}
	}
	if len(evs) == 0 {
		if u != nil {
			delete(t.users, k)
		}
		return nil
	}
	slices.SortFunc(evs, cmpEv)
	evs = dedupe(evs)
	var prefix *acc
	if f != nil {
		prefix = f.acc()
		if x := evs[0].ts(); !t.continues(prefix.last.ts(), prefix.firstTS, x) || x <= prefix.last.ts() {
			prefix = nil
		}
	}
	if u == nil {
		u = t.newUser(k)
	}
	u.evs = evs
	u.maxTS = evs[len(evs)-1].ts()
	u.sess = u.sess[:0]
	u.tail = nil
	u.prefix = prefix
	b := 0
	first := evs[0].ts()
	if prefix != nil {
		first = prefix.firstTS
	}
	for i := 1; i <= len(evs); i++ {
		if i == len(evs) || !t.continues(evs[i-1].ts(), first, evs[i].ts()) {
			u.sess = append(u.sess, u.spanOf(t, b, i))
			b = i
			if i < len(evs) {
				first = evs[i].ts()
			}
		}
	}
	ids := make([]SessionID, len(u.sess))
	for i := range u.sess {
		ids[i] = u.sess[i].id
	}
	u.rebuildIDs()
	t.events += len(evs)
	t.trim(u)
	return ids
}

// continues reports whether an event at ts stays in the session whose previous event is at
// prev and whose first event is at first: the gap is at most SessionTimeout and the session
// no longer than MaxSessionLength.
func (t *Tracker) continues(prev, first, ts int64) bool {
	return ts-prev <= t.timeout && ts-first <= t.maxLen
}

// spanOf returns the session made of evs[b:i] (with u.prefix ahead of it when b is 0), its
// ID included.
func (u *user) spanOf(t *Tracker, b, i int) span {
	s := span{firstTS: u.evs[b].ts(), firstID: u.evs[b].id, lastTS: u.evs[i-1].ts(), events: i - b}
	if b == 0 && u.prefix != nil {
		s.firstTS, s.firstID = u.prefix.firstTS, u.prefix.firstID
		s.events += u.prefix.events
	}
	s.id = t.sessionID(u.key, s)
	return s
}

// dedupe keeps the first of every set of events sharing an ID, in (TS, ID) order. evs is
// sorted; exact copies are adjacent, copies with different TS (rare) need a second look.
func dedupe(evs []ev) []ev {
	evs = slices.CompactFunc(evs, ev.same)
	ids := make([]uint64, len(evs))
	for i, e := range evs {
		ids[i] = e.id
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) == len(evs) {
		return evs
	}
	seen := make(map[uint64]struct{}, len(evs))
	return slices.DeleteFunc(evs, func(e ev) bool {
		if _, ok := seen[e.id]; ok {
			return true
		}
		seen[e.id] = struct{}{}
		return false
	})
}

// The ID fingerprint table: open addressing with linear probing over 32-bit fingerprints of
// the IDs, at most half full. A fingerprint match is confirmed against the events, so a
// false match costs a scan but never a wrong answer. It costs 8–16 bytes per event, and
// only users with more than smallUser events have one.

func mixID(id uint64) uint64 { // splitmix64's finaliser: IDs from tests are not random
	id ^= id >> 30
	id *= 0xbf58476d1ce4e5b9
	id ^= id >> 27
	id *= 0x94d049bb133111eb
	return id ^ id>>31
}

func fingerprint(h uint64) uint32 {
	if f := uint32(h >> 32); f != 0 {
		return f
	}
	return 1 // 0 marks an empty slot
}

func (u *user) hasID(id uint64) bool {
	if u.ids == nil {
		for _, e := range u.evs {
			if e.id == id {
				return true
			}
		}
		return false
	}
	h := mixID(id)
	f, mask := fingerprint(h), uint64(len(u.ids)-1)
	for i := h & mask; u.ids[i] != 0; i = (i + 1) & mask {
		if u.ids[i] == f {
			for _, e := range u.evs {
				if e.id == id {
					return true
				}
			}
		}
	}
	return false
}

// addID records id, which was just inserted into evs.
func (u *user) addID(id uint64) {
	switch {
	case u.ids == nil:
		if len(u.evs) > smallUser {
			u.rebuildIDs()
		}
	case 2*len(u.evs) > len(u.ids):
		u.rebuildIDs()
	default:
		u.insertID(id)
	}
}

func (u *user) insertID(id uint64) {
	h := mixID(id)
	mask := uint64(len(u.ids) - 1)
	i := h & mask
	for u.ids[i] != 0 {
		i = (i + 1) & mask
	}
	u.ids[i] = fingerprint(h)
}

func (u *user) rebuildIDs() {
	if len(u.evs) <= smallUser {
		u.ids = nil
		return
	}
	size := 64
	for size < 4*len(u.evs) { // room to double before the next rebuild
		size <<= 1
	}
	if cap(u.ids) >= size && cap(u.ids) <= 2*size {
		u.ids = u.ids[:size]
		clear(u.ids)
	} else {
		u.ids = make([]uint32, size)
	}
	for _, e := range u.evs {
		u.insertID(e.id)
	}
}

// trim drops the events and records of u's final sessions, which a clean u describes
// exactly in sess, folds the events of its first open session that precede FoldCut (when there
// are at least minFold of them), and returns how many events it dropped and whether it folded.
func (t *Tracker) trim(u *user) (dropped int, folded bool) {
	before := t.cfg.FinalBefore(u.maxTS)
	n, m := 0, 0
	for n < len(u.sess) && u.sess[n].lastTS < before {
		m += u.sess[n].events
		n++
	}
	if n > 0 {
		if u.prefix != nil {
			m -= u.prefix.events // the folded events are gone already
			u.prefix = nil
		}
		u.evs = dropFront(u.evs, m)
		u.sess = dropFront(u.sess, n)
	}
	// Every event left before the cut belongs to sess[0]: it is not final, so it ends at or
	// after FinalBefore, which is not before the cut.
	if cut := t.cfg.FoldCut(u.maxTS); len(u.sess) > 0 && len(u.evs) > t.minFold && u.evs[t.minFold-1].ts() < cut {
		j := u.afterTS(cut - 1)
		u.prefix = t.fold(u.prefix, u.sess[0], u.evs[:j])
		u.evs = dropFront(u.evs, j)
		m += j
		folded = true
	}
	if m > 0 {
		u.rebuildIDs()
		t.events -= m
	}
	return m, folded
}

// fold returns the totals of session s over the events prefix already counts (nil: none)
// and evs, the session's next events.
func (t *Tracker) fold(prefix *acc, s span, evs []ev) *acc {
	f := &acc{firstTS: s.firstTS, firstID: s.firstID}
	d0 := DayOf(s.firstTS)
	f.days = make([]Day, DayOf(evs[len(evs)-1].ts())-d0+1)
	for i := range f.days {
		f.days[i].Day = d0 + int32(i)
	}
	if prefix != nil {
		copy(f.days, prefix.days)
		f.events, f.activeMs, f.last = prefix.events, prefix.activeMs, prefix.last
	} else {
		f.days[0].Events = 1
		f.days[0].Active = !evs[0].hidden()
		f.events, f.last = 1, evs[0]
		evs = evs[1:]
	}
	f.activeMs += t.accumulate(f.days, d0, f.last, evs)
	f.events += len(evs)
	if len(evs) > 0 {
		f.last = evs[len(evs)-1]
	}
	return f
}

// dropFront removes s[:n] in place, reallocating when most of the capacity would be wasted
// (a user that had a long history and now has a short open session).
func dropFront[T any](s []T, n int) []T {
	rest := len(s) - n
	if cap(s) > 16 && 4*rest < cap(s) {
		return append(make([]T, 0, 2*rest), s[n:]...)
	}
	copy(s, s[n:])
	return s[:rest]
}

// Evict frees memory. It drops every user without unflushed changes whose newest event is
// older than clock − (2·SessionTimeout + Lateness), and the events of final sessions of the
// others, and returns how many users and events it dropped. clock is the caller's "now" in
// event time (unix ms), e.g. the newest TS of the partition, or the wall clock.
//
// Eviction never changes results, because it is undone exactly: Has turns false, and the
// caller Restores the user from the store before its next Add. The horizon only trades memory
// for reloads, and is chosen so that a reload is rare and small. A user is dropped once an
// event that is on time against clock (TS ≥ clock − Lateness) would land more than
// 2·SessionTimeout after the user's newest event: such an event can neither join nor precede
// any of the user's sessions (SessionTimeout + Lateness would already ensure that: every
// session is final against it), so it opens a new session, and the reload brings back only
// the user's last session, for the lateness check and in case an SDK flushes offline events.
// The second SessionTimeout keeps a user whose app paused for a little over a session timeout
// in memory, where it is most likely to come back.
//
// Final sessions inside a live user are dropped exactly as Flush does it (see FinalBefore).
// Users with unflushed changes are skipped: their emitted state is not yet what their events
// say, so neither dropping them nor trimming them would be safe.
func (t *Tracker) Evict(clock int64) (users, events int) {
	horizon := int64(math.MinInt64)
	if span := t.cfg.EvictHorizon(); clock > math.MinInt64+span {
		horizon = clock - span
	}
	for k, u := range t.users {
		if u.dirtyFrom != clean {
			continue
		}
		if u.maxTS < horizon {
			delete(t.users, k)
			t.events -= len(u.evs)
			users++
			events += len(u.evs)
			continue
		}
		n, _ := t.trim(u)
		events += n
	}
	// A Go map never gives back its table: after a wave of users leaves, rebuild it.
	if t.peak > 4096 && 4*len(t.users) < t.peak {
		m := make(map[Key]*user, len(t.users))
		for k, u := range t.users {
			m[k] = u
		}
		t.users, t.peak = m, len(m)
	}
	return users, events
}

// Stats describes the Tracker's memory.
type Stats struct {
	Users    int   // users in memory
	Events   int   // buffered events
	Sessions int   // sessions remembered as emitted
	Bytes    int64 // approximate heap held: users, map entries, buffers and key strings
}

// Stats walks every user: O(users), meant for a metrics scrape, not the hot path.
func (t *Tracker) Stats() Stats {
	const (
		userSize  = int64(unsafe.Sizeof(user{}))
		entrySize = 2 * int64(1+unsafe.Sizeof(Key{})+unsafe.Sizeof((*user)(nil))) // a slot and its control byte, in a table 7/16 to 7/8 full
		evSize    = int64(unsafe.Sizeof(ev{}))
		spanSize  = int64(unsafe.Sizeof(span{}))
	)
	s := Stats{Users: len(t.users), Events: t.events}
	for k, u := range t.users {
		s.Sessions += len(u.sess)
		s.Bytes += userSize + entrySize + int64(len(k.Account)+len(k.User)) +
			int64(cap(u.evs))*evSize + int64(cap(u.sess))*spanSize + int64(cap(u.ids))*4
		for _, c := range [...]*acc{u.tail, u.prefix} {
			if c != nil {
				s.Bytes += int64(unsafe.Sizeof(acc{})) + int64(cap(c.days))*int64(unsafe.Sizeof(Day{}))
			}
		}
	}
	return s
}
