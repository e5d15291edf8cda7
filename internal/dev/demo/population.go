package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// Profile is the health an account is simulated to have. It is what the simulation aims at,
// not a verdict: the scorer computes the band from the events.
type Profile string

// The profiles, from the healthiest.
const (
	// ProfilePower accounts have more active users than seats: the power band.
	ProfilePower Profile = "power"
	// ProfileHealthy accounts use most of their seats often and broadly: green.
	ProfileHealthy Profile = "healthy"
	// ProfileAverage accounts use half their seats, weekly rather than daily: yellow.
	ProfileAverage Profile = "average"
	// ProfileAtRisk accounts barely use the product, open many tickets and answer NPS as
	// detractors; many also stop paying: red.
	ProfileAtRisk Profile = "at-risk"
	// ProfileTrial accounts start a trial during the simulation.
	ProfileTrial Profile = "trial"
)

// Story is what happens to an account's contract during the simulation.
type Story string

// The stories.
const (
	StorySteady        Story = "steady"         // nothing changes
	StoryExpansion     Story = "expansion"      // buys more seats (and a bigger plan), new users join
	StoryContraction   Story = "contraction"    // users leave, fewer seats (and a smaller plan)
	StoryDunning       Story = "dunning"        // a payment fails: past_due for a week, then active again
	StoryPastDue       Story = "past-due"       // a payment fails and stays unpaid
	StoryChurn         Story = "churn"          // does not renew: canceled mid-way, users stop
	StoryTrialConverts Story = "trial-converts" // a trial that becomes a paying customer
	StoryTrialExpires  Story = "trial-expires"  // a trial that ends canceled
	StoryTrialOngoing  Story = "trial-ongoing"  // a trial still running at the end
)

// Usage is how often a user comes to the product.
type Usage uint8

// The usage patterns.
const (
	UsageDaily  Usage = iota // most working days
	UsageWeekly              // a day or two a week
	UsageRare                // a few times a month
)

func (u Usage) String() string {
	switch u {
	case UsageDaily:
		return "daily"
	case UsageWeekly:
		return "weekly"
	}
	return "rare"
}

// Traits are an account's commercial terms, sent as a $account event whenever they change.
type Traits struct {
	Plan   string
	Seats  int
	MRR    float64
	Status string // event.StatusActive, StatusTrialing, StatusPastDue or StatusCanceled
}

// Change is a scripted change of an account's traits.
type Change struct {
	// Day is the simulated day whose events include the change (0 for traits that predate
	// the simulation).
	Day    int
	At     time.Time
	Reason string // initial, trial-started, trial-converted, trial-expired, upgrade, downgrade, payment-failed, payment-recovered, canceled
	Traits Traits
}

// Account is one simulated customer account.
type Account struct {
	Index   int
	ID      string // e.g. acme-co-1
	Name    string // e.g. Acme Co
	Profile Profile
	Story   Story
	Zone    string // the time zone most of its users work in
	// Since is when the account was created: before the simulation for existing customers,
	// during it for trials.
	Since time.Time
	// Term is the contract term, "monthly" or "annual"; a $renewal is sent on each
	// anniversary while the account is active.
	Term string
	// Changes are its traits over time, the initial ones first.
	Changes []Change
	// CancelDay is the day the account does not renew (a $renewal with renewed false); -1
	// when it never happens.
	CancelDay int
	Users     []User

	params      *profileParams
	zoneOffset  int64 // ms
	joinersFrom int   // users from this index join after an upgrade; 0: none
	leaversFrom int   // users from this index leave before a downgrade; 0: none
	billedSince time.Time
	storyDays   int
}

// User is one simulated user of an account.
type User struct {
	Index int    // from 1; user 1 is the account's owner
	ID    string // u-<account>-<n>
	Role  string // owner, admin or member
	Usage Usage
	Zone  string
	// FirstDay is the first simulated day the user can be active; LastDay the last (-1: no
	// end). A user with FirstDay > 0, or of a trial, joins during the simulation and sends
	// $signup right before the first session.
	FirstDay, LastDay int
	// SignupAt is when a user who joined before the simulation signed up; their $signup is
	// sent with this timestamp. Zero for users who join during the simulation.
	SignupAt time.Time

	zoneOffset int64 // ms
	firstAt    int64 // ms; when set, the first session starts here (a trial's owner)
	surveyDay  int   // first day an NPS survey is shown
	features   []uint8
	cum        []float32 // cumulative feature weights, for picking a feature
}

