#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fuzz.sh - ctxfuzz for CTXKIT_FUZZ_SECS seconds (60): no seed may fail
# an oracle, crash or hang.  With swap on /dev/ram0 while it runs, if
# that is free, so that MADV_PAGEOUT really swaps.  CTXKIT_FUZZ_ARGS adds
# options (see ctxfuzz.c).
out=/tmp/fuzz.$$
. "$(dirname "$0")/tap.inc"

swap=
if [ -b /dev/ram0 ] && ! grep -q '^/dev/ram0 ' /proc/swaps &&
   ! grep -q '^/dev/ram0 ' /proc/mounts &&
   mkswap /dev/ram0 >/dev/null 2>&1 && swapon /dev/ram0 2>/dev/null; then
	swap=/dev/ram0
fi

ctxfuzz -d "${CTXKIT_FUZZ_SECS:-60}" ${CTXKIT_FUZZ_ARGS-} >"$out" 2>&1
rc=$?
[ -n "$swap" ] && swapoff "$swap"

# the failing seeds, each with its replay command, then the summary
grep -v '^ctxfuzz: [0-9]* seeds' "$out" | head -n 20 | sed 's/^/# /'
result $rc ctxfuzz_short "$(tail -n 1 "$out")${swap:+ (swap on $swap)}"

[ -n "$CTXKIT_KEEP" ] || rm -f "$out"
[ $fails -eq 0 ]
