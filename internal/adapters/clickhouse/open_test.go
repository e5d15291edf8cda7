package clickhouse_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/adapters/clickhouse"
	"github.com/engage-oss/engage/internal/dev/testenv"
)

// TestOpenCompression pins that every compression Config offers works against the test
// server, 18.16 included, for queries and batch inserts alike.
func TestOpenCompression(t *testing.T) {
	ch := testenv.ClickHouse(t)
	_, db := ch.NewEmptyDatabase(t)
	for _, comp := range []string{"", "lz4", "zstd", "none"} {
		t.Run("compression="+comp, func(t *testing.T) {
			ctx := context.Background()
			conn, err := clickhouse.Open(ctx, clickhouse.Config{Addr: ch.Addr(), Database: db, Compression: comp})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			table := "t_" + comp
			if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (id UInt32, s String, ts DateTime) ENGINE = MergeTree ORDER BY id"); err != nil {
				t.Fatal(err)
			}
			b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (id, s, ts)")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 1000 {
				if err := b.Append(uint32(i), strings.Repeat("x", 100), time.Unix(int64(i), 0)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
			var n uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM "+table+" WHERE id >= ?", 500).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 500 {
				t.Fatalf("count = %d, want 500", n)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ch := testenv.ClickHouse(t)
	tests := []struct {
		name string
		cfg  clickhouse.Config
		want string
	}{
		{name: "invalid config", cfg: clickhouse.Config{Addr: "nope"}, want: "Config.Addr"},
		{name: "unknown database", cfg: clickhouse.Config{Addr: ch.Addr(), Database: "no_such_db_here"}, want: "no_such_db_here"},
		{name: "nothing listening", cfg: clickhouse.Config{Addr: "127.0.0.1:1", DialTimeout: time.Second}, want: "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := clickhouse.Open(context.Background(), tt.cfg)
			if err == nil {
				conn.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestExecRefusesInlineInsert pins the guard against 18.16's hang: the error comes at once
// (the test would otherwise wait for the read timeout) and INSERT ... SELECT still runs.
func TestExecRefusesInlineInsert(t *testing.T) {
	ctx := context.Background()
	conn, _ := testenv.ClickHouse(t).NewEmptyDatabase(t)
	if err := conn.Exec(ctx, "CREATE TABLE t (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query   string
		args    []any
		wantErr error
	}{
		{query: "INSERT INTO t (x) VALUES (1)", wantErr: clickhouse.ErrInlineInsert},
		{query: "INSERT INTO t (x) VALUES (?)", args: []any{1}, wantErr: clickhouse.ErrInlineInsert},
		{query: "INSERT INTO t FORMAT TSV", wantErr: clickhouse.ErrInlineInsert},
		{query: "INSERT INTO t (x) SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := conn.Exec(ctx, tt.query, tt.args...); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Exec = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
