package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/event"
)

// TestEventsStatus pins the status code and error body of every outcome of POST /v1/events
// that the contract (§2) names.
func TestEventsStatus(t *testing.T) {
	bearer := map[string]string{"Authorization": "Bearer " + testKey}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"))
	cases := []struct {
		name     string
		method   string
		path     string
		hdr      map[string]string
		body     string
		want     int
		wantErr  string // substring of {"error": ...}
		accepted int
		rejected int
	}{
		{name: "single object", body: ev("e1"), want: 200, accepted: 1},
		{name: "array", body: "[" + ev("e1") + "," + ev("e2") + "]", want: 200, accepted: 2},
		{name: "no content type is JSON", hdr: bearer, body: ev("e1"), want: 200, accepted: 1},
		{name: "json with charset", hdr: with("Content-Type", "application/json; charset=utf-8"), body: ev("e1"), want: 200, accepted: 1},
		{name: "ndjson", hdr: with("Content-Type", "application/x-ndjson"), body: ev("e1") + "\n\n" + ev("e2") + "\r\n", want: 200, accepted: 2},
		{name: "basic auth", hdr: with("Authorization", basic), body: ev("e1"), want: 200, accepted: 1},
		{name: "bearer scheme is case-insensitive", hdr: with("Authorization", "bearer "+testKey), body: ev("e1"), want: 200, accepted: 1},
		{name: "per-event errors", body: "[" + ev("e1") + "," + ev("e2", "name", `""`) + "," + ev("e3", "user_id", "5") + ",42]", want: 200, accepted: 1, rejected: 3},
		{name: "all rejected is still 200", body: "[" + ev("e1", "timestamp", `"yesterday"`) + "]", want: 200, rejected: 1},
		{name: "account outside key allow-list", hdr: with("Authorization", "Bearer restricted-key"), body: "[" + ev("e1") + "," + ev("e2", "account_id", `"globex"`) + "]", want: 200, accepted: 1, rejected: 1},

		{name: "missing key", hdr: map[string]string{}, body: ev("e1"), want: 401, wantErr: "missing write key"},
		{name: "unknown key", hdr: with("Authorization", "Bearer nope"), body: ev("e1"), want: 401, wantErr: "unknown write key"},
		{name: "unknown scheme", hdr: with("Authorization", "Digest x"), body: ev("e1"), want: 401, wantErr: "unsupported Authorization scheme"},
		{name: "malformed basic", hdr: with("Authorization", "Basic !!!"), body: ev("e1"), want: 401, wantErr: "malformed Basic"},
		{name: "writeKey in body is Segment only", hdr: map[string]string{}, body: `{"writeKey":"` + testKey + `"}`, want: 401},

		{name: "syntax error names the offset", body: `[` + ev("e1") + `,{"event_id":]`, want: 400, wantErr: "byte offset"},
		{name: "truncated array", body: `[` + ev("e1"), want: 400, wantErr: "unexpected end of JSON input"},
		{name: "two values without ndjson", body: ev("e1") + "\n" + ev("e2"), want: 400, wantErr: "application/x-ndjson"},
		{name: "scalar body", body: `"hello"`, want: 400, wantErr: "must be an event object"},
		{name: "empty body", body: "", want: 400, wantErr: "no events"},
		{name: "empty array", body: " [ ] ", want: 400, wantErr: "no events"},
		{name: "blank ndjson", hdr: with("Content-Type", "application/x-ndjson"), body: "\n \n", want: 400, wantErr: "no events"},

		{name: "form content type", hdr: with("Content-Type", "application/x-www-form-urlencoded"), body: ev("e1"), want: 415, wantErr: "unsupported Content-Type"},
		{name: "text/plain is Segment only", hdr: with("Content-Type", "text/plain"), body: ev("e1"), want: 415},
		{name: "brotli", hdr: with("Content-Encoding", "br"), body: ev("e1"), want: 415, wantErr: "Content-Encoding"},
		{name: "corrupt gzip", hdr: with("Content-Encoding", "gzip"), body: "not gzip", want: 400, wantErr: "gzip"},

		{name: "GET is 405", method: http.MethodGet, body: "", want: 405, wantErr: "not allowed"},
		{name: "unknown path is 404", path: "/v1/nope", body: ev("e1"), want: 404, wantErr: "no such endpoint"},
		{name: "root is 404", path: "/", body: ev("e1"), want: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			h, _ := newTestHandler(t, Config{}, pub)
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/v1/events"
			}
			r := httptest.NewRequest(method, path, strings.NewReader(tc.body))
			hdr := tc.hdr
			if hdr == nil {
				hdr = with()
			}
			for k, v := range hdr {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.want != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not {\"error\": ...}", w.Body)
				}
				if !strings.Contains(e.Error, tc.wantErr) {
					t.Errorf("error %q does not mention %q", e.Error, tc.wantErr)
				}
				if n := len(pub.published()); n != 0 {
					t.Errorf("%d events published on a %d", n, w.Code)
				}
				return
			}
			resp := decodeResponse(t, w)
			if resp.Accepted != tc.accepted || resp.Rejected != tc.rejected || len(resp.Errors) != tc.rejected {
				t.Errorf("accepted %d rejected %d (%d errors), want %d, %d: %s", resp.Accepted, resp.Rejected, len(resp.Errors), tc.accepted, tc.rejected, w.Body)
			}
			if resp.Success != nil || resp.Ignored != nil {
				t.Errorf("Segment fields in a /v1/events answer: %s", w.Body)
			}
			if n := len(pub.published()); n != tc.accepted {
				t.Errorf("%d events published, want %d", n, tc.accepted)
			}
		})
	}
}

