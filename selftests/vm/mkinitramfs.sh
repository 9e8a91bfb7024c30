#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh - make the guest's initramfs from a staged root directory.
#
#   mkinitramfs.sh GEN_INIT_CPIO STAGE OUT.cpio
#
# STAGE holds ctxkit's tools, tests and BPF objects; this adds busybox with
# its applet links, /init and the device nodes, and packs it all with the
# kernel's own gen_init_cpio, so no root is needed for mknod.
set -euo pipefail

GEN=$1 STAGE=$2 OUT=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}

[ -x "$GEN" ] || { echo "mkinitramfs: $GEN missing (build the kernel first)" >&2; exit 1; }
[ -x "$BUSYBOX" ] || { echo "mkinitramfs: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }

mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,ctxkit}
install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
install -m 0755 "$HERE/init" "$STAGE/init"
install -m 0755 "$HERE/kreport" "$STAGE/usr/bin/kreport"
for app in $("$BUSYBOX" --list-full); do
	[ "$app" = bin/busybox ] || ln -sf /bin/busybox "$STAGE/$app"
done

list=$(mktemp)
trap 'rm -f "$list"' EXIT
{
	cd "$STAGE"
	find . -mindepth 1 | sort | while read -r p; do
		p=${p#.}
		if [ -L "$STAGE$p" ]; then
			echo "slink $p $(readlink "$STAGE$p") 0777 0 0"
		elif [ -d "$STAGE$p" ]; then
			echo "dir $p $(stat -c %a "$STAGE$p") 0 0"
		else
			echo "file $p $STAGE$p $(stat -c %a "$STAGE$p") 0 0"
		fi
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
} >"$list"
"$GEN" "$list" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
