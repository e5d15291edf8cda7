// Command scorer is engage's health scorer: it rescores every account periodically from the
// ClickHouse tables the worker fills, announces each band change on
// engagement.health.changes, writes score changes to account_health, and serves the read
// API (internal/scorer and its subpackages). Run a single instance (see internal/scorer).
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
