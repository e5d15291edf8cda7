package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

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

// TestGracefulShutdown pins the gateway's SIGTERM sequence: /readyz turns 503 at once and the
// gateway serves on for the drain delay; then it refuses connections; a request that was
// waiting for its broker acknowledgement is answered 200 once the acknowledgement comes, and
// only then does the gateway stop, before its producer is closed.
func TestGracefulShutdown(t *testing.T) {
	cluster, brokers := testenv.Kafka(t)
	var hold atomic.Bool
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if hold.Load() {
			held <- struct{}{}
			cluster.SleepControl(func() { <-release }) // the broker is slow to acknowledge
		}
		return nil, nil, false
	})
	cfg := parse(t, []string{"-dev", "-addr", "127.0.0.1:0", "-kafka-brokers", strings.Join(brokers, ","), "-drain-delay", "300ms"})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	obs, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), obs))
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- service.Run(ctx, log, app.Components...) }()
	var addr string
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, e := range logs.FilterMessage("listening").All() {
			addr, _ = e.ContextMap()["addr"].(string)
			return nil
		}
		return errors.New("the gateway has not logged its address")
	})
	post := func(id string) (int, error) {
		body := fmt.Sprintf(`{"event_id":%q,"account_id":"acme","user_id":"ada","name":"report.exported","timestamp":%q}`, id, time.Now().UTC().Format(time.RFC3339))
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ingest.DevWriteKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	readyz := func() (int, error) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if code, err := readyz(); code != http.StatusOK {
			return fmt.Errorf("/readyz %d %v", code, err)
		}
		return nil
	})

	hold.Store(true)
	answered := make(chan int, 1)
	go func() {
		code, err := post("in-flight")
		if err != nil {
			t.Errorf("request in flight at SIGTERM: %v", err)
		}
		answered <- code
	}()
	<-held
	sigterm()
	testenv.EventuallyEvery(t, 5*time.Second, 10*time.Millisecond, func() error {
		if code, err := readyz(); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz %d %v after SIGTERM, want 503 while draining", code, err)
		}
		return nil
	})
	testenv.Eventually(t, 5*time.Second, func() error {
		if _, err := readyz(); !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("after the drain delay: %v, want connection refused", err)
		}
		return nil
	})
	select {
	case <-stopped:
		t.Fatal("the gateway stopped with a request waiting for its acknowledgement")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("request in flight at SIGTERM: %d, want 200 once acknowledged", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	app.Close()
}
