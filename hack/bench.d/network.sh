#!/usr/bin/env bash
# Service networking benchmarks, printed as one table:
#  - kube-proxy: sync time for 1,000 Services x 10 endpoints (first sync on a
#    fresh node, the same with every endpoint local, forced full resync, one
#    changed endpoint) and rule rendering alone; cpu-ms/op is the CPU time of
#    the sync including the iptables-restore/-save it runs (load-independent).
#    Runs iptables (nft) inside a network namespace it creates; needs root.
#  - cluster DNS: A queries/s over UDP on loopback (16 concurrent clients).
# Results are recorded in docs/benchmarks/network.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

(cd "$root/kubeproxy" && go test -run '^$' -bench 'SyncFirst|SyncFull|SyncOneEndpoint|Render' -benchtime "${KUBEPROXY_BENCHTIME:-3x}" -timeout 15m ./internal/proxier/) >>"$out"
(cd "$root/addons" && go test -run '^$' -bench 'Queries' -benchtime "${DNS_BENCHTIME:-3s}" -timeout 5m ./dns/) >>"$out"

printf '%-40s %8s %14s %s\n' benchmark runs time/op extra
awk '/^Benchmark/ {
	name=$1; sub(/-[0-9]+$/, "", name); runs=$2; ns=$3
	if (ns >= 1e9) t=sprintf("%.2f s", ns/1e9); else if (ns >= 1e6) t=sprintf("%.1f ms", ns/1e6); else t=sprintf("%.1f us", ns/1e3)
	extra=""
	for (i=5; i<=NF; i+=2) extra=extra sprintf("%s=%s ", $(i+1), $i)
	printf "%-40s %8s %14s %s\n", name, runs, t, extra
}' "$out"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
