package demo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/engage-oss/engage/pkg/event"
)

// Config describes a simulation. Equal Configs simulate the same events.
type Config struct {
	// Seed selects the simulation; default 1.
	Seed uint64
	// Accounts is the number of customer accounts; default 50. Account i does not depend on
	// how many accounts there are.
	Accounts int
	// Start is the first simulated day, a UTC midnight (a later time of day is truncated);
	// default: Days−1 days before today, so that the simulated period ends today.
	Start time.Time
	// Days is the length of the scripted story (trials, upgrades, cancellations); default 30.
	// The simulation continues past it at a steady state.
	Days int
}

// DefaultConfig returns the configuration of `make demo`: 50 accounts over the 30 days that
// end today.
func DefaultConfig() Config { return Config{Seed: 1, Accounts: 50, Days: 30} }

// MaxAccounts bounds Config.Accounts: the population is held in memory (about 3 KB per user).
const MaxAccounts = 1_000_000

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Accounts < 1 || c.Accounts > MaxAccounts:
		return fmt.Errorf("accounts: must be 1..%d, got %d", MaxAccounts, c.Accounts)
	case c.Days < 1 || c.Days > 3660:
		return fmt.Errorf("days: must be 1..3660, got %d", c.Days)
	case !c.Start.IsZero() && c.Start.Year() < 2001:
		return fmt.Errorf("start: must be after 2001-01-01, got %s", c.Start.Format(time.DateOnly))
	}
	return nil
}

// Generator holds a simulated population and produces its events. It is immutable after New
// and safe for concurrent use; each Stream it returns is not.
type Generator struct {
	cfg      Config
	accounts []Account
	ns       string
	startMs  int64
}

// New builds the population of cfg. A zero Start is replaced by today's default.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -(cfg.Days - 1))
	}
	cfg.Start = cfg.Start.UTC().Truncate(24 * time.Hour)
	g := &Generator{cfg: cfg, startMs: cfg.Start.UnixMilli(), accounts: make([]Account, cfg.Accounts)}
	h := hashOf(cfg.Seed, domainNamespace, uint64(g.startMs/dayMs), uint64(cfg.Days))
	g.ns = strconv.FormatUint(h|1<<63, 36)[:7]
	for i := range g.accounts {
		g.accounts[i] = buildAccount(&g.cfg, i)
	}
	return g, nil
}

// Config returns the configuration with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Accounts returns the population. The caller must not modify it.
func (g *Generator) Accounts() []Account { return g.accounts }

// Namespace returns the prefix of every event id of this simulation.
func (g *Generator) Namespace() string { return g.ns }

// Users returns the number of users in the population.
func (g *Generator) Users() int {
	n := 0
	for i := range g.accounts {
		n += len(g.accounts[i].Users)
	}
	return n
}

