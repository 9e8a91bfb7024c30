#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# ktree.sh - the patched kernel tree: make it, configure and build it,
# export it back to kernel/, and check the series.
#
#   ktree.sh tree     unpack Debian's linux-source-6.12 as a git tree whose
#                     first commit (tag "pristine") is the untouched source,
#                     then apply kernel/series with git am (branch "ctxkit")
#   ktree.sh config   tinyconfig + vmlinux-config/*.config, verified
#   ktree.sh build    tree + config + bzImage (ccache)
#   ktree.sh headers  the built tree's uapi headers into $OUTPUT/uapi
#   ktree.sh export   git format-patch pristine..ctxkit back into kernel/
#   ktree.sh check    apply the series to pristine source in a scratch
#                     worktree and run checkpatch.pl --strict on each patch
#   ktree.sh arm64    build the series for arm64 with Debian's cross
#                     compiler: build only, nothing boots it
#
# Everything generated lives under $OUTPUT (default: <repo>/.output).
# CTXKIT_DEBUG=1 adds vmlinux-config/debug/*.config; the Makefile then
# points OUTPUT at its own folder and KSRC/CCACHE_DIR at the shared ones.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUTPUT:-$TOP/.output}
SRC=${KSRC:-$OUT/linux}		# git tree: pristine + series
KBUILD=$OUT/kbuild		# O= build directory
SERIES_DIR=$TOP/kernel
CONFIG_DIR=$TOP/vmlinux-config
FRAGS=("$CONFIG_DIR"/*.config)
[ "${CTXKIT_DEBUG:-0}" = 1 ] && FRAGS+=("$CONFIG_DIR"/debug/*.config)
TARBALL=${CTXKIT_KSRC:-/usr/src/linux-source-6.12.tar.xz}
PKG=linux-source-6.12
JOBS=${JOBS:-$(($(nproc) + 1))}

say() { printf '  %-8s %s\n' "$1" "$2"; }
die() { printf 'ktree: %s\n' "$*" >&2; exit 1; }

git_src() { git -C "$SRC" "$@"; }

# git am and the pristine commit need a committer; do not require one.
if ! git config user.email >/dev/null; then
	export GIT_AUTHOR_NAME=ctxkit GIT_AUTHOR_EMAIL=ctxkit@localhost
	export GIT_COMMITTER_NAME=ctxkit GIT_COMMITTER_EMAIL=ctxkit@localhost
fi

src_version() {
	dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || echo unknown
}

# Hash of the series as it stands in kernel/: the series file and every
# patch it names.  Recorded in the tree so a changed series is noticed.
series_hash() {
	(cd "$SERIES_DIR" && {
		cat series
		{ grep -v -e '^#' -e '^\s*$' series || true; } | xargs -r cat
	}) | sha256sum | cut -d' ' -f1
}

series_patches() {
	{ grep -v -e '^#' -e '^\s*$' "$SERIES_DIR/series" || true; } |
		sed "s|^|$SERIES_DIR/|"
}

unpack() {
	[ -r "$TARBALL" ] || die "$TARBALL missing: apt-get install $PKG"
	local ver tmp
	ver=$(src_version)
	say UNPACK "$TARBALL ($PKG $ver)"
	rm -rf "$SRC" "$SRC.tmp"
	tmp=$SRC.tmp
	mkdir -p "$tmp"
	tar -xf "$TARBALL" -C "$tmp" --strip-components=1
	git -C "$tmp" init -q -b ctxkit
	git -C "$tmp" config core.autocrlf false
	git -C "$tmp" config gc.auto 0
	git -C "$tmp" add -A -f
	git -C "$tmp" commit -q -m "Debian $PKG $ver (pristine)"
	git -C "$tmp" tag pristine
	echo "$ver" >"$tmp/.git/ctxkit-source-version"
	mv "$tmp" "$SRC"
}

# Reset the tree to pristine and apply the series.  Refuses if the tree
# carries commits or edits that were never exported.
apply_series() {
	if [ -f "$SRC/.git/ctxkit-applied-head" ]; then
		local recorded
		recorded=$(cat "$SRC/.git/ctxkit-applied-head")
		[ "$(git_src rev-parse HEAD)" = "$recorded" ] ||
			die "$SRC has commits not in kernel/ - run 'make kernel-export' first (or remove $SRC)"
	fi
	git_src diff --quiet HEAD ||
		die "$SRC has uncommitted changes - commit and 'make kernel-export', or discard them"
	say APPLY "kernel/series onto pristine"
	git_src checkout -q -B ctxkit pristine
	local p
	while read -r p; do
		git_src am -q --keep-cr "$p" || {
			git_src am --abort || true
			die "$(basename "$p") does not apply to $PKG $(src_version)"
		}
	done < <(series_patches)
	git_src rev-parse HEAD >"$SRC/.git/ctxkit-applied-head"
	series_hash >"$SRC/.git/ctxkit-series-hash"
}

cmd_tree() {
	if [ ! -d "$SRC/.git" ] ||
	   [ "$(cat "$SRC/.git/ctxkit-source-version" 2>/dev/null)" != "$(src_version)" ]; then
		[ -d "$SRC/.git" ] && [ -f "$SRC/.git/ctxkit-applied-head" ] &&
			[ "$(git_src rev-parse HEAD)" != "$(cat "$SRC/.git/ctxkit-applied-head")" ] &&
			die "$PKG changed but $SRC has unexported commits - run 'make kernel-export' first"
		unpack
	fi
	if [ "$(cat "$SRC/.git/ctxkit-series-hash" 2>/dev/null)" != "$(series_hash)" ]; then
		apply_series
	fi
}

# Options a fragment asks for, as "CONFIG_X=val" (or "# CONFIG_X is not set").
fragment_options() {
	cat "$@" | grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)'
}

cmd_config() {
	local frags=("${FRAGS[@]}")
	local cfg=$KBUILD/.config want opt line missing=0
	mkdir -p "$KBUILD"
	say CONFIG "tinyconfig + ${frags[*]##*/}"
	make -s -C "$SRC" O="$KBUILD" ARCH=x86_64 tinyconfig >/dev/null
	fragment_options "${frags[@]}" >>"$cfg"
	# Appending fragments to .config makes kconfig warn about every
	# reassigned symbol; that is the point, so keep only other messages.
	make -s -C "$SRC" O="$KBUILD" ARCH=x86_64 olddefconfig 2>&1 >/dev/null |
		{ grep -v 'override: reassigning to symbol' || true; } >&2
	while IFS= read -r want; do
		if [[ $want == "# "* ]]; then
			opt=${want#\# }
			opt=${opt%% *}
			grep -q "^$opt=" "$cfg" || continue
		else
			opt=${want%%=*}
			grep -qxF "$want" "$cfg" && continue
		fi
		line=$(grep -E "^(# )?$opt[= ]" "$cfg" || echo "$opt absent")
		printf 'ktree: %s dropped by olddefconfig (want %s, got %s)\n' \
			"$opt" "$want" "$line" >&2
		missing=1
	done < <(fragment_options "${frags[@]}")
	[ $missing -eq 0 ] || die "config fragments not satisfied; see above"
}

