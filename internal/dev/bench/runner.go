package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config selects what a run measures. The zero value of a field means its default.
type Config struct {
	// Duration is each measured window of the gateway and latency scenarios: the gateway and
	// raw produce each get Duration in total (split into Rounds), and each latency rate
	// runs for Duration. Default 10 s.
	Duration time.Duration
	// StepDuration is the load time of each rate of the pipeline scenario. Default 20 s.
	StepDuration time.Duration
	// Clients is the closed-loop concurrency: keep-alive HTTP clients, and raw producer
	// goroutines. Default 32.
	Clients int
	// Rounds alternates gateway and raw produce this many times on the same broker, so
	// that both see it in the same state. Default 2.
	Rounds int
	// LatencyFractions are the open-loop rates of the latency scenario, as fractions of the
	// maximum gateway throughput measured by the gateway scenario (or by a short closed-loop
	// run when that scenario was not selected). Default [0.5].
	LatencyFractions []float64
	// PipelineRates is the staircase of offered rates (events/s) of the pipeline scenario; it
	// stops after the first rate that misses freshness or lag. Default 10k, 20k, 40k, 50k,
	// 60k, 80k.
	PipelineRates []float64
	// ProbeInterval is the time between freshness probes. Default 250 ms.
	ProbeInterval time.Duration
	// ScorerAccounts is the number of accounts whose band the scorer scenario changes.
	// Default 20.
	ScorerAccounts int
	// ScorerBackground is the rate of background traffic (events/s, the usual population)
	// during the scorer scenario. Default 10 000; negative: none.
	ScorerBackground float64
	// ScorerPopulation is the number of accounts of synthetic history written to ClickHouse
	// before the scorer starts, so that it scores a realistic book (default 100 000; -1:
	// none).
	ScorerPopulation int
	// Traffic is the synthetic population. Default 1000 accounts × 20 users.
	Traffic Traffic
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.StepDuration <= 0 {
		c.StepDuration = 20 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 32
	}
	if c.Rounds <= 0 {
		c.Rounds = 2
	}
	if len(c.LatencyFractions) == 0 {
		c.LatencyFractions = []float64{0.25, 0.5}
	}
	if len(c.PipelineRates) == 0 {
		c.PipelineRates = []float64{10_000, 20_000, 40_000, 50_000, 60_000, 80_000}
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 250 * time.Millisecond
	}
	if c.ScorerAccounts <= 0 {
		c.ScorerAccounts = 20
	}
	if c.ScorerPopulation == 0 {
		c.ScorerPopulation = 100_000
	}
	if c.ScorerBackground == 0 {
		c.ScorerBackground = 10_000
	}
	if c.Traffic.Accounts <= 0 {
		c.Traffic.Accounts = 1000
	}
	if c.Traffic.UsersPerAccount <= 0 {
		c.Traffic.UsersPerAccount = 20
	}
	if c.Traffic.Run == "" {
		c.Traffic.Run = "b" + strconv.FormatInt(time.Now().Unix()%1_000_000, 36)
	}
	return c
}

// Scenarios lists the scenario names in the order "all" runs them.
var Scenarios = []string{"gateway", "latency", "pipeline", "scorer"}

// services names the service binaries each scenario runs.
var services = map[string][]string{
	"gateway":  {"broker", "gateway"},
	"latency":  {"broker", "gateway"},
	"pipeline": {"broker", "gateway", "worker"},
	"scorer":   {"broker", "gateway", "worker", "scorer"},
}

// Prepare builds, in one go, every service the named scenarios need.
func (r *Runner) Prepare(ctx context.Context, scenarios ...string) {
	seen := map[string]bool{}
	var names []string
	for _, sc := range scenarios {
		for _, n := range services[sc] {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	r.env.Prepare(ctx, names...)
}

// Target is one contract target and where a run left it.
type Target struct {
	Name, Goal, Measured string
	Met                  bool
}

// Runner runs scenarios against one Env and collects their targets.
type Runner struct {
	cfg     Config
	env     *Env
	targets []Target
	// gatewayMax is the closed-loop gateway throughput of this run (events/s), the basis of
	// the latency scenario's rates.
	gatewayMax float64
}

// NewRunner returns a runner; cfg's zero fields get their defaults.
func NewRunner(cfg Config, env *Env) *Runner {
	return &Runner{cfg: cfg.withDefaults(), env: env}
}

// Config is the configuration in effect, defaults applied.
func (r *Runner) Config() Config { return r.cfg }

func (r *Runner) target(name, goal, measured string, met bool) {
	r.targets = append(r.targets, Target{Name: name, Goal: goal, Measured: measured, Met: met})
}

// Run runs one scenario and writes its section to out. A scenario that fails writes what it
// measured so far and the error.
func (r *Runner) Run(ctx context.Context, scenario string, out io.Writer) error {
	var (
		sec *Section
		err error
	)
	switch scenario {
	case "gateway":
		sec, err = r.Gateway(ctx)
	case "latency":
		sec, err = r.Latency(ctx)
	case "pipeline":
		sec, err = r.Pipeline(ctx)
	case "scorer":
		sec, err = r.Scorer(ctx)
	default:
		return fmt.Errorf("unknown scenario %q (want one of %s or all)", scenario, strings.Join(Scenarios, ", "))
	}
	if sec != nil {
		if err != nil {
			sec.Note("**scenario failed:** %v", firstLine(err))
		}
		sec.Write(out)
	}
	return err
}

// WriteTargets writes the table of every target the run checked.
func (r *Runner) WriteTargets(w io.Writer) {
	if len(r.targets) == 0 {
		return
	}
	t := &Table{Header: []string{"target", "goal", "measured", ""}}
	for _, tg := range r.targets {
		t.Add(tg.Name, tg.Goal, tg.Measured, verdict(tg.Met))
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	t.Write(w)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// errStopped is returned when the run's context ends mid-scenario.
var errStopped = errors.New("benchmark interrupted")

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errStopped
	case <-t.C:
		return nil
	}
}

// maxRequests bounds a load loop of duration d by count as well as time: far above what
// loopback on this class of machine sustains (20k requests/s, 2M events/s).
func maxRequests(d time.Duration) int64 { return int64(d.Seconds()*20_000) + 1 }
