#!/usr/bin/env bash
# Dashboard benchmark: a real `skiff apiserver` with 1,000 pods and a real
# `skiff dashboard`; 20 browser-like websockets each watching pods, nodes,
# events and namespaces. Prints time to the full list on every socket,
# event fan-out latency and the dashboard's memory (RSS) idle and with the
# sockets open. Results are recorded in docs/benchmarks/dashboard.md.
# Browser-side list rendering of 1,000 pods is measured by the dashboard's
# browser test (go test -run TestBrowser -v ./dashboard/).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${SKIFF_BIN:-}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/skiff
	go build -o "$bin" ./cmd/skiff
fi
bench=$(mktemp -d)/dashboard-bench
go build -o "$bench" ./dashboard/cmd/dashboard-bench
"$bench" --skiff "$bin" --pods "${PODS:-1000}" --sockets "${SOCKETS:-20}" --events "${EVENTS:-30}"
