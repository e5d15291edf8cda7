package clickhouse_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/zklock"
	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/dev/zookeeper"
	"github.com/engage-oss/engage/schemas"
)

// mutexLock is a Locker for migrators in one process.
type mutexLock struct{ mu sync.Mutex }

func (l *mutexLock) Lock(ctx context.Context) (func(), error) {
	l.mu.Lock()
	return l.mu.Unlock, nil
}

// localCluster is a 2 × 2 cluster on the installed ClickHouse with its own ZooKeeper, and a
// connection per node to database db.
type localCluster struct {
	*clickhouseserver.Cluster
	nodes []clickhouse.ClusterNode
}

func startCluster(t *testing.T, db string) *localCluster {
	t.Helper()
	ctx := context.Background()
	zk, err := zookeeper.Start(ctx, zookeeper.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zk.Stop)
	c, err := clickhouseserver.StartCluster(ctx, clickhouseserver.ClusterSpec{Dir: t.TempDir(), ZooKeeper: []string{zk.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	lc := &localCluster{Cluster: c}
	first := lc.dial(t, c.Addrs()[0], "default")
	nodes, err := clickhouse.ClusterNodes(ctx, first, c.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 4 {
		t.Fatalf("system.clusters lists %d nodes, want 4", len(nodes))
	}
	for i := range nodes {
		boot := lc.dial(t, nodes[i].Addr, "default")
		if err := boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			t.Fatal(err)
		}
		nodes[i].Conn = lc.dial(t, nodes[i].Addr, db)
	}
	lc.nodes = nodes
	return lc
}

func (lc *localCluster) dial(t *testing.T, addr, db string) driver.Conn {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: ch.Auth{Database: db}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestMigrateCluster applies every migration to a local 2 × 2 cluster with two migrators at
// once, and writes and reads through the result: each migration is recorded once per node
// and once for the cluster, events written through the Distributed table land once on their
// shard, replicate, feed the materialized views on each shard and read back through the
// views on every node.
func TestMigrateCluster(t *testing.T) {
	ctx := context.Background()
	const db = "engagement"
	lc := startCluster(t, db)
	nodes := make([]driver.Conn, len(lc.nodes))
	for i, n := range lc.nodes {
		nodes[i] = n.Conn
	}
	lock := &mutexLock{}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = clickhouse.MigrateCluster(ctx, lc.nodes, lc.Name(), db, lock, schemas.ClickHouse, "clickhouse")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	for i, n := range nodes {
		var recorded, versions uint64
		if err := n.QueryRow(ctx, "SELECT count(), uniqExact(version) FROM schema_migrations WHERE statement = 0").Scan(&recorded, &versions); err != nil {
			t.Fatal(err)
		}
		if recorded != uint64(len(ms)) || versions != uint64(len(ms)) {
			t.Errorf("node %d records %d migrations (%d versions), want each of the %d once", i, recorded, versions, len(ms))
		}
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var n uint64
		if err := nodes[3].QueryRow(ctx, "SELECT count() FROM schema_migrations_cluster WHERE statement = 0").Scan(&n); err != nil {
			return err
		}
		if n != uint64(len(ms)) {
			return fmt.Errorf("schema_migrations_cluster on the last node holds %d rows, want %d", n, len(ms))
		}
		return nil
	})
	syncCtx := ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))

	// Events of 20 accounts through the Distributed table, from one node.
	b, err := nodes[0].PrepareBatch(syncCtx, "INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms, sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		name := "report.viewed"
		props := "{}"
		if i%2 == 1 {
			name, props = "$nps", `{"score":9}`
		}
		if err := b.Append(fmt.Sprintf("e-%d", i), fmt.Sprintf("acct-%d", i%20), "u1", name, now, now.UnixMilli(), now.UnixMilli(), now.UnixMilli(),
			now, now.UnixMilli(), props, uint16(0), int64(i), uint8(0), uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		var all uint64
		if err := n.QueryRow(ctx, "SELECT count() FROM events").Scan(&all); err != nil {
			t.Fatalf("node %d: events view: %v", i, err)
		}
		if all != 40 {
			t.Errorf("node %d: events view counts %d, want 40", i, all)
		}
		var signals uint64
		if err := n.QueryRow(ctx, "SELECT count() FROM signal_events").Scan(&signals); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if signals != 20 {
			t.Errorf("node %d: signal_events (filled by the materialized view on each shard) counts %d, want 20", i, signals)
		}
	}
	// Each shard holds its accounts, and both of its replicas hold them once replication
	// has caught up.
	var locals uint64
	testenv.Eventually(t, 30*time.Second, func() error {
		locals = 0
		per := make([]uint64, len(nodes))
		for i, n := range nodes {
			if err := n.QueryRow(ctx, "SELECT count() FROM events_raw_local").Scan(&per[i]); err != nil {
				return err
			}
		}
		if per[0] != per[1] || per[2] != per[3] {
			return fmt.Errorf("replicas differ: %v", per)
		}
		locals = per[0] + per[2]
		return nil
	})
	if locals != 40 {
		t.Errorf("the shards hold %d events between them, want 40", locals)
	}
}

// TestMigrateClusterNodeDown: a replica that is down while the migrations run is skipped, and
// the next MigrateCluster, once it is back, gives it every table and view; its replicated
// tables fetch the rows written meanwhile.
func TestMigrateClusterNodeDown(t *testing.T) {
	ctx := context.Background()
	const db = "engagement"
	lc := startCluster(t, db)
	lc.Kill(1, 1) // shard 2, replica 2
	down := lc.nodes[3]
	lock := &mutexLock{}
	skipped, err := clickhouse.MigrateCluster(ctx, lc.nodes, lc.Name(), db, lock, schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0].Addr != down.Addr {
		t.Fatalf("skipped %v, want the node that is down (%s)", skipped, down.Addr)
	}
	// Rows for every account, written while the replica is down.
	b, err := lc.nodes[0].Conn.PrepareBatch(ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1})),
		"INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, received_at, received_ms, properties, ver)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		if err := b.Append(fmt.Sprintf("e-%d", i), fmt.Sprintf("acct-%d", i), "u1", "report.viewed", now, now.UnixMilli(), now, now.UnixMilli(), "{}", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	if err := lc.Restart(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	skipped, err = clickhouse.MigrateCluster(ctx, lc.nodes, lc.Name(), db, lock, schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 {
		t.Fatalf("skipped %v after the restart", skipped)
	}
	var peer uint64
	if err := lc.nodes[2].Conn.QueryRow(ctx, "SELECT count() FROM events_raw_local").Scan(&peer); err != nil {
		t.Fatal(err)
	}
	if peer == 0 || peer == 40 {
		t.Fatalf("shard 2 holds %d of 40 events; the sharding key should split them", peer)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var n, views uint64
		if err := down.Conn.QueryRow(ctx, "SELECT count() FROM events_raw_local").Scan(&n); err != nil {
			return err
		}
		if n != peer {
			return fmt.Errorf("the restarted replica holds %d events, its peer %d", n, peer)
		}
		if err := down.Conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND engine = 'View'", db).Scan(&views); err != nil {
			return err
		}
		var want uint64
		if err := lc.nodes[2].Conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND engine = 'View'", db).Scan(&want); err != nil {
			return err
		}
		if views != want {
			return fmt.Errorf("the restarted replica has %d views, its peer %d", views, want)
		}
		return nil
	})
}

