#!/usr/bin/env bash
# Controller-manager benchmark: a 1,000-replica Deployment on hollow nodes
# against a real skiff apiserver (created, bound, available), then a rolling
# update of it. Prints a table; results are recorded in docs/benchmarks/controlplane.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${SKIFF_BIN:-}
if [ -z "$bin" ]; then
	bin=$(mktemp -d)/skiff
	go build -o "$bin" ./cmd/skiff
fi
bench=$(mktemp -d)/controlplane-bench
go build -o "$bench" ./controlplane/cmd/controlplane-bench
"$bench" --skiff "$bin" --replicas "${REPLICAS:-1000}" --nodes "${NODES:-10}" 2> >(grep -v -e 'reflector.go' -e 'broadcaster already stopped' >&2)