// profileParams drive one profile's behaviour.
type profileParams struct {
	usersPerSeat [2]float64
	usage        [3]float64 // daily, weekly, rare mix
	breadth      [2]int     // number of features a user adopts
	featureGap   time.Duration
	nps          [3]float64 // promoter, passive, detractor mix
	csat         float64    // mean CSAT answer
	ticketRate   float64    // tickets per user per working day
	referralRate float64    // referrals per active user-day
	trend        [2]float64 // activity multiplier at the start and the end of the story
	plans        []string
	planWeights  []float64
}

var profiles = map[Profile]*profileParams{
	ProfilePower: {
		usersPerSeat: [2]float64{1.15, 1.5}, usage: [3]float64{0.85, 0.15, 0}, breadth: [2]int{14, 23},
		featureGap: 50 * time.Second, nps: [3]float64{0.7, 0.25, 0.05}, csat: 4.6, ticketRate: 0.002,
		referralRate: 0.004, trend: [2]float64{1, 1.1},
		plans: []string{PlanStarter, PlanPro, PlanEnterprise}, planWeights: []float64{0.35, 0.6, 0.05},
	},
	ProfileHealthy: {
		usersPerSeat: [2]float64{0.7, 0.95}, usage: [3]float64{0.6, 0.3, 0.1}, breadth: [2]int{9, 18},
		featureGap: 65 * time.Second, nps: [3]float64{0.55, 0.35, 0.1}, csat: 4.4, ticketRate: 0.003,
		referralRate: 0.002, trend: [2]float64{1, 1},
		plans: []string{PlanStarter, PlanPro, PlanEnterprise}, planWeights: []float64{0.3, 0.5, 0.2},
	},
	ProfileAverage: {
		usersPerSeat: [2]float64{0.4, 0.7}, usage: [3]float64{0.3, 0.45, 0.25}, breadth: [2]int{5, 11},
		featureGap: 90 * time.Second, nps: [3]float64{0.2, 0.45, 0.35}, csat: 3.8, ticketRate: 0.01,
		referralRate: 0.0005, trend: [2]float64{1, 0.9},
		plans: []string{PlanStarter, PlanPro, PlanEnterprise}, planWeights: []float64{0.45, 0.45, 0.1},
	},
	ProfileAtRisk: {
		usersPerSeat: [2]float64{0.12, 0.35}, usage: [3]float64{0.05, 0.3, 0.65}, breadth: [2]int{2, 5},
		featureGap: 150 * time.Second, nps: [3]float64{0.05, 0.25, 0.7}, csat: 2.6, ticketRate: 0.03,
		trend: [2]float64{0.9, 0.45},
		plans: []string{PlanStarter, PlanPro, PlanEnterprise}, planWeights: []float64{0.5, 0.4, 0.1},
	},
}

// Trials behave according to how their story ends.
var trialProfiles = map[Story]*profileParams{
	StoryTrialConverts: {
		usage: [3]float64{0.55, 0.35, 0.1}, breadth: [2]int{6, 12}, featureGap: 70 * time.Second,
		nps: [3]float64{0.45, 0.4, 0.15}, csat: 4.2, ticketRate: 0.008, referralRate: 0.001, trend: [2]float64{1, 1},
	},
	StoryTrialExpires: {
		usage: [3]float64{0.1, 0.3, 0.6}, breadth: [2]int{2, 5}, featureGap: 150 * time.Second,
		nps: [3]float64{0.1, 0.3, 0.6}, csat: 3.0, ticketRate: 0.02, trend: [2]float64{1, 0.5},
	},
	StoryTrialOngoing: {
		usage: [3]float64{0.35, 0.4, 0.25}, breadth: [2]int{4, 10}, featureGap: 90 * time.Second,
		nps: [3]float64{0.3, 0.4, 0.3}, csat: 3.8, ticketRate: 0.01, referralRate: 0.001, trend: [2]float64{1, 1},
	},
}

// opening is the start of every population: the first accounts cover every profile and
// story, so that even a small demo shows each band and each kind of change. Later accounts
// are drawn at random.
var opening = []struct {
	profile Profile
	story   Story
	plan    string
}{
	{ProfileHealthy, StorySteady, PlanPro},
	{ProfileAverage, StoryContraction, PlanPro},
	{ProfilePower, StorySteady, PlanPro},
	{ProfileAtRisk, StoryPastDue, PlanStarter},
	{ProfileHealthy, StoryExpansion, PlanStarter},
	{ProfileTrial, StoryTrialConverts, PlanTrial},
	{ProfileAverage, StoryDunning, PlanStarter},
	{ProfileAtRisk, StoryChurn, PlanPro},
	{ProfileHealthy, StorySteady, PlanEnterprise},
	{ProfileTrial, StoryTrialExpires, PlanTrial},
	{ProfileAverage, StorySteady, PlanStarter},
	{ProfileTrial, StoryTrialOngoing, PlanTrial},
}