// Generate passes every event with a timestamp before until to fn, day by day: on each day
// the $account changes of an account, then each of its users' events of that day. Each
// user's events come in time order. The *Event is reused after fn returns. A non-nil error
// from fn stops the generation and is returned.
func (g *Generator) Generate(until time.Time, fn func(*Event) error) error {
	return g.Stream(0, 1).until(until.UnixMilli(), fn)
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

// Events is Generate as an iterator: for e := range g.Events(until) { … }. The *Event is
// reused at each step.
func (g *Generator) Events(until time.Time) iter.Seq[*Event] {
	return func(yield func(*Event) bool) {
		_ = g.Generate(until, func(e *Event) error {
			if !yield(e) {
				return errStop
			}
			return nil
		})
	}
}

// GenerateParallel is Generate split over shards goroutines, each simulating every shards-th
// account. fn is called concurrently, with the shard's number; each user's events still come
// in time order, from one shard. It returns the first error of fn, or ctx's.
func (g *Generator) GenerateParallel(ctx context.Context, until time.Time, shards int, fn func(shard int, e *Event) error) error {
	shards = max(1, min(shards, len(g.accounts)))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for k := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := g.Stream(k, shards)
			var n int
			err := s.until(until.UnixMilli(), func(e *Event) error {
				if n++; n&0xfff == 0 && ctx.Err() != nil {
					return context.Cause(ctx)
				}
				return fn(k, e)
			})
			if err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

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

// Usage patterns: the chance to use the product on a working day and on a weekend day, the
// most sessions on an active day and how long a stretch of focused work lasts.
var usages = [...]struct {
	weekday, weekend float64
	sessions         []float64 // weights of 1, 2, 3… sessions
	segMin, segMax   time.Duration
	segs             int // most focus stretches per session
}{
	UsageDaily:  {0.88, 0.08, []float64{0.35, 0.4, 0.2, 0.05}, 4 * time.Minute, 25 * time.Minute, 4},
	UsageWeekly: {0.3, 0.03, []float64{0.7, 0.3}, 3 * time.Minute, 15 * time.Minute, 3},
	UsageRare:   {0.06, 0.01, []float64{1}, 2 * time.Minute, 8 * time.Minute, 2},
}

const hourMs = int64(time.Hour / time.Millisecond)

// userDay drafts one user's events of the user's local day d (date is day d's UTC midnight).
func (s *Stream) userDay(a *Account, us *userSim, d int, date int64) {
	s.drafts, s.signals, s.arena = s.drafts[:0], s.signals[:0], s.arena[:0]
	u, r := us.u, us.r
	if d == 0 && !u.SignupAt.IsZero() {
		s.signup(u, u.SignupAt.UnixMilli(), "email")
	}
	if d < u.FirstDay || (u.LastDay >= 0 && d > u.LastDay) {
		return
	}
	traits, ok := a.TraitsOn(d)
	if !ok || traits.Status == event.StatusCanceled && d != a.CancelDay {
		return
	}
	p := a.params
	pat := &usages[u.Usage]
	localMid := date - u.zoneOffset
	wd := (date/dayMs + 4) % 7 // 1970-01-01 was a Thursday
	weekend := wd == 0 || wd == 6
	prob := pat.weekday
	if weekend {
		prob = pat.weekend
	}
	prob *= a.activity(d)
	if traits.Status == event.StatusPastDue {
		prob *= 0.85
	}
	joining := d == u.FirstDay && !us.started && (u.FirstDay > 0 || a.Profile == ProfileTrial)
	active := r.Float64() < prob || joining

	if active {
		n := 1 + weighted(r, pat.sessions)
		var starts [4]int64
		for i := range n {
			starts[i] = localMid + sessionHour(r)
		}
		if joining && u.firstAt > 0 {
			starts[0] = u.firstAt
		}
		sortInt64(starts[:n])
		cursor := us.last
		for i := range n {
			st := starts[i]
			if cursor > 0 && st < cursor+10*60_000 {
				st = cursor + msBetween(r, 10*time.Minute, 40*time.Minute)
			}
			if st > localMid+27*hourMs {
				break // the day is over; do not run into tomorrow's sessions
			}
			if joining && i == 0 {
				method := "invite"
				if u.Index == 1 {
					method = "email"
				}
				s.signup(u, st-msBetween(r, 3*time.Second, 90*time.Second), method)
			}
			cursor = s.session(us, p, st)
		}
		us.started = true
	}
	s.signalsOfDay(a, us, d, date, localMid, weekend, active, traits)
}

// sessionHour draws when a session starts, in ms after local midnight: mostly around
// mid-morning and mid-afternoon, sometimes early or late, now and then in the evening.
func sessionHour(r *rand.Rand) int64 {
	var h float64
	switch x := r.Float64(); {
	case x < 0.45:
		h = 10 + 1.2*r.NormFloat64()
	case x < 0.85:
		h = 14.5 + 1.3*r.NormFloat64()
	case x < 0.95:
		h = between(r, 7, 19)
	default:
		h = between(r, 19.5, 23.9)
	}
	h = min(23.9, max(6.5, h))
	return int64(h * float64(hourMs))
}

// session drafts one session starting at t and returns the time of its last event. A session
// is one to a few stretches of focused work, with a $heartbeat every 30–60 s and product
// events in between; stretches are separated by the app going to the background ($hidden)
// or by the user going idle for more than five minutes, and most sessions end with $hidden.
func (s *Stream) session(us *userSim, p *profileParams, t int64) int64 {
	r, u := us.r, us.u
	pat := &usages[u.Usage]
	f := 0 // landing on the dashboard
	if r.IntN(10) >= 6 {
		f = u.pickFeature(r)
	}
	s.product(r, t, f)
	gap := float64(p.featureGap.Milliseconds())
	segs := 1 + r.IntN(pat.segs)
	for i := range segs {
		end := t + msBetween(r, pat.segMin, pat.segMax)
		hb := t + msBetween(r, 30*time.Second, 60*time.Second)
		ft := t + 1000 + int64(r.ExpFloat64()*gap)
		for {
			if hb <= ft {
				if hb > end {
					break
				}
				t = hb
				s.drafts = append(s.drafts, draft{ts: t, name: event.NameHeartbeat})
				hb = t + msBetween(r, 30*time.Second, 60*time.Second)
			} else {
				if ft > end {
					break
				}
				t = ft
				s.product(r, t, u.pickFeature(r))
				ft = t + 1000 + int64(r.ExpFloat64()*gap)
			}
		}
		x := r.Float64()
		switch {
		case i < segs-1 && x < 0.6: // to the background for a while, then back
			t += msBetween(r, time.Second, 8*time.Second)
			s.drafts = append(s.drafts, draft{ts: t, name: event.NameHidden})
			t += msBetween(r, time.Minute, 20*time.Minute)
			s.product(r, t, u.pickFeature(r))
		case i < segs-1: // idle in front of the app: more than the 5-minute idle threshold
			t += msBetween(r, 5*time.Minute+30*time.Second, 15*time.Minute)
			s.product(r, t, u.pickFeature(r))
		case x < 0.85: // most sessions end with the app going to the background
			t += msBetween(r, time.Second, 8*time.Second)
			s.drafts = append(s.drafts, draft{ts: t, name: event.NameHidden})
		}
	}
	return t
}

func (s *Stream) product(r *rand.Rand, t int64, f int) {
	ft := &Features[f]
	p0 := len(s.arena)
	b := append(s.arena, `{"area":`...)
	b = appendJSONString(b, ft.Area)
	if ft.Core {
		b = append(b, `,"core":true`...)
	}
	if ft.props != nil {
		b = ft.props(r, b)
	}
	s.arena = append(b, '}')
	s.drafts = append(s.drafts, draft{ts: t, name: ft.Name, p0: int32(p0), p1: int32(len(s.arena))})
}

// signal drafts a business signal with properties built by the caller in arena from p0.
func (s *Stream) signal(t int64, name string, p0 int) {
	s.signals = append(s.signals, draft{ts: t, name: name, p0: int32(p0), p1: int32(len(s.arena))})
}

func (s *Stream) signup(u *User, t int64, method string) {
	p0 := len(s.arena)
	b := append(s.arena, `{"role":`...)
	b = appendJSONString(b, u.Role)
	b = appendJSONField(b, "method", method)
	s.arena = append(b, '}')
	s.signal(t, event.NameSignup, p0)
}

// inSession returns a time during one of the day's sessions, or in office hours when the
// user had none.
func (s *Stream) inSession(r *rand.Rand, localMid int64) int64 {
	if len(s.drafts) > 0 {
		return s.drafts[r.IntN(len(s.drafts))].ts + msBetween(r, 2*time.Second, 30*time.Second)
	}
	return localMid + 9*hourMs + r.Int64N(8*hourMs)
}

var (
	severities       = []string{"low", "normal", "high", "urgent"}
	severityWeights  = []float64{35, 40, 18, 7}
	severityAtRisk   = []float64{20, 35, 30, 15}
	ticketTopics     = []string{"bug", "how-to", "how-to", "integration", "performance", "feature-request"}
	referralChannels = []string{"invite_link", "invite_link", "email", "review_site"}
	severityCSATLoss = map[string]float64{"low": 0, "normal": 0.2, "high": 0.6, "urgent": 1.0}
)

// signalsOfDay drafts the user's business signals of day d: support tickets and the CSAT
// survey that follows them, NPS answers, referrals, and, for the owner, contract renewals.
func (s *Stream) signalsOfDay(a *Account, us *userSim, d int, date, localMid int64, weekend, active bool, traits Traits) {
	r, u, p := us.r, us.u, a.params

	if u.Index == 1 && (d == a.CancelDay || traits.Status == event.StatusActive && a.renewsOn(date)) {
		renewed := d != a.CancelDay
		p0 := len(s.arena)
		b := strconv.AppendBool(append(s.arena, `{"renewed":`...), renewed)
		b = appendJSONField(b, "term", a.Term)
		b = appendJSONField(b, "plan", traits.Plan)
		b = strconv.AppendFloat(append(b, `,"mrr":`...), traits.MRR, 'f', 2, 64)
		s.arena = append(b, '}')
		s.signal(localMid+7*hourMs+r.Int64N(hourMs), event.NameRenewal, p0)
	}

	rate := p.ticketRate
	if weekend {
		rate *= 0.2
	}
	billing := u.Index == 1 && traits.Status == event.StatusPastDue
	if billing {
		rate += 0.1
	}
	if r.Float64() < rate {
		w := severityWeights
		if a.Profile == ProfileAtRisk {
			w = severityAtRisk
		}
		sev := severities[weighted(r, w)]
		topic := pick(r, ticketTopics)
		if billing {
			topic = "billing"
		}
		p0 := len(s.arena)
		b := append(s.arena, `{"severity":`...)
		b = appendJSONString(b, sev)
		b = appendJSONField(b, "topic", topic)
		s.arena = append(b, '}')
		s.signal(s.inSession(r, localMid), event.NameTicket, p0)
		if r.IntN(10) < 6 {
			us.csatDay, us.csatLoss = d+1+r.IntN(3), severityCSATLoss[sev]
		}
	}

	if d == us.csatDay {
		score := int(math.Round(p.csat - us.csatLoss + 0.9*r.NormFloat64()))
		p0 := len(s.arena)
		b := strconv.AppendInt(append(s.arena, `{"score":`...), int64(min(5, max(1, score))), 10)
		b = appendJSONField(b, "survey", "ticket")
		s.arena = append(b, '}')
		s.signal(localMid+9*hourMs+r.Int64N(9*hourMs), event.NameCSAT, p0)
		us.csatDay = -1
	}

	if !active {
		return
	}
	if d >= us.survey {
		var score int
		switch weighted(r, p.nps[:]) {
		case 0:
			score = 9 + r.IntN(2)
		case 1:
			score = 7 + r.IntN(2)
		default:
			score = max(0, 6-int(math.Abs(2*r.NormFloat64())))
		}
		p0 := len(s.arena)
		b := strconv.AppendInt(append(s.arena, `{"score":`...), int64(score), 10)
		b = appendJSONField(b, "survey", "in-app")
		s.arena = append(b, '}')
		s.signal(s.inSession(r, localMid), event.NameNPS, p0)
		us.survey = d + 90 // quarterly
	}
	if p.referralRate > 0 && r.Float64() < p.referralRate {
		p0 := len(s.arena)
		b := append(s.arena, `{"channel":`...)
		b = appendJSONString(b, pick(r, referralChannels))
		s.arena = append(b, '}')
		s.signal(s.inSession(r, localMid), event.NameReferral, p0)
	}
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
