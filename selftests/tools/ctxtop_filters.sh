#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ctxtop_filters.sh - ctxtop -c CGROUP shows only that cgroup's processes,
# and ctxtop inside a PID namespace reports that namespace's PIDs and
# nothing from outside it.
. "$(dirname "$0")/tap.inc"
# PIDs in the last interval's rows of ctxtop -b output file $1
row_pids() {
	awk '/^ *PID COMM/ { n = 0; delete p; r = 1; next }
	     /^$/ { r = 0; next }
	     r { p[++n] = $1 }
	     END { for (i = 1; i <= n; i++) print p[i] }' "$1"
}
out=/tmp/ctxtop_filters.$$

# -- cgroup: one ctxdemo inside, one outside
cg=/sys/fs/cgroup/ctxtop-test
if mkdir -p $cg 2>/dev/null && [ -f $cg/cgroup.procs ]; then
	sh -c "echo \$\$ > $cg/cgroup.procs && exec ctxdemo 600" >/dev/null &
	inside=$!
	ctxdemo 600 >/dev/null &
	outside=$!
	ctxtop -b -c $cg -r 200 1 2 >"$out" 2>&1
	rc=$?
	kill $inside $outside
	wait $inside $outside
	pids=$(row_pids "$out" | tr '\n' ' ')
	ok=1
	[ $rc -eq 0 ] && echo " $pids" | grep -q " $inside " &&
		! echo " $pids" | grep -q " $outside " && ok=0
	result $ok ctxtop_cgroup_filter \
		"in cgroup $inside, outside $outside; rows: $pids(rc $rc)"
	rmdir $cg
else
	echo "ok - ctxtop_cgroup_filter # SKIP no cgroup v2 at /sys/fs/cgroup"
fi

# -- PID namespace: ctxdemo shows under its PID in the namespace, and the
# host's busy loop of "true" processes, outside it, does not show at all
if unshare -p -f -m true 2>/dev/null; then
	sh -c 'while :; do true; done' &
	loop=$!
	unshare -p -f -m sh -c '
		mount -t proc proc /proc
		ctxdemo 600 >/dev/null &
		demo=$!
		echo "demo $demo"
		ctxtop -b -r 200 1 2
		rc=$?
		kill $demo
		wait $demo
		exit $rc' >"$out" 2>&1
	rc=$?
	kill $loop
	wait $loop
	ns_demo=$(awk '/^demo / { print $2 }' "$out")
	rows=$(awk '/^ *PID COMM/ { n = 0; delete p; r = 1; next }
		    /^$/ { r = 0; next }
		    r { p[++n] = $1 ":" $2 }
		    END { for (i = 1; i <= n; i++) print p[i] }' "$out" | tr '\n' ' ')
	ok=1
	[ $rc -eq 0 ] && [ -n "$ns_demo" ] &&
		echo " $rows" | grep -q " $ns_demo:ctxdemo " &&
		! echo " $rows" | grep -q ':true ' && ok=0
	result $ok ctxtop_pid_namespace \
		"demo is PID $ns_demo in the namespace; rows: $rows(rc $rc)"
else
	echo "ok - ctxtop_pid_namespace # SKIP no PID namespaces in this kernel"
fi

[ -n "$CTXKIT_KEEP" ] || rm -f "$out"
[ $fails -eq 0 ]
