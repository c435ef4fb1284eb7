#!/bin/sh
# tools/debian/mirror.sh prints the Debian archive this machine's apt
# already uses (the first URI ending in /debian in /etc/apt/sources.list or
# sources.list.d), or BTY_DEBIAN_MIRROR when set, without a trailing slash.
#
# tools/debian/mirror.sh snapshot prints the base of a Debian snapshot
# archive (the part before the date stamp, .../archive/debian): the one
# BTY_DEBIAN_SNAPSHOT names, else one the apt sources use, else nothing.
#
# It is the one place these are found: tools/bazel runs it to build the
# offline chroot, tools/debian/debian.bzl to fetch pinned packages. No host
# is written into the repository.
set -eu
uris() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -n -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([a-z]\{1,\}:\/\/[^[:space:]]*\).*/\2/p' \
			-e 's/^URIs:[[:space:]]*\([a-z]\{1,\}:\/\/[^[:space:]]*\).*/\1/p'
}
if [ "${1:-}" = snapshot ]; then
	if [ -n "${BTY_DEBIAN_SNAPSHOT:-}" ]; then
		printf '%s\n' "${BTY_DEBIAN_SNAPSHOT%/}"
	else
		uris | sed -n 's/^\(.*\/archive\/debian\)\/[0-9]\{8\}T[0-9]\{6\}Z\/\{0,1\}$/\1/p' | head -n1
	fi
	exit 0
fi
if [ -n "${BTY_DEBIAN_MIRROR:-}" ]; then
	printf '%s\n' "${BTY_DEBIAN_MIRROR%/}"
	exit 0
fi
m=$(uris | sed -n 's/^\(.*\/debian\)\/\{0,1\}$/\1/p' | head -n1)
if [ -z "$m" ]; then
	echo "no Debian archive found in /etc/apt/sources.list{,.d}; set BTY_DEBIAN_MIRROR to your Debian mirror's URL (the one ending in /debian)" >&2
	exit 1
fi
printf '%s\n' "$m"
