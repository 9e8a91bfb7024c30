#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ctxtop_tty.sh - ctxtop's interactive mode, driven on a pseudo-terminal
# by ptyrun as a user at a terminal would: it starts on each terminal type
# the guest ships (no "Error opening terminal"), draws its table at the
# terminal's size, steps the sort column and the view, and quits on 'q'.
out=/tmp/ctxtop_tty.$$
. "$(dirname "$0")/tap.inc"

ctxdemo 600 >/dev/null &
demo=$!
for term in linux xterm-256color screen; do
	# 2.5 s before each key: ctxtop's start-up under TCG, then a redraw.
	TERM=$term ptyrun 30 100 2500 '>vq' -- ctxtop 1 >"$out.$term" 2>&1
	rc=$?
	result $rc "ctxtop_tty_${term}_quits_on_q" \
		"$([ $rc = 0 ] || echo "ptyrun exited with $rc")"
	grep -q 'Error opening terminal' "$out.$term"
	bad=$?
	result "$([ $bad = 1 ] && echo 0 || echo 1)" \
		"ctxtop_tty_${term}_has_terminfo" \
		"$([ $bad = 1 ] || echo "no terminfo for $term")"
	# The table's header, as drawn (escape sequences between the words).
	grep -q 'PID' "$out.$term" && grep -q 'COMM' "$out.$term"
	rc=$?
	result $rc "ctxtop_tty_${term}_draws_the_table" \
		"$([ $rc = 0 ] || echo "no PID and COMM header in what was drawn")"
	# 'v' took it to the snapshot view, whose header line is new
	grep -q 'mmcontext:' "$out.$term"
	rc=$?
	result $rc "ctxtop_tty_${term}_v_switches_view" \
		"$([ $rc = 0 ] || echo "no snapshot view header after v")"
done
kill $demo
wait $demo
rm -f "$out".*
[ $fails -eq 0 ]
