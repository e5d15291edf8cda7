package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse/deliverylog"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/notifyfeed"
	"github.com/engage-oss/engage/internal/notify"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/internal/topics"
)

// newApp builds the notifier from a configuration that passed Validate.
func newApp(ctx context.Context, cfg Config, log *zap.Logger) (*service.App, error) {
	admin := service.NewAdmin()
	file, err := notify.LoadConfigFile(cfg.File, cfg.FilePoll, log)
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
	dlq, err := notifyfeed.NewDeadLetters(kafka.ClientOpts(cfg.Kafka.Brokers, "engage-notifier", log))
	if err != nil {
		conn.Close()
		return nil, err
	}
	closeAll := func() { dlq.Close(); conn.Close() }
	logs := deliverylog.New(conn, log, admin.Registry)
	sender := &notify.Sender{
		Client: &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConns: 1000, MaxIdleConnsPerHost: 64,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		}},
		ConsoleURL: cfg.ConsoleURL, UserAgent: "engage-notifier", Now: time.Now,
	}
	metrics := notify.NewMetrics(admin.Registry)
	admin.AddCheck("clickhouse", conn.Ping)

	if cfg.Replay {
		return replayApp(ctx, cfg, file.Config(), sender, dlq, logs, metrics, log, closeAll)
	}

	sup := notify.NewSupervisor(notify.RunnerDeps{
		Open: func(d notify.Destination) (notify.Feed, func(), error) {
			f, err := notifyfeed.NewFeed(ctx, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-notifier", log), cfg.Group+"."+d.Name, topics.HealthChanges, log)
			if err != nil {
				return nil, nil, err
			}
			return f, f.Close, nil
		},
		Transport: sender, DLQ: dlq, Log: logs, Metrics: metrics,
	}, log)
	file.OnChange(func(c notify.Config) {
		log.Info("notifier configuration reloaded", zap.Int("destinations", len(c.Destinations)))
		sup.Apply(c)
	})
	admin.AddCheck("destinations", func(context.Context) error { return sup.Ready() })
	admin.AddCheck("kafka", func(ctx context.Context) error {
		_, err := kafka.Partitions(ctx, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-notifier-check", nil), topics.HealthChanges)
		return err
	})
	srv, _, err := service.HTTPServer("admin", cfg.AdminAddr, admin.Mux(), log, service.DrainReadiness(admin))
	if err != nil {
		closeAll()
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	log.Info("notifier configured", zap.String("config", cfg.File), zap.Int("destinations", len(file.Config().Destinations)),
		zap.String("group_prefix", cfg.Group))
	// Stopped in reverse order: the destinations first (their last commits), then the log's
	// last write.
	return &service.App{
		Components: []service.Component{
			srv,
			{Name: "delivery-log", Run: logs.Run},
			{Name: "config", Run: func(ctx context.Context) error { defer signal.Stop(hup); return file.Run(ctx, hup) }},
			{Name: "destinations", Run: func(ctx context.Context) error { return sup.Run(ctx, file.Config()) }},
		},
		Close: closeAll,
	}, nil
}

// replayApp re-delivers the changes since cfg.Since to one destination, then stops.
func replayApp(ctx context.Context, cfg Config, file notify.Config, sender *notify.Sender, dlq notify.DeadLetters,
	logs *deliverylog.Writer, metrics *notify.Metrics, log *zap.Logger, closeAll func()) (*service.App, error) {
	d, _ := file.Find(cfg.Destination)
	start := time.Now()
	since, err := cfg.since(start)
	if err != nil {
		closeAll()
		return nil, err
	}
	feed, err := notifyfeed.NewReplay(ctx, kafka.ClientOpts(cfg.Kafka.Brokers, "engage-notifier-replay", log), topics.HealthChanges, since)
	if err != nil {
		closeAll()
		return nil, err
	}
	// The retry age of an old change runs from the replay's start, not from its publication.
	runner := notify.NewRunner(d, notify.RunnerConfig{AgeFrom: start}, feed, sender, dlq, logs, metrics, log)
	lctx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() { defer close(logDone); _ = logs.Run(lctx) }()
	log.Info("replaying", zap.String("destination", d.Name), zap.Time("since", since))
	return &service.App{
		Components: []service.Component{{Name: "replay", Finite: true, Run: func(ctx context.Context) error {
			err := runner.Run(ctx)
			logs.Flush(ctx)
			if err != nil {
				return fmt.Errorf("replaying to %s: %w", d.Name, err)
			}
			log.Info("replay done", zap.String("destination", d.Name), zap.Duration("took", time.Since(start)))
			return nil
		}}},
		Close: func() { stopLog(); <-logDone; feed.Close(); closeAll() },
	}, nil
}
