package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
)

// targetFreshnessP95 is the contract's freshness promise: an accepted event shows in every
// view within 10 s.
const targetFreshnessP95 = 10 * time.Second

// probeAccount holds the freshness probes; its users are unique per probe, so a probe is
// visible in user_daily and sessions exactly when its user has a row.
const probeAccount = "bench-probe"

// probe is one event sent alone, whose arrival in the views is timed.
type probe struct {
	id, user string
	acked    time.Time
	// first time a poll saw it; zero while unseen
	events, daily, sessions time.Time
}

func (p *probe) seen() bool { return !p.events.IsZero() && !p.daily.IsZero() && !p.sessions.IsZero() }

// prober sends probes and polls the views for them.
type prober struct {
	cl    *Client
	conn  driver.Conn
	step  string
	mu    sync.Mutex
	all   []*probe
	polls int
	poll  time.Duration // total time spent in poll queries
}

func (pr *prober) send(ctx context.Context, i int) {
	id := fmt.Sprintf("probe-%s-%d", pr.step, i)
	p := &probe{id: id, user: "p-" + pr.step + "-" + fmt.Sprint(i)}
	ts := time.Now().UTC().Format(tsLayout)
	body := fmt.Appendf(nil, `{"event_id":%q,"account_id":%q,"user_id":%q,"name":"feature.probe","timestamp":%q}`, id, probeAccount, p.user, ts)
	status, accepted, err := pr.cl.Post(ctx, body)
	if err != nil || status != 200 || accepted != 1 {
		return // not acknowledged: not a probe
	}
	p.acked = time.Now()
	pr.mu.Lock()
	pr.all = append(pr.all, p)
	pr.mu.Unlock()
}

func (pr *prober) pending() []*probe {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var out []*probe
	for _, p := range pr.all {
		if !p.seen() && len(out) < 500 {
			out = append(out, p)
		}
	}
	return out
}

// pollOnce asks each view which pending probes it shows. A probe counts as visible at the
// start of the query that first returned it.
func (pr *prober) pollOnce(ctx context.Context) error {
	ps := pr.pending()
	if len(ps) == 0 {
		return nil
	}
	ids, users := make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		ids[i], users[i] = "'"+p.id+"'", "'"+p.user+"'"
	}
	queries := []struct {
		sql  string
		byID bool
		mark func(*probe, time.Time)
	}{
		{`SELECT event_id FROM events WHERE account_id = '` + probeAccount + `' AND event_id IN (` + strings.Join(ids, ",") + `)`, true,
			func(p *probe, t time.Time) { p.events = t }},
		{`SELECT DISTINCT user_id FROM user_daily WHERE account_id = '` + probeAccount + `' AND user_id IN (` + strings.Join(users, ",") + `)`, false,
			func(p *probe, t time.Time) { p.daily = t }},
		{`SELECT DISTINCT user_id FROM sessions WHERE account_id = '` + probeAccount + `' AND user_id IN (` + strings.Join(users, ",") + `)`, false,
			func(p *probe, t time.Time) { p.sessions = t }},
	}
	for _, q := range queries {
		t0 := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rows, err := pr.conn.Query(qctx, q.sql)
		if err != nil {
			cancel()
			return err
		}
		got := map[string]bool{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				cancel()
				return err
			}
			got[s] = true
		}
		err = rows.Err()
		rows.Close()
		cancel()
		if err != nil {
			return err
		}
		pr.mu.Lock()
		pr.polls++
		pr.poll += time.Since(t0)
		for _, p := range ps {
			key := p.user
			if q.byID {
				key = p.id
			}
			if got[key] {
				q.mark(p, t0)
			}
		}
		pr.mu.Unlock()
	}
	return nil
}

// freshness returns the acked→visible durations of seen probes for one view, and how many
// acked probes were never seen.
func (pr *prober) freshness(at func(*probe) time.Time) (ds []time.Duration, unseen int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range pr.all {
		t := at(p)
		if t.IsZero() {
			unseen++
			continue
		}
		ds = append(ds, max(t.Sub(p.acked), 0))
	}
	return ds, unseen
}

// sample is one observation of the pipeline's state.
type sample struct {
	at       time.Time
	lag      float64 // sum of engage_worker_consumer_lag_records
	accepted float64 // the gateway's engage_ingest_events_accepted_total
	stored   uint64  // count() of events_raw
	ok       bool    // both the scrape and the count query succeeded
}

// backlog is what the gateway acknowledged and ClickHouse does not hold yet.
func (s sample) backlog() float64 { return max(s.accepted-float64(s.stored), 0) }

