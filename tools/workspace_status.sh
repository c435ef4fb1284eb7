#!/usr/bin/env bash
# workspace_status.sh prints the facts Bazel stamps into artifacts that name
# their source (the OCI images' revision label). Stable keys: a change
# rebuilds only the actions that read them.
set -euo pipefail
rev=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $rev != unknown ]] && [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
	rev=$rev-dirty
fi
echo "STABLE_GIT_COMMIT $rev"
# Who built it, for the release's provenance: the GitHub Actions workflow
# run when there is one, else this machine's build (named by nothing that
# identifies it).
if [[ -n ${GITHUB_RUN_ID:-} ]]; then
	echo "STABLE_BUILDER ${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/.github/workflows/ci.yml"
else
	echo "STABLE_BUILDER local"
fi