cmd_build() {
	command -v ccache >/dev/null || die "ccache missing: apt-get install ccache"
	cmd_tree
	local stamp=$KBUILD/.ctxkit-config-hash hash
	hash=$(cat "${FRAGS[@]}" "$SRC/.git/ctxkit-source-version" | sha256sum | cut -d' ' -f1)
	if [ ! -f "$KBUILD/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
		cmd_config
		echo "$hash" >"$stamp"
	fi
	say KERNEL "$PKG $(src_version), $(git_src log --oneline pristine..HEAD | wc -l) patch(es), -j$JOBS"
	export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
	make -s -C "$SRC" O="$KBUILD" ARCH=x86_64 -j"$JOBS" \
		CC="ccache gcc" \
		KBUILD_BUILD_USER=ctxkit KBUILD_BUILD_HOST=ctxkit bzImage
	say BZIMAGE "$KBUILD/arch/x86/boot/bzImage"
}

cmd_headers() {
	make -s -C "$SRC" O="$KBUILD" ARCH=x86_64 headers_install \
		INSTALL_HDR_PATH="$OUT/uapi"
}

cmd_export() {
	[ -d "$SRC/.git" ] || die "no kernel tree at $SRC - run 'make kernel-tree'"
	git_src diff --quiet HEAD || die "$SRC has uncommitted changes; commit them first"
	# Debian's top-level .gitignore ignores every new file ("/*"), and the
	# build is out of tree, so an ignored file here is a new source file
	# that git add silently skipped.
	local ignored n
	ignored=$(git_src ls-files --others --ignored --exclude-standard)
	[ -z "$ignored" ] ||
		die "ignored by Debian's .gitignore, never committed (git add -f them): $(echo $ignored)"
	n=$(git_src rev-list --count pristine..HEAD)
	find "$SERIES_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' -delete
	git_src format-patch -q --no-signature --zero-commit -N \
		-o "$SERIES_DIR" pristine..HEAD
	{
		echo "# ctxkit patch series for Debian $PKG, applied in order with git am."
		echo "# Regenerate with 'make kernel-export'; never edit the patches by hand."
		(cd "$SERIES_DIR" && ls [0-9][0-9][0-9][0-9]-*.patch 2>/dev/null)
	} >"$SERIES_DIR/series"
	git_src rev-parse HEAD >"$SRC/.git/ctxkit-applied-head"
	series_hash >"$SRC/.git/ctxkit-series-hash"
	say EXPORT "$n patch(es) to kernel/"
}

cmd_check() {
	cmd_tree
	local wt=$OUT/series-check p rc=0
	git_src worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
	git_src worktree prune
	git_src worktree add -q --detach "$wt" pristine
	say CHECK "series onto pristine $PKG $(src_version)"
	while read -r p; do
		git -C "$wt" am -q "$p" || { echo "FAIL apply: ${p##*/}"; rc=1; break; }
		# Debian's python3 (with python3-ply) for scripts/spdxcheck.py
		if (cd "$wt" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict \
			-q --no-summary "$p"); then
			echo "ok   ${p##*/}"
		else
			echo "FAIL checkpatch: ${p##*/}"
			rc=1
		fi
	done < <(series_patches)
	git_src worktree remove --force "$wt"
	[ $rc -eq 0 ] || die "series check failed"
}

# arm64: tinyconfig + the same fragments.  x86-only options in them do not
# exist there and are dropped; the series' own options must survive.
cmd_arm64() {
	local kb=$OUT/kbuild-arm64 cross=aarch64-linux-gnu- opt
	command -v ${cross}gcc >/dev/null ||
		die "${cross}gcc missing: apt-get install gcc-aarch64-linux-gnu"
	cmd_tree
	mkdir -p "$kb"
	say CONFIG "arm64: tinyconfig + ${FRAGS[*]##*/}"
	make -s -C "$SRC" O="$kb" ARCH=arm64 CROSS_COMPILE=$cross tinyconfig >/dev/null
	fragment_options "${FRAGS[@]}" >>"$kb/.config"
	make -s -C "$SRC" O="$kb" ARCH=arm64 CROSS_COMPILE=$cross olddefconfig \
		>/dev/null 2>&1
	for opt in CONFIG_MMCONTEXT CONFIG_CP_RANGE CONFIG_SFORK CONFIG_IPC_MSG \
		   CONFIG_USERFAULTFD CONFIG_TRANSPARENT_HUGEPAGE; do
		grep -qx "$opt=y" "$kb/.config" || die "arm64: $opt is not set"
	done
	say KERNEL "arm64: $(git_src log --oneline pristine..HEAD | wc -l) patch(es), -j$JOBS"
	export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}
	make -s -C "$SRC" O="$kb" ARCH=arm64 CROSS_COMPILE=$cross -j"$JOBS" \
		CC="ccache ${cross}gcc" \
		KBUILD_BUILD_USER=ctxkit KBUILD_BUILD_HOST=ctxkit Image
	# The syscalls are wired: in the table the build generated.
	for sc in mmcontext cp_range sfork ipc_send ipc_recv ipc_reply; do
		grep -q "sys_$sc\$" "$kb/System.map" ||
			die "arm64: sys_$sc missing from System.map"
	done
	say IMAGE "$kb/arch/arm64/boot/Image"
}

case ${1:-} in
tree)	cmd_tree ;;
config)	cmd_tree; cmd_config ;;
build)	cmd_build ;;
headers) cmd_headers ;;
export)	cmd_export ;;
check)	cmd_check ;;
arm64)	cmd_arm64 ;;
version) src_version ;;
*)	echo "usage: ${0##*/} tree|config|build|headers|export|check|arm64|version" >&2; exit 2 ;;
esac
