package testenv

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/adapters/zklock"
	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/zookeeper"
	"github.com/engage-oss/engage/schemas"
)

// Modes are the two ways engage runs on ClickHouse; tests of the views and of the pipeline
// run in both (see Database).
var Modes = []string{"single", "cluster"}

// Database returns a fresh, migrated database in mode "single" (the shared server, as
// ClickHouse(t).NewDatabase) or "cluster" (the shared 2 × 2 cluster, as
// ClickHouseCluster(t).NewDatabase).
func Database(t testing.TB, mode string) (driver.Conn, string) {
	t.Helper()
	switch mode {
	case "single":
		return ClickHouse(t).NewDatabase(t)
	case "cluster":
		return ClickHouseCluster(t).NewDatabase(t)
	}
	t.Fatalf("testenv: unknown mode %q", mode)
	return nil, ""
}

// Cluster is the shared local ClickHouse cluster of a test binary: 2 shards × 2 replicas and
// a ZooKeeper, started on first use and stopped by Main.
type Cluster struct {
	*clickhouseserver.Cluster
	zk  *zookeeper.Server
	dir string
}

var sharedCluster struct {
	mu      sync.Mutex
	started bool
	c       *Cluster
	err     error
}

// ClusterName is the shared cluster's name in remote_servers.
const ClusterName = "engage"

// ClickHouseCluster returns the shared cluster, starting it on first use. It fails t when it
// cannot be started.
func ClickHouseCluster(t testing.TB) *Cluster {
	t.Helper()
	sharedCluster.mu.Lock()
	if !sharedCluster.started {
		sharedCluster.started = true
		sharedCluster.c, sharedCluster.err = startCluster(context.Background())
	}
	c, err := sharedCluster.c, sharedCluster.err
	sharedCluster.mu.Unlock()
	if err != nil {
		t.Fatal("testenv: the ClickHouse cluster (ZooKeeper and 4 servers) is needed by this test and could not be started: " + err.Error() +
			"\nInstall what is missing with scripts/install-deps.sh (make deps).")
	}
	return c
}

func startCluster(ctx context.Context) (*Cluster, error) {
	removeStaleDirs()
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-cluster-")
	if err != nil {
		return nil, err
	}
	zk, err := zookeeper.Start(ctx, zookeeper.Config{Dir: dir + "/zookeeper"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c, err := clickhouseserver.StartCluster(ctx, clickhouseserver.ClusterSpec{Dir: dir + "/clickhouse", Name: ClusterName, ZooKeeper: []string{zk.Addr()}})
	if err != nil {
		zk.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	return &Cluster{Cluster: c, zk: zk, dir: dir}, nil
}

// NewClickHouseCluster starts a cluster of t's own (2 × 2 and a ZooKeeper), for tests that
// kill and restart its servers; it is stopped when t ends.
func NewClickHouseCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster(context.Background())
	if err != nil {
		t.Fatal("testenv: starting a ClickHouse cluster: " + err.Error())
	}
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		c.zk.Stop()
		os.RemoveAll(c.dir)
	})
	return c
}

// ZooKeeper is the cluster's ZooKeeper address.
func (c *Cluster) ZooKeeper() string { return c.zk.Addr() }

// StopZooKeeper stops the cluster's ZooKeeper; its replicated tables turn read-only once
// their sessions expire.
func (c *Cluster) StopZooKeeper() { c.zk.Stop() }

// StartZooKeeper starts the cluster's ZooKeeper again, on its port and with its data.
func (c *Cluster) StartZooKeeper(ctx context.Context) error {
	zk, err := zookeeper.Start(ctx, c.zk.Config())
	if err != nil {
		return err
	}
	c.zk = zk
	return nil
}

// Config returns the connection settings of database db on the cluster's first node.
func (c *Cluster) Config(db string) clickhouse.Config {
	return clickhouse.Config{Addr: c.Addrs()[0], Database: db, MaxOpenConns: 4, MaxIdleConns: 2}
}

// NewDatabase creates a database for t on every node with every migration applied in cluster
// mode, and returns a connection to the first node on which inserts into Distributed tables
// are synchronous, as a service in cluster mode has. It is dropped when t passes.
func (c *Cluster) NewDatabase(t testing.TB) (driver.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := databaseName(t.Name())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: kept database %s on the cluster (first node %s) for debugging", name, c.Addrs()[0])
			return
		}
		for _, addr := range c.Addrs() {
			conn, err := clickhouse.Open(context.Background(), clickhouse.Config{Addr: addr, Database: "default"})
			if err != nil {
				continue
			}
			if err := clickhouse.DropDatabase(context.Background(), conn, name); err != nil {
				t.Errorf("testenv: %v", err)
			}
			conn.Close()
		}
	})
	lock, err := zklock.New([]string{c.ZooKeeper()}, "/engage/"+name+"/migrations")
	if err != nil {
		t.Fatal(err)
	}
	setup, err := clickhouse.SetupCluster(ctx, c.Config(name), ClusterName, lock, schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatalf("testenv: migrating database %s on the cluster: %v", name, err)
	}
	if len(setup.Skipped) > 0 {
		t.Fatalf("testenv: cluster nodes down: %v", setup.Skipped)
	}
	t.Cleanup(func() { setup.Conn.Close() })
	return setup.Conn, name
}

// shutdownCluster stops the shared cluster and removes its files.
func shutdownCluster() error {
	sharedCluster.mu.Lock()
	defer sharedCluster.mu.Unlock()
	c := sharedCluster.c
	sharedCluster.started, sharedCluster.c, sharedCluster.err = false, nil, nil
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.Stop(ctx)
	c.zk.Stop()
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("testenv: stopping the shared ClickHouse cluster: %w", err)
	}
	return nil
}
