// Command broker runs engage's embedded Kafka-compatible broker (franz-go's kfake) for
// development and CI. Production uses Apache Kafka instead; see docker-compose.yml.
package main

import (
	"context"
	"net"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/dev/broker"
	"github.com/engage-oss/engage/internal/service"
)

func main() {
	var cfg Config
	f := cfg.Flags()
	service.Main(f, &cfg.Common, &cfg, func(ctx context.Context, log *zap.Logger) (*service.App, error) {
		return newApp(ctx, cfg, log)
	})
}

// newApp starts the broker and its admin server from a configuration that passed Validate.
func newApp(ctx context.Context, cfg Config, log *zap.Logger) (*service.App, error) {
	b, err := broker.Start(ctx, cfg.Broker, log)
	if err != nil {
		return nil, err
	}
	log.Info("broker ready", zap.String("addr", b.Addr()), zap.Strings("addrs", b.Addrs()), zap.String("data_dir", cfg.Broker.DataDir))
	admin := service.NewAdmin()
	admin.AddCheck("kafka-listener", func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", b.Addr())
		if err != nil {
			return err
		}
		return c.Close()
	})
	srv, _, err := service.HTTPServer("admin", cfg.AdminAddr, admin.Mux(), log)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &service.App{Components: []service.Component{{Name: "broker", Run: func(ctx context.Context) error {
		<-ctx.Done()
		b.Close()
		return nil
	}}, srv}}, nil
}