var (
	randomProfiles       = []Profile{ProfilePower, ProfileHealthy, ProfileAverage, ProfileAtRisk, ProfileTrial}
	randomProfileWeights = []float64{8, 32, 30, 13, 17}
	randomStories        = map[Profile]struct {
		stories []Story
		weights []float64
	}{
		ProfilePower:   {[]Story{StorySteady}, []float64{1}},
		ProfileHealthy: {[]Story{StorySteady, StoryExpansion, StoryDunning}, []float64{0.6, 0.3, 0.1}},
		ProfileAverage: {[]Story{StorySteady, StoryContraction, StoryDunning, StoryPastDue}, []float64{0.5, 0.25, 0.15, 0.1}},
		ProfileAtRisk:  {[]Story{StorySteady, StoryPastDue, StoryChurn}, []float64{0.3, 0.35, 0.35}},
		ProfileTrial:   {[]Story{StoryTrialConverts, StoryTrialExpires, StoryTrialOngoing}, []float64{0.45, 0.35, 0.2}},
	}
)

// buildAccount simulates account i's population and lifecycle. It depends only on the seed,
// start, days and i.
func buildAccount(cfg *Config, i int) Account {
	r := newRand(cfg.Seed, domainAccount, uint64(i))
	a := Account{Index: i, CancelDay: -1, storyDays: cfg.Days}
	var plan string
	if i < len(opening) {
		a.Profile, a.Story, plan = opening[i].profile, opening[i].story, opening[i].plan
		r.Uint64() // keep the draws below aligned with random accounts'
	} else {
		a.Profile = randomProfiles[weighted(r, randomProfileWeights)]
		s := randomStories[a.Profile]
		a.Story = s.stories[weighted(r, s.weights)]
	}
	a.params = profiles[a.Profile]
	if a.Profile == ProfileTrial {
		a.params = trialProfiles[a.Story]
		plan = PlanTrial
	} else if plan == "" {
		plan = a.params.plans[weighted(r, a.params.planWeights)]
	}
	name, suffix := pick(r, companyNames), pick(r, companySuffixes)
	a.ID = name + "-" + suffix + "-" + strconv.Itoa(i+1)
	a.Name = titleCase(name) + " " + titleCase(suffix)
	z := pickZone(r)
	a.Zone, a.zoneOffset = z.Name, z.Offset.Milliseconds()
	a.Term = "monthly"
	if plan == PlanEnterprise {
		a.Term = "annual"
	}

	start := cfg.Start.UnixMilli()
	days := cfg.Days
	frac := func(lo, hi float64) int { return min(days-1, int(float64(days)*between(r, lo, hi))) }
	// at is a time of day d in the account's zone, between hour lo and hi.
	at := func(d int, lo, hi float64) int64 {
		return start + int64(d)*dayMs - a.zoneOffset + int64(between(r, lo, hi)*float64(time.Hour/time.Millisecond))
	}
	change := func(d int, atMs int64, reason string, t Traits) {
		a.Changes = append(a.Changes, Change{Day: d, At: time.UnixMilli(atMs).UTC(), Reason: reason, Traits: t})
	}

	var nUsers int
	trial := a.Profile == ProfileTrial
	if trial {
		var s int
		switch a.Story {
		case StoryTrialOngoing:
			s = max(0, days-1-(2+r.IntN(9)))
			nUsers = 2 + r.IntN(5)
		case StoryTrialConverts:
			s = r.IntN(max(1, days*3/10))
			nUsers = 3 + r.IntN(6)
		default:
			s = r.IntN(max(1, days*3/10))
			nUsers = 1 + r.IntN(4)
		}
		sinceMs := at(s, 8, 17)
		a.Since = time.UnixMilli(sinceMs).UTC()
		change(s, sinceMs, "trial-started", Traits{Plan: PlanTrial, Seats: trialSeats, Status: event.StatusTrialing})
		end, endMs := s+trialLength, sinceMs+trialLength*dayMs
		switch a.Story {
		case StoryTrialConverts:
			seats := max(3, nUsers+r.IntN(4))
			p := PlanStarter
			if seats > 6 {
				p = PlanPro
			}
			change(end, endMs, "trial-converted", Traits{Plan: p, Seats: seats, MRR: mrr(p, seats), Status: event.StatusActive})
			a.billedSince = time.UnixMilli(endMs).UTC()
		case StoryTrialExpires:
			change(end, endMs, "trial-expired", Traits{Plan: PlanTrial, Seats: trialSeats, Status: event.StatusCanceled})
		}
	} else {
		seats := pickSeats(r, plan)
		nUsers = max(1, int(math.Round(float64(seats)*between(r, a.params.usersPerSeat[0], a.params.usersPerSeat[1]))))
		if a.Profile == ProfilePower {
			nUsers = max(nUsers, seats+1)
		}
		sinceMs := start - int64(40+r.IntN(860))*dayMs - a.zoneOffset + int64(between(r, 9, 17)*3_600_000)
		a.Since = time.UnixMilli(sinceMs).UTC()
		a.billedSince = a.Since
		t := Traits{Plan: plan, Seats: seats, MRR: mrr(plan, seats), Status: event.StatusActive}
		change(0, sinceMs, "initial", t)
		switch a.Story {
		case StoryExpansion:
			d := frac(0.35, 0.6)
			t.Seats = int(math.Ceil(float64(seats) * between(r, 1.3, 1.7)))
			if t.Plan == PlanStarter && t.Seats > 10 {
				t.Plan = PlanPro
			}
			t.MRR = mrr(t.Plan, t.Seats)
			change(d, at(d, 9, 17), "upgrade", t)
			a.joinersFrom = nUsers + 1
			nUsers += max(1, int(float64(t.Seats-seats)*between(r, a.params.usersPerSeat[0], a.params.usersPerSeat[1])))
		case StoryContraction:
			d := frac(0.4, 0.65)
			stay := max(1, int(float64(nUsers)*between(r, 0.55, 0.75)))
			a.leaversFrom = stay + 1
			t.Seats = max(3, stay+r.IntN(3)) // the seats still cover every remaining user
			if t.Plan == PlanPro && t.Seats <= 10 {
				t.Plan = PlanStarter
			}
			t.MRR = mrr(t.Plan, t.Seats)
			change(d, at(d, 9, 17), "downgrade", t)
		case StoryDunning:
			d := frac(0.3, 0.5)
			t.Status = event.StatusPastDue
			change(d, at(d, 0, 6), "payment-failed", t)
			t.Status = event.StatusActive
			d2 := d + 4 + r.IntN(7)
			change(d2, at(d2, 9, 17), "payment-recovered", t)
		case StoryPastDue:
			d := frac(0.5, 0.8)
			t.Status = event.StatusPastDue
			change(d, at(d, 0, 6), "payment-failed", t)
		case StoryChurn:
			d := frac(0.5, 0.7)
			t.Status, t.MRR = event.StatusCanceled, 0
			change(d, at(d, 9, 17), "canceled", t)
			a.CancelDay = d
		}
	}

	a.Users = make([]User, nUsers)
	for j := range a.Users {
		a.Users[j] = buildUser(cfg, &a, j+1)
	}
	return a
}

