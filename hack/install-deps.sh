#!/usr/bin/env bash
# Installs what `make up` and `make test` need on a Debian machine, only when
# missing: containerd, runc, crun (preferred OCI runtime: less CPU per
# container start, see docs/benchmarks/kubelet.md), CNI plugins, iptables,
# busybox-static (image rootfs), wabt (wat2wasm), dnsutils (dig), chromium (dashboard tests) and
# npm's assemblyscript (under hack/node).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have containerd || need+=(containerd)
have runc || need+=(runc)
have crun || need+=(crun)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have ip || need+=(iproute2)
[ -x /bin/busybox ] || need+=(busybox-static)
have wat2wasm || need+=(wabt)
have dig || need+=(dnsutils)
have chromium || need+=(chromium)
have curl || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/hack/node/node_modules/.bin/asc" ] && have npm; then
	(cd "$root/hack/node" && npm install --no-audit --no-fund --silent) || echo "warning: npm install of assemblyscript failed"
fi
