#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the "make run" demo, run inside the guest: cowstat watches a
# fork/write workload whose copy counts are known in advance.
set -e
log=/tmp/cowstat.out

echo "== ctxkit demo on $(uname -r)"
cowstat >"$log" 2>&1 &
stat_pid=$!
# Wait until the BPF program is attached before starting the workload.
i=0
until grep -q '^Tracing' "$log" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $stat_pid 2>/dev/null; then
		cat "$log"
		exit 1
	fi
	sleep 0.1
done

cowdemo 1024 4
kill -INT $stat_pid
wait $stat_pid
echo "== cowstat (COPIES should match each child's page count; the"
echo "   small extra is the child's own stack and libc pages)"
cat "$log"