// TestEventsGolden checks a mixed batch against a golden response: which events are
// accepted, the per-event error of each of the others (index, event_id, message), and what
// reaches the publisher.
func TestEventsGolden(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "events", "mixed_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{}
	h, reg := newTestHandler(t, Config{}, pub)
	w := post(h, "/v1/events", body, nil)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, w.Body.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "events", "mixed_batch.golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("response differs from %s (UPDATE_GOLDEN=1 to rewrite):\n%s", golden, got.Bytes())
	}
	for _, e := range pub.published() {
		if err := e.Validate(); err != nil {
			t.Errorf("published invalid event %s: %v", e.EventID, err)
		}
		if !e.ReceivedAt.Equal(testNow) {
			t.Errorf("received_at %v", e.ReceivedAt)
		}
	}
	if got := testutil.ToFloat64(h.m.rejected.WithLabelValues("timestamp")); got != 1 {
		t.Errorf("rejected{reason=timestamp} = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "engage_ingest_events_rejected_total"); err != nil || n == 0 {
		t.Errorf("rejected metric not gathered: %d, %v", n, err)
	}
}

// TestEventsFields checks that decoded fields, clock-skew correction and properties reach the
// publisher exactly.
func TestEventsFields(t *testing.T) {
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{}, pub)
	body := `{"event_id":"e\u00e9\n","account_id":"acme","user_id":"u1","name":"x","timestamp":"2026-11-23T11:00:00+01:00","sent_at":"2026-11-23T11:58:00Z","properties": {"a" : [1, "b"]},"extra":{"ignored":true}}`
	w := post(h, "/v1/events", []byte(body), nil)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	evs := pub.published()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.EventID != "eé\n" || e.AccountID != "acme" || e.UserID != "u1" || e.Name != "x" {
		t.Errorf("fields %+v", e)
	}
	// The client clock is 2 min behind: 10:00Z + 2 min.
	if want := time.Date(2026, 11, 23, 10, 2, 0, 0, time.UTC); !e.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", e.Timestamp, want)
	}
	if string(e.Properties) != `{"a" : [1, "b"]}` {
		t.Errorf("properties %s", e.Properties)
	}
}

// TestGzip covers gzip bodies: accepted, and bombs refused with 413 after reading no more
// than the limit.
func TestGzip(t *testing.T) {
	batch := "[" + ev("e1") + "," + ev("e2") + "]"
	bomb := gzipBytes(t, bytes.Repeat([]byte(" "), 3<<20)) // 3 MiB of spaces, ~3 KiB gzipped
	cases := []struct {
		name string
		body []byte
		max  int64
		want int
	}{
		{"gzip batch", gzipBytes(t, []byte(batch)), 0, 200},
		{"multi-member gzip", append(gzipBytes(t, []byte("[")), gzipBytes(t, []byte(ev("e1")+"]"))...), 0, 200},
		{"bomb over the decoded limit", bomb, 1 << 20, 413},
		{"bomb under the limit is just whitespace", bomb, 0, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t, Config{MaxBodyBytes: tc.max}, &fakePublisher{})
			w := post(h, "/v1/events", tc.body, map[string]string{"Authorization": "Bearer " + testKey, "Content-Encoding": "gzip"})
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	big := "[" + strings.Repeat(ev("e1")+",", 100) + ev("e2") + "]"
	cases := []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t, Config{MaxBodyBytes: 1024}, &fakePublisher{})
			r := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(big))
			if tc.chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Authorization", "Bearer "+testKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 413 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if h.mem.load() != 0 {
				t.Errorf("in-flight bytes %d after the request", h.mem.load())
			}
		})
	}
}

