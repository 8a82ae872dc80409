#!/usr/bin/env bash
# Scheduler benchmarks (see docs/benchmarks/scheduler.md):
#  1. one scheduling cycle in memory over 1,000 nodes (go test -bench):
#     default profile, + a Wasm score plugin, + a Wasm filter plugin (Go guests);
#  2. end to end against a real `skiff apiserver` with hollow nodes:
#     pods/s and create->bind latency p50/p99 (scheduler/cmd/scheduler-bench).
# NODES and PODS override the cluster size (default 1000 and 5000).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${SKIFF_BIN:-}
if [ -z "$bin" ]; then
	go build -o "$tmp/skiff" ./cmd/skiff
	bin=$tmp/skiff
fi
for e in binpack gpufilter; do
	(cd plugins && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -o "$tmp/$e.wasm" "./examples/$e")
done
echo "-- one scheduling cycle in memory, 1000 nodes (cpu-µs/pod is the steadier figure on a shared machine)"
(cd scheduler && SCHEDULER_BENCH_WASM_DIR=$tmp go test -run '^$' -bench 'Schedule|WasmScoreCall' -benchtime 3000x ./internal/profile/) |
	grep -E '^Benchmark' | awk '{printf "%-36s %10s %-6s %10s %-11s %10s %s\n", $1, $3, $4, $5, $6, $7, $8}'
echo "-- end to end, real apiserver, hollow nodes"
(cd scheduler && go run ./cmd/scheduler-bench -skiff-bin "$bin" -wasm-dir "$tmp" -nodes "${NODES:-1000}" -pods "${PODS:-5000}")
