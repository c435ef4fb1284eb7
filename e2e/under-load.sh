#!/usr/bin/env bash
# e2e/under-load.sh runs every VM test (tag requires-kvm) while one busy
# process per core competes for the CPU, as on a CI runner that builds
# beside the tests; Bazel's summary gives each test's time. A VM test must
# pass here too: its stage markers must match what firmware prints when it
# is slow, and its deadlines must leave room for a machine that is not idle.
#
#   e2e/under-load.sh                     # every VM test, one at a time
#   e2e/under-load.sh //e2e/pxe:pxe_test  # or the ones named
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=("$@")
if ((${#targets[@]} == 0)); then
	targets=(//...)
fi
flags=(--build_tests_only --test_tag_filters=requires-kvm --nocache_test_results --local_test_jobs=1 --test_output=errors)
# Build first, unloaded: the point is the tests' own time under load.
tools/bazel build "${flags[@]}" "${targets[@]}"

hogs=()
stop_hogs() { ((${#hogs[@]} == 0)) || kill "${hogs[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
for _ in $(seq "$(nproc)"); do
	(while :; do :; done) &
	hogs+=($!)
done
echo "under-load: ${#hogs[@]} busy processes on $(nproc) cores beside the tests" >&2
tools/bazel test "${flags[@]}" "${targets[@]}"
