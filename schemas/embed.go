// Package schemas holds engage's versioned schemas: the ClickHouse migrations applied at
// start-up (clickhouse/NNNN_name.sql, in order, each exactly once, embedded in the binaries),
// the JSON Schema of the ingest event and the Kafka record (event.schema.json), and the
// OpenAPI document of the gateway (openapi.yaml). Tests in this folder keep the last two in
// step with the code.
package schemas

import "embed"

// ClickHouse holds the migrations, named clickhouse/NNNN_description.sql.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
