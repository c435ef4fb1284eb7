#!/bin/sh
# tools/debian/mirror.sh prints the Debian archive this machine's apt
# already uses (the first URI ending in /debian in /etc/apt/sources.list or
# sources.list.d), or BTY_DEBIAN_MIRROR when set, without a trailing slash.
# It is the one place the mirror is found: tools/bazel runs it to build the
# offline chroot, tools/debian/debian.bzl to fetch pinned packages. No host
# is written into the repository.
set -eu
if [ -n "${BTY_DEBIAN_MIRROR:-}" ]; then
	printf '%s\n' "${BTY_DEBIAN_MIRROR%/}"
	exit 0
fi
m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
	sed -n -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([a-z]\{1,\}:\/\/[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' \
		-e 's/^URIs:[[:space:]]*\([a-z]\{1,\}:\/\/[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]]*$/\1/p' | head -n1)
if [ -z "$m" ]; then
	echo "no Debian archive found in /etc/apt/sources.list{,.d}; set BTY_DEBIAN_MIRROR to your Debian mirror's URL (the one ending in /debian)" >&2
	exit 1
fi
printf '%s\n' "$m"
