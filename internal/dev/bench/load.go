package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client posts pre-encoded bodies to a gateway's POST /v1/events over keep-alive
// connections.
type Client struct {
	url, auth string
	hc        *http.Client
}

// NewClient returns a client for the gateway at addr that keeps up to conns connections open.
func NewClient(addr, writeKey string, conns int) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{url: "http://" + addr + "/v1/events", auth: "Bearer " + writeKey,
		hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close closes idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Post sends body and returns the status and the "accepted" count of a 200 answer.
func (c *Client) Post(ctx context.Context, body []byte) (status, accepted int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", c.auth)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var buf [512]byte
	n, _ := io.ReadFull(resp.Body, buf[:])
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode == http.StatusOK {
		accepted = parseAccepted(buf[:n])
	}
	return resp.StatusCode, accepted, nil
}

// parseAccepted reads N from a response starting {"accepted":N,…}; -1 when absent.
func parseAccepted(b []byte) int {
	i := bytes.Index(b, []byte(`"accepted":`))
	if i < 0 {
		return -1
	}
	b = b[i+len(`"accepted":`):]
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(b[:j]))
	if err != nil {
		return -1
	}
	return n
}

// LoadResult is what one load run measured.
type LoadResult struct {
	Elapsed   time.Duration
	Requests  int64 // answered 200
	Events    int64 // accepted events of those
	Failed    int64 // transport errors and non-200 answers
	Statuses  map[int]int64
	Latencies []time.Duration // of requests answered 200; from the scheduled start in open loop
	Lagging   int64           // open loop: requests started over 10 ms after their schedule
}

// EventsPerSec is the accepted event rate.
func (r LoadResult) EventsPerSec() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// RequestsPerSec is the successful request rate.
func (r LoadResult) RequestsPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

type collector struct {
	mu  sync.Mutex
	res LoadResult
	cap int
}

func newCollector(maxSamples int) *collector {
	return &collector{res: LoadResult{Statuses: map[int]int64{}}, cap: maxSamples}
}

func (c *collector) add(status, accepted int, err error, lat time.Duration, wantEvents int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		c.res.Failed++
		c.res.Statuses[0]++
	case status != http.StatusOK || accepted != wantEvents:
		c.res.Failed++
		c.res.Statuses[status]++
	default:
		c.res.Statuses[status]++
		c.res.Requests++
		c.res.Events += int64(accepted)
		if len(c.res.Latencies) < c.cap {
			c.res.Latencies = append(c.res.Latencies, lat)
		}
	}
}

// ClosedLoop posts bodies from clients goroutines, each sending its next request as soon as
// the previous one is answered, for d or until maxRequests were sent.
func ClosedLoop(ctx context.Context, c *Client, bodies *Bodies, clients int, d time.Duration, maxRequests int64) LoadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	col := newCollector(1_000_000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, bodies.Size())
			for ctx.Err() == nil && sent.Add(1) <= maxRequests {
				t0 := time.Now()
				buf = bodies.Next(buf, t0)
				status, accepted, err := c.Post(ctx, buf)
				if ctx.Err() != nil && err != nil {
					return // cut off by the end of the run, not a failure
				}
				col.add(status, accepted, err, time.Since(t0), BatchEvents)
			}
		}()
	}
	wg.Wait()
	col.res.Elapsed = time.Since(start)
	return col.res
}

// OpenLoop posts bodies at a fixed rate (events/s, in requests of BatchEvents) for d, whatever
// the answers' latency: each request starts at its scheduled time, with up to maxInflight
// outstanding. Latency is measured from the scheduled start, so time spent waiting for an
// in-flight slot counts (no coordinated omission).
func OpenLoop(ctx context.Context, c *Client, bodies *Bodies, rate float64, d time.Duration, maxInflight int) LoadResult {
	pool := sync.Pool{New: func() any { b := make([]byte, 0, bodies.Size()); return &b }}
	return openLoop(ctx, rate, d, maxInflight, func(ctx context.Context) (int, int, error) {
		bp := pool.Get().(*[]byte)
		defer pool.Put(bp)
		*bp = bodies.Next(*bp, time.Now())
		return c.Post(ctx, *bp)
	})
}

// openLoop calls send (one request of BatchEvents events) on the schedule of rate for d.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInflight int, send func(context.Context) (status, accepted int, err error)) LoadResult {
	interval := time.Duration(float64(time.Second) * BatchEvents / rate)
	total := int64(d / interval)
	col := newCollector(int(total) + 1)
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	var lagging int64
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := range total {
		at := start.Add(time.Duration(k) * interval)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		if time.Since(at) > 10*time.Millisecond {
			lagging++
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			status, accepted, err := send(ctx)
			col.add(status, accepted, err, time.Since(at), BatchEvents)
		}()
	}
	// The rate is over the scheduled window: the last answers arrive after it.
	elapsed := time.Since(start)
	wg.Wait()
	col.res.Elapsed = elapsed
	col.res.Lagging = lagging
	return col.res
}

// Percentiles returns the given quantiles (0..1) of ds, which it sorts.
func Percentiles(ds []time.Duration, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(ds) == 0 {
		return out
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for i, q := range qs {
		// nearest rank
		r := int(q*float64(len(ds))+0.999999) - 1
		out[i] = ds[min(max(r, 0), len(ds)-1)]
	}
	return out
}

// fmtDur renders a duration in ms with 3 significant digits, or s above 10 s.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "–"
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10_000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.1f s", ms/1000)
	}
}

// fmtRate renders events/s with thousands separators.
func fmtRate(r float64) string { return fmtInt(int64(r + 0.5)) }

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + fmtInt(-n)
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
