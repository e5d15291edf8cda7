package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/scorer/readapi"
	"github.com/engage-oss/engage/internal/service"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// listenAddr returns the address the HTTP server named server logged (internal/service's
// "listening" line) once it serves: the test binds port 0 and reads the port back, so no
// other process can take a port between its pick and its use.
func listenAddr(t *testing.T, logs *observer.ObservedLogs, server string) string {
	t.Helper()
	var addr string
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, e := range logs.FilterMessage("listening").FilterField(zap.String("server", server)).All() {
			if a, ok := e.ContextMap()["addr"].(string); ok {
				addr = a
				return nil
			}
		}
		return fmt.Errorf("no %q server logged that it is listening", server)
	})
	return addr
}

// TestServiceWiring starts the whole service against the in-process broker and a real
// ClickHouse, waits for /readyz, and asks the read API.
func TestServiceWiring(t *testing.T) {
	_, brokers := testenv.Kafka(t)
	ch := testenv.ClickHouse(t)
	_, database := ch.NewDatabase(t)

	cfg := parse(t, "-addr", "127.0.0.1:0", "-kafka-brokers", strings.Join(brokers, ","), "-topic-replication", "1",
		"-clickhouse-addr", ch.Addr(), "-clickhouse-database", database,
		"-model", "../../deploy/health-model.json", "-read-keys", "team-key", "-interval", "200ms")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	logs := testenv.App(t, func(ctx context.Context, log *zap.Logger) (*service.App, error) { return newApp(ctx, cfg, log) })

	addr := listenAddr(t, logs, "api")
	get := func(path, key string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
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
	testenv.Eventually(t, 30*time.Second, func() error {
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
