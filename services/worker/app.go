package main

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/clickhouse/eventstore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/internal/worker"
	"github.com/engage-oss/engage/schemas"
)

type config struct {
	brokers   []string
	topics    kafka.TopicConfig
	ch        clickhouse.Config
	migrate   bool
	worker    worker.Config
	adminAddr string
	logLevel  string
	dev       bool
}

func defaultConfig() config {
	return config{
		ch:     clickhouse.Config{Addr: clickhouse.DefaultAddr, Database: clickhouse.DefaultDatabase, Username: clickhouse.DefaultUsername},
		worker: worker.DefaultConfig(),
	}
}

func (c *config) flags() *service.Flags {
	f := service.NewFlags("worker")
	f.List(&c.brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers")
	f.Int(&c.topics.Partitions, "topic-partitions", "TOPIC_PARTITIONS", kafka.DefaultPartitions, "partitions of topics created at start when missing")
	f.Int(&c.topics.Replication, "topic-replication", "TOPIC_REPLICATION", 1, "replication factor of topics created at start when missing")
	f.String(&c.ch.Addr, "clickhouse-addr", "CLICKHOUSE_ADDR", c.ch.Addr, "ClickHouse native-protocol address")
	f.String(&c.ch.Database, "clickhouse-database", "CLICKHOUSE_DATABASE", c.ch.Database, "ClickHouse database")
	f.String(&c.ch.Username, "clickhouse-user", "CLICKHOUSE_USER", c.ch.Username, "ClickHouse user")
	f.String(&c.ch.Password, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	f.Bool(&c.migrate, "migrate", "CLICKHOUSE_MIGRATE", true, "apply schema migrations at start")
	f.String(&c.worker.Group, "group", "WORKER_GROUP", c.worker.Group, "Kafka consumer group shared by worker instances")
	f.Duration(&c.worker.GroupSessionTimeout, "group-session-timeout", "WORKER_GROUP_SESSION_TIMEOUT", c.worker.GroupSessionTimeout, "how long the group waits for a silent instance before reassigning its partitions")
	f.Int(&c.worker.MaxBatchRecords, "max-batch", "WORKER_MAX_BATCH", c.worker.MaxBatchRecords, "most records per ClickHouse batch")
	f.Duration(&c.worker.FlushInterval, "flush-interval", "WORKER_FLUSH_INTERVAL", c.worker.FlushInterval, "longest wait before a consumed record is written")
	f.Duration(&c.worker.Session.SessionTimeout, "session-timeout", "SESSION_TIMEOUT", c.worker.Session.SessionTimeout, "a gap longer than this starts a new session")
	f.Duration(&c.worker.Session.IdleThreshold, "idle-threshold", "IDLE_THRESHOLD", c.worker.Session.IdleThreshold, "gaps up to this count as active time")
	f.Duration(&c.worker.Session.Lateness, "lateness", "ALLOWED_LATENESS", c.worker.Session.Lateness, "how late (per user) an event may arrive and still be sessionized")
	f.String(&c.worker.Name, "name", "WORKER_NAME", hostname(), "instance name in logs and DLQ headers")
	f.String(&c.adminAddr, "admin-addr", "WORKER_ADMIN_ADDR", "127.0.0.1:8081", "address of /healthz, /readyz and /metrics")
	f.String(&c.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.Bool(&c.dev, "dev", "ENGAGE_DEV", false, "console logs for humans")
	return f
}

func newApp(ctx context.Context, cfg config, log *zap.Logger) (*service.App, error) {
	if len(cfg.brokers) == 0 {
		return nil, kafka.ErrNoBrokers
	}
	if err := kafka.EnsureTopicsAt(ctx, cfg.brokers, cfg.topics); err != nil {
		return nil, err
	}
	var conn driver.Conn
	var err error
	if cfg.migrate {
		conn, err = clickhouse.Setup(ctx, cfg.ch, schemas.ClickHouse, "clickhouse")
	} else {
		conn, err = clickhouse.Open(ctx, cfg.ch)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting worker to ClickHouse: %w", err)
	}
	admin := service.NewAdmin()
	store := eventstore.New(conn)
	w, err := worker.New(cfg.worker, kafka.ClientOpts(cfg.brokers, "engage-worker", log), store, log, admin.Registry)
	if err != nil {
		conn.Close()
		return nil, err
	}
	admin.AddCheck("kafka", w.Check)
	admin.AddCheck("clickhouse", store.Ping)
	srv, _, err := service.HTTPServer("admin", cfg.adminAddr, admin.Mux(), log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &service.App{
		Components: []service.Component{srv, {Name: "worker", Run: w.Run}},
		Close:      func() { conn.Close() },
	}, nil
}
