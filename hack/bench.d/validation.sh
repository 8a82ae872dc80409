#!/usr/bin/env bash
# Benchmarks apiserver defaulting and validation (per-request CPU cost) and
# prints a table. Results are recorded in docs/benchmarks/validation.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/apiserver"
go test -run '^$' -bench . -benchmem -count 1 -cpu 1 ./internal/validation/ |
	awk 'BEGIN { printf "%-40s %12s %12s %12s\n", "benchmark", "ns/op", "B/op", "allocs/op" }
	     /^Benchmark/ { name=$1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name);
	                    printf "%-40s %12s %12s %12s\n", name, $3, $5, $7 }'
