#!/usr/bin/env bash
# Benchmarks the apiserver storage layer against a real embedded etcd:
# creates with 8 concurrent writers, LIST of 2,000 objects, watch replay of
# 2,000 events, fan-out to 100 watchers, idle RSS. Prints a table; results
# are recorded in docs/benchmarks/storage.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/apiserver"
table() {
	awk '/^Benchmark/ {
		name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name);
		extra="";
		for (i = 5; i < NF; i += 2) extra = extra sprintf(" %s=%s", $(i+1), $i);
		printf "%-34s %10s %14s %s\n", name, $2, $3, extra }'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf "%-34s %10s %14s %s\n" benchmark iterations ns/op metrics
go test -run '^$' -bench 'Create|WatchFanout' -benchtime 5000x -count 1 ./internal/storage/ 2>/dev/null | table
go test -run '^$' -bench 'List2000|WatchReplay2000' -benchtime 100x -count 1 ./internal/storage/ 2>/dev/null | table
# Alone, so earlier benchmarks do not inflate the process's memory.
go test -run '^$' -bench 'IdleRSS' -benchtime 1x -count 1 ./internal/storage/ 2>/dev/null | table
