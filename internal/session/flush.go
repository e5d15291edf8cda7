package session

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
	// the new events are all after them, by more than the timeout.
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
	// The common case: every new event comes after the last emitted one, so the last session
	// can only extend, and its old events hold no boundary and need no second look.
	scan, resume := start+1, 0
	if k == len(u.sess)-1 && from > u.sess[k].lastTS {
		resume = u.sess[k].events
		scan = start + resume
	}

	// Recompute the sessions of evs[start:], which begins at a session boundary.
	evs := u.evs
	spans, begins := t.spans[:0], t.begins[:0]
	b := start
	for i := scan; i <= len(evs); i++ {
		if i == len(evs) || evs[i].ts()-evs[i-1].ts() > t.timeout {
			spans = append(spans, span{firstTS: evs[b].ts(), firstID: evs[b].id, lastTS: evs[i-1].ts(), events: i - b})
			begins = append(begins, b)
			b = i
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
	t.trim(u)
	return days
}

func (t *Tracker) sessionID(k Key, s span) SessionID {
	return newSessionID(t.hashBuf, k, s.firstTS, s.firstID)
}

// emit appends the upsert of session s, whose events are u.evs[b:b+s.events], and returns
// days with the session's Days appended. When resume > 0, the first resume events are the
// session as last emitted, and u.tail may hold their totals. last says s is the user's last
// session, whose totals u.tail keeps when it is long.
func (t *Tracker) emit(u *user, s span, b, resume int, last bool, ch *Changes, days []Day) []Day {
	evs := u.evs[b : b+s.events]
	d0, d1 := DayOf(s.firstTS), DayOf(s.lastTS)
	off := len(days)
	for d := d0; d <= d1; d++ {
		days = append(days, Day{Day: d})
	}
	sd := days[off:len(days):len(days)]

	var active int64
	next := 1 // index of the first event still to add
	if c := u.tail; resume > 0 && c != nil && c.firstTS == s.firstTS && c.firstID == s.firstID && c.events == resume {
		copy(sd, c.days)
		active, next = c.activeMs, resume
	} else {
		sd[0].Events = 1
		sd[0].Active = !evs[0].hidden()
	}
	prev := evs[next-1]
	pd := DayOf(prev.ts())
	cur, dayEnd := int(pd-d0), (int64(pd)+1)*DayMs // index in sd and end of prev's day
	for _, x := range evs[next:] {
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

	switch {
	case !last:
	case s.events < longSession:
		u.tail = nil
	default:
		c := u.tail
		if c == nil {
			c = &tailState{}
			u.tail = c
		}
		c.firstTS, c.firstID, c.events, c.activeMs = s.firstTS, s.firstID, s.events, active
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