// buildUser simulates user n (from 1) of account a: who they are, how they use the product,
// when they join and leave.
func buildUser(cfg *Config, a *Account, n int) User {
	r := newRand(cfg.Seed, domainUser, uint64(a.Index), uint64(n))
	p := a.params
	u := User{Index: n, ID: "u-" + a.ID + "-" + strconv.Itoa(n), Role: "member", LastDay: -1}
	switch {
	case n == 1:
		u.Role = "owner"
	case r.IntN(10) == 0:
		u.Role = "admin"
	}
	mix := p.usage
	if n == 1 && mix[0] < 0.3 {
		mix = [3]float64{0.3, mix[1], mix[2]} // the owner is the product's champion
	}
	u.Usage = Usage(weighted(r, mix[:]))
	u.Zone, u.zoneOffset = a.Zone, a.zoneOffset
	if r.IntN(100) < 15 {
		z := pickZone(r)
		u.Zone, u.zoneOffset = z.Name, z.Offset.Milliseconds()
	}
	pickFeatures(r, &u, p.breadth)

	days := a.storyDays
	first := a.Changes[0]
	switch {
	case a.Profile == ProfileTrial:
		u.FirstDay = first.Day
		if n == 1 {
			u.firstAt = first.At.UnixMilli() + 5_000
		} else {
			u.FirstDay += r.IntN(6)
		}
		if a.Story == StoryTrialExpires {
			u.LastDay = first.Day + 3 + r.IntN(11)
		}
		u.surveyDay = u.FirstDay + 4 + r.IntN(16)
	default:
		// Existing customers keep growing a little: some users join during the simulation.
		if n > 1 && (a.Profile == ProfilePower || a.Profile == ProfileHealthy) && r.IntN(10) == 0 {
			u.FirstDay = 1 + r.IntN(max(1, days-1))
		}
		if u.FirstDay == 0 {
			since, start := a.Since.UnixMilli(), cfg.Start.UnixMilli()
			at := since + 1_000
			if n > 1 {
				at = since + r.Int64N(max(1, start-since-dayMs))
			}
			u.SignupAt = time.UnixMilli(at).UTC()
		}
		u.surveyDay = u.FirstDay + r.IntN(90)
	}
	for _, c := range a.Changes {
		switch c.Reason {
		case "upgrade":
			// The seats were bought for new colleagues, who arrive within a week.
			if a.joinersFrom > 0 && n >= a.joinersFrom {
				u.FirstDay = c.Day + r.IntN(7)
				u.SignupAt = time.Time{}
				u.surveyDay = u.FirstDay + r.IntN(90)
			}
		case "downgrade":
			// The seats go because their users left, in the week before.
			if a.leaversFrom > 0 && n >= a.leaversFrom {
				u.LastDay = max(0, c.Day-r.IntN(8))
			}
		case "canceled":
			u.LastDay = c.Day
			if n > 1 {
				u.LastDay = max(0, c.Day-r.IntN(6))
			}
		}
	}
	return u
}

