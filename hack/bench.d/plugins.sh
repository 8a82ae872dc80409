#!/usr/bin/env bash
# Wasm plugin runtime benchmarks (skiff.dev/plugins): admission latency added
# by one policy (Go and WAT guests), throughput with 8 callers, and batched
# scheduling calls. Prints markdown tables; see docs/benchmarks/plugins.md.
# Extra flags go to the program, e.g. -suite admission, -n 20000, -duration 3s.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/plugins"
go run ./internal/bench -plugins "$root/plugins" "$@"
