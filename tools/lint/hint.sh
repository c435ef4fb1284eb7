#!/usr/bin/env bash
# hint.sh FIX CHECK [ARGS...] runs a check and, when it fails, ends its output
# with the one command that fixes the problem.
set -uo pipefail

fix=$1
check=$2
shift 2
if "$check" "$@"; then
	exit 0
fi
status=$?
printf '\nFAILED; to fix, run: %s\n' "$fix" >&2
exit "$status"
