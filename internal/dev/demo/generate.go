package demo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"
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

// MaxAccounts bounds Config.Accounts: the population is held in memory (about 16 users and
// 10 KB per account).
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
