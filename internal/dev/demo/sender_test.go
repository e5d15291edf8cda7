package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/event"
)

// fakeGateway is an httptest gateway: it checks the write key, decodes JSON-array and NDJSON
// bodies (gzip or not), validates each event with the event package, de-duplicates by
// event_id and records what it accepted in arrival order. fail, when set, may answer a
// request instead (return 0 to let it through).
type fakeGateway struct {
	t    testing.TB
	key  string
	fail func(n int, w http.ResponseWriter) int

	mu       sync.Mutex
	requests int
	bodies   [][]byte // raw bodies, as received
	events   []event.Event
	seen     map[string]bool
	dups     int
}

func newFakeGateway(t testing.TB) (*fakeGateway, *httptest.Server) {
	g := &fakeGateway{t: t, key: "test-key", seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", g.serve)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.requests++
	n := g.requests
	fail := g.fail
	g.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.bodies = append(g.bodies, raw)
	g.mu.Unlock()
	if fail != nil && fail(n, w) != 0 {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+g.key {
		http.Error(w, `{"error":"unknown write key"}`, http.StatusUnauthorized)
		return
	}
	body := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			http.Error(w, `{"error":"bad gzip"}`, http.StatusBadRequest)
			return
		}
		body, _ = io.ReadAll(zr)
	}
	var ins []event.Input
	if r.Header.Get("Content-Type") == "application/x-ndjson" {
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			var in event.Input
			if err := json.Unmarshal(line, &in); err != nil {
				http.Error(w, `{"error":"bad ndjson"}`, http.StatusBadRequest)
				return
			}
			ins = append(ins, in)
		}
	} else if err := json.Unmarshal(body, &ins); err != nil {
		http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
		return
	}
	type rej struct {
		Index   int    `json:"index"`
		EventID string `json:"event_id"`
		Error   string `json:"error"`
	}
	var rejected []rej
	accepted := 0
	g.mu.Lock()
	for i := range ins {
		ev, err := ins[i].Build(time.Now().Add(time.Minute))
		if err != nil {
			rejected = append(rejected, rej{i, ins[i].EventID, err.Error()})
			continue
		}
		accepted++
		if g.seen[ev.EventID] {
			g.dups++
			continue
		}
		g.seen[ev.EventID] = true
		g.events = append(g.events, ev)
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"accepted": accepted, "rejected": len(rejected), "errors": rejected})
}

func (g *fakeGateway) snapshot() (requests int, events []event.Event, bodies [][]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests, append([]event.Event(nil), g.events...), append([][]byte(nil), g.bodies...)
}

func testSenderConfig(url string) SenderConfig {
	c := DefaultSenderConfig()
	c.URL, c.WriteKey = url, "test-key"
	c.MinBackoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return c
}

// someEvents returns the first n events of a small simulation, cloned.
func someEvents(t testing.TB, n int) []Event {
	t.Helper()
	g := newTestGen(t, Config{Seed: 1, Accounts: 12, Days: 7})
	var out []Event
	for e := range g.Events(testStart.AddDate(0, 0, 7)) {
		out = append(out, e.Clone())
		if len(out) == n {
			break
		}
	}
	return out
}

func sendAll(t testing.TB, s *Sender, evs []Event) error {
	t.Helper()
	for i := range evs {
		if err := s.Send(context.Background(), &evs[i]); err != nil {
			return err
		}
	}
	return s.Close(context.Background())
}

