package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migrations on a cluster are applied node by node, not with ON CLUSTER:
//
//   - ON CLUSTER DDL goes through ClickHouse's distributed DDL queue in ZooKeeper and returns
//     when the nodes have run it or a timeout passes (180 s by default); a node that is down
//     leaves the statement pending and the migrator with an error although the others ran
//     it, and 18.16's queue has no way to tell which. PostHog, which runs the largest
//     open-source ClickHouse schema, dropped ON CLUSTER for the same reasons and also because
//     nodes of different roles need different DDL.
//   - Node by node, each node records what it ran in its own schema_migrations table (the
//     single-node table, one per node); a node that was down is brought up to date by the
//     next MigrateCluster once it answers again. Statements that must run once per cluster
//     (backfills) are recorded in schema_migrations_cluster, a table replicated to every node.
//   - Every statement cluster mode accepts is idempotent (IF NOT EXISTS, IF EXISTS, and
//     backfills into tables whose rows collapse), and a Locker serialises migrators, so two
//     services starting together apply each migration once.

// ClusterMigrationsTable records the migrations whose once-per-cluster statements ran.
const ClusterMigrationsTable = "schema_migrations_cluster"

// Locker serialises migrators across processes (a ZooKeeper lock in production).
type Locker interface {
	// Lock blocks until this process holds the lock or ctx ends; unlock releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// ClusterNode is one server of the cluster, with a connection whose default database is the
// migrated one.
type ClusterNode struct {
	Shard, Replica int
	Addr           string
	Conn           driver.Conn
}

// ClusterNodes returns the servers of cluster as the server behind conn knows them
// (system.clusters), shard by shard.
func ClusterNodes(ctx context.Context, conn driver.Conn, cluster string) ([]ClusterNode, error) {
	rows, err := conn.Query(ctx, `SELECT shard_num, replica_num, host_address, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num`, cluster)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading the nodes of cluster %s: %w", cluster, err)
	}
	defer rows.Close()
	var out []ClusterNode
	for rows.Next() {
		var shard, replica uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &replica, &host, &port); err != nil {
			return nil, fmt.Errorf("clickhouse: reading the nodes of cluster %s: %w", cluster, err)
		}
		out = append(out, ClusterNode{Shard: int(shard), Replica: int(replica), Addr: fmt.Sprintf("%s:%d", host, port)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: reading the nodes of cluster %s: %w", cluster, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("clickhouse: the server knows no cluster %q (remote_servers in its config)", cluster)
	}
	return out, nil
}

// MigrateCluster applies the migrations of dir to database on every node of a cluster: the
// statements of each migration, laid out by ClusterLayout, node by node, and the once-per-
// cluster statements on the first node that answers. Nodes whose Conn is nil or that do not
// answer are skipped (and returned): calling MigrateCluster again once they answer brings
// them up to date, running on them the every-node statements of the migrations the cluster
// has applied (their replicated tables then fetch the data from the other replicas). It
// holds lock while it works.
func MigrateCluster(ctx context.Context, nodes []ClusterNode, cluster, database string, lock Locker, migrations fs.FS, dir string) (skipped []ClusterNode, err error) {
	if err := checkName(database); err != nil {
		return nil, fmt.Errorf("clickhouse: migrating: %w", err)
	}
	ms, err := LoadMigrations(migrations, dir)
	if err != nil {
		return nil, err
	}
	unlock, err := lock.Lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: taking the migration lock of %s: %w", database, err)
	}
	defer unlock()

	live, skipped := liveNodes(ctx, nodes)
	if len(live) == 0 {
		return skipped, fmt.Errorf("clickhouse: migrating %s on cluster %s: no node answers", database, cluster)
	}
	done := make([]map[uint32]string, len(live))
	for i, n := range live {
		if done[i], err = nodeState(ctx, n, database); err != nil {
			return skipped, err
		}
	}
	// Every node is a replica of the cluster-wide record; it is read from the first.
	for _, n := range live {
		if err := createClusterTable(ctx, n, database); err != nil {
			return skipped, err
		}
	}
	once, err := completed(ctx, live[0], quoteIdent(database)+"."+ClusterMigrationsTable)
	if err != nil {
		return skipped, err
	}
	if err := checkRecorded(ms, database, append(done, once)...); err != nil {
		return skipped, err
	}

	l := NewClusterLayout(cluster, database)
	for _, m := range ms {
		for _, stmt := range m.Statements {
			cs, err := l.Translate(stmt)
			if err != nil {
				return skipped, fmt.Errorf("clickhouse: migration %s: %w", m.Name, err)
			}
			for _, s := range cs {
				if !s.EveryNode {
					if once[m.Version] != "" {
						continue
					}
					if err := live[0].Conn.Exec(syncInserts(ctx), s.SQL); err != nil {
						return skipped, fmt.Errorf("clickhouse: migration %s on node %s: %s: %w", m.Name, live[0].Addr, abbreviate(s.SQL), err)
					}
					continue
				}
				for i, n := range live {
					if done[i][m.Version] != "" {
						continue
					}
					if err := n.Conn.Exec(ctx, s.SQL); err != nil {
						return skipped, fmt.Errorf("clickhouse: migration %s on node %s: %s: %w", m.Name, n.Addr, abbreviate(s.SQL), err)
					}
				}
			}
		}
		for i, n := range live {
			if done[i][m.Version] == "" {
				if err := record(ctx, n.Conn, quoteIdent(database)+"."+MigrationsTable, []migrationRow{{m.Version, m.Name, m.Checksum, 0}}); err != nil {
					return skipped, err
				}
			}
		}
		if once[m.Version] == "" {
			if err := record(ctx, live[0].Conn, quoteIdent(database)+"."+ClusterMigrationsTable, []migrationRow{{m.Version, m.Name, m.Checksum, 0}}); err != nil {
				return skipped, err
			}
		}
	}
	return skipped, nil
}