// stepResult is one rate of the staircase.
type stepResult struct {
	rate                   float64
	load                   LoadResult
	samples                []sample
	loadStart, loadEnd     time.Time
	drain                  time.Duration // end of load → every accepted event stored; <0 if never
	probes                 int
	fEvents, fDaily, fSess []time.Duration
	fAll                   []time.Duration
	unseen                 int
	pollMean               time.Duration
	cpu                    []CPUUse
	worker                 map[string]float64 // worker metrics at the end minus at the start
	ingest                 float64            // events/s into ClickHouse over the load window
	maxLag                 float64            // of the worker's lag metric
	maxBacklog, endBacklog float64
	trend                  float64 // least-squares slope of the backlog during the load, events/s per s
	rowsPerEvent           float64 // rows of the four raw tables per stored event
}

func (s *stepResult) ok() bool {
	p95 := Percentiles(append([]time.Duration(nil), s.fAll...), 0.95)[0]
	return s.bounded() && s.unseen == 0 && len(s.fAll) > 0 && p95 <= targetFreshnessP95
}

// maxDrain bounds the backlog a step may leave: what takes longer than this to store after
// the load stops was not being kept up with.
const maxDrain = 5 * time.Second

// maxTrend bounds the backlog's growth during the load, as a share of the offered rate. In
// steady state the backlog hovers around (flush interval + batch time) × rate; a worker that
// falls behind by x % of the rate makes it grow by x % of the rate every second.
const maxTrend = 0.05

// bounded: the backlog did not grow during the load, and was stored within maxDrain when the
// load stopped.
func (s *stepResult) bounded() bool {
	return s.drain >= 0 && s.drain <= maxDrain && s.trend <= maxTrend*s.rate
}

// Pipeline runs gateway + worker + ClickHouse at each rate of the staircase, each on a fresh
// broker and database, and measures ingest into ClickHouse, backlog and freshness.
func (r *Runner) Pipeline(ctx context.Context) (*Section, error) {
	cfg := r.cfg
	sec := &Section{Title: "Pipeline: gateway → broker → worker → ClickHouse"}
	if r.env.Cluster {
		sec.Title += " (2 × 2 cluster)"
	}
	if _, err := r.env.ClickHouse(ctx); err != nil {
		return sec, err
	}
	t := &Table{Header: []string{"offered events/s", "accepted events/s", "into ClickHouse events/s", "backlog max", "backlog at end", "backlog trend", "drain",
		"worker lag metric max", "worker batch mean (store write)", "records per batch", "ClickHouse rows per event", "verdict"}}
	ft := &Table{Header: []string{"offered events/s", "events p50 / p95", "user_daily p50 / p95", "sessions p50 / p95", "all views p50 / p95", "probes (unseen)", "poll query mean"}}
	cpuT := &Table{Header: []string{"offered events/s", "CPU cores used", "backlog every 2 s from the start of the load (thousand events)"}}
	best := 0.0
	var firstErr error
	for i, rate := range cfg.PipelineRates {
		res, err := r.pipelineStep(ctx, i, rate)
		if res != nil {
			pe := Percentiles(res.fEvents, 0.5, 0.95)
			pd := Percentiles(res.fDaily, 0.5, 0.95)
			ps := Percentiles(res.fSess, 0.5, 0.95)
			pa := Percentiles(res.fAll, 0.5, 0.95)
			drain := fmtDur(res.drain)
			if res.drain < 0 {
				drain = "not drained in 60 s"
			}
			v := "**ok**"
			switch {
			case !res.bounded():
				v = "**backlog grows**"
			case !res.ok():
				v = "**too stale**"
			}
			batch, write, perBatch := "–", "–", "–"
			if n := res.worker["engage_worker_batch_seconds_count"]; n > 0 {
				batch = fmtDur(time.Duration(res.worker["engage_worker_batch_seconds_sum"] / n * 1e9))
				perBatch = fmtInt(int64(res.worker["engage_worker_batch_records_sum"] / n))
			}
			if n := res.worker["engage_worker_store_write_seconds_count"]; n > 0 {
				write = fmtDur(time.Duration(res.worker["engage_worker_store_write_seconds_sum"] / n * 1e9))
			}
			t.Add(fmtRate(rate), fmtRate(res.load.EventsPerSec()), fmtRate(res.ingest), fmtInt(int64(res.maxBacklog)), fmtInt(int64(res.endBacklog)),
				fmt.Sprintf("%+.1f %%/s", 100*res.trend/rate), drain,
				fmtInt(int64(res.maxLag)), batch+" ("+write+")", perBatch, fmt.Sprintf("%.2f", res.rowsPerEvent), v)
			ft.Add(fmtRate(rate), fmtDur(pe[0])+" / "+fmtDur(pe[1]), fmtDur(pd[0])+" / "+fmtDur(pd[1]), fmtDur(ps[0])+" / "+fmtDur(ps[1]),
				fmtDur(pa[0])+" / **"+fmtDur(pa[1])+"**", fmt.Sprintf("%d (%d)", res.probes, res.unseen), fmtDur(res.pollMean))
			cpuT.Add(fmtRate(rate), FormatCPU(res.cpu), res.backlogSeries())
			if res.ok() {
				best = max(best, rate)
			}
		}
		if err != nil {
			firstErr = err
			break
		}
		if res != nil && !res.ok() {
			sec.Note("the staircase stopped at %s events/s, the first rate that missed", fmtRate(rate))
			break
		}
	}
	sec.Tables = append(sec.Tables, t, ft, cpuT)
	sec.Note("each rate runs %s of open-loop load on a fresh broker and database with the dev defaults (worker flush 500 ms); population %d accounts × %d users, one event in ten a $heartbeat", cfg.StepDuration, cfg.Traffic.Accounts, cfg.Traffic.UsersPerAccount)
	sec.Note("sampled every second: backlog = the gateway's engage_ingest_events_accepted_total − count() of events_raw; \"into ClickHouse\" = growth of that count() over the load window; drain = end of load → count() holds every accepted event; \"worker lag metric\" = sum of engage_worker_consumer_lag_records; rows per event: rows of events_raw, session_events_raw, sessions_raw and session_days_raw over rows of events_raw at the end")
	sec.Note("freshness: one probe event every %s, alone in its request, for a new user of account %q; timed from the gateway's 200 to the start of the first poll (every 100 ms: one query each on the events, user_daily and sessions views) that returns it; \"all views\" is the latest of the three", cfg.ProbeInterval, probeAccount)
	sec.Note("verdict ok: the backlog's trend (least-squares slope during the load, after its first 2 s, as a share of the offered rate per second) ≤ %.0f %%/s, drained within %s of the end of the load, every probe seen, all-views p95 ≤ 10 s", 100*maxTrend, maxDrain)
	r.target("highest rate with freshness p95 ≤ 10 s and bounded backlog", "(report)", fmtRate(best)+" events/s", best > 0)
	return sec, firstErr
}

