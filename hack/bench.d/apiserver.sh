#!/usr/bin/env bash
# apiserver benchmark: ConfigMap creates/s and p50/p99 with 8 client-go
# workers, LIST of 2,000, watch replay of 2,000 and idle RSS of a real
# `skiff apiserver` process (embedded etcd). Prints a table.
# Results are recorded in docs/benchmarks/apiserver.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${SKIFF_BIN:-}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/skiff
	go build -o "$bin" ./cmd/skiff
fi
cd apiserver
go run ./cmd/apiserver-bench -skiff "$bin" -objects "${OBJECTS:-2000}" -workers "${WORKERS:-8}" -rounds "${ROUNDS:-3}"
