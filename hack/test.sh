#!/usr/bin/env bash
# Runs every Go test of the workspace in one `go test` so packages run in
# parallel, then prints one summary line.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/hack/node/node_modules/.bin:$PATH"
timeout=${TEST_TIMEOUT:-25m}
go test -count=1 -timeout "$timeout" "$@" 2>&1 | tee /tmp/skiff-test.$$.log
rc=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/skiff-test.$$.log || true)
failed=$(grep -cE '^(FAIL|--- FAIL)' /tmp/skiff-test.$$.log || true)
rm -f /tmp/skiff-test.$$.log
echo "packages: $passed passed, $failed failed"
exit $rc
