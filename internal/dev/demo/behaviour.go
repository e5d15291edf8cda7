package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

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
