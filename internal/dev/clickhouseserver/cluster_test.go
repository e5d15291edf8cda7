package clickhouseserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/dev/zookeeper"
)

func dial(t *testing.T, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func count(t *testing.T, conn driver.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func insert(t *testing.T, conn driver.Conn, accounts ...string) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO test.ev_local (account_id, n)")
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range accounts {
		if err := b.Append(a, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("inserting %v: %v", accounts, err)
	}
}

// waitCount polls until table on conn holds want rows (replication is asynchronous).
func waitCount(t *testing.T, conn driver.Conn, table string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := count(t, conn, table)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d rows, want %d", table, n, want)
		}
		time.Sleep(100 * time.Millisecond) // a poll: testenv imports this package
	}
}

// TestCluster runs a 2 × 2 cluster on the installed ClickHouse (18.16 on Debian) with a local
// ZooKeeper and checks what engage's cluster mode builds on: a replicated table on every node
// (node-by-node DDL with the {shard} and {replica} macros), replication between the replicas
// of a shard, a Distributed table over both shards, de-duplication of a repeated insert, and
// a replica killed with SIGKILL catching up after its restart.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	zk, err := zookeeper.Start(ctx, zookeeper.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zk.Stop)
	c, err := StartCluster(ctx, ClusterSpec{Dir: t.TempDir(), ZooKeeper: []string{zk.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	conns := make([][]driver.Conn, c.Shards())
	for s := range c.Shards() {
		for r := range c.Replicas() {
			conn := dial(t, c.Node(s, r).TCPAddr())
			conns[s] = append(conns[s], conn)
			for _, ddl := range []string{
				"CREATE DATABASE IF NOT EXISTS test",
				`CREATE TABLE IF NOT EXISTS test.ev_local (account_id String, n UInt64)
				 ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/test/ev_local', '{replica}') ORDER BY account_id`,
				fmt.Sprintf("CREATE TABLE IF NOT EXISTS test.ev AS test.ev_local ENGINE = Distributed(%s, test, ev_local, cityHash64(account_id))", c.Name()),
			} {
				if err := conn.Exec(ctx, ddl); err != nil {
					t.Fatalf("shard %d replica %d: %s: %v", s+1, r+1, ddl, err)
				}
			}
		}
	}

	insert(t, conns[0][0], "a", "b", "c")
	insert(t, conns[1][1], "d", "e")
	waitCount(t, conns[0][1], "test.ev_local", 3)
	waitCount(t, conns[1][0], "test.ev_local", 2)
	for s := range conns {
		for r := range conns[s] {
			if n := count(t, conns[s][r], "test.ev"); n != 5 {
				t.Errorf("Distributed table on shard %d replica %d counts %d, want 5", s+1, r+1, n)
			}
		}
	}

	// A retried insert (the same block) is de-duplicated by the replicated table.
	insert(t, conns[0][1], "a", "b", "c")
	if n := count(t, conns[0][1], "test.ev_local"); n != 3 {
		t.Fatalf("after a repeated insert shard 1 holds %d rows, want 3", n)
	}

	// A replica killed with SIGKILL misses inserts, and catches up when it returns.
	c.Kill(0, 1)
	insert(t, conns[0][0], "f", "g")
	if err := c.Restart(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	back := dial(t, c.Node(0, 1).TCPAddr())
	waitCount(t, back, "test.ev_local", 5)
	if n := count(t, back, "test.ev"); n != 7 {
		t.Fatalf("after the restart the Distributed table counts %d, want 7", n)
	}
}
