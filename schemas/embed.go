// Package schemas ships engage's versioned schemas with the binaries: the ClickHouse
// migrations applied at start-up (clickhouse/NNNN_name.sql, in order, each exactly once) and
// the JSON Schema of the event wire format.
package schemas

import "embed"

// ClickHouse holds the migrations, named clickhouse/NNNN_description.sql.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
