package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/kafka"
	"github.com/engage-oss/engage/internal/adapters/zklock"
	"github.com/engage-oss/engage/schemas"
)

// Validator is a service's whole configuration. Validate reports every bad value at once,
// joined with errors.Join, each error prefixed with the setting it is about (see Field and
// Section), and does no network I/O: `<service> -validate` runs it and nothing else.
type Validator interface {
	Validate() error
}

// Field returns an error about one setting, named section.field in the way the flag is
// (kafka.brokers for -kafka-brokers): "kafka.brokers: must not be empty". format may wrap
// an error with %w.
func Field(name, format string, args ...any) error {
	return fmt.Errorf(name+": "+format, args...)
}

// FieldValue returns an error about one setting and its bad value:
// `clickhouse.addr "x": not host:port`.
func FieldValue(name string, value any, format string, args ...any) error {
	v := fmt.Sprint(value)
	if s, ok := value.(string); ok {
		v = strconv.Quote(s)
	}
	return fmt.Errorf("%s %s: "+format, append([]any{name, v}, args...)...)
}

// Section prefixes each error joined in err with "section: ", so that the errors a domain
// package's Validate reports say which part of the service configuration they are about.
// It returns nil for a nil err.
func Section(section string, err error) []error {
	var out []error
	for _, e := range Flatten(err) {
		out = append(out, fmt.Errorf("%s: %w", section, e))
	}
	return out
}

// Flatten returns the errors joined in err (recursively), or err itself when it is not a
// join; nil for nil. A wrapped join ("ingest config: a\nb") is split too, each part keeping
// the wrapper's prefix.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	// A single wrapper around a join: keep its prefix on every part.
	if inner := errors.Unwrap(err); inner != nil {
		if parts := Flatten(inner); len(parts) > 1 {
			prefix, _, found := strings.Cut(err.Error(), inner.Error())
			if found {
				out := make([]error, len(parts))
				for i, p := range parts {
					out[i] = fmt.Errorf("%s%w", prefix, p)
				}
				return out
			}
		}
	}
	return []error{err}
}

// Common holds the flags every service has.
type Common struct {
	// Dev is dev mode (ENGAGE_DEV): console logs, the dev keys, topics with replication 1.
	Dev bool
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ValidateOnly is -validate: check the configuration and exit.
	ValidateOnly bool
}

// Register defines -dev, -log-level and -validate. devUsage says what dev mode changes in
// this service.
func (c *Common) Register(f *Flags, devUsage string) {
	f.Bool(&c.Dev, "dev", "ENGAGE_DEV", false, devUsage)
	f.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.Bool(&c.ValidateOnly, "validate", "", false, "check the configuration, print `configuration ok` or every problem found, and exit without connecting anywhere")
}

// Validate checks the log level.
func (c Common) Validate() error {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return FieldValue("log.level", c.LogLevel, "not debug, info, warn or error")
	}
	return nil
}

// Kafka is the flag group of every service that talks to Kafka: where the brokers are, and
// how the topics that are missing at start are created.
type Kafka struct {
	Brokers    []string
	Partitions int
	// Replication is the replication factor of created topics; 0 (the default) means
	// kafka.DefaultReplication, or kafka.DevReplication in dev mode.
	Replication int
}

// Register defines -kafka-brokers, -topic-partitions and -topic-replication.
func (k *Kafka) Register(f *Flags) {
	f.List(&k.Brokers, "kafka-brokers", "KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers")
	f.Int(&k.Partitions, "topic-partitions", "TOPIC_PARTITIONS", kafka.DefaultPartitions, "partitions of topics created at start when missing")
	f.Int(&k.Replication, "topic-replication", "TOPIC_REPLICATION", 0, fmt.Sprintf(
		"replication factor of topics created at start when missing; %d unless set, %d in dev mode. A single-broker cluster outside dev mode must set 1 explicitly",
		kafka.DefaultReplication, kafka.DevReplication))
	f.DocDefault("topic-replication", fmt.Sprintf("%d (%d in dev mode)", kafka.DefaultReplication, kafka.DevReplication))
}

