package main

import (
	"errors"
	"net"

	"github.com/engage-oss/engage/internal/service"
	"github.com/engage-oss/engage/internal/worker"
)

// docIntro introduces the worker's section of docs/CONFIG.md.
const docIntro = "`services/worker`: consumes `engagement.events`, sessionizes and writes to ClickHouse. Several instances with the same `WORKER_GROUP` share the partitions."

// Config is the worker's whole configuration.
type Config struct {
	service.Common
	Kafka      service.Kafka
	ClickHouse service.ClickHouse
	Worker     worker.Config
	AdminAddr  string
}

// Flags defines every flag of the worker on c.
func (c *Config) Flags() *service.Flags {
	def := worker.DefaultConfig()
	f := service.NewFlags("worker")
	c.Kafka.Register(f)
	c.ClickHouse.Register(f)
	c.Worker = def // the fields without a flag keep their defaults
	f.String(&c.Worker.Group, "group", "WORKER_GROUP", def.Group, "Kafka consumer group shared by worker instances")
	f.Duration(&c.Worker.GroupSessionTimeout, "group-session-timeout", "WORKER_GROUP_SESSION_TIMEOUT", def.GroupSessionTimeout, "how long the group waits for a silent instance before reassigning its partitions")
	f.Int(&c.Worker.MaxBatchRecords, "max-batch", "WORKER_MAX_BATCH", def.MaxBatchRecords, "most records per ClickHouse batch")
	f.Duration(&c.Worker.FlushInterval, "flush-interval", "WORKER_FLUSH_INTERVAL", def.FlushInterval, "longest wait before a consumed record is written (at most 5s)")
	f.Duration(&c.Worker.Session.SessionTimeout, "session-timeout", "SESSION_TIMEOUT", def.Session.SessionTimeout, "a gap longer than this starts a new session")
	f.Duration(&c.Worker.Session.IdleThreshold, "idle-threshold", "IDLE_THRESHOLD", def.Session.IdleThreshold, "gaps up to this count as active time")
	f.Duration(&c.Worker.Session.Lateness, "lateness", "ALLOWED_LATENESS", def.Session.Lateness, "how late (per user) an event may arrive and still be sessionized")
	f.String(&c.Worker.Name, "name", "WORKER_NAME", hostname(), "instance name in logs and DLQ headers")
	f.DocDefault("name", "the host name")
	f.String(&c.AdminAddr, "admin-addr", "WORKER_ADMIN_ADDR", "127.0.0.1:8081", "address of /healthz, /readyz and /metrics")
	c.Common.Register(f, "dev mode: console logs, and topics with replication 1")
	return f
}

// Validate reports every bad setting without connecting anywhere.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate(), c.Kafka.Validate(), c.ClickHouse.Validate()}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		errs = append(errs, service.FieldValue("worker.admin_addr", c.AdminAddr, "not host:port"))
	}
	errs = append(errs, service.Section("worker", c.Worker.Validate())...)
	return errors.Join(errs...)
}
