#!/usr/bin/env bash
# tools/flakes.sh hunts flaky tests: it runs every unit and integration test
# (all but the VM boots, tagged requires-kvm) RUNS times (default 20),
# never from Bazel's cache, and names each test that failed in any run.
# CI runs it on a schedule (.github/workflows/ci.yml, job flakes); run it
# yourself after touching a test that waits for something.
#
#   tools/flakes.sh [RUNS]
#
# The last line is "flake hunt: T tests, R runs each: F failed at least
# once"; the exit status is 1 when F > 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-20}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
	echo "tools/flakes.sh: RUNS must be a whole number above 0, not '$runs'" >&2
	exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
tools/bazel test //... --runs_per_test="$runs" --runs_per_test_detects_flakes \
	--nocache_test_results --test_tag_filters=-requires-kvm --build_tests_only \
	--test_output=summary 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

tests=$(grep -cE '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|FLAKY|TIMEOUT|INCOMPLETE|NO STATUS)' "$log" || true)
bad=$(grep -E '^//[^ ]+ +(FAILED|FLAKY|TIMEOUT|INCOMPLETE|NO STATUS)' "$log" || true)
failed=0
if [[ -n $bad ]]; then
	failed=$(wc -l <<<"$bad")
	echo "tests that failed in at least one of $runs runs:"
	echo "$bad"
fi
if ((status != 0 && failed == 0)); then
	echo "tools/flakes.sh: bazel exited $status before reporting a test" >&2
	failed=1
fi
echo "flake hunt: $tests tests, $runs runs each: $failed failed at least once"
((failed == 0))
