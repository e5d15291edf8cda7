// Command worker is engage's stream worker: it consumes engagement.events, sessionizes each
// user's events and writes raw events and session rows to ClickHouse (internal/worker).
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
