package testenv

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/engage-oss/engage/internal/service"
)

// App builds a service's App with build and runs its components in process until t ends, as
// service.Main would. Its logger writes to t and is observed: the returned logs let a test
// read what the service announced (the address it listens on, the model it loaded).
func App(t testing.TB, build func(context.Context, *zap.Logger) (*service.App, error)) *observer.ObservedLogs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	obs, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), obs))
	app, err := build(ctx, log)
	if err != nil {
		cancel()
		t.Fatalf("testenv: building the app: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, log, app.Components...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if app.Close != nil {
			app.Close()
		}
	})
	return logs
}
