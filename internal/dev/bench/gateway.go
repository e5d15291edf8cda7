package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/topics"
)

// Throughput and latency targets of the contract (BENCHMARKS.md).
const (
	targetGatewayEventsPerSec = 150_000
	targetGatewayRawRatio     = 0.3
	targetAckP99              = 50 * time.Millisecond
)

// Gateway measures closed-loop throughput of POST /v1/events through the real gateway
// process to the embedded broker, and raw franz-go produce of the same records to the same
// broker, alternating the two in rounds.
func (r *Runner) Gateway(ctx context.Context) (*Section, error) {
	cfg := r.cfg
	sec := &Section{Title: "Gateway throughput: HTTP vs raw produce"}
	g, err := r.startGatewayRig(ctx, "gateway", cfg.Clients)
	if err != nil {
		return sec, err
	}
	defer g.Close()
	st, bodies, raw, prod, cl := g.st, g.bodies, g.raw, g.prod, g.cl

	r.env.logf("gateway: warming up")
	warm := 2 * time.Second
	ClosedLoop(ctx, cl, bodies, cfg.Clients, warm, maxRequests(warm))
	prod.ClosedLoop(ctx, raw, cfg.Clients, warm, maxRequests(warm))

	t := &Table{Header: []string{"round", "path", "events/s", "requests/s", "p50", "p99", "failed", "CPU cores used"}}
	window := cfg.Duration / time.Duration(cfg.Rounds)
	var gw, rw LoadResult
	for round := 1; round <= cfg.Rounds; round++ {
		for _, path := range []string{"gateway", "raw"} {
			if err := st.Check(); err != nil {
				return sec, err
			}
			r.env.logf("gateway: round %d/%d, %s for %s", round, cfg.Rounds, path, window)
			m := NewCPUMeter(st.PIDs())
			m.Start()
			var res LoadResult
			name := "HTTP → gateway → broker"
			if path == "gateway" {
				res = ClosedLoop(ctx, cl, bodies, cfg.Clients, window, maxRequests(window))
				gw = merge(gw, res)
			} else {
				name = "raw franz-go → broker"
				res = prod.ClosedLoop(ctx, raw, cfg.Clients, window, maxRequests(window))
				rw = merge(rw, res)
			}
			cpu := m.Stop()
			p := Percentiles(res.Latencies, 0.5, 0.99)
			t.Add(round, name, fmtRate(res.EventsPerSec()), fmtRate(res.RequestsPerSec()), fmtDur(p[0]), fmtDur(p[1]), res.Failed, FormatCPU(cpu))
			if ctx.Err() != nil {
				return sec, errStopped
			}
		}
	}
	ratio := gw.EventsPerSec() / rw.EventsPerSec()
	pg := Percentiles(gw.Latencies, 0.5, 0.99)
	pr := Percentiles(rw.Latencies, 0.5, 0.99)
	t.Add("all", "**gateway**", "**"+fmtRate(gw.EventsPerSec())+"**", fmtRate(gw.RequestsPerSec()), fmtDur(pg[0]), fmtDur(pg[1]), gw.Failed, "")
	t.Add("all", "**raw**", "**"+fmtRate(rw.EventsPerSec())+"**", fmtRate(rw.RequestsPerSec()), fmtDur(pr[0]), fmtDur(pr[1]), rw.Failed, "")
	t.Add("", "**ratio gateway/raw**", fmt.Sprintf("**%.2f**", ratio), "", "", "", "", "")
	sec.Tables = append(sec.Tables, t)
	sec.Note("%d keep-alive HTTP clients (raw: %d goroutines sharing one franz-go client, one ProduceSync of %d records each, as the gateway's Publisher does); %d rounds of %s each, after %s of warm-up for both", cfg.Clients, cfg.Clients, BatchEvents, cfg.Rounds, window, warm)
	sec.Note("bodies: %d-event JSON arrays of up to %d bytes (~%d per event), pre-encoded; each request copies one and patches ids and timestamps in place", BatchEvents, bodies.Size(), bodies.Size()/BatchEvents)
	sec.Note("latency columns are closed-loop (saturated) request times, not the ack latency target: see the latency scenario")
	r.gatewayMax = gw.EventsPerSec()
	r.target("gateway throughput (HTTP, 100-event batches)", "≥ 150,000 events/s", fmtRate(gw.EventsPerSec())+" events/s", gw.EventsPerSec() >= targetGatewayEventsPerSec)
	r.target("gateway / raw produce ratio", "≥ 0.3", fmt.Sprintf("%.2f", ratio), ratio >= targetGatewayRawRatio)
	return sec, nil
}

// merge adds b's counts to a; rates of the result are over the summed elapsed time.
func merge(a, b LoadResult) LoadResult {
	if a.Statuses == nil {
		a.Statuses = map[int]int64{}
	}
	a.Elapsed += b.Elapsed
	a.Requests += b.Requests
	a.Events += b.Events
	a.Failed += b.Failed
	a.Lagging += b.Lagging
	for k, v := range b.Statuses {
		a.Statuses[k] += v
	}
	a.Latencies = append(a.Latencies, b.Latencies...)
	return a
}

