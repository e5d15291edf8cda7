// Command worker is engage's stream worker: it consumes engagement.events, sessionizes each
// user's events and writes raw events and session rows to ClickHouse (pkg/worker).
package main

import (
	"os"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/pkg/service"
)

func main() {
	cfg := defaultConfig()
	f := cfg.flags()
	if err := f.Parse(os.Args[1:]); err != nil {
		service.Fatal("worker", err)
	}
	log, err := service.NewLogger("worker", cfg.dev, cfg.logLevel)
	if err != nil {
		service.Fatal("worker", err)
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr

	ctx, stop := service.SignalContext()
	defer stop()
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Fatal("worker failed to start", zap.Error(err))
	}
	defer app.close()
	if err := service.Run(ctx, log, app.components...); err != nil {
		log.Error("worker stopped with error", zap.Error(err))
		os.Exit(1)
	}
}
