package readapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/scorer/readapi"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type fakeScores struct {
	snap  *scorer.Snapshot
	ready error
}

func (f *fakeScores) Ready(context.Context) error { return f.ready }
func (f *fakeScores) Health(_ context.Context, id string) (*scorer.AccountHealth, error) {
	return f.snap.Get(id), nil
}
func (f *fakeScores) List(_ context.Context, fl scorer.Filter, after string, limit int) ([]*scorer.AccountHealth, bool, error) {
	page, more := f.snap.List(fl, after, limit)
	return page, more, nil
}

type fakeHistory struct {
	rows map[string][]scorer.Row
	err  error
	last int // limit of the last call
}

func (f *fakeHistory) History(_ context.Context, id string, limit int) ([]scorer.Row, error) {
	f.last = limit
	if f.err != nil {
		return nil, f.err
	}
	rows := f.rows[id]
	return rows[:min(limit, len(rows))], nil
}

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func account(id string, band health.Band, score float64, plan string) *scorer.AccountHealth {
	m := health.DefaultModel()
	in := health.Inputs{ActiveDays14: 4, MAU: 6, WAU: 3, DAU: 1, Seats: ptr(10), FeaturesUsed30d: 4, Status: ptr(health.StatusActive), Plan: plan}
	r := health.Score(m, in)
	return &scorer.AccountHealth{AccountID: id, Score: score, Band: band, BandSince: t0.Add(-time.Hour),
		Components: r.Components, Reasons: []string{health.ReasonUsageDropped}, Coverage: r.Coverage,
		ModelVersion: r.ModelVersion, ScoredAt: t0, Plan: plan, Inputs: in}
}

func newServer(t *testing.T) (*httptest.Server, *fakeScores, *fakeHistory) {
	t.Helper()
	scores := &fakeScores{snap: scorer.NewSnapshot(t0, []*scorer.AccountHealth{
		account("acme", health.BandRed, 31.5, "pro"),
		account("beta/eu", health.BandGreen, 88, "pro"),
		account("corp", health.BandRed, 12, "trial"),
		account("delta", health.BandRed, 40, "pro"),
	})}
	hist := &fakeHistory{rows: map[string][]scorer.Row{"acme": {
		{AccountID: "acme", Rev: 2, ScoredAt: t0, Band: health.BandRed, Reasons: []string{"billing_past_due"},
			Result: health.Result{Score: 31.5, Coverage: 0.9, ModelVersion: "default-1", Components: health.Components{
				{Score: 40, Present: true}, {}, {Score: 60, Present: true}, {Score: 20, Present: true}}}},
		{AccountID: "acme", Rev: 1, ScoredAt: t0.Add(-time.Hour), Band: health.BandYellow,
			Result: health.Result{Score: 55, Coverage: 0.9, ModelVersion: "default-1"}},
	}}}
	h, err := readapi.NewHandler(readapi.Config{Keys: []string{"key-1", "key-2"}}, scores, hist, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, scores, hist
}

func get(t *testing.T, srv *httptest.Server, method, path, auth string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestErrors pins the status and JSON error of every refused request, in the order the
// checks apply: path, method, key, readiness, parameters.
func TestErrors(t *testing.T) {
	srv, _, _ := newServer(t)
	const ok = "Bearer key-2"
	tests := []struct {
		name, method, path, auth string
		wantStatus               int
		wantErr                  string
		wantHeader               [2]string
	}{
		{"unknown path", "GET", "/v1/nope", ok, 404, "no such endpoint: /v1/nope", [2]string{}},
		{"unknown sub-path", "GET", "/v1/accounts/acme/healthz", ok, 404, "no such endpoint: /v1/accounts/acme/healthz", [2]string{}},
		{"empty account", "GET", "/v1/accounts//health", ok, 404, "no such endpoint: /v1/accounts//health", [2]string{}},
		{"POST", "POST", "/v1/accounts/acme/health", ok, 405, "method POST not allowed: use GET", [2]string{"Allow", "GET, HEAD"}},
		{"no key", "GET", "/v1/accounts/acme/health", "", 401, "missing read key: send Authorization: Bearer <read key>", [2]string{"WWW-Authenticate", `Bearer realm="engage"`}},
		{"basic auth", "GET", "/v1/accounts/acme/health", "Basic a2V5LTE6", 401, "unsupported Authorization: send Bearer <read key>", [2]string{}},
		{"unknown key", "GET", "/v1/accounts/acme/health", "Bearer dev-read-key", 401, "unknown read key", [2]string{}},
		{"unknown account", "GET", "/v1/accounts/zeta/health", ok, 404, `no health score for account "zeta"`, [2]string{}},
		{"unknown account history", "GET", "/v1/accounts/zeta/health/history", ok, 404, `no health score for account "zeta"`, [2]string{}},
		{"bad band", "GET", "/v1/accounts?band=blue", ok, 400, `band: unknown band "blue" (want red, yellow, green or power)`, [2]string{}},
		{"bad limit", "GET", "/v1/accounts?limit=0", ok, 400, `limit "0": want an integer from 1 to 1000`, [2]string{}},
		{"limit too high", "GET", "/v1/accounts/acme/health/history?limit=5000", ok, 400, `limit "5000": want an integer from 1 to 1000`, [2]string{}},
		{"bad cursor", "GET", "/v1/accounts?cursor=%25%25", ok, 400, `cursor "%%": malformed cursor; pass next_cursor from the previous page`, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := get(t, srv, tt.method, tt.path, tt.auth)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tt.wantErr {
				t.Errorf("body %s, want {\"error\":%q}", body, tt.wantErr)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
			}
			if k := tt.wantHeader[0]; k != "" && hdr.Get(k) != tt.wantHeader[1] {
				t.Errorf("header %s = %q, want %q", k, hdr.Get(k), tt.wantHeader[1])
			}
		})
	}
}

// TestHealthGolden pins the response of GET /v1/accounts/{id}/health.
func TestHealthGolden(t *testing.T) {
	srv, _, _ := newServer(t)
	status, _, body := get(t, srv, "GET", "/v1/accounts/beta%2Feu/health", "Bearer key-1")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(body), "", "  "); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	golden := filepath.Join("testdata", "health.golden.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Errorf("response differs from %s:\n%s", golden, b)
	}
}

