package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changed"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/scorer/readapi"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/internal/topics"
)

// openModel resolves HEALTH_MODEL: empty is the built-in model, anything else a file that
// must load. It returns the model and, for a file, the component that reloads it.
func openModel(cfg Config, log *zap.Logger, reg prometheus.Registerer) (scorer.ModelSource, *service.Component, error) {
	if cfg.Model == "" {
		m := health.DefaultModel()
		log.Info("health model", zap.String("source", "built-in"), zap.String("version", m.Version))
		return scorer.StaticModel{M: m}, nil, nil
	}
	mf, err := scorer.LoadModelFile(cfg.Model, cfg.ModelPoll, log, reg)
	if err != nil {
		return nil, nil, fmt.Errorf("health model %s: %w", cfg.Model, err)
	}
	log.Info("health model", zap.String("source", cfg.Model), zap.String("version", mf.Model().Version))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return mf, &service.Component{Name: "model", Run: func(ctx context.Context) error {
		defer signal.Stop(hup)
		return mf.Run(ctx, hup)
	}}, nil
}

// partitions reads the partition count of the health-change topic and checks that the
// notification topic has the same: partition p of both must hold the same accounts.
func partitions(ctx context.Context, cfg Config) (int32, error) {
	opts := kafka.ClientOpts(cfg.Kafka.Brokers, "engage-scorer", nil)
	hc, err := kafka.Partitions(ctx, opts, topics.HealthChanges)
	if err != nil {
		return 0, err
	}
	ac, err := kafka.Partitions(ctx, opts, topics.AccountsChanged)
	if err != nil {
		return 0, err
	}
	if hc != ac {
		return 0, fmt.Errorf("%s has %d partitions and %s %d: they must have the same count, since partition p of both holds the same accounts",
			topics.HealthChanges, hc, topics.AccountsChanged, ac)
	}
	return hc, nil
}

// newApp builds the scorer from a configuration that passed Validate.
func newApp(ctx context.Context, cfg Config, log *zap.Logger) (*service.App, error) {
	admin := service.NewAdmin()
	model, modelComp, err := openModel(cfg, log, admin.Registry)
	if err != nil {
		return nil, err
	}
	if err := kafka.EnsureTopicsAt(ctx, cfg.Kafka.Brokers, cfg.Kafka.Topics(cfg.Dev)); err != nil {
		return nil, err
	}
	conn, err := cfg.ClickHouse.Connect(ctx, log)
	if err != nil {
		return nil, err
	}
	closeAll := func() { conn.Close() }
	parts, err := partitions(ctx, cfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	cfg.Scorer.Partitions = parts

	store := scorestore.New(conn)
	group := changed.NewGroup(changed.Config{
		Brokers: cfg.Kafka.Brokers, Group: cfg.Group, SessionTimeout: cfg.SessionTimeout, HeartbeatInterval: cfg.HeartbeatInterval,
	}, topics.AccountsChanged, log, admin.Registry)
	sc, err := scorer.New(cfg.Scorer, scorer.Deps{
		Model:   model,
		Source:  store,
		History: store,
		Topic:   changetopic.NewTopic(kafka.ClientOpts(cfg.Kafka.Brokers, "engage-scorer", log), topics.HealthChanges, cfg.Group, parts, log),
		Group:   group,
		Latest:  store,
	}, log, admin.Registry)
	if err != nil {
		closeAll()
		return nil, err
	}
	api, err := readapi.NewHandler(readapi.Config{Keys: cfg.ReadKeys, DevMode: cfg.Dev}, sc, store, log, admin.Registry)
	if err != nil {
		closeAll()
		return nil, err
	}
	admin.AddCheck("kafka", func(ctx context.Context) error {
		_, err := kafka.Partitions(ctx, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-scorer-check", nil), topics.HealthChanges)
		return err
	})
	admin.AddCheck("clickhouse", store.Ping)
	admin.AddCheck("state", sc.Ready)

	mux := http.NewServeMux()
	admin.Register(mux)
	mux.Handle("/", api)
	srv, _, err := service.HTTPServer("api", cfg.Addr, mux, log, service.DrainReadiness(admin))
	if err != nil {
		closeAll()
		return nil, err
	}
	// Started in this order and stopped in reverse: the group member leaves first (the other
	// instances take its partitions over at once, and Revoke waits for a rescoring in
	// progress), then the scorer stops, while /readyz still answers.
	comps := []service.Component{srv}
	if modelComp != nil {
		comps = append(comps, *modelComp)
	}
	comps = append(comps, service.Component{Name: "scorer", Run: sc.Run},
		service.Component{Name: "group", Run: func(ctx context.Context) error { return group.Run(ctx, sc) }})
	log.Info("scorer configured", zap.Int("read_keys", len(cfg.ReadKeys)), zap.Bool("dev", cfg.Dev),
		zap.Duration("interval", cfg.Scorer.Interval), zap.String("group", cfg.Group), zap.Int32("partitions", parts))
	return &service.App{Components: comps, Close: closeAll}, nil
}