// Validate names every bad Kafka setting.
func (k Kafka) Validate() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, Field("kafka.brokers", "must not be empty"))
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, FieldValue("kafka.brokers", b, "not host:port"))
		}
	}
	if k.Partitions < 1 {
		errs = append(errs, FieldValue("topic.partitions", k.Partitions, "must be at least 1"))
	}
	if k.Replication < 0 {
		errs = append(errs, FieldValue("topic.replication", k.Replication, "must be at least 1 (or unset for the default)"))
	}
	return errors.Join(errs...)
}

// Topics is how missing topics are created, with the replication default of the mode.
func (k Kafka) Topics(dev bool) kafka.TopicConfig {
	tc := kafka.TopicConfig{Partitions: k.Partitions, Replication: k.Replication}
	if tc.Replication == 0 {
		tc.Replication = kafka.DefaultReplication
		if dev {
			tc.Replication = kafka.DevReplication
		}
	}
	return tc
}

// ClickHouse is the flag group of every service that uses ClickHouse.
type ClickHouse struct {
	Conn    clickhouse.Config
	Migrate bool
	// Cluster is the cluster name in the servers' remote_servers; empty is single-node mode.
	Cluster string
	// ZooKeeper is the ensemble the cluster's replicated tables use; cluster mode takes its
	// migration lock there.
	ZooKeeper []string
}

