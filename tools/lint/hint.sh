#!/usr/bin/env bash
# hint.sh FIX CHECK [ARGS...] runs a check and, when it fails, ends its output
# with the one command that fixes the problem.
set -uo pipefail

fix=$1
check=$2
shift 2
"$check" "$@"
status=$?
if ((status != 0)); then
	printf '\nFAILED; to fix, run: %s\n' "$fix" >&2
fi
exit "$status"