// Latency measures ack latency under open-loop load at fractions of the maximum gateway
// throughput, and the latency of raw produce of the same records at the same rate to the same
// broker, which is the part of the gateway's latency the broker and the producer settings
// account for.
func (r *Runner) Latency(ctx context.Context) (*Section, error) {
	cfg := r.cfg
	sec := &Section{Title: "Ack latency under open-loop load"}
	const inflight = 1024
	g, err := r.startGatewayRig(ctx, "latency", inflight)
	if err != nil {
		return sec, err
	}
	defer g.Close()
	st, bodies, raw, prod, cl := g.st, g.bodies, g.raw, g.prod, g.cl
	maxRate := r.gatewayMax
	basis := "the gateway scenario of this run"
	if maxRate == 0 {
		d := max(cfg.Duration/2, 3*time.Second)
		r.env.logf("latency: measuring maximum throughput (%s closed loop)", d)
		ClosedLoop(ctx, cl, bodies, cfg.Clients, 2*time.Second, maxRequests(2*time.Second))
		maxRate = ClosedLoop(ctx, cl, bodies, cfg.Clients, d, maxRequests(d)).EventsPerSec()
		basis = fmt.Sprintf("a %s closed-loop run with %d clients", d, cfg.Clients)
	}
	if maxRate < BatchEvents {
		return sec, fmt.Errorf("maximum throughput %.0f events/s is too low to derive rates from", maxRate)
	}
	const warm = 2 * time.Second
	t := &Table{Header: []string{"offered", "path", "achieved events/s", "requests", "p50", "p90", "p99", "p99.9", "max", "failed", "late starts", "gateway publish (mean)", "CPU cores used"}}
	for _, f := range cfg.LatencyFractions {
		rate := f * maxRate
		offered := fmt.Sprintf("%s events/s (%.0f%% of max)", fmtRate(rate), 100*f)
		for _, path := range []string{"gateway", "raw"} {
			r.env.logf("latency: %s at %.0f events/s (%.0f%% of max), %s warm-up + %s", path, rate, 100*f, warm, cfg.Duration)
			run := func(d time.Duration) LoadResult {
				if path == "gateway" {
					return OpenLoop(ctx, cl, bodies, rate, d, inflight)
				}
				return prod.OpenLoop(ctx, raw, rate, d, inflight)
			}
			run(warm) // connections, goroutines and buffers for this rate
			before, _ := Scrape(ctx, st.GatewayAddr)
			m := NewCPUMeter(st.PIDs())
			m.Start()
			res := run(cfg.Duration)
			cpu := m.Stop()
			after, _ := Scrape(ctx, st.GatewayAddr)
			if err := st.Check(); err != nil {
				return sec, err
			}
			pub, name := "–", "raw franz-go → broker"
			if path == "gateway" {
				name = "HTTP → gateway → broker"
				if n := after["engage_ingest_publish_duration_seconds_count"] - before["engage_ingest_publish_duration_seconds_count"]; n > 0 {
					s := after["engage_ingest_publish_duration_seconds_sum"] - before["engage_ingest_publish_duration_seconds_sum"]
					pub = fmtDur(time.Duration(s / n * float64(time.Second)))
				}
			}
			if res.Failed > 0 {
				r.env.logf("latency: %d requests failed (%v); gateway log tail:\n%s", res.Failed, res.Statuses, tail(st.Logs("gateway"), 40))
			}
			p := Percentiles(res.Latencies, 0.5, 0.9, 0.99, 0.999, 1)
			t.Add(offered, name, fmtRate(res.EventsPerSec()), res.Requests, fmtDur(p[0]), fmtDur(p[1]), "**"+fmtDur(p[2])+"**", fmtDur(p[3]), fmtDur(p[4]),
				res.Failed, res.Lagging, pub, FormatCPU(cpu))
			if f == 0.5 && path == "gateway" {
				r.target("ack latency p99 at half of max throughput", "< 50 ms", fmtDur(p[2]), p[2] < targetAckP99 && res.Failed == 0)
			}
			if ctx.Err() != nil {
				return sec, errStopped
			}
		}
	}
	sec.Tables = append(sec.Tables, t)
	sec.Note("maximum throughput %s events/s, from %s", fmtRate(maxRate), basis)
	sec.Note("open loop: %d-event requests started on a fixed schedule whatever earlier answers took (up to %d in flight), after %s of warm-up at the same rate; latency runs from the scheduled start to the 200 answer (raw: to the last acknowledgement), so a generator that falls behind inflates it instead of hiding it; \"late starts\" counts requests that began more than 10 ms after their slot", BatchEvents, inflight, warm)
	sec.Note("\"gateway publish\" is the gateway's own engage_ingest_publish_duration_seconds (produce until every ack), averaged over the window")
	return sec, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// gatewayRig is what the gateway and latency scenarios both drive: a broker and a gateway
// process, pre-encoded request bodies with their raw-record twins, a raw franz-go producer
// to the same broker, and an HTTP client.
type gatewayRig struct {
	st     *Stack
	bodies *Bodies
	raw    []rawBatch
	prod   *RawProducer
	cl     *Client
}

func (r *Runner) startGatewayRig(ctx context.Context, name string, clients int) (*gatewayRig, error) {
	g := &gatewayRig{st: r.env.NewStack(name)}
	if err := g.st.StartBroker(ctx); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.st.StartGateway(ctx); err != nil {
		g.Close()
		return nil, err
	}
	g.bodies = NewBodies(r.cfg.Traffic)
	raw, err := g.bodies.rawBatches(time.Now())
	if err != nil {
		g.Close()
		return nil, err
	}
	g.raw = raw
	if g.prod, err = NewRawProducer([]string{g.st.BrokerAddr}, topics.Events); err != nil {
		g.Close()
		return nil, err
	}
	g.cl = NewClient(g.st.GatewayAddr, WriteKey, clients)
	return g, nil
}

// Close releases in reverse order of start.
func (g *gatewayRig) Close() {
	if g.cl != nil {
		g.cl.Close()
	}
	if g.prod != nil {
		g.prod.Close()
	}
	g.st.Close()
}
