// Command scorer is engage's health scorer: it rescores every account periodically from the
// ClickHouse tables the worker fills, announces each band change on
// engagement.health.changes, writes score changes to account_health, and serves the read
// API (pkg/scorer and its subpackages). Run a single instance (see pkg/scorer).
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
		service.Fatal("scorer", err)
	}
	log, err := service.NewLogger("scorer", cfg.dev, cfg.logLevel)
	if err != nil {
		service.Fatal("scorer", err)
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr

	ctx, stop := service.SignalContext()
	defer stop()
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Fatal("scorer failed to start", zap.Error(err))
	}
	defer app.close()
	if err := service.Run(ctx, log, app.components...); err != nil {
		log.Error("scorer stopped with error", zap.Error(err))
		os.Exit(1)
	}
}
