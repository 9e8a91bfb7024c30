#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# fresh-root.sh - prove that tools/build/deps.sh names everything the build
# needs: in a minimal Debian 12 root, run deps.sh on a clean clone of this
# repo and then the build's first stages, and show that a root missing a
# tool stops before the kernel build with one line naming the package.
#
#   fresh-root.sh        as root; the root goes to $OUTPUT/fresh-root
#
# Stages, timed:
#   bootstrap   mmdebstrap --variant=minbase bookworm, with this machine's
#               own apt sources (its bookworm entries, read at run time)
#   check-bare  deps.sh --check in the bare root: what a fresh machine lacks
#   deps        deps.sh as root: install, then --check
#   kernel-tree, kernel-config   make kernel-tree, make kernel-config
#   headers     kernel/ktree.sh headers (headers_install: rsync)
#   userspace   the static programs that need no vmlinux (uapi headers,
#               libc.a), a static link of libbpf/libelf/libz/libzstd/
#               ncursesw, and a BPF object through clang-19 and bpftool
#   kobjs       make prepare (objtool, resolve_btfids: libelf) and a few
#               kernel objects with ccache gcc -j2, pahole -J on one
#   initramfs   the kernel's gen_init_cpio, mkinitramfs.sh with
#               busybox-static, qemu-system-x86_64 --version (no boot)
#   kernel-check  make kernel-check: checkpatch.pl, spdxcheck.py
#   vma-test    the kernel's tools/testing/vma (liburcu, ASan), built and run
#               from the patched tree as make check's host test does
#   negative    rsync removed: a non-root user's make kernel, and root's
#               make kernel with /usr/bin/rsync gone behind dpkg's back
#
# A developer's proof tool, not run in CI.  Takes some 20 minutes and a few
# GB; the whole kernel is never built.  Mounts live in a private mount
# namespace and are unmounted on exit, failure or not.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUTPUT:-$TOP/.output}
ROOT=$OUT/fresh-root
REPO=/work/ctxkit		# the clone, inside the root
SUITE=bookworm
JOBS=2

