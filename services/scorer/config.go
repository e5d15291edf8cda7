package main

import (
	"errors"
	"net"
	"time"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
	"github.com/engage-oss/engage/internal/service"
)

// docIntro introduces the scorer's section of docs/CONFIG.md.
const docIntro = "`services/scorer`: scores the accounts, announces band changes and serves the read API. Instances with the same `SCORER_GROUP` share the accounts by the partitions of a Kafka consumer group; run two or more for availability. Outside dev mode it refuses to start without `READ_KEYS`. The ClickHouse server's time zone must be UTC for the scorer's windows (the embedded one is)."

// Config is the scorer's whole configuration.
type Config struct {
	service.Common
	Kafka      service.Kafka
	ClickHouse service.ClickHouse
	Scorer     scorer.Config

	Addr string
	// Group is the consumer group (and transactional id prefix) the instances share.
	Group                             string
	SessionTimeout, HeartbeatInterval time.Duration
	// Model is the health model file; empty runs the built-in health.DefaultModel.
	Model     string
	ModelPoll time.Duration
	ReadKeys  []string
}

// Flags defines every flag of the scorer on c.
func (c *Config) Flags() *service.Flags {
	f := service.NewFlags("scorer")
	f.String(&c.Addr, "addr", "SCORER_ADDR", ":8082", "HTTP listen address (read API, /healthz, /readyz, /metrics)")
	c.Kafka.Register(f)
	c.ClickHouse.Register(f)
	f.Duration(&c.Scorer.Interval, "interval", "SCORER_INTERVAL", scorer.DefaultInterval, "time between two rescorings of the accounts that changed")
	f.String(&c.Group, "group", "SCORER_GROUP", "engage-scorer", "consumer group of the scorer instances that share the accounts; also the prefix of their transactional ids (<group>-<partition>)")
	f.Duration(&c.SessionTimeout, "session-timeout", "SCORER_SESSION_TIMEOUT", 10*time.Second, "how long an instance may be unresponsive before the others take its accounts over")
	f.Duration(&c.HeartbeatInterval, "heartbeat-interval", "SCORER_HEARTBEAT_INTERVAL", time.Second, "how often an instance tells the group it is alive")
	f.Int(&c.Scorer.ContractionDays, "contraction-days", "SCORER_CONTRACTION_DAYS", scorer.DefaultContractionDays, "the contraction reason compares seats, plan and MRR with their values at 00:00 UTC this many days ago")
	f.String(&c.Model, "model", "HEALTH_MODEL", "", "health model file, reloaded on change and on SIGHUP; empty runs the built-in model (deploy/health-model.json as built into the binary). A file that cannot be loaded stops the start")
	f.Duration(&c.ModelPoll, "model-poll", "HEALTH_MODEL_POLL", scorer.DefaultModelPoll, "how often the model file is checked for changes")
	f.List(&c.ReadKeys, "read-keys", "READ_KEYS", "", "accepted read API keys, required outside dev mode")
	c.Common.Register(f, "dev mode: console logs, topics with replication 1, and the read key dev-read-key is accepted")
	return f
}

// Validate reports every bad setting; it loads the model file, but connects nowhere.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate(), c.Kafka.Validate(), c.ClickHouse.Validate()}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, service.FieldValue("scorer.addr", c.Addr, "not host:port (or :port)"))
	}
	errs = append(errs, service.Section("scorer", c.Scorer.Validate())...)
	if len(c.ReadKeys) == 0 && !c.Dev {
		errs = append(errs, service.Field("scorer.read_keys", "no read keys: set READ_KEYS (or ENGAGE_DEV=true for the dev key)"))
	}
	if c.Model != "" {
		if _, err := health.LoadModel(c.Model); err != nil {
			errs = append(errs, service.Field("health.model", "%w", err))
		}
	}
	if c.Group == "" {
		errs = append(errs, service.Field("scorer.group", "must not be empty"))
	}
	if c.HeartbeatInterval <= 0 || c.SessionTimeout < 3*c.HeartbeatInterval {
		errs = append(errs, service.FieldValue("scorer.session_timeout", c.SessionTimeout, "must be at least three heartbeat intervals ("+c.HeartbeatInterval.String()+")"))
	}
	if c.ModelPoll <= 0 {
		errs = append(errs, service.FieldValue("health.model_poll", c.ModelPoll, "must be positive"))
	}
	return errors.Join(errs...)
}
