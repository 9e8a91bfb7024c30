#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh - install the Debian packages ctxkit needs, and only the missing
# ones.  Without root it names what is missing and stops.
#
#   deps.sh            install what is missing
#   deps.sh --list     print the package list
set -euo pipefail

PKGS=(
	# kernel source and build
	linux-source-6.12 bc bison ccache dwarves flex gcc git libelf-dev
	libssl-dev make rsync xz-utils
	# checkpatch.pl (scripts/spdxcheck.py)
	perl python3 python3-git python3-ply
	# BPF toolchain; static libbpf, libelf, libz and libzstd for the tools
	bpftool clang-19 libbpf-dev libzstd-dev llvm-19 zlib1g-dev
	# ctxtop's terminal UI, linked statically
	libncurses-dev
	# guest: QEMU and the busybox initramfs
	busybox-static cpio qemu-system-x86
)

if [ "${1:-}" = --list ]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; as root run: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "  DEPS     ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
