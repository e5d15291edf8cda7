package main

import (
	"errors"
	"net"

	"github.com/engage-oss/engage/internal/dev/broker"
	"github.com/engage-oss/engage/internal/service"
)

// docIntro introduces the broker's section of docs/CONFIG.md.
const docIntro = "`services/broker`: the embedded Kafka-compatible broker of `make run` and CI. Production uses Apache Kafka instead."

// Config is the broker's whole configuration.
type Config struct {
	service.Common
	Broker    broker.Config
	AdminAddr string
}

// Flags defines every flag of the broker on c.
func (c *Config) Flags() *service.Flags {
	def := broker.DefaultConfig()
	f := service.NewFlags("broker")
	f.String(&c.Broker.Addr, "addr", "BROKER_ADDR", def.Addr, "Kafka protocol listen address")
	f.String(&c.Broker.DataDir, "data-dir", "BROKER_DATA_DIR", def.DataDir, "directory for the persisted log")
	f.Int(&c.Broker.Partitions, "partitions", "BROKER_PARTITIONS", def.Partitions, "partitions per topic on first start")
	f.Bool(&c.Broker.SyncWrites, "sync-writes", "BROKER_SYNC_WRITES", def.SyncWrites, "fsync every batch before acknowledging it")
	f.Int(&c.Broker.Brokers, "brokers", "BROKER_COUNT", def.Brokers, "brokers in the cluster, on -addr's port and the ones after it; topics get replication min(brokers, 3)")
	f.String(&c.AdminAddr, "admin-addr", "BROKER_ADMIN_ADDR", "127.0.0.1:8084", "address of /healthz, /readyz and /metrics")
	c.Common.Register(f, "console logs for humans")
	return f
}

// Validate reports every bad setting without listening anywhere.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	errs = append(errs, service.Section("broker", c.Broker.Validate())...)
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		errs = append(errs, service.FieldValue("broker.admin_addr", c.AdminAddr, "not host:port"))
	}
	return errors.Join(errs...)
}
