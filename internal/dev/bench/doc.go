// Package bench is the logic of tools/bench, engage's whole-system benchmark: it builds the
// service binaries, runs them as processes on loopback (the embedded broker, the gateway, the
// worker, the scorer and a ClickHouse server in a temporary directory, started the way
// tests/e2e starts them), drives them with a load generator, and prints one Markdown table per
// scenario. It also turns `go test -bench` output into a table with the contract's targets.
//
// Scenarios:
//   - gateway: closed-loop POST /v1/events throughput (100-event batches from N keep-alive
//     clients) against raw franz-go produce of the same records to the same broker,
//     alternated in rounds, and their ratio.
//   - latency: open-loop, rate-limited load at a fraction of the measured maximum; ack
//     latency percentiles, measured from each request's scheduled start.
//   - pipeline: gateway + worker + ClickHouse at a staircase of rates; ingest rate into
//     ClickHouse, consumer lag over time, and freshness of probe events in the views.
//   - scorer: time from an event that changes an account's band to the change on
//     engagement.health.changes.
//
// Invariants: everything listens on 127.0.0.1 ports picked at run time and lives in one
// temporary directory removed at the end; every load loop is bounded both in time and in
// count; every process started is stopped (SIGTERM, then SIGKILL) before Run returns, and
// dies with the benchmark if the benchmark is killed (Pdeathsig). The machine is shared and
// small, so results that matter are ratios measured in the same run; each table also shows
// the CPU each process used, the load generator's included.
package bench
