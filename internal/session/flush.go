package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/engage-oss/engage/internal/event"
)

// Session is one session row, whole: the caller replaces the stored row with it.
type Session struct {
	Key Key
	ID  SessionID
	// Start and End are the TS of the first and last event (unix ms).
	Start, End int64
	// ActiveMs is the active time; it equals the sum of Days[i].ActiveMs.
	ActiveMs int64
	// Events counts the session's sessionized events ($hidden included).
	Events int
	// Days has one entry per UTC day from DayOf(Start) to DayOf(End), in order.
	Days []Day
}

// Day is a session's share of one UTC day.
type Day struct {
	Day      int32 // days since 1970-01-01, UTC
	ActiveMs int64 // active time that fell on this day, split exactly at midnight
	Events   int   // the session's events with TS on this day
	Active   bool  // a product event or $heartbeat of the session is on this day
}

// Retraction says that a session row no longer exists: its first event is no longer first,
// because an earlier event joined it or it merged into an earlier session. The caller deletes
// the session row and its day rows, DayRange. Start and End are the retracted row's, so that a
// table keyed by them can address it.
type Retraction struct {
	Key        Key
	ID         SessionID
	Start, End int64
}

// DayRange returns the first and last day of the retracted session's day rows.
func (r Retraction) DayRange() (first, last int32) { return DayOf(r.Start), DayOf(r.End) }

// Changes is what one Flush asks the caller to write.
type Changes struct {
	// Version is greater than the Version of every earlier Flush of this Tracker, and at
	// least the now passed to Flush: the ReplacingMergeTree version of every row written.
	Version int64
	// Upserts are the sessions that are new or changed since the last Flush.
	Upserts []Session
	// Retractions are the sessions that no longer exist. An ID appears in at most one of
	// Upserts and Retractions, and a retracted ID never appears again.
	Retractions []Retraction
	// Folds are the open sessions whose oldest events the Tracker dropped from memory, keeping
	// their totals (see Fold). The caller stores them after the flush's sessionized events, so
	// that a restore can start from them.
	Folds []Fold
}

// Fold is the head of a long open session, folded: the totals of the session's events with
// TS < Cut. The Tracker keeps this instead of those events once no accepted event can land
// among them (Config.FoldCut), and emits it so that a restore (Tracker.RestoreFold) needs
// only the totals and the events from Cut on, not the session's whole history. A Fold stays
// valid as long as its session lives: the events it sums can no longer change.
type Fold struct {
	Key Key
	// Start and FirstID are the session's first event, which names it.
	Start   int64
	FirstID uint64
	// Cut: the Fold sums the session's events with TS < Cut; the session has events after.
	Cut int64
	// Events and ActiveMs are the session's counts over the folded events.
	Events   int
	ActiveMs int64
	// LastTS and LastHidden describe the last folded event, which the next one's gap starts
	// from.
	LastTS     int64
	LastHidden bool
	// Days has one entry per UTC day from DayOf(Start) to DayOf(LastTS).
	Days []Day
}

// SessionID is the ID of the session the Fold belongs to.
func (f Fold) SessionID() SessionID { return NewSessionID(f.Key, f.Start, f.FirstID) }

// foldFormat versions the encoding of AppendBinary.
const foldFormat = 1

// AppendBinary appends the Fold's totals (not its Key, which the store keeps in columns) to
// b in a compact binary form that DecodeFold reads back.
func (f Fold) AppendBinary(b []byte) []byte {
	b = append(b, foldFormat)
	b = binary.AppendVarint(b, f.Start)
	b = binary.AppendUvarint(b, f.FirstID)
	b = binary.AppendVarint(b, f.Cut)
	b = binary.AppendUvarint(b, uint64(f.Events))
	b = binary.AppendVarint(b, f.ActiveMs)
	b = binary.AppendVarint(b, f.LastTS)
	hidden := byte(0)
	if f.LastHidden {
		hidden = 1
	}
	b = append(b, hidden)
	b = binary.AppendUvarint(b, uint64(len(f.Days)))
	for _, d := range f.Days {
		b = binary.AppendVarint(b, int64(d.Day))
		b = binary.AppendVarint(b, d.ActiveMs)
		b = binary.AppendUvarint(b, uint64(d.Events))
		active := byte(0)
		if d.Active {
			active = 1
		}
		b = append(b, active)
	}
	return b
}

// ErrFold is wrapped by the errors of DecodeFold.
var ErrFold = errors.New("malformed fold")

