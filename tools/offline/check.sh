#!/usr/bin/env bash
# tools/offline/check.sh runs the Bazel commands users, scripts and IDE
# plugins run (query with and without implicit deps, cquery, aquery,
# coverage, mod graph, mod tidy, info, fetch) against this repository and
# fails when one fails or reaches for the network: offline, every repository
# Bazel fetches lazily must come from tools/offline (a future Bazel or
# rules_go that needs a new one shows up here, named). .ci/run runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=0
check() {
	local start end rc=0
	start=$(date +%s%N)
	tools/bazel "$@" >"$out" 2>&1 || rc=$?
	end=$(date +%s%N)
	# rules_go's go_sdk.host() warns that go.dev is unreachable and goes
	# on; only errors count.
	if ((rc != 0)) || grep -E '^ERROR' "$out" | grep -qE 'Error downloading|Unknown host|UnknownHostException'; then
		echo "offline-check: FAILED: bazel $* (exit $rc):" >&2
		grep -E 'ERROR|Error|rror downloading' "$out" | head -5 >&2 || tail -5 "$out" >&2
		failed=$((failed + 1))
		return
	fi
	printf 'offline-check: ok %6.1f s  bazel %s\n' "$(((end - start) / 1000000))e-3" "$*"
}

check info
check query 'deps(//release:publish)'
check query --noimplicit_deps 'deps(//release:publish)'
check cquery 'deps(//release:publish)'
check aquery '//bty/mac'
check fetch //...
check mod graph
# mod tidy must work and find nothing to change (//:tidy keeps use_repo).
check mod tidy
if ! git diff --quiet -- MODULE.bazel; then
	echo "offline-check: FAILED: bazel mod tidy changed MODULE.bazel; run tools/bazel run //:tidy and commit" >&2
	git diff -- MODULE.bazel >&2
	git checkout -- MODULE.bazel
	failed=$((failed + 1))
fi
# A small coverage run: instrumented tests, the LCOV merger per test and the
# combined report.
check coverage //tools/lcov:lcov_test //bty/mac:mac_test
if ((failed > 0)); then
	echo "offline-check: $failed command(s) failed offline" >&2
	exit 1
fi
