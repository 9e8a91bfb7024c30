#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# stress.sh - ctxstress for a short while: every ctxkit feature at once in
# a memory cgroup squeezed into swap, with compaction running; memory
# checks, free pages, the cgroup's charge and kmemleak must all hold.
# CTXKIT_STRESS_SECS sets how long (default 30).  On the debug kernel
# (CTXKIT_DEBUG=1) ctxstress scales its workers down by itself.
out=/tmp/stress.$$
. "$(dirname "$0")/tap.inc"

secs=${CTXKIT_STRESS_SECS:-30}
ctxstress -d "$secs" >"$out" 2>&1
rc=$?
sed 's/^/# /' "$out"
result $rc ctxstress_short \
	"$([ $rc = 0 ] || echo "ctxstress -d $secs exited with $rc")"

[ -n "$CTXKIT_KEEP" ] || rm -f "$out"
[ $fails -eq 0 ]