func (r *Runner) pipelineStep(ctx context.Context, i int, rate float64) (*stepResult, error) {
	cfg := r.cfg
	name := fmt.Sprintf("pipeline-%d", i)
	db := fmt.Sprintf("bench_%s_p%d", cfg.Traffic.Run, i)
	r.env.logf("pipeline: %s events/s for %s (database %s)", fmtRate(rate), cfg.StepDuration, db)
	st := r.env.NewStack(name)
	defer func() {
		st.Close() // the worker stops before its database goes
		r.dropDatabase(db)
	}()
	if err := st.StartBroker(ctx); err != nil {
		return nil, err
	}
	if err := st.StartWorker(ctx, db); err != nil {
		return nil, err
	}
	if err := st.StartGateway(ctx); err != nil {
		return nil, err
	}
	conn, err := r.env.openCH(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	traffic := cfg.Traffic
	traffic.Run = fmt.Sprintf("%s-p%d", cfg.Traffic.Run, i)
	bodies := NewBodies(traffic)
	cl := NewClient(st.GatewayAddr, WriteKey, 1024)
	defer cl.Close()
	pr := &prober{cl: NewClient(st.GatewayAddr, WriteKey, 4), conn: conn, step: traffic.Run}
	defer pr.cl.Close()

	res := &stepResult{rate: rate, drain: -1}
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }() // on every path: the goroutines write to res
	var smu sync.Mutex
	// sampler
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			s := sample{at: time.Now()}
			if m, err := Scrape(bg, st.WorkerAdmin); err == nil {
				s.lag = m["engage_worker_consumer_lag_records"]
			}
			// The gateway is scraped before ClickHouse is counted, so the backlog is never
			// under-estimated.
			gm, gerr := Scrape(bg, st.GatewayAddr)
			s.accepted = gm["engage_ingest_events_accepted_total"]
			qctx, cancel := context.WithTimeout(bg, 5*time.Second)
			s.ok = gerr == nil && conn.QueryRow(qctx, "SELECT count() FROM events_raw").Scan(&s.stored) == nil
			cancel()
			smu.Lock()
			res.samples = append(res.samples, s)
			smu.Unlock()
			select {
			case <-bg.Done():
				return
			case <-tick.C:
			}
		}
	}()
	// poller
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = pr.pollOnce(bg)
			select {
			case <-bg.Done():
				return
			case <-tick.C:
			}
		}
	}()
	// probe sender, bounded by the load window
	probeCtx, stopProbes := context.WithTimeout(bg, cfg.StepDuration)
	defer stopProbes()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(cfg.ProbeInterval)
		defer tick.Stop()
		for n := 0; n < int(cfg.StepDuration/cfg.ProbeInterval)+1; n++ {
			select {
			case <-probeCtx.Done():
				return
			case <-tick.C:
			}
			pr.send(probeCtx, n)
		}
	}()

	wm0, _ := Scrape(ctx, st.WorkerAdmin)
	m := NewCPUMeter(st.PIDs())
	m.Start()
	res.loadStart = time.Now()
	res.load = OpenLoop(ctx, cl, bodies, rate, cfg.StepDuration, 1024)
	res.loadEnd = time.Now()
	res.cpu = m.Stop()
	stopProbes()
	wm1, _ := Scrape(ctx, st.WorkerAdmin)
	res.worker = map[string]float64{}
	for k, v := range wm1 {
		res.worker[k] = v - wm0[k]
	}
	if err := st.Check(); err != nil {
		return res, err
	}

	// Drain: wait until every accepted event (and probe) is stored, then until every probe is
	// in every view, within bounds.
	want := uint64(res.load.Events)
	pr.mu.Lock()
	want += uint64(len(pr.all))
	pr.mu.Unlock()
	r.env.logf("pipeline: load done (%s events/s accepted); waiting for ClickHouse to hold all %d events", fmtRate(res.load.EventsPerSec()), want)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM events_raw").Scan(&n); err == nil && n >= want {
			res.drain = time.Since(res.loadEnd)
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	for deadline = time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(pr.pending()) > 0; {
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	stopBG()
	wg.Wait()
	var raw, all uint64
	if err := conn.QueryRow(ctx, `SELECT
    (SELECT count() FROM events_raw),
    (SELECT count() FROM events_raw) + (SELECT count() FROM session_events_raw) + (SELECT count() FROM sessions_raw) + (SELECT count() FROM session_days_raw)`).Scan(&raw, &all); err == nil && raw > 0 {
		res.rowsPerEvent = float64(all) / float64(raw)
	}

	res.fEvents, res.unseen = pr.freshness(func(p *probe) time.Time { return p.events })
	res.fDaily, _ = pr.freshness(func(p *probe) time.Time { return p.daily })
	res.fSess, _ = pr.freshness(func(p *probe) time.Time { return p.sessions })
	var unseenAll int
	res.fAll, unseenAll = pr.freshness(func(p *probe) time.Time {
		if !p.seen() {
			return time.Time{}
		}
		return maxTime(p.events, p.daily, p.sessions)
	})
	res.unseen = max(res.unseen, unseenAll)
	res.probes = len(pr.all)
	if pr.polls > 0 {
		res.pollMean = pr.poll / time.Duration(pr.polls)
	}
	res.summarise()
	return res, nil
}

