package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/eventstore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changed"
	"github.com/engage-oss/engage/internal/adapters/kafka/consumer"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/internal/topics"
	"github.com/engage-oss/engage/internal/worker"
)

// newApp builds the worker from a configuration that passed Validate.
func newApp(ctx context.Context, cfg Config, log *zap.Logger) (*service.App, error) {
	if err := kafka.EnsureTopicsAt(ctx, cfg.Kafka.Brokers, cfg.Kafka.Topics(cfg.Dev)); err != nil {
		return nil, err
	}
	conn, err := cfg.ClickHouse.Connect(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("connecting worker to ClickHouse: %w", err)
	}
	admin := service.NewAdmin()
	store := eventstore.New(conn)
	w, err := worker.New(cfg.Worker, store, log, admin.Registry)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cons, err := consumer.New(cfg.Worker, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-worker", log), w)
	if err != nil {
		conn.Close()
		return nil, err
	}
	notifier, err := changed.NewNotifier(ctx, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-worker", log), topics.AccountsChanged)
	if err != nil {
		cons.Close()
		conn.Close()
		return nil, err
	}
	w.NotifyTo(notifier)
	closeAll := func() { cons.Close(); notifier.Close(); conn.Close() }
	admin.AddCheck("kafka", cons.Ping)
	admin.AddCheck("clickhouse", store.Ping)
	// /readyz turns 503 as soon as the worker begins to shut down.
	srv, _, err := service.HTTPServer("admin", cfg.AdminAddr, admin.Mux(), log, service.DrainReadiness(admin))
	if err != nil {
		closeAll()
		return nil, err
	}
	return &service.App{
		Components: []service.Component{srv, {Name: "worker", Run: func(ctx context.Context) error { return w.Run(ctx, cons, cons) }}},
		Close:      closeAll,
	}, nil
}
