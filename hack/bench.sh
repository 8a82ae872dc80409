#!/usr/bin/env bash
# Runs the benchmark programs; each prints a table. See docs/benchmarks.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for b in hack/bench.d/*.sh; do
	[ -e "$b" ] || continue
	echo "== $(basename "$b" .sh)"
	bash "$b"
done