func TestHistory(t *testing.T) {
	srv, _, hist := newServer(t)
	status, _, body := get(t, srv, "GET", "/v1/accounts/acme/health/history?limit=1", "Bearer key-1")
	if status != 200 || hist.last != 1 {
		t.Fatalf("status %d limit %d: %s", status, hist.last, body)
	}
	want := `{"account_id":"acme","history":[{"scored_at":"2026-03-02T09:00:00Z","score":31.5,"band":"red","components":{"billing":20,"nps":null,"tickets":60,"usage":40},"coverage":0.9,"model_version":"default-1","reasons":["billing_past_due"]}]}` + "\n"
	if body != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	if status, _, _ := get(t, srv, "GET", "/v1/accounts/acme/health/history", "Bearer key-1"); status != 200 || hist.last != readapi.DefaultHistoryLimit {
		t.Errorf("default limit %d (status %d), want %d", hist.last, status, readapi.DefaultHistoryLimit)
	}
	// A scored account without rows yet answers an empty history, not 404.
	if status, _, body := get(t, srv, "GET", "/v1/accounts/corp/health/history", "Bearer key-1"); status != 200 || !strings.Contains(body, `"history":[]`) {
		t.Errorf("history of corp: %d %s", status, body)
	}
	hist.err = errors.New("connection refused")
	if status, hdr, body := get(t, srv, "GET", "/v1/accounts/acme/health/history", "Bearer key-1"); status != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("history with ClickHouse down: %d %s, want 503 with Retry-After", status, body)
	}
}

// TestListPaging walks every page of a filtered list with next_cursor.
func TestListPaging(t *testing.T) {
	srv, _, _ := newServer(t)
	tests := []struct {
		query string
		want  [][]string // account ids per page
	}{
		{"", [][]string{{"acme", "beta/eu", "corp", "delta"}}},
		{"limit=3", [][]string{{"acme", "beta/eu", "corp"}, {"delta"}}},
		{"band=red&limit=1", [][]string{{"acme"}, {"corp"}, {"delta"}}},
		{"band=red&plan=pro&limit=1", [][]string{{"acme"}, {"delta"}}},
		{"band=power", [][]string{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			cursor := ""
			for i, wantIDs := range tt.want {
				q := "/v1/accounts?" + tt.query
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				status, _, body := get(t, srv, "GET", q, "Bearer key-1")
				if status != 200 {
					t.Fatalf("page %d: %d %s", i, status, body)
				}
				var page struct {
					Accounts []struct {
						AccountID string `json:"account_id"`
						Band      string `json:"band"`
						History   string `json:"history"`
					} `json:"accounts"`
					NextCursor *string `json:"next_cursor"`
				}
				if err := json.Unmarshal([]byte(body), &page); err != nil {
					t.Fatal(err)
				}
				ids := []string{}
				for _, a := range page.Accounts {
					ids = append(ids, a.AccountID)
				}
				if strings.Join(ids, ",") != strings.Join(wantIDs, ",") {
					t.Fatalf("page %d: %v, want %v", i, ids, wantIDs)
				}
				last := i == len(tt.want)-1
				if (page.NextCursor == nil) != last {
					t.Fatalf("page %d: next_cursor %v, want one exactly when more pages follow", i, page.NextCursor)
				}
				if !last {
					cursor = *page.NextCursor
				}
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	srv, scores, _ := newServer(t)
	scores.ready = scorer.ErrNotRestored
	status, hdr, body := get(t, srv, "GET", "/v1/accounts/acme/health", "Bearer key-1")
	if status != 503 || hdr.Get("Retry-After") != "5" || !strings.Contains(body, "not ready") {
		t.Errorf("%d %s, want 503 with Retry-After", status, body)
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name    string
		cfg     readapi.Config
		key     string
		wantErr error
		want    int
	}{
		{"no keys outside dev mode", readapi.Config{}, "", readapi.ErrNoKeys, 0},
		{"dev mode accepts the dev key", readapi.Config{DevMode: true}, readapi.DevReadKey, nil, 200},
		{"dev mode keeps configured keys", readapi.Config{DevMode: true, Keys: []string{"k"}}, "k", nil, 200},
		{"the dev key only in dev mode", readapi.Config{Keys: []string{"k"}}, readapi.DevReadKey, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := &fakeScores{snap: scorer.NewSnapshot(t0, []*scorer.AccountHealth{account("acme", health.BandRed, 30, "pro")})}
			h, err := readapi.NewHandler(tt.cfg, scores, &fakeHistory{}, nil, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewHandler: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			req := httptest.NewRequest("GET", "/v1/accounts/acme/health", nil)
			req.Header.Set("Authorization", "Bearer "+tt.key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
	if _, err := readapi.NewHandler(readapi.Config{Keys: []string{"has space"}}, nil, nil, nil, nil); err == nil {
		t.Error("a key with a blank was accepted")
	}
}
