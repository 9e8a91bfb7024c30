#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ctxtop_errors.sh - what users get wrong, and what they expect of the
# tools: each bad input exits 2 (usage) or 1 (runtime) with one line on
# stderr, never a crash; a user without privileges is told so, not that
# there is nothing to trace; ctxtop with stdout not a terminal prints
# plain batch text; -p exits once its process does; -n filters by name.
out=/tmp/ctxtop_errors.$$
. "$(dirname "$0")/tap.inc"

# expect NAME STATUS PATTERN CMD...: CMD exits STATUS with one stderr line
# matching PATTERN
expect() {
	name=$1 want=$2 pat=$3
	shift 3
	"$@" >"$out.stdout" 2>"$out"
	rc=$?
	lines=$(wc -l <"$out")
	ok=1
	[ $rc = "$want" ] && [ "$lines" = 1 ] && grep -q -e "$pat" "$out" && ok=0
	result $ok "$name" "exit $rc (want $want), $lines stderr lines: $(head -c 200 "$out")"
}

expect ctxtop_unknown_view 2 'no view' ctxtop -b -V nosuch 1 1
expect ctxtop_unknown_sort_column 2 'no column' ctxtop -b -s NOPE 1 1
expect ctxtop_bad_interval 2 'invalid interval' ctxtop -b 0 1
expect ctxtop_unknown_hook 2 'no hook' ctxtop -b --hook uprobe 1 1
expect ctxtop_bad_pid 2 'invalid PID' ctxtop -b -p 12x 1 1
expect ctxtop_no_such_pid 1 'no process 99999' ctxtop -b -p 99999 1 1
expect ctxtop_bad_cgroup 1 'cgroup /nonexistent' ctxtop -b -c /nonexistent 1 1
expect ctxtop_bad_btf 1 'btf /nonexistent' ctxtop -b --btf /nonexistent 1 1
expect ctxtop_not_root 1 'needs root, or CAP_BPF and CAP_PERFMON' \
	asuser 65534 ctxtop -b 1 1
expect cowstat_not_root 1 'needs root' \
	asuser 65534 cowstat 1 1
expect cowstat_no_such_pid 1 'no process 99999' cowstat -p 99999 1 1

# Without a terminal on stdout: batch text, no escape codes.
ctxtop 1 1 >"$out.stdout" 2>"$out"
rc=$?
esc=$(tr -cd '\033' <"$out.stdout" | wc -c)
ok=1
[ $rc = 0 ] && [ "$esc" = 0 ] && grep -q '^ *PID COMM' "$out.stdout" && ok=0
result $ok ctxtop_not_a_tty_is_batch "exit $rc, $esc escape characters"

# -p follows its process and exits after it does: a shell that grows a
# string all the time (so faults; busybox runs true without a fork),
# killed after 3 s; -n keeps only names that contain NAME.
sh -c 'x=; while :; do x="$x 0123456789"; done' &
demo=$!
( sleep 3; kill $demo ) &
start=$(date +%s)
ctxtop -b -p $demo -r 50 1 >"$out.stdout" 2>"$out"
rc=$?
took=$(($(date +%s) - start))
wait $demo
pids=$(awk '/^ *PID COMM/ { r = 1; next } /^$/ { r = 0 } r { print $1 }' \
	"$out.stdout" | sort -u | tr '\n' ' ')
ok=1
[ $rc = 0 ] && [ $took -lt 60 ] && [ "$pids" = "$demo " ] && ok=0
result $ok ctxtop_pid_exits_with_its_process \
	"exit $rc after $took s; rows of PIDs: $pids(the shell is $demo)"

ctxdemo 600 >/dev/null &
demo=$!
ctxtop -b -n demo-snap -r 50 1 2 >"$out.stdout" 2>"$out"
rc=$?
kill $demo
wait $demo
names=$(awk '/^ *PID COMM/ { r = 1; next } /^$/ { r = 0 } r { print $2 }' \
	"$out.stdout" | sort -u | tr '\n' ' ')
ok=1
[ $rc = 0 ] && [ "$names" = "ctxdemo-snap " ] && ok=0
result $ok ctxtop_name_filter_in_batch "exit $rc; names shown: $names"

rm -f "$out" "$out.stdout"
[ $fails -eq 0 ]