// The sender retries 503 (and 429, and dropped connections) with the same body and then
// succeeds; nothing is lost, nothing counted twice.
func TestSenderRetriesThenSucceeds(t *testing.T) {
	tests := []struct {
		name   string
		gzip   bool
		ndjson bool
		fail   func(n int, w http.ResponseWriter) int
	}{
		{"503 twice with Retry-After, gzip JSON", true, false, func(n int, w http.ResponseWriter) int {
			if n <= 2 {
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"error":"events could not be durably stored; retry later"}`, http.StatusServiceUnavailable)
				return 1
			}
			return 0
		}},
		{"429 then ok, plain NDJSON", false, true, func(n int, w http.ResponseWriter) int {
			if n == 1 {
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
				return 1
			}
			return 0
		}},
		{"connection dropped then ok", true, true, func(n int, w http.ResponseWriter) int {
			if n == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return 1
			}
			return 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, srv := newFakeGateway(t)
			gw.fail = tt.fail
			cfg := testSenderConfig(srv.URL)
			cfg.Gzip, cfg.NDJSON, cfg.Lanes = tt.gzip, tt.ndjson, 1
			s, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			evs := someEvents(t, 120)
			if err := sendAll(t, s, evs); err != nil {
				t.Fatalf("send: %v", err)
			}
			reqs, got, bodies := gw.snapshot()
			if len(got) != len(evs) {
				t.Fatalf("gateway has %d events, want %d", len(got), len(evs))
			}
			st := s.Stats()
			if st.Accepted != int64(len(evs)) || st.Retries == 0 || st.Requests != int64(reqs) {
				t.Fatalf("stats %+v after %d requests", st, reqs)
			}
			// One lane and one batch: every request carried the same body.
			if len(bodies) < 2 || !bytes.Equal(bodies[0], bodies[len(bodies)-1]) {
				t.Fatal("the retried body differs from the first one")
			}
		})
	}
}

// The sender stops on an answer that a retry cannot change, and says what the gateway said.
func TestSenderStopsOnPermanentError(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		fail     func(n int, w http.ResponseWriter) int
		code     int
		wantMsgs []string
	}{
		{"401 wrong key", "wrong", nil, 401, []string{"401 Unauthorized", "unknown write key", "WRITE_KEY"}},
		{"400 bad body", "test-key", func(_ int, w http.ResponseWriter) int {
			http.Error(w, `{"error":"body contains no events"}`, http.StatusBadRequest)
			return 1
		}, 400, []string{"400 Bad Request", "body contains no events"}},
		{"413 too large, plain text", "test-key", func(_ int, w http.ResponseWriter) int {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return 1
		}, 413, []string{"413", "too big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, srv := newFakeGateway(t)
			gw.fail = tt.fail
			cfg := testSenderConfig(srv.URL)
			cfg.WriteKey, cfg.BatchSize, cfg.Lanes = tt.key, 10, 1
			s, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = sendAll(t, s, someEvents(t, 200))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("err = %v, want a StatusError %d", err, tt.code)
			}
			for _, m := range tt.wantMsgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if IsRetryable(err) {
				t.Error("IsRetryable = true")
			}
			if reqs, _, _ := gw.snapshot(); reqs != 1 {
				t.Errorf("%d requests, want 1: no retry, no further batch", reqs)
			}
		})
	}
}

func TestSenderGivesUp(t *testing.T) {
	gw, srv := newFakeGateway(t)
	gw.fail = func(_ int, w http.ResponseWriter) int {
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
		return 1
	}
	cfg := testSenderConfig(srv.URL)
	cfg.MaxAttempts, cfg.Lanes = 3, 1
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = sendAll(t, s, someEvents(t, 10))
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if reqs, _, _ := gw.snapshot(); reqs != 3 {
		t.Fatalf("%d requests, want 3", reqs)
	}
}

// Rule: with several lanes and failures in between, each user's events still reach the
// gateway in time order, because an account always takes the same lane.
func TestSenderKeepsPerUserOrder(t *testing.T) {
	gw, srv := newFakeGateway(t)
	var calls atomic.Int64
	gw.fail = func(_ int, w http.ResponseWriter) int {
		if calls.Add(1)%3 == 0 {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return 1
		}
		return 0
	}
	cfg := testSenderConfig(srv.URL)
	cfg.BatchSize, cfg.Lanes = 50, 4
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGen(t, Config{Seed: 2, Accounts: 12, Days: 3})
	var want int
	if err := g.Feed().Until(testStart.AddDate(0, 0, 3), func(e *Event) error {
		want++
		return s.Send(context.Background(), e)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, got, _ := gw.snapshot()
	if len(got) != want {
		t.Fatalf("gateway has %d events, want %d", len(got), want)
	}
	last := map[userKey]time.Time{}
	for _, e := range got {
		k := userKey{e.AccountID, e.UserID}
		if e.Timestamp.Before(last[k]) {
			t.Fatalf("%s/%s: event at %s arrived after one at %s", e.AccountID, e.UserID, e.Timestamp, last[k])
		}
		last[k] = e.Timestamp
	}
}

// A 200 that rejects some events is counted, not retried.
func TestSenderCountsRejections(t *testing.T) {
	gw, srv := newFakeGateway(t)
	_ = gw
	cfg := testSenderConfig(srv.URL)
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := someEvents(t, 5)
	evs[2].Name = "$bogus"
	if err := sendAll(t, s, evs); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Accepted != 4 || st.Rejected != 1 || !strings.Contains(st.LastRejection, "$bogus") {
		t.Fatalf("stats %+v", st)
	}
}

func TestSenderRate(t *testing.T) {
	_, srv := newFakeGateway(t)
	cfg := testSenderConfig(srv.URL)
	cfg.Rate, cfg.BatchSize, cfg.Lanes = 2000, 100, 2
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := sendAll(t, s, someEvents(t, 500)); err != nil {
		t.Fatal(err)
	}
	// 5 batches of 100 at 2000/s: the last may start 0.2 s after the first.
	if d := time.Since(began); d < 190*time.Millisecond {
		t.Fatalf("500 events at 2000/s took %s", d)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"3600", 30 * time.Second},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, 30*time.Second); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSenderConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*SenderConfig)
		wantErr string
	}{
		{"default", func(*SenderConfig) {}, ""},
		{"no scheme", func(c *SenderConfig) { c.URL = "127.0.0.1:8080" }, "url"},
		{"empty key", func(c *SenderConfig) { c.WriteKey = "" }, "write key"},
		{"zero batch", func(c *SenderConfig) { c.BatchSize = 0 }, "batch size"},
		{"zero lanes", func(c *SenderConfig) { c.Lanes = 0 }, "lanes"},
		{"negative rate", func(c *SenderConfig) { c.Rate = -1 }, "rate"},
		{"backoff inverted", func(c *SenderConfig) { c.MaxBackoff = c.MinBackoff / 2 }, "backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultSenderConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error starting with %q", err, tt.wantErr)
			}
		})
	}
}

func TestWaitReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			ready.Store(true)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := WaitReady(context.Background(), nil, srv.URL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	err := WaitReady(context.Background(), nil, srv.URL, 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("err = %v", err)
	}
}
