#!/usr/bin/env bash
# Writes tools/wheel/go-modules.txt: each module go.mod requires, its
# version and the go version its own go.mod names ("-" for none), as
# `go mod vendor` records them. The sdist's vendor/modules.txt needs the
# go versions (the compiler's language version for each module's
# packages), and Bazel's build has the modules' sources but not their
# go.mod files. tools/bazel run //:tidy runs it (GO names the go command;
# default: go on PATH); it uses the Go module proxy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${GO:-go}" mod vendor -o "$tmp/vendor"
{
	echo "# MODULE VERSION GO: written by tools/wheel/go-modules.sh from go mod vendor"
	awk '/^# /{if (mod) print mod, ver, gov; mod=$2; ver=$3; gov="-"}
		/^## .*; go /{gov=$NF}
		END{if (mod) print mod, ver, gov}' "$tmp/vendor/modules.txt" | sort
} >tools/wheel/go-modules.txt
