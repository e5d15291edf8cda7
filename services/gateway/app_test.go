package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
)

// TestReadiness starts the gateway against the in-process broker and pins its one readiness
// rule: /readyz fails while the latest produce failed (and the brokers answer again), and
// recovers once produces succeed.
func TestReadiness(t *testing.T) {
	cluster, brokers := testenv.Kafka(t)
	var failing atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !failing.Load() {
			return nil, nil, false
		}
		cluster.KeepControl()
		return nil, errors.New("broker unavailable"), true
	})

	cfg := parse(t, []string{"-dev", "-addr", "127.0.0.1:0", "-kafka-brokers", strings.Join(brokers, ","), "-publish-timeout", "1s"})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := testenv.App(t, func(ctx context.Context, log *zap.Logger) (*service.App, error) { return newApp(ctx, cfg, log) })

	var addr string
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, e := range logs.FilterMessage("listening").All() {
			if a, ok := e.ContextMap()["addr"].(string); ok {
				addr = a
				return nil
			}
		}
		return errors.New("the gateway has not logged its address")
	})
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ingest.DevWriteKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	event := func(id string) string {
		return fmt.Sprintf(`{"event_id":%q,"account_id":"acme","user_id":"ada","name":"report.exported","timestamp":%q}`, id, time.Now().UTC().Format(time.RFC3339))
	}
	ready := func() error {
		if status, body := do(http.MethodGet, "/readyz", ""); status != http.StatusOK {
			return fmt.Errorf("/readyz %d: %s", status, body)
		}
		return nil
	}

	testenv.Eventually(t, 10*time.Second, ready)
	if status, body := do(http.MethodPost, "/v1/events", event("e1")); status != http.StatusOK {
		t.Fatalf("POST with the dev key: %d %s", status, body)
	}

	failing.Store(true)
	if status, body := do(http.MethodPost, "/v1/events", event("e2")); status != http.StatusServiceUnavailable {
		t.Fatalf("POST while produces fail: %d %s", status, body)
	}
	if status, body := do(http.MethodGet, "/readyz", ""); status != http.StatusServiceUnavailable || !strings.Contains(body, `"kafka":"last produce failed`) {
		t.Fatalf("/readyz right after a failed produce: %d %s", status, body)
	}

	failing.Store(false)
	testenv.Eventually(t, 15*time.Second, ready)
	if status, body := do(http.MethodPost, "/v1/events", event("e3")); status != http.StatusOK {
		t.Fatalf("POST after recovery: %d %s", status, body)
	}
}
