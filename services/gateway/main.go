// Command gateway is engage's HTTP ingest service: product apps and Segment SDKs send
// telemetry here, and every accepted event is on Kafka before the answer (internal/ingest).
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/service"
)

func main() {
	var cfg Config
	f := cfg.Flags()
	service.Main(f, &cfg.Common, &cfg, func(ctx context.Context, log *zap.Logger) (*service.App, error) {
		return newApp(ctx, cfg, log)
	})
}
