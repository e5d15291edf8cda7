package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/scorer/readapi"
	"github.com/engage-oss/engage/internal/service"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func checkFor(t *testing.T, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}

// TestRefusesToStartWithoutReadKeys: like the gateway, the scorer does not start open to
// anyone outside dev mode, and says so before connecting anywhere.
func TestRefusesToStartWithoutReadKeys(t *testing.T) {
	cfg := defaultConfig()
	if err := cfg.flags().Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.dev = false
	cfg.readKeys = nil
	cfg.brokers = []string{"127.0.0.1:1"} // nothing listens: the check must come first
	_, err := newApp(context.Background(), cfg, zaptest.NewLogger(t))
	if !errors.Is(err, readapi.ErrNoKeys) {
		t.Fatalf("newApp without read keys = %v, want ErrNoKeys", err)
	}
}

// TestServiceWiring starts the whole service against the in-process broker and a real
// ClickHouse, waits for /readyz, and asks the read API.
func TestServiceWiring(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ch := testenv.ClickHouse(t)
	_, database := ch.NewDatabase(t)

	cfg := defaultConfig()
	if err := cfg.flags().Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.addr = freeAddr(t)
	cfg.brokers = brokers
	cfg.ch.Addr, cfg.ch.Database = ch.Addr(), database
	cfg.model = "../../deploy/health-model.json"
	cfg.readKeys = []string{"team-key"}
	cfg.scorer.Interval = 200 * time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	log := zaptest.NewLogger(t)
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, log, app.Components...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		app.Close()
	})

	get := func(path, key string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.addr+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		status, body, err := get("/readyz", "")
		if err != nil || status != 200 {
			return fmt.Errorf("/readyz: %d %s %v", status, body, err)
		}
		return nil
	})
	tests := []struct {
		path, key  string
		wantStatus int
		wantBody   string
	}{
		{"/v1/accounts", "team-key", 200, `{"accounts":[],"next_cursor":null}`},
		{"/v1/accounts", readapi.DevReadKey, 401, "unknown read key"},
		{"/v1/accounts/acme/health", "team-key", 404, `no health score for account \"acme\"`},
		{"/healthz", "", 200, `"ok"`},
		{"/metrics", "", 200, "engage_scorer_model_info{version=\"default-1\"} 1"},
	}
	for _, tt := range tests {
		status, body, err := get(tt.path, tt.key)
		if err != nil || status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s: %d %q (%v), want %d containing %q", tt.path, status, body, err, tt.wantStatus, tt.wantBody)
		}
	}
}
