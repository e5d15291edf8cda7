package demo

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// Stream is one pass over the simulation, from day 0, of the accounts of one shard. It holds
// each user's position and random state; generating the same days again needs a new Stream.
type Stream struct {
	g       *Generator
	day     int
	accts   []acctSim
	drafts  []draft // the current user-day's session events, in time order
	signals []draft // its business signals, sorted before merging
	arena   []byte  // properties of drafts and signals
	ev      Event
}

type acctSim struct {
	a     *Account
	seq   uint64
	last  int64
	next  int // next change to send
	users []userSim
}

type userSim struct {
	u        *User
	r        *rand.Rand
	seq      uint64
	last     int64 // timestamp of the user's last event, Unix ms
	started  bool  // has had a session
	survey   int   // next day an NPS survey is shown
	csatDay  int   // day the CSAT survey of the last ticket is answered; -1: none
	csatLoss float64
}

// draft is an event of the current user-day before its timestamp is made strictly
// increasing.
type draft struct {
	ts     int64
	name   string
	p0, p1 int32 // properties in arena; p0 == p1: none
}

// Stream returns a fresh pass over shard k of shards (0, 1 for every account).
func (g *Generator) Stream(k, shards int) *Stream {
	s := &Stream{g: g}
	for i := k; i < len(g.accounts); i += max(1, shards) {
		a := &g.accounts[i]
		as := acctSim{a: a, users: make([]userSim, len(a.Users))}
		for j := range a.Users {
			u := &a.Users[j]
			as.users[j] = userSim{u: u, r: newRand(g.cfg.Seed, domainUserDays, uint64(i), uint64(u.Index)), survey: u.surveyDay, csatDay: -1}
		}
		s.accts = append(s.accts, as)
	}
	s.ev.ns = g.ns
	return s
}

// Day returns the number of the next day Step generates.
func (s *Stream) Day() int { return s.day }

// MinNext is a lower bound of the timestamps of every event the next Steps generate: the
// earliest local midnight of the next day in any time zone.
func (s *Stream) MinNext() time.Time { return time.UnixMilli(s.minNext()).UTC() }

func (s *Stream) minNext() int64 {
	return s.g.startMs + int64(s.day)*dayMs - maxZoneOffset.Milliseconds()
}

// Step generates the next day and passes its events to fn, as Generate does.
func (s *Stream) Step(fn func(*Event) error) error {
	d := s.day
	s.day++
	date := s.g.startMs + int64(d)*dayMs
	for i := range s.accts {
		as := &s.accts[i]
		for as.next < len(as.a.Changes) && as.a.Changes[as.next].Day <= d {
			if err := s.emitChange(as, &as.a.Changes[as.next], fn); err != nil {
				return err
			}
			as.next++
		}
		for j := range as.users {
			us := &as.users[j]
			s.userDay(as.a, us, d, date)
			if err := s.emitDay(as.a, us, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// until steps until every event before t has been generated, passing those before t to fn.
func (s *Stream) until(t int64, fn func(*Event) error) error {
	keep := func(e *Event) error {
		if e.Timestamp.UnixMilli() < t {
			return fn(e)
		}
		return nil
	}
	for s.minNext() < t {
		if err := s.Step(keep); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) emitChange(as *acctSim, c *Change, fn func(*Event) error) error {
	ts := max(c.At.UnixMilli(), as.last+1)
	as.last = ts
	as.seq++
	b := append(s.arena[:0], `{"name":`...)
	b = appendJSONString(b, as.a.Name)
	b = appendJSONField(b, "plan", c.Traits.Plan)
	b = strconv.AppendInt(append(b, `,"seats":`...), int64(c.Traits.Seats), 10)
	b = strconv.AppendFloat(append(b, `,"mrr":`...), c.Traits.MRR, 'f', 2, 64)
	b = appendJSONField(b, "status", c.Traits.Status)
	b = appendJSONField(b, "reason", c.Reason)
	b = append(b, '}')
	s.arena = b
	ev := &s.ev
	ev.AccountID, ev.UserID, ev.Name = as.a.ID, "", event.NameAccount
	ev.Timestamp = time.UnixMilli(ts).UTC()
	ev.Properties = b
	ev.acct, ev.user, ev.seq = int32(as.a.Index), 0, as.seq
	return fn(ev)
}

// emitDay merges the user-day's session events and signals in time order and passes them to
// fn with strictly increasing timestamps.
func (s *Stream) emitDay(a *Account, us *userSim, fn func(*Event) error) error {
	sortDrafts(s.signals)
	ev := &s.ev
	ev.AccountID, ev.UserID = a.ID, us.u.ID
	ev.acct, ev.user = int32(a.Index), int32(us.u.Index)
	i, j := 0, 0
	for i < len(s.drafts) || j < len(s.signals) {
		var dr *draft
		if j < len(s.signals) && (i == len(s.drafts) || s.signals[j].ts < s.drafts[i].ts) {
			dr = &s.signals[j]
			j++
		} else {
			dr = &s.drafts[i]
			i++
		}
		ts := max(dr.ts, us.last+1)
		us.last = ts
		us.seq++
		ev.Name = dr.name
		ev.Timestamp = time.UnixMilli(ts).UTC()
		ev.Properties = nil
		if dr.p1 > dr.p0 {
			ev.Properties = s.arena[dr.p0:dr.p1:dr.p1]
		}
		ev.seq = us.seq
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// sortInt64 and sortDrafts are insertion sorts: they sort a handful of items.
func sortInt64(x []int64) {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && x[j] < x[j-1]; j-- {
			x[j], x[j-1] = x[j-1], x[j]
		}
	}
}

func sortDrafts(x []draft) {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && x[j].ts < x[j-1].ts; j-- {
			x[j], x[j-1] = x[j-1], x[j]
		}
	}
}