// syncInserts makes an INSERT into a Distributed table return only once every shard has
// its rows (otherwise the initiator queues them and sends them later).
func syncInserts(ctx context.Context) context.Context {
	return ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))
}

func liveNodes(ctx context.Context, nodes []ClusterNode) (live, skipped []ClusterNode) {
	for _, n := range nodes {
		if n.Conn == nil {
			skipped = append(skipped, n)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.Conn.Ping(pctx)
		cancel()
		if err != nil {
			skipped = append(skipped, n)
			continue
		}
		live = append(live, n)
	}
	return live, skipped
}

// nodeState creates the node's schema_migrations table when missing and returns the
// migrations recorded complete on it (version → checksum).
func nodeState(ctx context.Context, n ClusterNode, database string) (map[uint32]string, error) {
	table := quoteIdent(database) + "." + MigrationsTable
	if err := n.Conn.Exec(ctx, migrationsTableDDL(table, "MergeTree")); err != nil {
		return nil, fmt.Errorf("clickhouse: creating %s on %s: %w", table, n.Addr, err)
	}
	return completed(ctx, n, table)
}

// createClusterTable creates schema_migrations_cluster, replicated to every node, on n.
func createClusterTable(ctx context.Context, n ClusterNode, database string) error {
	table := quoteIdent(database) + "." + ClusterMigrationsTable
	engine := "ReplicatedMergeTree('/clickhouse/tables/all/" + database + "/" + ClusterMigrationsTable + "', '{shard}-{replica}')"
	if err := n.Conn.Exec(ctx, migrationsTableDDL(table, engine)); err != nil {
		return fmt.Errorf("clickhouse: creating %s on %s: %w", table, n.Addr, err)
	}
	return nil
}

func completed(ctx context.Context, n ClusterNode, table string) (map[uint32]string, error) {
	state, err := readApplied(ctx, n.Conn, table)
	if err != nil {
		return nil, fmt.Errorf("on %s: %w", n.Addr, err)
	}
	out := map[uint32]string{}
	for v, a := range state {
		if a.checksum != "" {
			out[v] = a.checksum
		}
	}
	return out, nil
}

// checkRecorded refuses recorded migrations that changed or that this build does not know.
func checkRecorded(ms []Migration, database string, states ...map[uint32]string) error {
	known := map[uint32]Migration{}
	for _, m := range ms {
		known[m.Version] = m
	}
	for _, st := range states {
		for v, sum := range st {
			m, ok := known[v]
			if !ok {
				return fmt.Errorf("clickhouse: migrating %s: %w: version %d", database, ErrUnknownMigration, v)
			}
			if sum != m.Checksum {
				return fmt.Errorf("clickhouse: migration %s in %s: %w (recorded checksum %s, file now has %s)", m.Name, database, ErrChecksumMismatch, sum, m.Checksum)
			}
		}
	}
	return nil
}

// ClusterSetup is the result of SetupCluster: the connection the service uses (to cfg.Addr,
// with synchronous Distributed inserts) and the nodes the migrations skipped.
type ClusterSetup struct {
	Conn    driver.Conn
	Skipped []ClusterNode
}

// SetupCluster is Setup for cluster mode: it finds the cluster's nodes through cfg.Addr,
// creates cfg.Database on each node that answers, applies the migrations with
// MigrateCluster, and returns a connection to cfg.Addr with ClusterSettings.
func SetupCluster(ctx context.Context, cfg Config, cluster string, lock Locker, migrations fs.FS, dir string) (*ClusterSetup, error) {
	cfg = cfg.withDefaults()
	boot := cfg
	boot.Database = "default"
	boot.MaxOpenConns, boot.MaxIdleConns = 1, 1
	bconn, err := Open(ctx, boot)
	if err != nil {
		return nil, err
	}
	nodes, err := ClusterNodes(ctx, bconn, cluster)
	if err == nil {
		err = checkLoadBalancing(ctx, bconn, cfg.Username)
	}
	bconn.Close()
	if err != nil {
		return nil, err
	}
	skipped, err := migrateNodes(ctx, cfg, nodes, cluster, lock, migrations, dir)
	if err != nil {
		return nil, err
	}
	cfg.Settings = ClusterSettings(cfg.Settings)
	conn, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &ClusterSetup{Conn: conn, Skipped: skipped}, nil
}

// ClusterSettings returns extra with the setting every connection of cluster mode sends:
// insert_distributed_sync = 1, so that an INSERT into a Distributed table returns once each
// shard has its rows and the worker commits offsets only for stored rows.
//
// Cluster mode also needs load_balancing = 'in_order' in the user's profile on the servers
// (SetupCluster checks it): a Distributed table then writes to and reads from the first
// healthy replica of each shard, in remote_servers order, so a reader sees what was written a
// moment ago. Replication to the other replica is asynchronous, and reading from a replica
// picked at random, the default, can miss a row written a millisecond earlier: a scorer would
// see an account's inputs go back and forth. The setting cannot be sent per query: 18.16's
// protocol carries only numeric settings from clickhouse-go.
func ClusterSettings(extra map[string]any) map[string]any {
	s := map[string]any{"insert_distributed_sync": 1}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// CatchUpCluster runs the migrations again on the nodes a SetupCluster skipped, and returns
// the ones still down.
func CatchUpCluster(ctx context.Context, cfg Config, cluster string, nodes []ClusterNode, lock Locker, migrations fs.FS, dir string) ([]ClusterNode, error) {
	return migrateNodes(ctx, cfg.withDefaults(), nodes, cluster, lock, migrations, dir)
}

// migrateNodes opens a connection to each node that answers (creating the database) and
// runs MigrateCluster on them.
func migrateNodes(ctx context.Context, cfg Config, nodes []ClusterNode, cluster string, lock Locker, migrations fs.FS, dir string) ([]ClusterNode, error) {
	var opened []ClusterNode
	defer func() {
		for _, n := range opened {
			n.Conn.Close()
		}
	}()
	for _, n := range nodes {
		nc := cfg
		nc.Addr = n.Addr
		nc.MaxOpenConns, nc.MaxIdleConns = 2, 1
		nc.DialTimeout = min(cfg.DialTimeout, 5*time.Second)
		boot := nc
		boot.Database = "default"
		bconn, err := Open(ctx, boot)
		if err != nil {
			continue // down: MigrateCluster skips it
		}
		err = EnsureDatabase(ctx, bconn, cfg.Database)
		bconn.Close()
		if err != nil {
			return nil, err
		}
		if n.Conn, err = Open(ctx, nc); err != nil {
			continue
		}
		opened = append(opened, n)
	}
	var down []ClusterNode
	for _, n := range nodes {
		if !slices.ContainsFunc(opened, func(o ClusterNode) bool { return o.Addr == n.Addr }) {
			down = append(down, n)
		}
	}
	skipped, err := MigrateCluster(ctx, append(opened, down...), cluster, cfg.Database, lock, migrations, dir)
	for i := range skipped {
		skipped[i].Conn = nil // closed on return
	}
	return skipped, err
}

// ErrLoadBalancing is returned by SetupCluster when the user's profile does not read and
// write the first healthy replica of each shard (see ClusterSettings).
var ErrLoadBalancing = errors.New("cluster mode needs load_balancing = in_order in the user's profile (users.xml)")

// CheckLoadBalancing returns ErrLoadBalancing (wrapped) unless conn's profile has
// load_balancing = in_order, which cluster mode needs (see ClusterSettings).
func CheckLoadBalancing(ctx context.Context, conn driver.Conn, user string) error {
	return checkLoadBalancing(ctx, conn, user)
}

func checkLoadBalancing(ctx context.Context, conn driver.Conn, user string) error {
	var v string
	if err := conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'load_balancing'").Scan(&v); err != nil {
		return fmt.Errorf("clickhouse: reading the load_balancing setting: %w", err)
	}
	if v != "in_order" {
		return fmt.Errorf("clickhouse: %w: user %s has %q; add <load_balancing>in_order</load_balancing> to its profile on every server (docs/SCALING.md)", ErrLoadBalancing, user, v)
	}
	return nil
}
