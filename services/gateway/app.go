package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/ingest"
	"github.com/engage-oss/engage/internal/service"
)

type config struct {
	addr      string
	brokers   []string
	topics    kafka.TopicConfig
	ingest    ingest.Config
	writeKey  string
	writeKeys string
	keysFile  string
	logLevel  string
	dev       bool
	bind      func() // copies flag values that need conversion into ingest
}

func defaultConfig() config { return config{} }

func (c *config) flags() *service.Flags {
	f := service.NewFlags("gateway")
	f.String(&c.addr, "addr", "GATEWAY_ADDR", ":8080", "HTTP listen address (API, /healthz, /readyz, /metrics)")
	f.List(&c.brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers")
	f.Int(&c.topics.Partitions, "topic-partitions", "TOPIC_PARTITIONS", kafka.DefaultPartitions, "partitions of topics created at start when missing")
	f.Int(&c.topics.Replication, "topic-replication", "TOPIC_REPLICATION", 1, "replication factor of topics created at start when missing")
	f.Bool(&c.dev, "dev", "ENGAGE_DEV", false, "dev mode: console logs, and the dev write key is accepted")
	f.String(&c.writeKey, "write-key", "WRITE_KEY", ingest.DevWriteKey, "the write key accepted in dev mode")
	f.String(&c.writeKeys, "write-keys", "WRITE_KEYS", "", "accepted write keys, each 'key' or 'key:account1|account2' (comma-separated)")
	f.String(&c.keysFile, "write-keys-file", "WRITE_KEYS_FILE", "", "file of write keys, one 'key' or 'key:account1,account2' per line")
	var maxBody, maxInflight int
	f.Int(&maxBody, "max-body-bytes", "GATEWAY_MAX_BODY_BYTES", ingest.DefaultMaxBodyBytes, "largest request body after gzip decoding (413 above)")
	f.Int(&maxInflight, "max-inflight-bytes", "GATEWAY_MAX_INFLIGHT_BYTES", ingest.DefaultMaxInflightBytes, "memory bound for requests in flight (503 above)")
	var rate int
	f.Int(&rate, "rate-limit", "GATEWAY_RATE_LIMIT", 0, "events per second per write key (0: unlimited)")
	f.Duration(&c.ingest.PublishTimeout, "publish-timeout", "GATEWAY_PUBLISH_TIMEOUT", ingest.DefaultPublishTimeout, "longest wait for broker acknowledgements before 503")
	f.String(&c.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	c.bind = func() {
		c.ingest.MaxBodyBytes = int64(maxBody)
		c.ingest.MaxInflightBytes = int64(maxInflight)
		c.ingest.RateLimit = float64(rate)
	}
	return f
}

func (c config) keys() (*ingest.Keys, error) {
	switch {
	case c.keysFile != "":
		return ingest.LoadKeyFile(c.keysFile)
	case c.writeKeys != "":
		return ingest.ParseKeyList(c.writeKeys)
	case c.dev:
		return ingest.ParseKeyList(c.writeKey)
	}
	return nil, fmt.Errorf("no write keys: set WRITE_KEYS or WRITE_KEYS_FILE (or ENGAGE_DEV=true for the dev key)")
}

func newApp(ctx context.Context, cfg config, log *zap.Logger) (*service.App, error) {
	cfg.bind()
	if len(cfg.brokers) == 0 {
		return nil, kafka.ErrNoBrokers
	}
	keys, err := cfg.keys()
	if err != nil {
		return nil, err
	}
	cfg.ingest.Keys = keys
	cfg.ingest.DevMode = cfg.dev
	if err := kafka.EnsureTopicsAt(ctx, cfg.brokers, cfg.topics); err != nil {
		return nil, err
	}
	opts := append(kafka.ClientOpts(cfg.brokers, "engage-gateway", log), kafka.ProducerOpts()...)
	// A request must get its 503 within the publish timeout, also when the broker is gone:
	// without this, the idempotent producer waits for the outcome of records already sent.
	// A cancelled record may still land; the client's retry then duplicates it on the topic,
	// and the worker collapses the copies by event_id.
	opts = append(opts, kgo.AllowIdempotentProduceCancellation())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka producer: %w", err)
	}
	pub := kafka.NewPublisher(cl, kafka.TopicEvents)
	admin := service.NewAdmin()
	admin.AddCheck("kafka", pub.Check)
	h, err := ingest.NewHandler(cfg.ingest, pub, log, admin.Registry)
	if err != nil {
		cl.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	admin.Register(mux)
	mux.Handle("/", h)
	srv, _, err := service.HTTPServer("api", cfg.addr, mux, log)
	if err != nil {
		cl.Close()
		return nil, err
	}
	log.Info("write keys loaded", zap.Int("keys", keys.Len()), zap.Bool("dev", cfg.dev))
	return &service.App{
		Components: []service.Component{srv},
		// The producer closes after the HTTP server has drained: in-flight requests still
		// wait for their acknowledgements during shutdown.
		Close: cl.Close,
	}, nil
}
