package clickhouse

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/engage-oss/engage/schemas"
)

var updateCluster = flag.Bool("update-cluster", false, "rewrite testdata/cluster/*.sql")

// translateAll lays out every migration for cluster "engage", database "engagement".
func translateAll(t *testing.T) (*ClusterLayout, []Migration, [][]ClusterStatement) {
	t.Helper()
	ms, err := LoadMigrations(schemas.ClickHouse, "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	l := NewClusterLayout("engage", "engagement")
	var out [][]ClusterStatement
	for _, m := range ms {
		var stmts []ClusterStatement
		for _, s := range m.Statements {
			cs, err := l.Translate(s)
			if err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
			stmts = append(stmts, cs...)
		}
		out = append(out, stmts)
	}
	return l, ms, out
}

// TestClusterLayoutGolden pins what each released migration becomes in cluster mode
// (testdata/cluster/NNNN_name.sql; -update-cluster rewrites them after a deliberate change).
func TestClusterLayoutGolden(t *testing.T) {
	_, ms, all := translateAll(t)
	for i, m := range ms {
		var b strings.Builder
		for _, s := range all[i] {
			where := "-- once, on one node"
			if s.EveryNode {
				where = "-- on every node"
			}
			b.WriteString(where + "\n" + s.SQL + ";\n\n")
		}
		path := filepath.Join("testdata", "cluster", m.Name)
		if *updateCluster {
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update-cluster)", err)
		}
		if string(want) != b.String() {
			t.Errorf("%s lays out differently than %s; run go test ./internal/adapters/clickhouse -update-cluster and review the diff", m.Name, path)
		}
	}
}

// TestClusterLayoutRules checks the properties the layout relies on, over every migration.
func TestClusterLayoutRules(t *testing.T) {
	l, ms, all := translateAll(t)
	columnDef := regexp.MustCompile(`(?m)^\s*([a-z_][a-z0-9_]*)\s+[A-Z]`)
	for i, m := range ms {
		for _, s := range all[i] {
			// localTables renames identifiers by name, so no column may be named like a table.
			for _, c := range columnDef.FindAllStringSubmatch(s.SQL, -1) {
				if l.Sharded(c[1]) {
					t.Errorf("%s: column %s has the name of a sharded table", m.Name, c[1])
				}
			}
			switch {
			case strings.HasPrefix(s.SQL, "INSERT"):
				if s.EveryNode {
					t.Errorf("%s: a backfill runs on every node: %.60s", m.Name, s.SQL)
				}
			case strings.Contains(s.SQL, "ENGINE = Replicated"):
				if !strings.Contains(s.SQL, "'/clickhouse/tables/{shard}/engagement/") && !strings.Contains(s.SQL, "'/clickhouse/tables/all/engagement/") {
					t.Errorf("%s: replicated table without a per-database ZooKeeper path: %.80s", m.Name, s.SQL)
				}
			case strings.Contains(s.SQL, "MergeTree"):
				t.Errorf("%s: a MergeTree table that is not replicated: %.80s", m.Name, s.SQL)
			}
			if strings.HasPrefix(s.SQL, "CREATE MATERIALIZED VIEW") && !strings.Contains(s.SQL, LocalSuffix+" AS") {
				t.Errorf("%s: a materialized view that does not write to a local table: %.80s", m.Name, s.SQL)
			}
		}
	}
	for _, name := range []string{"events_raw", "sessions_raw", "session_days_raw", "session_events_raw", "account_health_raw", "signal_events", "user_firsts", "user_activity_days", "feature_user_months", "account_event_names"} {
		if !l.Sharded(name) {
			t.Errorf("%s is not sharded", name)
		}
	}
	for _, name := range []string{"kpi_settings", "core_features", "user_name_months"} {
		if l.Sharded(name) {
			t.Errorf("%s is sharded", name)
		}
	}
}

func TestClusterLayoutRefusesUnknownStatements(t *testing.T) {
	l := NewClusterLayout("engage", "db")
	for _, s := range []string{"ALTER TABLE events_raw ADD COLUMN x UInt8", "CREATE TABLE t (a UInt8) ENGINE = Memory", "OPTIMIZE TABLE t FINAL"} {
		if _, err := l.Translate(s); err == nil {
			t.Errorf("Translate(%q) succeeded", s)
		}
	}
}
