package demo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

var testStart = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func newTestGen(t testing.TB, cfg Config) *Generator {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = testStart
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// digest hashes every event of g up to until, as sent on the wire.
func digest(t testing.TB, g *Generator, until time.Time) (string, int) {
	t.Helper()
	h := sha256.New()
	n := 0
	var b []byte
	if err := g.Generate(until, func(e *Event) error {
		b = append(e.AppendJSON(b[:0]), '\n')
		h.Write(b)
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

// Rule: the same seed, start and days give the same events, byte for byte, so that a re-run
// re-sends the same event ids; another seed or start gives other events.
func TestDeterministic(t *testing.T) {
	base := Config{Seed: 7, Accounts: 20, Start: testStart, Days: 10}
	until := testStart.AddDate(0, 0, 10)
	want, n := digest(t, newTestGen(t, base), until)
	if n < 1000 {
		t.Fatalf("only %d events", n)
	}
	tests := []struct {
		name string
		edit func(*Config)
		same bool
	}{
		{"same config", func(*Config) {}, true},
		{"time of day of start is ignored", func(c *Config) { c.Start = c.Start.Add(5 * time.Hour) }, true},
		{"other seed", func(c *Config) { c.Seed = 8 }, false},
		{"other start", func(c *Config) { c.Start = c.Start.AddDate(0, 0, 1) }, false},
		{"other days", func(c *Config) { c.Days = 11 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			got, _ := digest(t, newTestGen(t, cfg), until)
			if (got == want) != tt.same {
				t.Fatalf("digest equal = %v, want %v", got == want, tt.same)
			}
		})
	}
}

// Account i does not depend on how many accounts are simulated: a bigger demo contains the
// smaller one.
func TestAccountsIndependentOfPopulationSize(t *testing.T) {
	small := newTestGen(t, Config{Seed: 3, Accounts: 15, Days: 10})
	big := newTestGen(t, Config{Seed: 3, Accounts: 40, Days: 10})
	until := testStart.AddDate(0, 0, 3)
	ids := map[string]string{}
	if err := small.Generate(until, func(e *Event) error {
		ids[e.ID()] = string(e.AppendJSON(nil))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	found := 0
	if err := big.Generate(until, func(e *Event) error {
		if want, ok := ids[e.ID()]; ok {
			found++
			if got := string(e.AppendJSON(nil)); got != want {
				t.Fatalf("event differs:\n got %s\nwant %s", got, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found != len(ids) {
		t.Fatalf("found %d of the small population's %d events", found, len(ids))
	}
}

// Every generated event passes the gateway's validation, and event ids are unique.
func TestEventsPassValidation(t *testing.T) {
	g := newTestGen(t, Config{Seed: 1, Accounts: 50, Days: 30})
	until := testStart.AddDate(0, 0, 30)
	seen := make(map[string]struct{}, 1<<20)
	names := map[string]int{}
	if err := g.Generate(until, func(e *Event) error {
		in := e.Input()
		ev, err := in.Build(until)
		if err != nil {
			t.Fatalf("event %s (%s) is invalid: %v", in.EventID, e.AppendJSON(nil), err)
		}
		if !ev.Timestamp.Equal(e.Timestamp) {
			t.Fatalf("event %s: timestamp %s became %s", in.EventID, e.Timestamp, ev.Timestamp)
		}
		if _, dup := seen[in.EventID]; dup {
			t.Fatalf("duplicate event id %s", in.EventID)
		}
		seen[in.EventID] = struct{}{}
		names[e.Name]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{event.NameHeartbeat, event.NameHidden, event.NameAccount, event.NameNPS,
		event.NameTicket, event.NameReferral, event.NameCSAT, event.NameRenewal, event.NameSignup} {
		if names[n] == 0 {
			t.Errorf("no %s event", n)
		}
	}
	products := 0
	for n := range names {
		if !strings.HasPrefix(n, "$") {
			products++
		}
	}
	if products < 20 {
		t.Errorf("only %d distinct product events", products)
	}
}

type userKey struct{ account, user string }

// checkOrder fails when a stream (user, or account for $account) goes back in time.
type orderChecker struct {
	mu   sync.Mutex
	last map[userKey]time.Time
}

func (c *orderChecker) check(t testing.TB, e *Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := userKey{e.AccountID, e.UserID}
	if l, ok := c.last[k]; ok && !e.Timestamp.After(l) {
		t.Fatalf("%s/%s: %s at %s after an event at %s", e.AccountID, e.UserID, e.Name, e.Timestamp, l)
	}
	c.last[k] = e.Timestamp
}

// Rule: each user's events come strictly in time order, whatever the API: the pipeline
// treats events more than an hour older than the user's newest as late.
func TestPerUserTimeOrder(t *testing.T) {
	cfg := Config{Seed: 5, Accounts: 30, Days: 14}
	until := testStart.AddDate(0, 0, 14)
	tests := []struct {
		name string
		run  func(g *Generator, fn func(*Event)) error
	}{
		{"Generate", func(g *Generator, fn func(*Event)) error {
			return g.Generate(until, func(e *Event) error { fn(e); return nil })
		}},
		{"Events", func(g *Generator, fn func(*Event)) error {
			for e := range g.Events(until) {
				fn(e)
			}
			return nil
		}},
		{"GenerateParallel", func(g *Generator, fn func(*Event)) error {
			return g.GenerateParallel(context.Background(), until, 4, func(_ int, e *Event) error { fn(e); return nil })
		}},
		{"Feed in steps", func(g *Generator, fn func(*Event)) error {
			f := g.Feed()
			var last time.Time
			for t0 := testStart.Add(-24 * time.Hour); t0.Before(until); t0 = t0.Add(7 * time.Hour) {
				if err := f.Until(t0, func(e *Event) error {
					if e.Timestamp.Before(last) {
						return fmt.Errorf("feed went back from %s to %s", last, e.Timestamp)
					}
					last = e.Timestamp
					fn(e)
					return nil
				}); err != nil {
					return err
				}
			}
			return f.Until(until, func(e *Event) error { fn(e); return nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &orderChecker{last: map[userKey]time.Time{}}
			n := 0
			var mu sync.Mutex
			if err := tt.run(newTestGen(t, cfg), func(e *Event) {
				c.check(t, e)
				mu.Lock()
				n++
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("no events")
			}
		})
	}
}

// The Feed yields exactly the events Generate does, only in another order.
func TestFeedSameEventsAsGenerate(t *testing.T) {
	g := newTestGen(t, Config{Seed: 9, Accounts: 12, Days: 7})
	until := testStart.AddDate(0, 0, 5).Add(13 * time.Hour)
	want := map[string]string{}
	if err := g.Generate(until, func(e *Event) error {
		want[e.ID()] = string(e.AppendJSON(nil))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := g.Feed().Until(until, func(e *Event) error {
		got++
		if w := want[e.ID()]; w != string(e.AppendJSON(nil)) {
			t.Fatalf("feed event %s differs from Generate's: %s vs %s", e.ID(), e.AppendJSON(nil), w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Fatalf("feed yielded %d events, Generate %d", got, len(want))
	}
}

// accountFacts is what the scorer will see of one account.
type accountFacts struct {
	profile              Profile
	seats                int
	statuses             []string
	mrrs                 []float64
	activeUsers          map[string]bool
	lastWeekUsers        map[string]bool
	tickets, users       int
	promoters, detractor int
}

func collectFacts(t *testing.T, g *Generator, until time.Time) (map[string]*accountFacts, map[string]int) {
	t.Helper()
	facts := map[string]*accountFacts{}
	for _, a := range g.Accounts() {
		facts[a.ID] = &accountFacts{profile: a.Profile, activeUsers: map[string]bool{}, lastWeekUsers: map[string]bool{}, users: len(a.Users)}
	}
	signals := map[string]int{}
	signups := map[userKey]int{}
	firstActive := map[userKey]time.Time{}
	if err := g.Generate(until, func(e *Event) error {
		f := facts[e.AccountID]
		k := userKey{e.AccountID, e.UserID}
		in := e.Input()
		switch kind := event.KindOf(e.Name); {
		case kind.Active():
			f.activeUsers[e.UserID] = true
			if e.Timestamp.After(until.AddDate(0, 0, -7)) {
				f.lastWeekUsers[e.UserID] = true
			}
			if _, ok := firstActive[k]; !ok {
				firstActive[k] = e.Timestamp
				if signups[k] != 1 {
					t.Errorf("%s: first activity at %s without a $signup before it", e.UserID, e.Timestamp)
				}
			}
		case kind == event.KindAccount:
			tr, err := event.ParseAccountTraits(in.Properties)
			if err != nil {
				t.Fatal(err)
			}
			f.seats = int(*tr.Seats)
			f.statuses = append(f.statuses, *tr.Status)
			f.mrrs = append(f.mrrs, *tr.MRR)
		case kind == event.KindSignup:
			signups[k]++
			if signups[k] > 1 {
				t.Errorf("%s signed up twice", e.UserID)
			}
		case kind == event.KindTicket:
			f.tickets++
			signals["ticket"]++
		case kind == event.KindNPS:
			s, err := event.Score(in.Properties, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case s >= 9:
				f.promoters++
				signals["promoter"]++
			case s <= 6:
				f.detractor++
				signals["detractor"]++
			default:
				signals["passive"]++
			}
		case kind == event.KindRenewal:
			r, err := event.Renewed(in.Properties)
			if err != nil {
				t.Fatal(err)
			}
			signals[fmt.Sprintf("renewed=%v", r)]++
		case kind == event.KindCSAT:
			signals["csat"]++
		case kind == event.KindReferral:
			signals["referral"]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return facts, signals
}

// Rule: the population shows every band's signals: more active users than seats (power),
// broad use (green), past_due and canceled billing, trials that convert, expansion and
// contraction, promoters and detractors, more tickets where usage is poor.
func TestPopulationCoversEveryBand(t *testing.T) {
	for _, seed := range []uint64{1, 2, 42} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			g := newTestGen(t, Config{Seed: seed, Accounts: 50, Days: 30})
			facts, signals := collectFacts(t, g, testStart.AddDate(0, 0, 30))
			has := map[string]bool{}
			ticketsPerUser := map[Profile][2]int{}
			for id, f := range facts {
				last := f.statuses[len(f.statuses)-1]
				has["status "+last] = true
				if last == event.StatusActive && len(f.activeUsers) > f.seats {
					has["power: active users > seats"] = true
				}
				if len(f.activeUsers) > 0 && len(f.activeUsers)*4 <= f.seats {
					has["red: a quarter of the seats or less used"] = true
				}
				if f.statuses[0] == event.StatusTrialing && last == event.StatusActive {
					has["trial converted"] = true
				}
				for i := 1; i < len(f.mrrs); i++ {
					switch {
					case f.mrrs[i] > f.mrrs[i-1] && f.statuses[i-1] != event.StatusTrialing:
						has["expansion"] = true
					case f.mrrs[i] < f.mrrs[i-1] && f.statuses[i] == event.StatusActive:
						has["contraction"] = true
					}
				}
				if f.profile != ProfilePower && len(f.lastWeekUsers) > f.seats {
					t.Errorf("%s (%s): %d users active in the last week on %d seats: only power accounts should exceed", id, f.profile, len(f.lastWeekUsers), f.seats)
				}
				if f.promoters > 0 && f.profile == ProfileHealthy {
					has["promoters in a healthy account"] = true
				}
				if f.detractor > 0 && f.profile == ProfileAtRisk {
					has["detractors in an at-risk account"] = true
				}
				tp := ticketsPerUser[f.profile]
				ticketsPerUser[f.profile] = [2]int{tp[0] + f.tickets, tp[1] + f.users}
			}
			for _, want := range []string{"power: active users > seats", "red: a quarter of the seats or less used",
				"status active", "status past_due", "status canceled", "status trialing", "trial converted",
				"expansion", "contraction", "promoters in a healthy account", "detractors in an at-risk account"} {
				if !has[want] {
					t.Errorf("no account with %s", want)
				}
			}
			for _, want := range []string{"promoter", "passive", "detractor", "ticket", "csat", "referral", "renewed=true", "renewed=false"} {
				if signals[want] == 0 {
					t.Errorf("no %s signal", want)
				}
			}
			rate := func(p Profile) float64 { v := ticketsPerUser[p]; return float64(v[0]) / float64(max(1, v[1])) }
			if rate(ProfileAtRisk) <= rate(ProfileHealthy) {
				t.Errorf("at-risk accounts open %.3f tickets per user, healthy ones %.3f: want more", rate(ProfileAtRisk), rate(ProfileHealthy))
			}
		})
	}
}

// Sessions look like an SDK's: heartbeats every 30–60 s in focus, $hidden, idle gaps over
// 5 minutes within a session, and sessions across midnight UTC.
func TestSessionShapes(t *testing.T) {
	g := newTestGen(t, Config{Seed: 1, Accounts: 50, Days: 14})
	last := map[userKey]*Event{}
	found := map[string]bool{}
	if err := g.Generate(testStart.AddDate(0, 0, 14), func(e *Event) error {
		if !event.KindOf(e.Name).Sessionized() {
			return nil
		}
		k := userKey{e.AccountID, e.UserID}
		if p, ok := last[k]; ok {
			gap := e.Timestamp.Sub(p.Timestamp)
			if p.Name == event.NameHeartbeat && e.Name == event.NameHeartbeat {
				if gap < 30*time.Second || gap > 60*time.Second {
					t.Fatalf("%s: heartbeats %s apart", e.UserID, gap)
				}
				found["heartbeat rhythm"] = true
			}
			if p.Name != event.NameHidden && gap > 5*time.Minute && gap < 30*time.Minute {
				found["idle gap within a session"] = true
			}
			if gap <= 30*time.Minute && p.Timestamp.YearDay() != e.Timestamp.YearDay() {
				found["session across midnight UTC"] = true
			}
			if gap > 30*time.Minute {
				found["new session"] = true
			}
		}
		if e.Name == event.NameHidden {
			found["$hidden"] = true
		}
		c := e.Clone()
		last[k] = &c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"heartbeat rhythm", "idle gap within a session", "session across midnight UTC", "new session", "$hidden"} {
		if !found[want] {
			t.Errorf("no %s", want)
		}
	}
}

func TestAppendTimestamp(t *testing.T) {
	tests := []time.Time{
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC),
		time.Date(2025, 12, 31, 12, 0, 0, 1e6, time.UTC),
		time.Date(2100, 3, 1, 7, 8, 9, 10e6, time.UTC),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		tests = append(tests, time.UnixMilli(946684800000+r.Int64N(4e12)).UTC())
	}
	for _, tm := range tests {
		want := tm.Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(appendTimestamp(nil, tm.UnixMilli())); got != want {
			t.Fatalf("appendTimestamp(%d) = %s, want %s", tm.UnixMilli(), got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"default", DefaultConfig(), ""},
		{"no accounts", Config{Accounts: 0, Days: 30}, "accounts"},
		{"too many accounts", Config{Accounts: MaxAccounts + 1, Days: 30}, "accounts"},
		{"no days", Config{Accounts: 1, Days: 0}, "days"},
		{"ancient start", Config{Accounts: 1, Days: 1, Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, "start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error starting with %q", err, tt.wantErr)
			}
		})
	}
}

// BenchmarkGenerate measures the generator alone (events/s), and with NDJSON encoding.
func BenchmarkGenerate(b *testing.B) {
	for _, encode := range []bool{false, true} {
		b.Run(fmt.Sprintf("encode=%v", encode), func(b *testing.B) {
			g := newTestGen(b, Config{Seed: 1, Accounts: 200, Days: 30})
			var n int
			var buf []byte
			b.ResetTimer()
			for range b.N {
				_ = g.Generate(testStart.AddDate(0, 0, 7), func(e *Event) error {
					n++
					if encode {
						buf = append(e.AppendJSON(buf[:0]), '\n')
					}
					return nil
				})
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
