package testenv

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/consumer"
	"github.com/engage-oss/engage/internal/worker"
)

// Worker runs a stream worker with cfg on brokers, storing into store, consuming
// engagement.events from the start, until t ends or stop is called. stop cancels the worker,
// waits for it (failing t if it returned an error or did not stop within 15 s) and closes
// its consumer; it is safe to call more than once.
func Worker(t testing.TB, brokers []string, store worker.Store, cfg worker.Config, log *zap.Logger) (stop func()) {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	w, err := worker.New(cfg, store, log, nil)
	if err != nil {
		t.Fatalf("testenv: creating worker %s: %v", cfg.Name, err)
	}
	cons, err := consumer.New(cfg, append(kafka.ClientOpts(brokers, cfg.Name, nil),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), w)
	if err != nil {
		t.Fatalf("testenv: creating consumer of worker %s: %v", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, cons, cons) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker %s: %v", cfg.Name, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("worker %s did not stop", cfg.Name)
			}
			cons.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}