// DecodeFold reads a Fold of k written by AppendBinary. It checks the encoding and the
// Fold's consistency (days, counts), so that a corrupt row fails the restore loudly instead
// of skewing a session.
func DecodeFold(k Key, b []byte) (Fold, error) {
	f := Fold{Key: k}
	if len(b) == 0 || b[0] != foldFormat {
		return f, fmt.Errorf("%w: unknown format", ErrFold)
	}
	r := foldReader{b: b[1:]}
	f.Start = r.varint()
	f.FirstID = r.uvarint()
	f.Cut = r.varint()
	f.Events = int(r.uvarint())
	f.ActiveMs = r.varint()
	f.LastTS = r.varint()
	f.LastHidden = r.byte() == 1
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = io.ErrUnexpectedEOF
	}
	if r.err == nil {
		f.Days = make([]Day, n)
		for i := range f.Days {
			d := &f.Days[i]
			d.Day = int32(r.varint())
			d.ActiveMs = r.varint()
			d.Events = int(r.uvarint())
			d.Active = r.byte() == 1
		}
	}
	if r.err != nil {
		return f, fmt.Errorf("%w: %w", ErrFold, r.err)
	}
	if len(r.b) > 0 {
		return f, fmt.Errorf("%w: %d trailing bytes", ErrFold, len(r.b))
	}
	var active int64
	var events int
	for i, d := range f.Days {
		if d.Day != DayOf(f.Start)+int32(i) {
			return f, fmt.Errorf("%w: day %d out of place", ErrFold, d.Day)
		}
		active += d.ActiveMs
		events += d.Events
	}
	if len(f.Days) == 0 || f.Days[len(f.Days)-1].Day != DayOf(f.LastTS) || active != f.ActiveMs || events != f.Events ||
		f.Start > f.LastTS || f.LastTS >= f.Cut || f.Start < MinTS || f.Cut > MaxTS {
		return f, fmt.Errorf("%w: inconsistent totals", ErrFold)
	}
	return f, nil
}

type foldReader struct {
	b   []byte
	err error
}

