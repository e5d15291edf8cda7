package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/engage-oss/engage/internal/event"
)

// testNow is the gateway clock in tests: received_at of every event.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testKey = "test-key-0001"

// fakePublisher records published events. err, when set, is returned instead; failures
// counts down failing calls before it succeeds again.
type fakePublisher struct {
	mu       sync.Mutex
	events   []event.Event
	calls    int
	err      error
	failures int
	block    chan struct{} // when set, Publish waits for it (or ctx)
}

func (p *fakePublisher) Publish(ctx context.Context, evs []event.Event) error {
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return p.err
	}
	if p.failures > 0 {
		p.failures--
		return errBrokerDown
	}
	p.events = append(p.events, evs...)
	return nil
}

func (p *fakePublisher) published() []event.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event.Event(nil), p.events...)
}

var errBrokerDown = &testError{"broker unavailable"}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }

// newTestHandler builds a handler with testKey, a fixed clock and a private registry.
func newTestHandler(t testing.TB, cfg Config, pub Publisher) (*Handler, *prometheus.Registry) {
	t.Helper()
	if cfg.Keys == nil {
		k, err := NewKeys(KeySpec{Key: testKey}, KeySpec{Key: "restricted-key", Accounts: []string{"acme"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = k
	}
	if cfg.now == nil {
		cfg.now = func() time.Time { return testNow }
	}
	reg := prometheus.NewRegistry()
	h, err := NewHandler(cfg, pub, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// post sends body to path with the given headers (nil: bearer testKey, JSON).
func post(h http.Handler, path string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if hdr == nil {
		hdr = map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"}
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// response is the 200 body.
type response struct {
	Success  *bool `json:"success"`
	Accepted int   `json:"accepted"`
	Rejected int   `json:"rejected"`
	Ignored  *int  `json:"ignored"`
	Errors   []struct {
		Index   int    `json:"index"`
		EventID string `json:"event_id"`
		Error   string `json:"error"`
	} `json:"errors"`
}

func decodeResponse(t testing.TB, w *httptest.ResponseRecorder) response {
	t.Helper()
	var r response
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", w.Code, err, w.Body)
	}
	return r
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ev returns a valid event object with the given id and extra/overriding members.
func ev(id string, extra ...string) string {
	m := map[string]string{
		"event_id":   `"` + id + `"`,
		"account_id": `"acme"`,
		"user_id":    `"u1"`,
		"name":       `"report.exported"`,
		"timestamp":  `"2026-11-23T11:59:00Z"`,
	}
	order := []string{"event_id", "account_id", "user_id", "name", "timestamp"}
	for i := 0; i+1 < len(extra); i += 2 {
		if _, ok := m[extra[i]]; !ok {
			order = append(order, extra[i])
		}
		m[extra[i]] = extra[i+1]
	}
	var sb strings.Builder
	sb.WriteByte('{')
	n := 0
	for _, k := range order {
		v := m[k]
		if v == "" { // "" removes the member
			continue
		}
		if n > 0 {
			sb.WriteByte(',')
		}
		n++
		sb.WriteString(`"` + k + `":` + v)
	}
	sb.WriteByte('}')
	return sb.String()
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