// TestPublishFailure: no 2xx unless the publisher acknowledged; a failure is 503 with
// Retry-After, and a retry of the same body after recovery is accepted in full.
func TestPublishFailure(t *testing.T) {
	pub := &fakePublisher{failures: 1}
	h, reg := newTestHandler(t, Config{RetryAfter: 1500 * time.Millisecond}, pub)
	body := []byte("[" + ev("e1") + "," + ev("e2") + "]")
	w := post(h, "/v1/events", body, nil)
	if w.Code != 503 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	w = post(h, "/v1/events", body, nil)
	if w.Code != 200 {
		t.Fatalf("retry: status %d: %s", w.Code, w.Body)
	}
	if got := len(pub.published()); got != 2 {
		t.Errorf("%d events published", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "engage_ingest_publish_duration_seconds"); n != 2 {
		t.Errorf("publish histogram has %d series, want ok and error", n)
	}
}

// TestDrain: once the gateway drains, a request still waiting for the broker at the drain
// deadline is answered 503 with Retry-After then, not after PublishTimeout and not cut off
// without an answer; so is a request that arrives after the deadline.
func TestDrain(t *testing.T) {
	pub := &fakePublisher{block: make(chan struct{})}
	h, _ := newTestHandler(t, Config{PublishTimeout: time.Minute}, pub)
	body := []byte("[" + ev("e1") + "]")
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- post(h, "/v1/events", body, nil) }()
	testenv.EventuallyEvery(t, 5*time.Second, time.Millisecond, func() error {
		if h.mem.load() == 0 {
			return errors.New("the request is not in flight yet")
		}
		return nil
	})
	start := time.Now()
	h.Drain(start.Add(50 * time.Millisecond))
	w := <-answered
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("request in flight at the drain deadline: status %d Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered %s after the drain began, want about 50ms", took)
	}
	if w := post(h, "/v1/events", body, nil); w.Code != 503 {
		t.Fatalf("request after the drain deadline: status %d, want 503", w.Code)
	}
}

// TestInflightBound: while requests hold the in-flight budget, the next one is refused with
// 503 + Retry-After at once instead of queueing.
func TestInflightBound(t *testing.T) {
	pub := &fakePublisher{block: make(chan struct{})}
	h, _ := newTestHandler(t, Config{MaxBodyBytes: 64 << 10, MaxInflightBytes: 128 << 10}, pub)
	body := []byte("[" + strings.Repeat(ev("e1")+",", 150) + ev("e2") + "]") // ~20 KiB
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	// Fill the budget with requests blocked in Publish.
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- post(h, "/v1/events", body, nil).Code
		}()
	}
	// Each request holds twice its body: the buffer and the string copy.
	testenv.EventuallyEvery(t, 5*time.Second, time.Millisecond, func() error {
		if n, want := h.mem.load(), int64(4*len(body)); n < want {
			return fmt.Errorf("%d bytes in flight, want at least %d", n, want)
		}
		return nil
	})
	big := []byte("[" + strings.Repeat(ev("e1")+",", 300) + ev("e2") + "]") // ~40 KiB
	w := post(h, "/v1/events", big, nil)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("saturated: status %d Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	close(pub.block)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("blocked request ended with %d", c)
		}
	}
	if h.mem.load() != 0 {
		t.Errorf("in-flight bytes %d after all requests", h.mem.load())
	}
}

func TestRateLimit(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	pub := &fakePublisher{}
	h, _ := newTestHandler(t, Config{RateLimit: 10, RateBurst: 3, now: clock}, pub)
	batch := func(n int) []byte {
		evs := make([]string, n)
		for i := range evs {
			evs[i] = ev(fmt.Sprintf("e%d", i))
		}
		return []byte("[" + strings.Join(evs, ",") + "]")
	}
	steps := []struct {
		name    string
		advance time.Duration
		events  int
		want    int
	}{
		{"burst admits a batch larger than the bucket", 0, 5, 200},
		{"overdrawn bucket refuses", 0, 1, 429},
		{"still in debt after 0.2 s", 200 * time.Millisecond, 1, 429},
		{"refilled after 0.3 s more", 300 * time.Millisecond, 1, 200},
	}
	for _, s := range steps {
		advance(s.advance)
		w := post(h, "/v1/events", batch(s.events), nil)
		if w.Code != s.want {
			t.Fatalf("%s: status %d, want %d: %s", s.name, w.Code, s.want, w.Body)
		}
		if w.Code == 429 && w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", s.name)
		}
	}
	// Another key has its own bucket.
	w := post(h, "/v1/events", batch(1), map[string]string{"Authorization": "Bearer restricted-key"})
	if w.Code != 200 {
		t.Errorf("other key: status %d", w.Code)
	}
}

