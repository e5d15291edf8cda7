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
	"github.com/engage-oss/engage/internal/topics"
)

// newApp builds the gateway from a configuration that passed Validate.
func newApp(ctx context.Context, cfg Config, log *zap.Logger) (*service.App, error) {
	keys, err := cfg.keys()
	if err != nil {
		return nil, err
	}
	if err := kafka.EnsureTopicsAt(ctx, cfg.Kafka.Brokers, cfg.Kafka.Topics(cfg.Dev)); err != nil {
		return nil, err
	}
	opts := append(kafka.ClientOpts(cfg.Kafka.Brokers, "engage-gateway", log), kafka.ProducerOpts()...)
	// A request must get its 503 within the publish timeout, also when the broker is gone:
	// without this, the idempotent producer waits for the outcome of records already sent.
	// A cancelled record may still land; the client's retry then duplicates it on the topic,
	// and the worker collapses the copies by event_id.
	opts = append(opts, kgo.AllowIdempotentProduceCancellation())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka producer: %w", err)
	}
	pub := kafka.NewPublisher(cl, topics.Events)
	admin := service.NewAdmin()
	// The one readiness rule of the gateway: a produce failed in the last few seconds, or
	// the brokers do not answer.
	admin.AddCheck("kafka", pub.Check)
	h, err := ingest.NewHandler(cfg.ingest(keys), pub, log, admin.Registry)
	if err != nil {
		cl.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	admin.Register(mux)
	mux.Handle("/", h)
	// On SIGTERM: /readyz turns 503, the server serves on for DrainDelay (keep-alive off),
	// then refuses connections and answers the requests in flight, each after its broker
	// acknowledgement or, if the broker is slow, with 503 before the server's own deadline.
	srv, _, err := service.HTTPServer("api", cfg.Addr, mux, log,
		service.DrainReadiness(admin), service.DrainDelay(cfg.DrainDelay), service.AnswerBy(h.Drain))
	if err != nil {
		cl.Close()
		return nil, err
	}
	if cfg.Dev && cfg.WriteKeys == "" && cfg.KeysFile == "" {
		log.Warn("dev mode: accepting the dev write key", zap.String("key_fingerprint", ingest.Fingerprint(cfg.WriteKey)))
	}
	log.Info("write keys loaded", zap.Int("keys", keys.Len()), zap.Bool("dev", cfg.Dev))
	return &service.App{
		Components: []service.Component{srv},
		// The producer closes after the HTTP server has drained: in-flight requests still
		// wait for their acknowledgements during shutdown.
		Close: cl.Close,
	}, nil
}
