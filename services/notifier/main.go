// Command notifier delivers engage's health changes to the webhooks of CS tools and Slack:
// it consumes engagement.health.changes, one consumer group per destination of its
// configuration file, signs each request per the Standard Webhooks specification, retries
// failures with backoff until they are too old, dead-letters what it gives up on, and logs
// every attempt to ClickHouse (internal/notify). With -replay it re-delivers the changes
// published since a time to one destination, then exits.
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