// Register defines -clickhouse-addr, -clickhouse-database, -clickhouse-user,
// -clickhouse-password and -migrate.
func (c *ClickHouse) Register(f *Flags) {
	f.String(&c.Conn.Addr, "clickhouse-addr", "CLICKHOUSE_ADDR", clickhouse.DefaultAddr, "ClickHouse native-protocol address")
	f.String(&c.Conn.Database, "clickhouse-database", "CLICKHOUSE_DATABASE", clickhouse.DefaultDatabase, "ClickHouse database")
	f.String(&c.Conn.Username, "clickhouse-user", "CLICKHOUSE_USER", clickhouse.DefaultUsername, "ClickHouse user")
	f.String(&c.Conn.Password, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	f.Bool(&c.Migrate, "migrate", "CLICKHOUSE_MIGRATE", true, "create the database if missing and apply schema migrations at start")
	f.String(&c.Cluster, "clickhouse-cluster", "CLICKHOUSE_CLUSTER", "", "cluster mode: the cluster's name in remote_servers (sharded, replicated tables; see docs/SCALING.md); empty for one server")
	f.List(&c.ZooKeeper, "clickhouse-zookeeper", "CLICKHOUSE_ZOOKEEPER", "", "cluster mode: the ZooKeeper (or ClickHouse Keeper) ensemble of the cluster, host:port, for the migration lock")
}

// Validate names every bad ClickHouse setting, with the adapter's rules.
func (c ClickHouse) Validate() error {
	var errs []error
	if c.Conn.Addr == "" {
		errs = append(errs, Field("clickhouse.addr", "must not be empty"))
	} else if err := clickhouse.CheckAddr(c.Conn.Addr); err != nil {
		errs = append(errs, FieldValue("clickhouse.addr", c.Conn.Addr, "%w", err))
	}
	if c.Conn.Database == "" {
		errs = append(errs, Field("clickhouse.database", "must not be empty"))
	} else if err := clickhouse.CheckDatabase(c.Conn.Database); err != nil {
		errs = append(errs, FieldValue("clickhouse.database", c.Conn.Database, "%w", err))
	}
	if c.Conn.Username == "" {
		errs = append(errs, Field("clickhouse.user", "must not be empty"))
	}
	switch {
	case c.Cluster != "" && clickhouse.CheckDatabase(c.Cluster) != nil:
		errs = append(errs, FieldValue("clickhouse.cluster", c.Cluster, "not an identifier"))
	case c.Cluster != "" && c.Migrate && len(c.ZooKeeper) == 0:
		errs = append(errs, Field("clickhouse.zookeeper", "cluster mode needs the ZooKeeper ensemble (CLICKHOUSE_ZOOKEEPER) for its migration lock"))
	case c.Cluster == "" && len(c.ZooKeeper) > 0:
		errs = append(errs, Field("clickhouse.zookeeper", "only used in cluster mode (set CLICKHOUSE_CLUSTER)"))
	}
	for _, a := range c.ZooKeeper {
		if err := clickhouse.CheckAddr(a); err != nil {
			errs = append(errs, FieldValue("clickhouse.zookeeper", a, "%w", err))
		}
	}
	return errors.Join(errs...)
}

// Connect connects to ClickHouse: with Migrate, creating the database if needed and applying
// engage's schema migrations (schemas/clickhouse), else to the existing database as it is.
//
// In cluster mode the migrations run on every node under a ZooKeeper lock; nodes that are down
// are migrated when they answer again, by a loop that runs until ctx ends. Inserts into
// Distributed tables return once every shard has its rows.
func (c ClickHouse) Connect(ctx context.Context, log *zap.Logger) (driver.Conn, error) {
	if c.Cluster != "" {
		return c.connectCluster(ctx, log)
	}
	if !c.Migrate {
		return clickhouse.Open(ctx, c.Conn)
	}
	conn, err := clickhouse.Setup(ctx, c.Conn, schemas.ClickHouse, "clickhouse")
	if err != nil {
		return nil, fmt.Errorf("setting up ClickHouse: %w", err)
	}
	return conn, nil
}

// printErrors writes every error joined in err on its own line.
func printErrors(w io.Writer, name string, err error) {
	fmt.Fprintf(w, "%s: invalid configuration:\n", name)
	for _, e := range Flatten(err) {
		for i, line := range strings.Split(e.Error(), "\n") {
			indent := "  "
			if i > 0 {
				indent = "    "
			}
			fmt.Fprintf(w, "%s%s\n", indent, line)
		}
	}
}

// catchUpEvery spaces the attempts to migrate cluster nodes that were down.
const catchUpEvery = 15 * time.Second

func (c ClickHouse) connectCluster(ctx context.Context, log *zap.Logger) (driver.Conn, error) {
	if !c.Migrate {
		cfg := c.Conn
		cfg.Settings = clickhouse.ClusterSettings(c.Conn.Settings)
		conn, err := clickhouse.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if err := clickhouse.CheckLoadBalancing(ctx, conn, cfg.Username); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	lock, err := zklock.New(c.ZooKeeper, "/engage/"+c.Conn.Database+"/migrations")
	if err != nil {
		return nil, err
	}
	setup, err := clickhouse.SetupCluster(ctx, c.Conn, c.Cluster, lock, schemas.ClickHouse, "clickhouse")
	if err != nil {
		return nil, fmt.Errorf("setting up ClickHouse cluster %s: %w", c.Cluster, err)
	}
	if len(setup.Skipped) > 0 {
		go func() {
			skipped := setup.Skipped
			for len(skipped) > 0 {
				log.Warn("ClickHouse nodes down during the migrations; retrying", zap.Int("nodes", len(skipped)), zap.String("first", skipped[0].Addr))
				select {
				case <-ctx.Done():
					return
				case <-time.After(catchUpEvery):
				}
				s, err := clickhouse.CatchUpCluster(ctx, c.Conn, c.Cluster, skipped, lock, schemas.ClickHouse, "clickhouse")
				if err != nil {
					log.Warn("migrating ClickHouse nodes that were down failed", zap.Error(err))
					continue
				}
				skipped = s
			}
			log.Info("every ClickHouse node is migrated")
		}()
	}
	return setup.Conn, nil
}