say() { printf '  %-8s %s\n' "$1" "$2"; }
die() { printf 'fresh-root: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrapping and chroot)"

# Mounts in a mount namespace of our own: even a killed run leaves none
# behind on the host.
if [ -z "${FRESH_ROOT_NS:-}" ]; then
	export FRESH_ROOT_NS=1
	exec unshare --mount --propagation private "$0" "$@"
fi

umount_all() {
	local m
	# deepest first
	findmnt -rn -o TARGET | { grep -F "$ROOT/" || true; } | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap umount_all EXIT

TIMES=()
stage() {
	local name=$1 t=$SECONDS
	shift
	echo
	say STAGE "$name"
	"$@"
	TIMES+=("$(printf '%-12s %4ds' "$name" $((SECONDS - t)))")
}

# Run a command line in the root, in the clone, with a clean environment.
in_root() {
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -c "cd $REPO && $1"
}

# This machine's apt sources, only their bookworm entries (another
# vendor's list would want its keyring in the root), in both formats.
host_sources() {
	local dir=$1 f
	: >"$dir/host.list"
	: >"$dir/host.sources"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" '$1 ~ /^deb(-src)?$/ {
			i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++
			if ($(i + 2) ~ "^" s "(-[a-z]+)?$") print }' "$f" >>"$dir/host.list"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822 stanzas whose Suites are this suite or its -updates etc.
		awk -v s="$SUITE" 'BEGIN { RS = ""; ORS = "\n\n" }
			{ n = split($0, l, "\n"); keep = 0
			  for (i = 1; i <= n; i++) if (l[i] ~ /^Suites:/) {
				m = split(l[i], w, /[ \t]+/)
				for (j = 2; j <= m; j++) if (w[j] ~ "^" s "(-[a-z]+)?$") keep = 1
			  }
			  if (keep) print }' "$f" >>"$dir/host.sources"
	done
	[ -s "$dir/host.list" ] || [ -s "$dir/host.sources" ] ||
		die "no $SUITE entries in /etc/apt/sources.list{,.d/}"
}

bootstrap() {
	local tmp mirrors=()
	if ! command -v mmdebstrap >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends mmdebstrap >/dev/null
	fi
	umount_all
	rm -rf "$ROOT"
	tmp=$(mktemp -d)
	host_sources "$tmp"
	[ -s "$tmp/host.list" ] && mirrors+=("$tmp/host.list")
	[ -s "$tmp/host.sources" ] && mirrors+=("$tmp/host.sources")
	mmdebstrap --quiet --mode=root --variant=minbase "$SUITE" "$ROOT" \
		"${mirrors[@]}"
	rm -rf "$tmp"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
	mount -t proc proc "$ROOT/proc"
	mount --bind /dev "$ROOT/dev"
	mount --bind /dev/pts "$ROOT/dev/pts"
	mount -t tmpfs tmpfs "$ROOT/dev/shm"
	mkdir -p "$ROOT${REPO%/*}"
	git clone -q "$TOP" "$ROOT$REPO"
	say CLONE "$(git -C "$ROOT$REPO" log --oneline -1)"
	# the user for the non-root negative path
	chroot "$ROOT" useradd -m builder
}

# What a fresh machine lacks, before deps.sh: expected to fail.
check_bare() {
	in_root 'tools/build/deps.sh --check' && die "a bare root passed the check?"
	return 0
}

deps() {
	in_root 'tools/build/deps.sh'
	in_root 'tools/build/deps.sh --check && echo "  CHECK    all there"'
}

headers() {
	in_root 'kernel/ktree.sh headers && ls .output/uapi/include/linux/mmcontext.h .output/uapi/include/linux/cp_range.h'
}

# The Makefile's flags; these programs need the uapi headers, not vmlinux.
CFLAGS='-g -O2 -Wall -Wextra -Wno-unused-parameter -Werror'
userspace() {
	local sys="gcc $CFLAGS -isystem .output/uapi/include -Itools"
	in_root "set -e; mkdir -p .output/bin .output/fresh
		$sys tools/cpinspect.c tools/cpfile.c -o .output/bin/cpinspect -static -pthread
		$sys tools/cprestore.c tools/cpfile.c -o .output/bin/cprestore -static -pthread
		$sys selftests/mm/mmcontext.c -o .output/bin/mmcontext -static -pthread
		$sys selftests/mm/cp_range.c tools/cpfile.c -o .output/bin/cp_range -static -pthread
		$sys tools/bench/mmbench.c -o .output/bin/mmbench -static -pthread
		make -s $REPO/.output/selftests/carry/exit_with $REPO/.output/helpers/trace_helpers.o
		.output/selftests/carry/exit_with 3 || [ \$? -eq 3 ]
		.output/bin/cpinspect --help >/dev/null 2>&1 || true
		ls -l .output/bin .output/selftests/carry .output/helpers | grep -v '^total'"
	# every static library the BPF tools and ctxtop link
	cat >"$ROOT$REPO/.output/fresh/link.c" <<'EOF'
#include <bpf/libbpf.h>
#include <gelf.h>
#include <zlib.h>
#include <zstd.h>
#include <curses.h>
#include <stdio.h>

int main(void)
{
	printf("libbpf %s, libelf %u, zlib %s, zstd %u, %s\n",
	       libbpf_version_string(), elf_version(EV_CURRENT), zlibVersion(),
	       ZSTD_versionNumber(), curses_version());
	return 0;
}
EOF
	in_root "gcc $CFLAGS .output/fresh/link.c .output/helpers/trace_helpers.o \
		-o .output/fresh/link -static -lbpf -lelf -lz -lzstd -lncursesw -ltinfo -lm &&
		.output/fresh/link"
	# a CO-RE-less BPF object: clang-19 -target bpf, bpftool gen object/skeleton
	cat >"$ROOT$REPO/.output/fresh/probe.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int hits;

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
EOF
	in_root 'set -e; cd .output/fresh
		clang-19 -g -O2 -target bpf -D__TARGET_ARCH_x86 -isystem ../uapi/include \
			-c probe.bpf.c -o probe.tmp.o
		bpftool gen object probe.bpf.o probe.tmp.o
		bpftool gen skeleton probe.bpf.o name probe_bpf >probe.skel.h
		echo "  BPF      probe.bpf.o, probe.skel.h ($(wc -l <probe.skel.h) lines)"'
}

# ktree.sh build's compiler, on a few objects; prepare builds objtool and
# resolve_btfids (libelf, zlib); pahole turns one object's DWARF to BTF.
KMAKE="make -s -C .output/linux O=$REPO/.output/kbuild ARCH=x86_64 CC='ccache gcc' -j$JOBS"
kobjs() {
	in_root "set -e; export CCACHE_DIR=$REPO/.output/ccache
		$KMAKE prepare
		ls .output/kbuild/tools/objtool/objtool .output/kbuild/tools/bpf/resolve_btfids/resolve_btfids
		$KMAKE mm/memory.o mm/mmap.o kernel/fork.o
		echo '  KOBJS    mm/memory.o mm/mmap.o kernel/fork.o'
		pahole -J --btf_encode_detached=.output/fresh/memory.btf .output/kbuild/mm/memory.o
		echo \"  PAHOLE   mm/memory.o: \$(stat -c %s .output/fresh/memory.btf) bytes of BTF\"
		ccache -s | grep -E -i 'hits|misses|cache size' || true"
}

# gen_init_cpio is all of usr/ that the guest needs; a busybox-only
# initramfs from it, read back with cpio.
initramfs() {
	in_root "set -e; export CCACHE_DIR=$REPO/.output/ccache
		$KMAKE usr/
		rm -rf .output/fresh/stage && mkdir -p .output/fresh/stage
		selftests/vm/mkinitramfs.sh $REPO/.output/kbuild/usr/gen_init_cpio \
			$REPO/.output/fresh/stage $REPO/.output/fresh/initramfs.cpio
		echo \"  CPIO     \$(cpio -it <.output/fresh/initramfs.cpio 2>/dev/null | wc -l) entries, \$(stat -c %s .output/fresh/initramfs.cpio) bytes\"
		qemu-system-x86_64 --version | head -n 1"
}

# rsync gone: the build stops at deps, before ktree.sh build says KERNEL.
expect_stop() {
	local who=$1 cmd=$2 log=$ROOT/tmp/negative.log rc=0
	in_root "$cmd" >"$log" 2>&1 || rc=$?
	sed 's/^/    | /' "$log"
	[ $rc -ne 0 ] || die "$who: succeeded without rsync"
	grep -q '^deps: rsync not found (headers_install needs it): apt-get install rsync$' "$log" ||
		die "$who: no line naming rsync"
	! grep -q -e KERNEL -e UNPACK "$log" || die "$who: the kernel build started"
	say OK "$who: exit $rc, stopped before the kernel build"
}

negative() {
	in_root 'dpkg -r rsync >/dev/null 2>&1 && echo "  REMOVE   rsync (dpkg -r)"'
	say RUN "as builder: make kernel"
	expect_stop "non-root" 'runuser -u builder -- env PATH=$PATH make kernel'
	say RUN "as builder: tools/build/deps.sh --check"
	expect_stop "non-root --check" 'runuser -u builder -- env PATH=$PATH tools/build/deps.sh --check'
	say RUN "as root: tools/build/deps.sh installs rsync again"
	in_root 'tools/build/deps.sh && command -v rsync'
	in_root 'mv /usr/bin/rsync /usr/bin/rsync.away && echo "  REMOVE   /usr/bin/rsync (dpkg still says installed)"'
	say RUN "as root: make kernel"
	expect_stop "root" 'make kernel'
	in_root 'mv /usr/bin/rsync.away /usr/bin/rsync'
}

stage bootstrap bootstrap
stage check-bare check_bare
stage deps deps
stage kernel-tree in_root 'make kernel-tree'
stage kernel-config in_root 'make kernel-config'
stage headers headers
stage userspace userspace
stage kobjs kobjs
stage initramfs initramfs
stage kernel-check in_root 'make kernel-check'
stage vma-test in_root 'make -s -C .output/linux/tools/testing/vma -j2 &&
	.output/linux/tools/testing/vma/vma &&
	make -s -C .output/linux/tools/testing/vma clean'
stage negative negative

echo
say DONE "stage times:"
printf '    %s\n' "${TIMES[@]}"
