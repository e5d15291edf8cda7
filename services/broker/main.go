// Command broker runs engage's embedded Kafka-compatible broker (franz-go's kfake) for
// development and CI. Production uses Apache Kafka instead; see docker-compose.yml.
package main

import (
	"context"
	"net"
	"os"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/dev/broker"
	"github.com/engage-oss/engage/internal/service"
)

func main() {
	cfg := broker.DefaultConfig()
	var adminAddr, logLevel string
	var dev bool
	f := service.NewFlags("broker")
	f.String(&cfg.Addr, "addr", "BROKER_ADDR", cfg.Addr, "Kafka protocol listen address")
	f.String(&cfg.DataDir, "data-dir", "BROKER_DATA_DIR", cfg.DataDir, "directory for the persisted log")
	f.Int(&cfg.Partitions, "partitions", "BROKER_PARTITIONS", cfg.Partitions, "partitions per topic on first start")
	f.Bool(&cfg.SyncWrites, "sync-writes", "BROKER_SYNC_WRITES", false, "fsync every batch before acknowledging it")
	f.String(&adminAddr, "admin-addr", "BROKER_ADMIN_ADDR", "127.0.0.1:8084", "address of /healthz, /readyz and /metrics")
	f.String(&logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.Bool(&dev, "dev", "ENGAGE_DEV", false, "console logs for humans")
	if err := f.Parse(os.Args[1:]); err != nil {
		service.Fatal("broker", err)
	}
	log, err := service.NewLogger("broker", dev, logLevel)
	if err != nil {
		service.Fatal("broker", err)
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr

	ctx, stop := service.SignalContext()
	defer stop()
	b, err := broker.Start(ctx, cfg, log)
	if err != nil {
		log.Fatal("broker failed to start", zap.Error(err))
	}
	log.Info("broker ready", zap.String("addr", b.Addr()), zap.String("data_dir", cfg.DataDir))

	admin := service.NewAdmin()
	admin.AddCheck("kafka-listener", func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", b.Addr())
		if err != nil {
			return err
		}
		return c.Close()
	})
	srv, _, err := service.HTTPServer("admin", adminAddr, admin.Mux(), log)
	if err != nil {
		b.Close()
		log.Fatal("admin server", zap.Error(err))
	}
	err = service.Run(ctx, log, service.Component{Name: "broker", Run: func(ctx context.Context) error {
		<-ctx.Done()
		b.Close()
		return nil
	}}, srv)
	if err != nil {
		log.Error("broker stopped with error", zap.Error(err))
		os.Exit(1)
	}
}