// pickFeatures chooses the features a user adopts: dashboard.viewed always, then k−1 more at
// random by popularity, core features three times as likely. Each adopted feature gets a
// personal weight, so two users of the same account do not behave alike.
func pickFeatures(r *rand.Rand, u *User, breadth [2]int) {
	k := min(len(Features), breadth[0]+r.IntN(breadth[1]-breadth[0]+1))
	w := make([]float64, len(Features))
	for i, f := range Features {
		w[i] = f.Weight
		if f.Core {
			w[i] *= 3
		}
	}
	u.features = append(u.features, 0)
	w[0] = 0
	for len(u.features) < k {
		i := weighted(r, w)
		if w[i] == 0 {
			break
		}
		u.features = append(u.features, uint8(i))
		w[i] = 0
	}
	u.cum = make([]float32, len(u.features))
	var sum float32
	for i, f := range u.features {
		sum += float32(Features[f].Weight * between(r, 0.5, 1.5))
		u.cum[i] = sum
	}
}

// pickFeature returns the index in Features of a feature the user uses next.
func (u *User) pickFeature(r *rand.Rand) int {
	x := r.Float32() * u.cum[len(u.cum)-1]
	lo, hi := 0, len(u.cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if u.cum[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return int(u.features[lo])
}

// Features returns the names of the features the user adopted.
func (u *User) Features() []string {
	out := make([]string, len(u.features))
	for i, f := range u.features {
		out[i] = Features[f].Name
	}
	return out
}

func pickZone(r *rand.Rand) zone {
	w := make([]float64, len(zones))
	for i, z := range zones {
		w[i] = z.Weight
	}
	return zones[weighted(r, w)]
}

// pickSeats draws a seat count for a plan: small accounts are common, big ones rare.
func pickSeats(r *rand.Rand, plan string) int {
	u := r.Float64()
	switch plan {
	case PlanStarter:
		return 3 + r.IntN(8)
	case PlanPro:
		return 10 + int(40*u*u)
	case PlanEnterprise:
		return 50 + int(150*u*u*u)
	}
	return trialSeats
}

// TraitsOn returns the account's traits on day d, and whether the account exists yet.
func (a *Account) TraitsOn(d int) (Traits, bool) {
	var t Traits
	ok := false
	for _, c := range a.Changes {
		if c.Day > d {
			break
		}
		t, ok = c.Traits, true
	}
	return t, ok
}

// activity is the account's usage multiplier on day d: its trend over the story.
func (a *Account) activity(d int) float64 {
	f := min(1, max(0, float64(d)/float64(max(1, a.storyDays-1))))
	return a.params.trend[0] + (a.params.trend[1]-a.params.trend[0])*f
}

// renewsOn reports whether date (a UTC midnight, Unix ms) is the anniversary of the
// account's contract.
func (a *Account) renewsOn(date int64) bool {
	if a.billedSince.IsZero() || date <= a.billedSince.UnixMilli() {
		return false
	}
	t := time.UnixMilli(date).UTC()
	since := a.billedSince.Add(time.Duration(a.zoneOffset) * time.Millisecond)
	if a.Term == "annual" && t.Month() != since.Month() {
		return false
	}
	last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return t.Day() == min(since.Day(), last)
}

func titleCase(s string) string {
	parts := strings.Split(s, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, " ")
}
