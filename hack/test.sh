#!/usr/bin/env bash
# Runs every Go test of the workspace in one `go test` so packages run in
# parallel, then every fuzz target briefly (FUZZ_TIME each, default 3s;
# FUZZ_TIME=0 skips them), then prints one summary line.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/hack/node/node_modules/.bin:$PATH"
timeout=${TEST_TIMEOUT:-25m}
fuzztime=${FUZZ_TIME:-3s}
go test -count=1 -timeout "$timeout" "$@" 2>&1 | tee /tmp/skiff-test.$$.log
rc=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/skiff-test.$$.log || true)
failed=$(grep -cE '^(FAIL|--- FAIL)' /tmp/skiff-test.$$.log || true)
rm -f /tmp/skiff-test.$$.log

# Fuzz targets (func FuzzXxx(f *testing.F) in tests): one instrumented test
# binary per package, each target run for $fuzztime with the corpus go test
# keeps in GOCACHE; a failing input is written to <pkg>/testdata/fuzz.
fuzzed=0 fuzzfailed=0
if [ "$fuzztime" != "0" ]; then
	fuzzbin=$(mktemp -d /tmp/skiff-fuzz.XXXXXX)
	fuzzcache="$(go env GOCACHE)/fuzz"
	while read -r dir names; do
		pkg=$(go list "./$dir") || { fuzzfailed=$((fuzzfailed + 1)); continue; }
		if ! go test -c -fuzz=. -o "$fuzzbin/t.test" "./$dir"; then
			echo "FAIL fuzz $dir (build)"
			fuzzfailed=$((fuzzfailed + 1))
			continue
		fi
		for name in $names; do
			fuzzed=$((fuzzed + 1))
			if out=$(cd "$dir" && "$fuzzbin/t.test" -test.run='^$' -test.fuzz="^${name}\$" \
				-test.fuzztime="$fuzztime" -test.fuzzcachedir="$fuzzcache/$pkg" 2>&1); then
				echo "ok   fuzz $dir $name ($fuzztime)"
			else
				fuzzfailed=$((fuzzfailed + 1))
				echo "$out" | tail -40
				echo "FAIL fuzz $dir $name (failing input, if any, in $dir/testdata/fuzz/$name)"
			fi
		done
	done < <(grep -rEo --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata --exclude-dir=hack \
		'^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
		sed -E 's#^\./(.*)/[^/]+:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u |
		awk '{a[$1] = a[$1] " " $2} END {for (d in a) print d a[d]}' | sort)
	rm -rf "$fuzzbin"
fi
if [ "$fuzzfailed" -gt 0 ] && [ "$rc" -eq 0 ]; then
	rc=1
fi
echo "packages: $passed passed, $failed failed; fuzz targets: $fuzzed run, $fuzzfailed failed"
exit $rc
