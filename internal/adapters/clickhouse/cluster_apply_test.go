package clickhouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/clickhouseserver"
	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/internal/dev/zookeeper"
	"github.com/engage-oss/engage/schemas"
)

// TestClusterLayoutApplies applies every migration, as ClusterLayout lays it out, to a local
// 2 × 2 cluster on the installed ClickHouse, and writes and reads through the result.
func TestClusterLayoutApplies(t *testing.T) {
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

	const db = "engagement"
	var nodes []driver.Conn
	for _, addr := range c.Addrs() {
		boot, err := ch.Open(&ch.Options{Addr: []string{addr}})
		if err != nil {
			t.Fatal(err)
		}
		if err := boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			t.Fatal(err)
		}
		boot.Close()
		conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: ch.Auth{Database: db}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		nodes = append(nodes, conn)
	}
	ms, err := clickhouse.LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	sync := ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))
	l := clickhouse.NewClusterLayout(c.Name(), db)
	for _, m := range ms {
		for _, stmt := range m.Statements {
			cs, err := l.Translate(stmt)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cs {
				targets := nodes[:1]
				if s.EveryNode {
					targets = nodes
				}
				for i, n := range targets {
					if err := n.Exec(sync, s.SQL); err != nil {
						t.Fatalf("%s on node %d: %v\n%s", m.Name, i, err, s.SQL)
					}
				}
			}
		}
	}

	// Events of 20 accounts through the Distributed table, from one node.
	b, err := nodes[0].PrepareBatch(sync, "INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms, sent_at_ms, received_at, received_ms, properties, kafka_partition, kafka_offset, late, ver)")
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
