// Command gateway is engage's HTTP ingest service: product apps and Segment SDKs send
// telemetry here, and every accepted event is on Kafka before the answer (pkg/ingest).
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
		service.Fatal("gateway", err)
	}
	log, err := service.NewLogger("gateway", cfg.dev, cfg.logLevel)
	if err != nil {
		service.Fatal("gateway", err)
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr

	ctx, stop := service.SignalContext()
	defer stop()
	app, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Fatal("gateway failed to start", zap.Error(err))
	}
	defer app.close()
	if err := service.Run(ctx, log, app.components...); err != nil {
		log.Error("gateway stopped with error", zap.Error(err))
		os.Exit(1)
	}
}