// summarise derives the ingest rate and backlog figures from the samples of the load window.
func (s *stepResult) summarise() {
	var in []sample
	for _, x := range s.samples {
		if !x.ok || x.at.Before(s.loadStart) || x.at.After(s.loadEnd.Add(500*time.Millisecond)) {
			continue
		}
		in = append(in, x)
		s.maxLag = max(s.maxLag, x.lag)
		s.maxBacklog = max(s.maxBacklog, x.backlog())
	}
	if len(in) < 2 {
		return
	}
	first, last := in[0], in[len(in)-1]
	s.endBacklog = last.backlog()
	s.ingest = (float64(last.stored) - float64(first.stored)) / last.at.Sub(first.at).Seconds()
	// Trend over the load after its first 2 s, when the first batches are still forming.
	var xs, ys []float64
	for _, x := range in {
		if t := x.at.Sub(s.loadStart); t >= 2*time.Second && !x.at.After(s.loadEnd) {
			xs, ys = append(xs, t.Seconds()), append(ys, x.backlog())
		}
	}
	s.trend = slope(xs, ys)
}

// slope is the least-squares slope of ys over xs (0 with fewer than 3 points).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 3 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// backlogSeries renders the backlog at every other sample from the start of the load until
// it drained (at most 40 values).
func (s *stepResult) backlogSeries() string {
	var parts []string
	for i, x := range s.samples {
		if !x.ok || x.at.Before(s.loadStart) || i%2 == 1 {
			continue
		}
		parts = append(parts, strconv.FormatFloat(x.backlog()/1000, 'f', 0, 64))
		if len(parts) == 40 || (x.at.After(s.loadEnd) && x.backlog() == 0) {
			break
		}
	}
	return strings.Join(parts, " ")
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func (r *Runner) dropDatabase(db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, addr := range r.env.chAddrs() { // every node of a cluster
		conn, err := clickhouse.Open(ctx, clickhouse.Config{Addr: addr, Database: "default"})
		if err != nil {
			continue
		}
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`")
		conn.Close()
	}
}
