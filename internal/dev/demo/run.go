package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Orders in which history is sent (RunConfig.Order).
const (
	// OrderTime sends history in global timestamp order (Feed), as if the users' SDKs had
	// been sending all along. It holds about a day of events in memory.
	OrderTime = "time"
	// OrderUser sends history day by day, each user's day at once (Generate): constant
	// memory, for large populations.
	OrderUser = "user"
)

// RunConfig configures Run: what `make demo` does.
type RunConfig struct {
	Sim    Config
	Sender SenderConfig

	// Until ends the history; default (zero) now. Live mode, if any, first catches up from
	// Until to the wall clock.
	Until time.Time
	// HistoryOnly stops after the history instead of going live.
	HistoryOnly bool
	// Live is how long live mode lasts; 0 (default): until ctx is cancelled.
	Live time.Duration
	// Speed is live mode's pace: 1 (default) sends each event when the wall clock reaches
	// its timestamp. Above 1 is a time-lapse: simulated time runs Speed times faster and
	// events are stamped with the wall clock, so a working day passes in minutes. Time-lapse
	// events get ids of their own (they are not the simulation's originals).
	Speed float64
	// Order is OrderTime (default) or OrderUser.
	Order string

	// DryRun writes the history as NDJSON to Out ("-" or "": standard output) instead of
	// sending it.
	DryRun bool
	Out    string
	// Procs is the number of goroutines that generate a dry run; default GOMAXPROCS. With 1
	// the output is the same byte for byte on every run; with more, each user's events are
	// still in order but users interleave differently.
	Procs int

	// Log receives progress lines and the summary; default standard error.
	Log io.Writer
	// ProgressEvery is the interval of progress lines; default 2 s (10 s in live mode).
	ProgressEvery time.Duration
	// ReadyTimeout bounds the wait for the gateway's /readyz; default 60 s.
	ReadyTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate reports the first bad field.
func (c *RunConfig) Validate() error {
	if err := c.Sim.Validate(); err != nil {
		return err
	}
	switch {
	case c.Speed != 0 && (c.Speed < 1 || c.Speed > 100_000):
		return fmt.Errorf("speed: must be 1..100000, got %g", c.Speed)
	case c.Order != "" && c.Order != OrderTime && c.Order != OrderUser:
		return fmt.Errorf("order: must be %q or %q, got %q", OrderTime, OrderUser, c.Order)
	case c.Live < 0:
		return fmt.Errorf("live: must not be negative, got %s", c.Live)
	case c.Procs < 0:
		return fmt.Errorf("procs: must not be negative, got %d", c.Procs)
	}
	if !c.DryRun {
		if err := c.Sender.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c *RunConfig) setDefaults() {
	if c.Speed == 0 {
		c.Speed = 1
	}
	if c.Order == "" {
		c.Order = OrderTime
	}
	if c.Procs == 0 {
		c.Procs = runtime.GOMAXPROCS(0)
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 2 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Run simulates cfg.Sim and sends its history, then goes live until cfg.Live passes or ctx is
// cancelled (a cancelled ctx is a normal end, not an error). In a dry run it writes the
// history to a file instead. It prints progress and a summary to cfg.Log.
func Run(ctx context.Context, cfg RunConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg.setDefaults()
	now := cfg.Now()
	if cfg.Sim.Start.IsZero() {
		cfg.Sim.Start = now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(cfg.Sim.Days - 1))
	}
	until := cfg.Until
	if until.IsZero() {
		until = now
	}
	g, err := New(cfg.Sim)
	if err != nil {
		return err
	}
	fmt.Fprintln(cfg.Log, describe(g, until))
	if cfg.DryRun {
		return dryRun(ctx, &cfg, g, until)
	}
	return send(ctx, &cfg, g, until)
}

// ParseTime reads a day (2006-01-02, UTC midnight) or an RFC 3339 time; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 time, got %q", s)
	}
	return t.UTC(), nil
}

// describe summarises the population in one line.
func describe(g *Generator, until time.Time) string {
	byProfile := map[Profile]int{}
	for i := range g.accounts {
		byProfile[g.accounts[i].Profile]++
	}
	var parts []string
	for _, p := range []Profile{ProfilePower, ProfileHealthy, ProfileAverage, ProfileAtRisk, ProfileTrial} {
		parts = append(parts, fmt.Sprintf("%d %s", byProfile[p], p))
	}
	c := g.Config()
	return fmt.Sprintf("demo: %d accounts (%s), %d users; seed %d, history %s to %s, event ids %s-*",
		len(g.accounts), strings.Join(parts, ", "), g.Users(), c.Seed,
		c.Start.Format(time.DateOnly), until.UTC().Format("2006-01-02 15:04Z"), g.Namespace())
}

// progress prints a line every interval while a phase runs.
type progress struct {
	log     io.Writer
	phase   atomic.Pointer[string]
	simTime atomic.Int64 // Unix ms of the latest event handed on
	count   func() (events int64, extra string)
	stop    chan struct{}
	done    sync.WaitGroup
}

func startProgress(log io.Writer, every time.Duration, count func() (int64, string)) *progress {
	p := &progress{log: log, count: count, stop: make(chan struct{})}
	p.setPhase("history")
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				n, extra := p.count()
				if n == last {
					continue
				}
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				sim := ""
				if ms := p.simTime.Load(); ms > 0 {
					sim = " at " + time.UnixMilli(ms).UTC().Format("2006-01-02 15:04Z")
				}
				fmt.Fprintf(p.log, "%s%s: %s events (%s/s)%s\n", *p.phase.Load(), sim, group(n), group(int64(rate)), extra)
				last, lastAt = n, now
			}
		}
	}()
	return p
}