// TestSetupClusterTogether: two services starting together on a fresh database, each with
// its own ZooKeeper lock client (as two processes would), apply each migration once.
func TestSetupClusterTogether(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	_, db := c.NewDatabase(t) // a name to use; dropped with the test
	for _, addr := range c.Addrs() {
		conn, err := clickhouse.Open(context.Background(), clickhouse.Config{Addr: addr, Database: "default"})
		if err != nil {
			t.Fatal(err)
		}
		if err := clickhouse.DropDatabase(context.Background(), conn, db); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lock, err := zklock.New([]string{c.ZooKeeper()}, "/engage/"+db+"/migrations")
			if err != nil {
				errs[i] = err
				return
			}
			setup, err := clickhouse.SetupCluster(context.Background(), c.Config(db), testenv.ClusterName, lock, schemas.ClickHouse, "clickhouse")
			if err == nil {
				setup.Conn.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	for _, addr := range c.Addrs() {
		conn, err := clickhouse.Open(context.Background(), clickhouse.Config{Addr: addr, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		var rows, versions uint64
		err = conn.QueryRow(context.Background(), "SELECT count(), uniqExact(version) FROM schema_migrations WHERE statement = 0").Scan(&rows, &versions)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rows != uint64(len(ms)) || versions != uint64(len(ms)) {
			t.Errorf("%s records %d migrations (%d versions), want each of the %d once", addr, rows, versions, len(ms))
		}
	}
}
