package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/clickhouse/scorestore"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/kafka/changetopic"
	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/scorer/readapi"
	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/schemas"
)

// defaultModelPath is used when HEALTH_MODEL is not set and the file exists (a checkout or
// the container's working directory); otherwise the built-in health.DefaultModel is used.
const defaultModelPath = "deploy/health-model.json"

type config struct {
	addr      string
	brokers   []string
	topics    kafka.TopicConfig
	ch        clickhouse.Config
	migrate   bool
	scorer    scorer.Config
	model     string
	modelPoll time.Duration
	readKeys  []string
	logLevel  string
	dev       bool
}

func defaultConfig() config {
	return config{
		ch:     clickhouse.Config{Addr: clickhouse.DefaultAddr, Database: clickhouse.DefaultDatabase, Username: clickhouse.DefaultUsername},
		scorer: scorer.Config{Interval: scorer.DefaultInterval, ContractionDays: scorer.DefaultContractionDays},
	}
}

func (c *config) flags() *service.Flags {
	f := service.NewFlags("scorer")
	f.String(&c.addr, "addr", "SCORER_ADDR", ":8082", "HTTP listen address (read API, /healthz, /readyz, /metrics)")
	f.List(&c.brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers")
	f.Int(&c.topics.Partitions, "topic-partitions", "TOPIC_PARTITIONS", kafka.DefaultPartitions, "partitions of topics created at start when missing")
	f.Int(&c.topics.Replication, "topic-replication", "TOPIC_REPLICATION", 1, "replication factor of topics created at start when missing")
	f.String(&c.ch.Addr, "clickhouse-addr", "CLICKHOUSE_ADDR", c.ch.Addr, "ClickHouse native-protocol address")
	f.String(&c.ch.Database, "clickhouse-database", "CLICKHOUSE_DATABASE", c.ch.Database, "ClickHouse database")
	f.String(&c.ch.Username, "clickhouse-user", "CLICKHOUSE_USER", c.ch.Username, "ClickHouse user")
	f.String(&c.ch.Password, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	f.Bool(&c.migrate, "migrate", "CLICKHOUSE_MIGRATE", true, "create the database and apply schema migrations at start")
	f.Duration(&c.scorer.Interval, "interval", "SCORER_INTERVAL", c.scorer.Interval, "time between rescorings of every account")
	f.Int(&c.scorer.ContractionDays, "contraction-days", "SCORER_CONTRACTION_DAYS", c.scorer.ContractionDays, "the contraction reason compares seats, plan and MRR with their values at 00:00 UTC this many days ago")
	f.String(&c.model, "model", "HEALTH_MODEL", "", "health model file, reloaded on change and on SIGHUP (default "+defaultModelPath+" if it exists, else the built-in default model)")
	f.Duration(&c.modelPoll, "model-poll", "HEALTH_MODEL_POLL", scorer.DefaultModelPoll, "how often the model file is checked for changes")
	f.List(&c.readKeys, "read-keys", "READ_KEYS", "", "accepted read API keys")
	f.String(&c.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.Bool(&c.dev, "dev", "ENGAGE_DEV", false, "dev mode: console logs, and the read key dev-read-key is accepted")
	return f
}

// openModel resolves HEALTH_MODEL. It returns the model and, for a file, the component
// that reloads it.
func openModel(cfg config, log *zap.Logger, reg prometheus.Registerer) (scorer.ModelSource, *service.Component, error) {
	path := cfg.model
	if path == "" {
		if _, err := os.Stat(defaultModelPath); err != nil {
			log.Info("no health model file; using the built-in default model", zap.String("version", health.DefaultModel().Version))
			return scorer.StaticModel{M: health.DefaultModel()}, nil, nil
		}
		path = defaultModelPath
	}
	mf, err := scorer.LoadModelFile(path, cfg.modelPoll, log, reg)
	if err != nil {
		return nil, nil, err
	}
	log.Info("health model loaded", zap.String("path", path), zap.String("version", mf.Model().Version))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return mf, &service.Component{Name: "model", Run: func(ctx context.Context) error {
		defer signal.Stop(hup)
		return mf.Run(ctx, hup)
	}}, nil
}

func openClickHouse(ctx context.Context, cfg config) (driver.Conn, error) {
	if cfg.migrate {
		conn, err := clickhouse.Setup(ctx, cfg.ch, schemas.ClickHouse, "clickhouse")
		if err != nil {
			return nil, fmt.Errorf("setting up ClickHouse: %w", err)
		}
		return conn, nil
	}
	return clickhouse.Open(ctx, cfg.ch)
}

func newApp(ctx context.Context, cfg config, log *zap.Logger) (*service.App, error) {
	if len(cfg.brokers) == 0 {
		return nil, kafka.ErrNoBrokers
	}
	if len(cfg.readKeys) == 0 && !cfg.dev {
		return nil, readapi.ErrNoKeys // before connecting anywhere, like the gateway
	}
	if err := cfg.scorer.Validate(); err != nil {
		return nil, err
	}
	admin := service.NewAdmin()
	model, modelComp, err := openModel(cfg, log, admin.Registry)
	if err != nil {
		return nil, err
	}
	if err := kafka.EnsureTopicsAt(ctx, cfg.brokers, cfg.topics); err != nil {
		return nil, err
	}
	conn, err := openClickHouse(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(kafka.ClientOpts(cfg.brokers, "engage-scorer", log), kafka.ProducerOpts()...)...)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("creating Kafka producer: %w", err)
	}
	closeAll := func() { cl.Close(); conn.Close() }

	store := scorestore.New(conn)
	emitter := changetopic.NewEmitter(cl, kafka.TopicHealthChanges)
	sc, err := scorer.New(cfg.scorer, scorer.Deps{
		Model:     model,
		Source:    store,
		History:   store,
		Emitter:   emitter,
		ChangeLog: changetopic.NewReplayer(kafka.ClientOpts(cfg.brokers, "engage-scorer-replay", log), kafka.TopicHealthChanges),
	}, log, admin.Registry)
	if err != nil {
		closeAll()
		return nil, err
	}
	api, err := readapi.NewHandler(readapi.Config{Keys: cfg.readKeys, DevMode: cfg.dev}, sc, store, log, admin.Registry)
	if err != nil {
		closeAll()
		return nil, err
	}
	admin.AddCheck("kafka", emitter.Check)
	admin.AddCheck("clickhouse", store.Ping)
	admin.AddCheck("state", sc.Ready)

	mux := http.NewServeMux()
	admin.Register(mux)
	mux.Handle("/", api)
	srv, _, err := service.HTTPServer("api", cfg.addr, mux, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	// Started in this order and stopped in reverse: the scorer stops first, while /readyz
	// still answers.
	comps := []service.Component{srv}
	if modelComp != nil {
		comps = append(comps, *modelComp)
	}
	comps = append(comps, service.Component{Name: "scorer", Run: sc.Run})
	log.Info("scorer configured", zap.Int("read_keys", len(cfg.readKeys)), zap.Bool("dev", cfg.dev),
		zap.Duration("interval", cfg.scorer.Interval))
	return &service.App{Components: comps, Close: closeAll}, nil
}
