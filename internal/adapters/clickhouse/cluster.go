package clickhouse

import (
	"fmt"
	"regexp"
	"strings"
)

// Cluster mode lays engage's tables out on a sharded, replicated ClickHouse cluster from the
// same migration files as one server. A migration statement becomes:
//
//   - CREATE TABLE t with an account_id column: a table t_local on every node, whose engine
//     is the Replicated variant of t's (ZooKeeper path /clickhouse/tables/{shard}/<db>/t_local,
//     replica {replica}), and a Distributed table t in front of it, sharded by
//     cityHash64(account_id), so that one account's rows live on one shard and every
//     statement that names t reads or writes the whole cluster.
//   - CREATE TABLE t without account_id (settings such as kpi_settings): one replicated table
//     t whose every node is a replica (path /clickhouse/tables/all/<db>/t), so each node
//     holds all of it and queries join it locally.
//   - CREATE MATERIALIZED VIEW mv TO t AS SELECT … FROM s: the view on every node, on the
//     local tables (TO t_local, FROM s_local): it fires on the inserts that reach the node's
//     shard, and writes to the same shard, which owns the account.
//   - CREATE VIEW: unchanged on every node, over the Distributed tables.
//   - INSERT (a backfill) and SELECT (a wait before one): once per cluster, on one node,
//     through the Distributed tables (synchronously, so the rows are on their shards when the
//     migration is recorded).
//   - DROP TABLE t: on every node, with t_local when t was sharded.
//
// Statements are recognised by their first words; a migration that writes anything else
// fails in cluster mode instead of being applied wrongly.

// ClusterStatement is one migration statement as cluster mode runs it.
type ClusterStatement struct {
	// EveryNode statements run on each node (node-by-node DDL); otherwise the statement runs
	// once, on one node.
	EveryNode bool
	SQL       string
}

// ClusterLayout translates migration statements for a cluster, remembering which tables are
// sharded: a later materialized view or DROP needs to know.
type ClusterLayout struct {
	Cluster  string
	Database string
	sharded  map[string]bool
}

// NewClusterLayout returns the layout of database db on the named cluster.
func NewClusterLayout(cluster, db string) *ClusterLayout {
	return &ClusterLayout{Cluster: cluster, Database: db, sharded: map[string]bool{}}
}

// LocalSuffix names the shard-local table behind a Distributed table.
const LocalSuffix = "_local"

// ShardingKey is the Distributed tables' sharding expression.
const ShardingKey = "cityHash64(account_id)"

var (
	leadingComments = regexp.MustCompile(`^(\s*--[^\n]*\n|\s+)*`)
	createTable     = regexp.MustCompile(`(?is)^CREATE TABLE IF NOT EXISTS\s+(\w+)\s*\((.*)\)\s*ENGINE\s*=\s*(\w*MergeTree)(\s*\(([^)]*)\))?(.*)$`)
	createMV        = regexp.MustCompile(`(?is)^CREATE MATERIALIZED VIEW IF NOT EXISTS\s+(\w+)\s+TO\s+(\w+)\s+AS\s+(.*)$`)
	createView      = regexp.MustCompile(`(?is)^CREATE VIEW IF NOT EXISTS\s+\w+`)
	insertInto      = regexp.MustCompile(`(?is)^INSERT INTO\s+\w+`)
	selectOnly      = regexp.MustCompile(`(?is)^SELECT\s`)
	dropTable       = regexp.MustCompile(`(?is)^DROP TABLE IF EXISTS\s+(\w+)\s*$`)
	accountColumn   = regexp.MustCompile(`(?m)^\s*account_id\s`)
)

// Translate returns what one statement of a migration becomes on the cluster.
func (l *ClusterLayout) Translate(stmt string) ([]ClusterStatement, error) {
	s := strings.TrimSpace(leadingComments.ReplaceAllString(stmt, ""))
	switch {
	case createTable.MatchString(s):
		return l.table(createTable.FindStringSubmatch(s))
	case createMV.MatchString(s):
		m := createMV.FindStringSubmatch(s)
		return []ClusterStatement{{EveryNode: true, SQL: fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS %s",
			m[1], l.local(m[2]), l.localTables(m[3]))}}, nil
	case createView.MatchString(s):
		return []ClusterStatement{{EveryNode: true, SQL: s}}, nil
	case insertInto.MatchString(s), selectOnly.MatchString(s):
		return []ClusterStatement{{SQL: s}}, nil
	case dropTable.MatchString(s):
		name := dropTable.FindStringSubmatch(s)[1]
		out := []ClusterStatement{{EveryNode: true, SQL: "DROP TABLE IF EXISTS " + name}}
		if l.sharded[name] {
			out = append(out, ClusterStatement{EveryNode: true, SQL: "DROP TABLE IF EXISTS " + name + LocalSuffix})
			delete(l.sharded, name)
		}
		return out, nil
	}
	first := s
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	return nil, fmt.Errorf("clickhouse: cluster mode cannot lay out the statement %q: only CREATE TABLE/VIEW/MATERIALIZED VIEW IF NOT EXISTS, INSERT, SELECT and DROP TABLE IF EXISTS are known", first)
}

func (l *ClusterLayout) table(m []string) ([]ClusterStatement, error) {
	name, columns, engine, args, rest := m[1], m[2], m[3], strings.TrimSpace(m[5]), m[6]
	replicated := func(path, replica string) string {
		a := fmt.Sprintf("'%s', '%s'", path, replica)
		if args != "" {
			a += ", " + args
		}
		return fmt.Sprintf("Replicated%s(%s)", engine, a)
	}
	if !accountColumn.MatchString(columns) {
		path := fmt.Sprintf("/clickhouse/tables/all/%s/%s", l.Database, name)
		return []ClusterStatement{{EveryNode: true, SQL: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)\nENGINE = %s%s",
			name, columns, replicated(path, "{shard}-{replica}"), rest)}}, nil
	}
	l.sharded[name] = true
	local := name + LocalSuffix
	path := fmt.Sprintf("/clickhouse/tables/{shard}/%s/%s", l.Database, local)
	return []ClusterStatement{
		{EveryNode: true, SQL: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)\nENGINE = %s%s", local, columns, replicated(path, "{replica}"), rest)},
		{EveryNode: true, SQL: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS %s\nENGINE = Distributed(%s, %s, %s, %s)",
			name, local, l.Cluster, l.Database, local, ShardingKey)},
	}, nil
}

// local names the table a node-local statement writes to: t_local for a sharded table.
func (l *ClusterLayout) local(name string) string {
	if l.sharded[name] {
		return name + LocalSuffix
	}
	return name
}

var tableName = regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*\b`)

// localTables renames every sharded table a materialized view's SELECT names to its local
// table. Column names never equal table names in engage's schema, which a test checks.
func (l *ClusterLayout) localTables(sel string) string {
	return tableName.ReplaceAllStringFunc(sel, l.local)
}

// Sharded reports whether t is a sharded table (a Distributed table over t_local).
func (l *ClusterLayout) Sharded(t string) bool { return l.sharded[t] }