func (r *foldReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *foldReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *foldReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (c *acc) fold(k Key, cut int64) Fold {
	return Fold{Key: k, Start: c.firstTS, FirstID: c.firstID, Cut: cut, Events: c.events, ActiveMs: c.activeMs,
		LastTS: c.last.ts(), LastHidden: c.last.hidden(), Days: slices.Clone(c.days)}
}

func (f Fold) acc() *acc {
	kind := event.KindProduct
	if f.LastHidden {
		kind = event.KindHidden
	}
	return &acc{firstTS: f.Start, firstID: f.FirstID, events: f.Events, activeMs: f.ActiveMs,
		last: mkEv(Event{TS: f.LastTS, Kind: kind}), days: slices.Clone(f.Days)}
}

// Flush returns the changes of every user that accepted an event since the last Flush and
// marks them written. now is the wall clock in unix ms; it only feeds Changes.Version.
//
// A user is recomputed from the first session a new event could touch, never from the start
// of its history. When every new event comes after the user's last flushed one (the normal
// case), a long last session resumes from its kept totals, so the cost is the new events plus
// the session's days; otherwise it is the length of the touched sessions. Sessions that
// became final are dropped from memory afterwards.
//
// The result shares no memory with the Tracker and stays valid after the next Flush.
func (t *Tracker) Flush(now int64) Changes {
	v := max(now, t.version+1)
	t.version = v
	ch := Changes{Version: v}
	if len(t.dirty) == 0 {
		return ch
	}
	ch.Upserts = make([]Session, 0, len(t.dirty))
	// One backing array for every Days of this flush. When append moves it, the Days already
	// handed out keep pointing at the old array, which is complete for them.
	days := make([]Day, 0, len(t.dirty)+len(t.dirty)/4)
	for _, u := range t.dirty {
		if u.dirtyFrom != clean {
			days = t.flushUser(u, &ch, days)
		}
	}
	clear(t.dirty)
	t.dirty = t.dirty[:0]
	return ch
}

func (t *Tracker) flushUser(u *user, ch *Changes, days []Day) []Day {
	from := u.dirtyFrom
	u.dirtyFrom = clean

	// Sessions that ended more than a timeout before the earliest new event are untouched:
	// the new events are all after them, by more than the timeout, and their boundaries
	// (gaps, and MaxSessionLength counted from a first event before them) do not depend on
	// later events.
	k, hi := 0, len(u.sess)
	for k < hi {
		m := int(uint(k+hi) >> 1)
		if u.sess[m].lastTS < from-t.timeout {
			k = m + 1
		} else {
			hi = m
		}
	}
	start := 0
	if k > 0 {
		start = u.afterTS(u.sess[k-1].lastTS)
	}
	// pre: events of the first recomputed session that are folded, not in evs.
	pre := 0
	first := u.evs[start].ts()
	if start == 0 && u.prefix != nil {
		pre, first = u.prefix.events, u.prefix.firstTS
	}
	// The common case: every new event comes after the last emitted one, so the last session
	// can only extend, and its old events hold no boundary and need no second look.
	scan, resume := start+1, 0
	if k == len(u.sess)-1 && from > u.sess[k].lastTS {
		resume = u.sess[k].events
		scan = start + resume - pre
	}

	// Recompute the sessions of evs[start:], which begins at a session boundary or, with a
	// prefix, continues it.
	evs := u.evs
	spans, begins := t.spans[:0], t.begins[:0]
	b := start
	for i := scan; i <= len(evs); i++ {
		if i == len(evs) || !t.continues(evs[i-1].ts(), first, evs[i].ts()) {
			s := span{firstTS: evs[b].ts(), firstID: evs[b].id, lastTS: evs[i-1].ts(), events: i - b}
			if b == 0 && pre > 0 {
				s.firstTS, s.firstID = u.prefix.firstTS, u.prefix.firstID
				s.events += pre
			}
			spans = append(spans, s)
			begins = append(begins, b)
			b = i
			if i < len(evs) {
				first = evs[i].ts()
			}
		}
	}

	// Both lists are ordered by first event: walk them together.
	old := u.sess[k:]
	i, j := 0, 0
	for i < len(spans) || j < len(old) {
		switch {
		case j == len(old) || i < len(spans) && spans[i].before(old[j]):
			spans[i].id = t.sessionID(u.key, spans[i])
			days = t.emit(u, spans[i], begins[i], 0, i == len(spans)-1, ch, days)
			i++
		case i == len(spans) || old[j].before(spans[i]):
			o := old[j]
			ch.Retractions = append(ch.Retractions, Retraction{Key: u.key, ID: o.id, Start: o.firstTS, End: o.lastTS})
			j++
		default: // same first event, same ID: changed iff it gained events
			spans[i].id = old[j].id
			if spans[i].events != old[j].events || spans[i].lastTS != old[j].lastTS {
				r := 0
				if i == 0 {
					r = resume
				}
				days = t.emit(u, spans[i], begins[i], r, i == len(spans)-1, ch, days)
			}
			i++
			j++
		}
	}
	u.sess = append(u.sess[:k], spans...)
	t.spans, t.begins = spans[:0], begins[:0]
	if _, folded := t.trim(u); folded {
		ch.Folds = append(ch.Folds, u.prefix.fold(u.key, u.evs[0].ts()))
	}
	return days
}

func (t *Tracker) sessionID(k Key, s span) SessionID {
	return newSessionID(t.hashBuf, k, s.firstTS, s.firstID)
}

// emit appends the upsert of session s, whose events in memory start at u.evs[b] (after
// u.prefix's when b is 0), and returns days with the session's Days appended. When resume > 0,
// the first resume events are the session as last emitted, and u.tail may hold their totals.
// last says s is the user's last session, whose totals u.tail keeps when it is long.
func (t *Tracker) emit(u *user, s span, b, resume int, last bool, ch *Changes, days []Day) []Day {
	pre := 0
	if b == 0 && u.prefix != nil {
		pre = u.prefix.events
	}
	end := b + s.events - pre // u.evs[b:end] are the session's events in memory
	d0, d1 := DayOf(s.firstTS), DayOf(s.lastTS)
	off := len(days)
	for d := d0; d <= d1; d++ {
		days = append(days, Day{Day: d})
	}
	sd := days[off:len(days):len(days)]

	// Start from the totals of the longest known head of the session.
	var base *acc
	next := b // index of the first event still to add
	switch c := u.tail; {
	case resume > 0 && c != nil && c.firstTS == s.firstTS && c.firstID == s.firstID && c.events == resume:
		base, next = c, b+resume-pre
	case pre > 0:
		base = u.prefix
	}
	var active int64
	var prev ev
	if base != nil {
		copy(sd, base.days)
		active, prev = base.activeMs, base.last
	} else {
		sd[0].Events = 1
		sd[0].Active = !u.evs[b].hidden()
		prev, next = u.evs[b], b+1
	}
	active += t.accumulate(sd, d0, prev, u.evs[next:end])

	switch {
	case !last:
	case s.events < longSession:
		u.tail = nil
	default:
		c := u.tail
		if c == nil {
			c = &acc{}
			u.tail = c
		}
		c.firstTS, c.firstID, c.events, c.activeMs, c.last = s.firstTS, s.firstID, s.events, active, u.evs[end-1]
		c.days = append(c.days[:0], sd...)
	}
	ch.Upserts = append(ch.Upserts, Session{
		Key:      u.key,
		ID:       s.id,
		Start:    s.firstTS,
		End:      s.lastTS,
		ActiveMs: active,
		Events:   s.events,
		Days:     sd,
	})
	return days
}

// accumulate adds evs, the events of a session that follow prev, to sd, the session's days
// from day d0 (events, Active, and the active time of each gap split at midnight), and
// returns the active time they add.
func (t *Tracker) accumulate(sd []Day, d0 int32, prev ev, evs []ev) (active int64) {
	pd := DayOf(prev.ts())
	cur, dayEnd := int(pd-d0), (int64(pd)+1)*DayMs // index in sd and end of prev's day
	for _, x := range evs {
		ts, pts := x.ts(), prev.ts()
		if g := ts - pts; g > 0 && g <= t.idle && !prev.hidden() {
			active += g
			a, di, end := pts, cur, dayEnd
			for ts > end { // split at each midnight the gap crosses
				sd[di].ActiveMs += end - a
				a, di, end = end, di+1, end+DayMs
			}
			sd[di].ActiveMs += ts - a
		}
		for ts >= dayEnd {
			cur++
			dayEnd += DayMs
		}
		sd[cur].Events++
		if !x.hidden() {
			sd[cur].Active = true
		}
		prev = x
	}
	return active
}
