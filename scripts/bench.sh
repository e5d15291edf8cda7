#!/usr/bin/env bash
# make bench: the hot-path micro-benchmarks, then the whole-system scenarios of tools/bench
# (gateway throughput vs raw produce, ack latency, pipeline freshness, scorer latency).
# Results are printed as Markdown and kept in $BENCH_OUT (default: a new temporary
# directory): micro.txt (raw `go test` output), micro.md, scenarios.md. See BENCHMARKS.md.
#
# Knobs (environment): BENCHTIME (micro-benchmarks, default 1s), BENCH_ARGS (extra flags for
# tools/bench, e.g. "-duration 20s -rates 20000,40000"), BENCH_SKIP_MICRO=1, BENCH_SKIP_SCENARIOS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${BENCH_OUT:-$(mktemp -d -t engage-bench-XXXXXX)}
mkdir -p "$out"
benchtime=${BENCHTIME:-1s}
bench=$out/bench
go build -o "$bench" ./tools/bench

echo "bench: results in $out" >&2
if [[ -z ${BENCH_SKIP_MICRO:-} ]]; then
  : >"$out/micro.txt"
  run() { # run PKG CPU BENCH-REGEXP [go test flags...]
    local pkg=$1 cpu=$2 re=$3
    shift 3
    echo "bench: go test -run '^\$' -bench '$re' -benchmem -cpu $cpu $* $pkg" >&2
    go test -run '^$' -bench "$re" -benchmem -cpu "$cpu" "$@" "$pkg" | tee -a "$out/micro.txt"
  }
  # Per-core figures with -cpu 1; the in-process HTTP handler with both cores (its target is
  # the machine's).
  run ./internal/event 1 '^Benchmark(AppendJSON|Build|Decode)$' -benchtime "$benchtime"
  run ./internal/ingest 1 '^BenchmarkDecodeValidate$' -benchtime "$benchtime"
  run ./internal/ingest 2 '^BenchmarkHandler100$' -benchtime "$benchtime"
  run ./internal/session 1 '^Benchmark(TrackerAdd|Flush)$' -benchtime "$benchtime"
  run ./internal/session 1 '^BenchmarkMemory1MUsers$' -benchtime 1x
  run ./internal/health 1 '^BenchmarkScore$' -benchtime "$benchtime"
  if grep -qs 'func BenchmarkRescore100k' internal/scorer/*_test.go; then
    # Starts its own ClickHouse (internal/dev/testenv) and generates 100k accounts of history first.
    run ./internal/scorer 2 '^BenchmarkRescore100k$' -benchtime 3x -timeout 15m
    # A million accounts (generated in ~1 min): a rescoring of the 1 % that changed on one
    # instance, and the full pass by 1, 2 and 4 instances sharing the partitions.
    run ./internal/scorer 2 '^BenchmarkRescore1M$' -benchtime 1x -timeout 60m
  fi
  # The notifier: signed deliveries per second to a fast local receiver, 1, 10, 100 destinations.
  run ./internal/notify 2 '^BenchmarkDeliveries$' -benchtime 5000x
  # Customer-success KPI views over 10k accounts × 12 months of synthetic history (target:
  # each view ≤ 1 s); prints one ns/op line per view.
  run ./pkg/kpi 2 '^BenchmarkViews$' -benchtime 1x -timeout 15m
  # The same views on a local 2 × 2 ClickHouse cluster (docs/SCALING.md).
  echo "bench: the KPI views on the 2 × 2 cluster" | tee -a "$out/micro.txt" >&2
  KPI_BENCH_CLICKHOUSE=cluster go test -run '^$' -bench '^BenchmarkViews$' -benchmem -cpu 2 -benchtime 1x -timeout 20m ./pkg/kpi | tee "$out/kpi-cluster.txt"
  "$bench" -scenario micro -gotest "$out/micro.txt" | tee "$out/micro.md"
fi

if [[ -z ${BENCH_SKIP_SCENARIOS:-} ]]; then
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
  "$bench" -scenario all ${BENCH_ARGS:-} | tee "$out/scenarios.md"
  # The same pipeline staircase on a local 2 × 2 ClickHouse cluster, right after the single
  # server's, so the two compare on one machine in one run (docs/SCALING.md).
  # shellcheck disable=SC2086
  "$bench" -scenario pipeline -clickhouse-cluster ${BENCH_ARGS:-} | tee "$out/scenarios-cluster.md"
fi
echo "bench: results in $out" >&2
