#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh - install the Debian packages ctxkit needs, and only the missing
# ones.  Without root it names what is missing and stops.
#
#   deps.sh            install what is missing, then --check
#   deps.sh --check    check that every command, header and library the
#                      build runs or links is there; one line for each one
#                      that is not, naming its package, and exit status 1
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
	# upstream's mm selftests, static: liburing, libcap, libnuma; and its
	# userland test of mm/vma.c (tools/testing/vma): liburcu
	liburing-dev libcap-dev libnuma-dev liburcu-dev
	# make kernel-check-arm64: the series built for arm64
	gcc-aarch64-linux-gnu
	# guest: QEMU and the busybox initramfs
	busybox-static cpio qemu-system-x86
)

# What the build runs, includes and links, each with the package that
# brings it and who needs it: --check looks for every one, so a missing
# tool stops the build before the kernel is built, not after.  KIND is
#   cmd   a command in PATH
#   file  a file; @MA@ stands for the multiarch triplet (x86_64-linux-gnu)
#   py    a module of Debian's python3 (ktree.sh check puts /usr/bin first)
#   pl    a perl module
# A package's first missing entry is the one reported.  Essential packages
# (coreutils, tar, sed, grep, mawk, util-linux...) cannot be missing and
# are left out.
# KIND WHAT				PACKAGE		WHO NEEDS IT
CHECKS='
file /usr/src/linux-source-6.12.tar.xz	linux-source-6.12 ktree.sh tree unpacks it
cmd  git				git		ktree.sh keeps the kernel tree in git
cmd  xz					xz-utils	the source tarball and the XZ bzImage need it
cmd  make				make		the whole build needs it
cmd  gcc				gcc		the kernel and the tools need it
cmd  ccache				ccache		ktree.sh build compiles with ccache gcc
cmd  bc					bc		the kernel build needs it
cmd  bison				bison		kconfig needs it
cmd  flex				flex		kconfig needs it
cmd  pahole				dwarves		CONFIG_DEBUG_INFO_BTF needs it
file /usr/include/gelf.h		libelf-dev	objtool and resolve_btfids need it
file /usr/include/openssl/opensslv.h	libssl-dev	the kernel signing tools need it
file /usr/include/zlib.h		zlib1g-dev	resolve_btfids and the BPF tools need it
cmd  rsync				rsync		headers_install needs it
pl   Term::ANSIColor			perl		checkpatch.pl needs it
file /usr/bin/python3			python3		checkpatch.pl (spdxcheck.py) needs it
py   git				python3-git	spdxcheck.py needs it
py   ply				python3-ply	spdxcheck.py needs it
cmd  clang-19				clang-19	the BPF programs need it
cmd  bpftool				bpftool		vmlinux.h, BPF objects and skeletons need it
file /usr/include/bpf/bpf_helpers.h	libbpf-dev	the BPF programs need it
file /usr/include/bpf/libbpf.h		libbpf-dev	the BPF tools need it
file /usr/lib/@MA@/libbpf.a		libbpf-dev	the static BPF tools need it
file /usr/lib/@MA@/libelf.a		libelf-dev	the static BPF tools need it
file /usr/lib/@MA@/libz.a		zlib1g-dev	the static BPF tools need it
file /usr/include/zstd.h		libzstd-dev	the static BPF tools need it
file /usr/lib/@MA@/libzstd.a		libzstd-dev	the static BPF tools need it
file /usr/include/curses.h		libncurses-dev	ctxtop needs it
file /usr/lib/@MA@/libncursesw.a	libncurses-dev	the static ctxtop needs it
file /usr/lib/@MA@/libtinfo.a		libncurses-dev	the static ctxtop needs it
file /usr/lib/@MA@/libc.a		libc6-dev	the static tools and tests need it
file /usr/include/@MA@/asm/unistd.h	linux-libc-dev	the tools need it
file /usr/include/liburing.h		liburing-dev	upstream mm selftests need it
file /usr/lib/@MA@/liburing.a		liburing-dev	the static upstream mm selftests need it
file /usr/include/sys/capability.h	libcap-dev	upstream mm selftests need it
file /usr/lib/@MA@/libcap.a		libcap-dev	the static upstream mm selftests need it
file /usr/include/numa.h		libnuma-dev	upstream mm selftests need it
file /usr/lib/@MA@/libnuma.a		libnuma-dev	the static upstream mm selftests need it
file /usr/include/@MA@/urcu.h	liburcu-dev	tools/testing/vma needs it
file /bin/busybox			busybox-static	the guest initramfs needs it
cmd  qemu-system-x86_64			qemu-system-x86	vmtest.sh boots the guest with it
cmd  aarch64-linux-gnu-gcc		gcc-aarch64-linux-gnu	make kernel-check-arm64 builds with it
'

# check: one line for each package with an entry of CHECKS that is not
# there, status 1 if any; those packages are left in BAD_PKGS
BAD_PKGS=()
check() {
	local ma kind what pkg why d
	ma=$(uname -m)-linux-gnu
	while read -r kind what pkg why; do
		[[ " ${BAD_PKGS[*]} " == *" $pkg "* ]] && continue
		what=${what//@MA@/$ma}
		case $kind in
		cmd)	command -v "$what" >/dev/null && continue
			# bpftool is in /usr/sbin, which a user's PATH may lack
			for d in /usr/sbin /sbin; do
				[ -x "$d/$what" ] || continue
				echo "deps: $what not in PATH ($why): add $d to PATH" >&2
				BAD_PKGS+=("$pkg")
				continue 2
			done ;;
		file)	[ -e "$what" ] && continue ;;
		py)	/usr/bin/python3 -c "import $what" 2>/dev/null && continue
			what="python3 module $what" ;;
		pl)	perl -M"$what" -e 1 2>/dev/null && continue
			what="perl module $what" ;;
		"")	continue ;;
		esac
		echo "deps: $what not found ($why): apt-get install $pkg" >&2
		BAD_PKGS+=("$pkg")
	done <<<"$CHECKS"
	[ ${#BAD_PKGS[@]} -eq 0 ]
}

case ${1:-} in
--list)	printf '%s\n' "${PKGS[@]}"; exit 0 ;;
--check) check; exit ;;
"")	;;
*)	echo "usage: ${0##*/} [--check|--list]" >&2; exit 2 ;;
esac

installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		# what is missing, one line each; then the packages no such line
		# named (libraries nothing checks for, cpio, llvm-19...)
		check || true
		rest=()
		for p in "${missing[@]}"; do
			[[ " ${BAD_PKGS[*]} " == *" $p "* ]] || rest+=("$p")
		done
		[ ${#rest[@]} -eq 0 ] ||
			echo "deps: missing packages; as root run: apt-get install ${rest[*]}" >&2
		exit 1
	fi
	echo "  DEPS     ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# dpkg says installed, but are the files there?
check