func TestCORSPreflight(t *testing.T) {
	h, _ := newTestHandler(t, Config{}, &fakePublisher{})
	r := httptest.NewRequest(http.MethodOptions, "/v1/t", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
}

// TestResponseNeverEchoesHugeValues pins that per-event errors stay small whatever the
// client sent: an over-long event_id is not echoed and an over-long timestamp is cut.
func TestResponseNeverEchoesHugeValues(t *testing.T) {
	h, _ := newTestHandler(t, Config{}, &fakePublisher{})
	long := strings.Repeat("x", 100_000)
	body := "[" + ev(long) + "," + ev("e2", "timestamp", `"`+long+`"`) + "]"
	w := post(h, "/v1/events", []byte(body), nil)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if w.Body.Len() > 2000 {
		t.Errorf("response is %d bytes", w.Body.Len())
	}
	resp := decodeResponse(t, w)
	if resp.Rejected != 2 || resp.Errors[0].EventID != "" || resp.Errors[1].EventID != "e2" {
		t.Errorf("%s", w.Body)
	}
}

func TestNewHandlerConfig(t *testing.T) {
	keys, _ := ParseKeyList("k1")
	cases := []struct {
		name    string
		cfg     Config
		pub     Publisher
		wantErr string
	}{
		{"defaults with keys", Config{Keys: keys}, &fakePublisher{}, ""},
		{"no keys", Config{}, &fakePublisher{}, "Keys"},
		{"nil publisher", Config{Keys: keys}, nil, "Publisher"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHandler(tc.cfg, tc.pub, nil, nil)
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestMetricsRequests(t *testing.T) {
	h, _ := newTestHandler(t, Config{}, &fakePublisher{})
	post(h, "/v1/events", []byte(ev("e1")), nil)
	post(h, "/v1/events", []byte(ev("e1")), map[string]string{})
	post(h, "/nope", nil, nil)
	for _, c := range []struct{ ep, code string }{{"events", "200"}, {"events", "401"}, {"other", "404"}} {
		if got := testutil.ToFloat64(h.m.requests.WithLabelValues(c.ep, c.code)); got != 1 {
			t.Errorf("requests{%s,%s} = %v", c.ep, c.code, got)
		}
	}
	if got := testutil.ToFloat64(h.m.accepted.WithLabelValues("events")); got != 1 {
		t.Errorf("accepted = %v", got)
	}
}

// benchBatch is a 100-event batch of realistic events.
func benchBatch(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event_id":"0190c3a8-7d1e-7a4b-9c7e-%012d","account_id":"acct-%05d","user_id":"user-%d","name":"report.exported","timestamp":"2026-11-23T11:59:%02d.123Z","sent_at":"2026-11-23T11:59:59.500Z","properties":{"format":"pdf","pages":12,"source":"dashboard"}}`, i, i%50, i, i%60)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// encodingPublisher encodes every event to its wire format, as internal/adapters/kafka does, and drops it:
// the fastest publisher that still pays the per-event cost a real one has.
type encodingPublisher struct{ pool sync.Pool }

func (p *encodingPublisher) Publish(_ context.Context, evs []event.Event) error {
	bp, _ := p.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	for i := range evs {
		*bp = evs[i].AppendJSON((*bp)[:0])
	}
	p.pool.Put(bp)
	return nil
}

// BenchmarkHandler100 drives POST /v1/events with 100-event batches through the handler in
// process (httptest, no network) from GOMAXPROCS goroutines; run with -cpu 2 for the
// contract's 2-core figure. It reports events/s.
func BenchmarkHandler100(b *testing.B) {
	body := benchBatch(100)
	for _, bc := range []struct {
		name string
		gz   bool
	}{{"json", false}, {"gzip", true}} {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := newTestHandler(b, Config{now: time.Now}, &encodingPublisher{})
			payload := body
			if bc.gz {
				payload = gzipBytes(b, body)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(payload))
					r.Header.Set("Authorization", "Bearer "+testKey)
					r.Header.Set("Content-Type", "application/json")
					if bc.gz {
						r.Header.Set("Content-Encoding", "gzip")
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*100), "ns/event")
		})
	}
}

// TestLogsNeverContainKeys: the warning of a failed publish identifies the key by its
// fingerprint only.
func TestLogsNeverContainKeys(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	keys, _ := ParseKeyList(testKey)
	now := testNow
	h, err := NewHandler(Config{Keys: keys, now: func() time.Time { return now }}, &fakePublisher{err: errBrokerDown}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	post(h, "/v1/events", []byte(ev("e1")), nil)
	post(h, "/v1/events", []byte(ev("e1")), map[string]string{"Authorization": "Bearer " + testKey + "x"})
	if logs.FilterField(zap.String("key_fingerprint", Fingerprint(testKey))).Len() != 1 {
		t.Errorf("publish failure not logged with the key fingerprint: %v", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), testKey) {
			t.Errorf("log reveals a key: %s %v", e.Message, e.ContextMap())
		}
	}
}
