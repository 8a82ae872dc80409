#!/usr/bin/env bash
# Pod startup latency (create → Running seen by a watch) for 50 pods on one
# real node: skiff apiserver + kubelet + private containerd. Prints a table,
# with the CPU time per pod of the runtime (containerd, shims, OCI runtime,
# CNI plugins) and of the kubelet process, which other load does not skew.
# Needs root, containerd, runc, CNI plugins and busybox-static.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/kubelet"
out=$(go test -count=1 -run '^$' -bench 'PodStartup' -benchtime 1x -timeout 15m . 2>&1) || { echo "$out"; exit 1; }
if grep -q -- '--- SKIP' <<<"$out"; then
	echo "kubelet bench skipped:"; grep -A2 -- '--- SKIP' <<<"$out"; exit 0
fi
printf '%-28s %10s %10s %10s %10s %14s %14s\n' "pod startup (50 pods)" "p50 ms" "p90 ms" "p99 ms" "max ms" "runtime cpu-ms" "kubelet cpu-ms"
grep '^BenchmarkPodStartup/' <<<"$out" | while read -r name _ _ _ rest; do
	mode=${name#BenchmarkPodStartup/}; mode=${mode%-*}
	get() { awk -v u="$1" '{for(i=2;i<=NF;i++) if($i==u) print $(i-1)}' <<<"$rest"; }
	printf '%-28s %10s %10s %10s %10s %14s %14s\n' "$mode" "$(get p50-ms)" "$(get p90-ms)" "$(get p99-ms)" "$(get max-ms)" \
		"$(get runtime-cpu-ms/pod)" "$(get kubelet-cpu-ms/pod)"
done