func (p *progress) setPhase(s string) { p.phase.Store(&s) }

func (p *progress) close() {
	close(p.stop)
	p.done.Wait()
}

func send(ctx context.Context, cfg *RunConfig, g *Generator, until time.Time) error {
	s, err := NewSender(cfg.Sender)
	if err != nil {
		return err
	}
	if err := WaitReady(ctx, cfg.Sender.Client, cfg.Sender.URL, cfg.ReadyTimeout); err != nil {
		_ = s.Close(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	began := time.Now()
	prog := startProgress(cfg.Log, cfg.ProgressEvery, func() (int64, string) {
		st := s.Stats()
		extra := fmt.Sprintf(", %s accepted", group(st.Accepted))
		if st.Rejected > 0 {
			extra += fmt.Sprintf(", %s rejected (%s)", group(st.Rejected), st.LastRejection)
		}
		if st.Retries > 0 {
			extra += fmt.Sprintf(", %s retries", group(st.Retries))
		}
		return st.Events, extra
	})
	emit := func(e *Event) error {
		prog.simTime.Store(e.Timestamp.UnixMilli())
		return s.Send(ctx, e)
	}

	var feed *Feed
	switch cfg.Order {
	case OrderUser:
		err = g.Generate(until, emit)
		if err == nil && !cfg.HistoryOnly {
			feed = g.Feed()
			err = feed.Until(until, func(*Event) error { return nil }) // skip what was sent
		}
	default:
		feed = g.Feed()
		err = feed.Until(until, emit)
	}
	if err == nil && !cfg.HistoryOnly {
		err = s.Flush(ctx)
		if err == nil {
			fmt.Fprintf(cfg.Log, "history sent: %s events; going live (speed %g), Ctrl-C stops\n", group(s.Stats().Events), cfg.Speed)
			prog.setPhase("live")
			err = live(ctx, cfg, feed, s, emit)
		}
	}
	// Send what is buffered even after Ctrl-C, but do not wait forever for a gateway that
	// has gone away.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if cerr := s.Close(closeCtx); err == nil || interrupted(ctx, err) {
		err = cerr // a failure of the gateway says more than the interruption
	}
	prog.close()
	st := s.Stats()
	elapsed := time.Since(began)
	fmt.Fprintf(cfg.Log, "sent %s events in %s (%s/s): %s accepted, %s rejected; %s requests, %s retries, %s on the wire\n",
		group(st.Events), elapsed.Round(100*time.Millisecond), group(int64(float64(st.Events)/max(elapsed.Seconds(), 0.001))),
		group(st.Accepted), group(st.Rejected), group(st.Requests), group(st.Retries), bytesize(st.Bytes))
	if st.LastRejection != "" {
		fmt.Fprintf(cfg.Log, "last rejected event: %s\n", st.LastRejection)
	}
	c := g.Config()
	fmt.Fprintf(cfg.Log, "to send the same events again (the pipeline counts each event_id once): -seed %d -start %s -days %d\n",
		c.Seed, c.Start.Format(time.DateOnly), c.Days)
	if err == nil || interrupted(ctx, err) {
		return nil // Ctrl-C is how live mode ends
	}
	return err
}

// interrupted reports whether err is only ctx ending.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// live sends the feed as the wall clock reaches each event, or in a time-lapse.
func live(ctx context.Context, cfg *RunConfig, feed *Feed, s *Sender, emit func(*Event) error) error {
	start := cfg.Now()
	// Catch up with the events that became due while the history was sent.
	if err := feed.Until(start, emit); err != nil {
		return err
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	var end <-chan time.Time
	if cfg.Live > 0 {
		t := time.NewTimer(cfg.Live)
		defer t.Stop()
		end = t.C
	}
	tick := time.Second
	if cfg.Speed > 1 {
		tick = 250 * time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	epoch := start.UnixMilli()
	suffix := "-x" + strconv.FormatFloat(cfg.Speed, 'f', -1, 64) + "-" + strconv.FormatInt(start.Unix(), 36)
	lapse := func(e *Event) error {
		// Map simulated time onto the wall clock: the per-user order is kept, the gaps
		// shrink Speed times.
		ts := e.Timestamp.UnixMilli()
		e.Timestamp = time.UnixMilli(epoch + int64(float64(ts-epoch)/cfg.Speed)).UTC()
		e.idSuffix = suffix
		return emit(e)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return nil
		case <-ticker.C:
		}
		wall := cfg.Now()
		var err error
		if cfg.Speed == 1 {
			err = feed.Until(wall, emit)
		} else {
			sim := epoch + int64(float64(wall.UnixMilli()-epoch)*cfg.Speed)
			err = feed.Until(time.UnixMilli(sim), lapse)
		}
		if err == nil {
			err = s.Flush(ctx)
		}
		if err != nil {
			return err
		}
	}
}

// dryRun writes the history as NDJSON.
func dryRun(ctx context.Context, cfg *RunConfig, g *Generator, until time.Time) (err error) {
	var w io.Writer = os.Stdout
	if cfg.Out != "" && cfg.Out != "-" {
		f, err := os.Create(cfg.Out)
		if err != nil {
			return fmt.Errorf("dry run: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("dry run: closing %s: %w", cfg.Out, cerr)
			}
		}()
		w = f
	}
	var n, size atomic.Int64
	prog := startProgress(cfg.Log, cfg.ProgressEvery, func() (int64, string) { return n.Load(), "" })
	defer prog.close()
	began := time.Now()

	// Each shard fills its own chunk and writes it whole: a user's events stay in order.
	const chunk = 256 << 10
	type shard struct {
		buf []byte
		n   int64
	}
	var mu sync.Mutex
	shards := make([]shard, cfg.Procs)
	write := func(sh *shard) error {
		mu.Lock()
		defer mu.Unlock()
		n.Add(sh.n)
		size.Add(int64(len(sh.buf)))
		_, err := w.Write(sh.buf)
		sh.buf, sh.n = sh.buf[:0], 0
		if err != nil {
			return fmt.Errorf("dry run: writing: %w", err)
		}
		return nil
	}
	err = g.GenerateParallel(ctx, until, cfg.Procs, func(k int, e *Event) error {
		sh := &shards[k]
		sh.buf = append(e.AppendJSON(sh.buf), '\n')
		sh.n++
		if len(sh.buf) < chunk {
			return nil
		}
		if k == 0 {
			prog.simTime.Store(e.Timestamp.UnixMilli())
		}
		return write(sh)
	})
	for k := range shards {
		if err == nil && shards[k].n > 0 {
			err = write(&shards[k])
		}
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	fmt.Fprintf(cfg.Log, "wrote %s events (%s) in %s: %s events/s\n", group(n.Load()), bytesize(size.Load()),
		elapsed.Round(time.Millisecond), group(int64(float64(n.Load())/max(elapsed.Seconds(), 0.001))))
	return nil
}

// group formats n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
