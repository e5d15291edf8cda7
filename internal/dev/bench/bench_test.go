package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// TestBodiesAreValidAndUnique: every generated body is a JSON array of BatchEvents events
// the gateway accepts, event ids never repeat across bodies (the worker would drop repeats
// and the pipeline scenario would under-count), and timestamps are the time given to Next.
func TestBodiesAreValidAndUnique(t *testing.T) {
	b := NewBodies(Traffic{Run: "t", Accounts: 10, UsersPerAccount: 20})
	now := time.Date(2026, 11, 23, 12, 0, 0, 123e6, time.UTC)
	ids := map[string]bool{}
	users := map[string]string{} // user → account
	var buf []byte
	for n := range 5 {
		buf = b.Next(buf, now.Add(time.Duration(n)*time.Second))
		if len(buf) > b.Size() {
			t.Fatalf("body %d is %d bytes, Size() = %d", n, len(buf), b.Size())
		}
		var ins []event.Input
		if err := json.Unmarshal(buf, &ins); err != nil {
			t.Fatalf("body %d: %v\n%s", n, err, buf)
		}
		if len(ins) != BatchEvents {
			t.Fatalf("body %d has %d events", n, len(ins))
		}
		for _, in := range ins {
			ev, err := in.Build(now.Add(time.Hour))
			if err != nil {
				t.Fatalf("body %d: %v", n, err)
			}
			if ids[in.EventID] {
				t.Fatalf("event id %s repeats", in.EventID)
			}
			ids[in.EventID] = true
			if want := now.Add(time.Duration(n) * time.Second); !ev.OriginalTimestamp.Equal(want) {
				t.Fatalf("timestamp %s, want %s", ev.OriginalTimestamp, want)
			}
			if a, ok := users[in.UserID]; ok && a != in.AccountID {
				t.Fatalf("user %s in accounts %s and %s", in.UserID, a, in.AccountID)
			}
			users[in.UserID] = in.AccountID
		}
	}
	if b.Sent() != 5 {
		t.Errorf("Sent() = %d, want 5", b.Sent())
	}
}

// TestRawBatchesMatchTheGateway: raw produce sends what the gateway's Publisher would: the
// event's wire encoding keyed by account_id.
func TestRawBatchesMatchTheGateway(t *testing.T) {
	b := NewBodies(Traffic{Run: "t", Accounts: 2, UsersPerAccount: 100})
	now := time.Now()
	batches, err := b.rawBatches(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 2 || len(batches[0].values) != BatchEvents {
		t.Fatalf("%d batches of %d records, want 2 of %d", len(batches), len(batches[0].values), BatchEvents)
	}
	ev, err := event.Decode(batches[0].values[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(batches[0].keys[0]) != ev.AccountID {
		t.Errorf("key %q, want the account %q", batches[0].keys[0], ev.AccountID)
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/engage-oss/engage/internal/ingest
cpu: AMD EPYC
BenchmarkDecodeValidate/batch100         	   15254	     79592 ns/op	 296.71 MB/s	   27264 B/op	       1 allocs/op	       795.9 ns/event
BenchmarkHandler100/json-2               	   15009	     78757 ns/op	  61656 B/op	      34 allocs/op	 1269786 events/s	       787.6 ns/event
--- FAIL: BenchmarkBroken
BenchmarkBroken
PASS
pkg: github.com/engage-oss/engage/internal/health
BenchmarkScore 	14025051	        85.40 ns/op	       0 B/op	       0 allocs/op
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pkg, name string
		procs     int
		unit      string
		want      float64
	}{
		{"github.com/engage-oss/engage/internal/ingest", "DecodeValidate/batch100", 1, "ns/event", 795.9},
		{"github.com/engage-oss/engage/internal/ingest", "Handler100/json", 2, "events/s", 1269786},
		{"github.com/engage-oss/engage/internal/health", "Score", 1, "ns/op", 85.4},
	}
	if len(got) != len(tests) {
		t.Fatalf("parsed %d results, want %d: %+v", len(got), len(tests), got)
	}
	for i, tt := range tests {
		g := got[i]
		if g.Pkg != tt.pkg || g.Name != tt.name || g.Procs != tt.procs || g.Metrics[tt.unit] != tt.want {
			t.Errorf("result %d = %s %s -%d %v, want %s %s -%d %s=%v", i, g.Pkg, g.Name, g.Procs, g.Metrics, tt.pkg, tt.name, tt.procs, tt.unit, tt.want)
		}
	}
	r := NewRunner(Config{}, nil)
	r.MicroSection(got)
	if len(r.targets) != 2 || !r.targets[0].Met || !r.targets[1].Met {
		t.Errorf("targets %+v, want DecodeValidate and Handler100 met", r.targets)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP engage_worker_consumer_lag_records x
# TYPE engage_worker_consumer_lag_records gauge
engage_worker_consumer_lag_records{partition="0"} 10
engage_worker_consumer_lag_records{partition="1"} 5
engage_worker_batch_seconds_sum 1.5
engage_worker_batch_seconds_count 3
engage_worker_batch_seconds_bucket{le="+Inf"} 3
engage_scorer_rescore_seconds_sum{phase="total"} 2
engage_scorer_rescore_seconds_sum{phase="query"} 1
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"engage_worker_consumer_lag_records": 15, "engage_worker_batch_seconds_sum": 1.5, "engage_worker_batch_seconds_count": 3,
		`engage_scorer_rescore_seconds_sum{phase="total"}`: 2, "engage_scorer_rescore_seconds_sum": 3,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Percentiles(ds, 0.5, 0.95, 0.99, 1)
	want := []time.Duration{50 * time.Millisecond, 95 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("quantile %d = %v, want %v", i, got[i], want[i])
		}
	}
	if p := Percentiles(nil, 0.5); p[0] != 0 {
		t.Errorf("empty: %v", p)
	}
}

func TestParseAccepted(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"accepted":100,"rejected":0,"errors":[]}`, 100},
		{`{"accepted":0,"rejected":1}`, 0},
		{`{"error":"nope"}`, -1},
	}
	for _, tt := range tests {
		if got := parseAccepted([]byte(tt.body)); got != tt.want {
			t.Errorf("parseAccepted(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtInt(1234567), "1,234,567"},
		{fmtInt(-1000), "-1,000"},
		{fmtInt(999), "999"},
		{fmtDur(1500 * time.Microsecond), "1.50 ms"},
		{fmtDur(12 * time.Second), "12.0 s"},
		{fmtMetric(795.9), "796"},
		{fmtMetric(85.4), "85.4"},
		{fmtMetric(0.919), "0.919"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestBounded: a backlog that hovers is bounded, one that grows by a tenth of the rate every
// second is not, even when it drains quickly after a short step.
func TestBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	step := func(growth float64) *stepResult {
		s := &stepResult{rate: 10_000, loadStart: start, loadEnd: start.Add(20 * time.Second), drain: time.Second}
		for i := range 21 {
			jitter := float64(i%3) * 2000
			s.samples = append(s.samples, sample{at: start.Add(time.Duration(i) * time.Second), ok: true,
				accepted: float64(i) * 10_000, stored: uint64(max(float64(i)*10_000-5000-jitter-growth*float64(i), 0))})
		}
		s.summarise()
		return s
	}
	if s := step(0); !s.bounded() {
		t.Errorf("steady backlog: trend %.0f/s, not bounded", s.trend)
	}
	if s := step(1000); s.bounded() {
		t.Errorf("backlog growing 1000/s at 10000/s: trend %.0f/s, bounded", s.trend)
	}
}
