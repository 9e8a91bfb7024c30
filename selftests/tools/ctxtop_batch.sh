#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ctxtop_batch.sh - ctxtop -b watching ctxdemo: the output parses, fits 80
# columns, shows the demo's processes, and every counter column is live;
# the same for the snapshot view (-V snap) and the demo's mmcontext user,
# for the share view (-V share) and its sfork user, and for the ipc view
# (-V ipc) and its client and server.
out=/tmp/ctxtop_batch.$$
. "$(dirname "$0")/tap.inc"

# The demo outlives ctxtop's start-up, however slow the guest, and stops
# once ctxtop is done.
ctxdemo 600 >/dev/null &
demo=$!
ctxtop -b -r 200 1 3 >"$out" 2>&1
rc=$?
ctxtop -b -V snap -r 200 1 3 >"$out.snap" 2>&1
snap_rc=$?
ctxtop -b -V share -r 200 1 3 >"$out.share" 2>&1
share_rc=$?
ctxtop -b -V ipc -r 200 1 3 >"$out.ipc" 2>&1
ipc_rc=$?
kill $demo
wait $demo
result $rc ctxtop_batch_runs "ctxtop -b exited with $rc"

long=$(awk 'length($0) > 80' "$out" | wc -l)
result "$([ "$long" = 0 ] && echo 0 || echo 1)" ctxtop_batch_fits_80_columns \
	"$long lines over 80 columns"

# ctxtop's numbers with their k/M suffixes expanded, for each awk below.
NUM='
function num(v) {
	if (v ~ /k$/) return substr(v, 1, length(v) - 1) * 1000
	if (v ~ /M$/) return substr(v, 1, length(v) - 1) * 1000000
	return v + 0
}'

# The last interval's rows, as "COMM FLT/s COW/s 1ST/s STACK BRK+ BRK- SHF/s"
# with k/M suffixes expanded.  A row must have all 12 columns (PID COMM
# FLT/s MAJ/s P50 P99 COW/s 1ST/s STACK BRK+ BRK- SHF/s).
awk "$NUM"'
	/^ *PID COMM/ { n = 0; bad = 0; delete rows; inrows = 1; next }
	/^$/ { inrows = 0; next }
	inrows {
		if (NF != 12 || $1 !~ /^[0-9]+$/) { bad++; next }
		rows[++n] = $2 " " num($3) " " num($7) " " num($8) " " \
			    num($9) " " num($10) " " num($11) " " num($12)
	}
	END {
		for (i = 1; i <= n; i++) print rows[i]
		if (bad) print "BAD " bad
	}' "$out" >"$out.rows"

bad=$(awk '$1 == "BAD" { print $2 }' "$out.rows")
result "$([ -z "$bad" ] && [ -s "$out.rows" ] && echo 0 || echo 1)" \
	ctxtop_batch_parses "$(grep -vc BAD "$out.rows") rows, ${bad:-0} unparsable"

# column sums over the demo's processes: FLT COW 1ST STACK BRK+ BRK- SHF
# (COMM is 12 columns wide: ctxdemo-child shows as ctxdemo-chil)
sums=$(awk '$1 ~ /^ctxdemo/ {
		for (i = 2; i <= 8; i++) s[i] += $i; seen[$1] = 1 }
	END { printf "%d %d %d %d %d %d %d %d %d %d", s[2], s[3], s[4], s[5],
	      s[6], s[7], s[8], ("ctxdemo" in seen), ("ctxdemo-chil" in seen),
	      ("ctxdemo-peer" in seen) }' "$out.rows")
set -- $sums
result "$([ "$8$9${10}" = 111 ] && [ "$1" -gt 0 ] && echo 0 || echo 1)" \
	ctxtop_batch_shows_demo "demo faults/s $1; parent/child/peer rows: $8 $9 ${10}"
ok=0
for v in "$2" "$3" "$4" "$5" "$6" "$7"; do [ "$v" -gt 0 ] || ok=1; done
result $ok ctxtop_batch_counters_live \
	"demo COW/s $2, 1ST/s $3, STACK $4, BRK+ $5, BRK- $6, SHF/s $7"
grep -q '^unavailable' "$out" && result 1 ctxtop_batch_all_hooks \
	"$(grep -A6 '^unavailable' "$out" | tr '\n' ' ')" ||
	result 0 ctxtop_batch_all_hooks

# The snapshot view: PID COMM SAVE ARMED DIRTY/s RBK RST/s EMP/s CKPT
# CKPG/s.  The demo saved once before ctxtop started, so its last interval
# has rollbacks, checkpoints and pages, not saves.
long=$(awk 'length($0) > 80' "$out.snap" | wc -l)
snap=$(awk "$NUM"'
	/^ *PID COMM/ { row = ""; inrows = 1; next }
	/^$/ { inrows = 0; next }
	inrows && $2 == "ctxdemo-snap" && NF == 10 {
		row = num($5) " " num($6) " " num($7) " " num($8) " " \
		      num($9) " " num($10)
	}
	END { print row }' "$out.snap")
set -- $snap
ok=1
if [ $snap_rc = 0 ] && [ "$long" = 0 ] && [ $# = 6 ]; then
	ok=0
	for v in "$@"; do [ "$v" -gt 0 ] || ok=1; done
fi
result $ok ctxtop_batch_snap_view \
	"rc $snap_rc, $long lines over 80; ctxdemo-snap DIRTY/s RBK RST/s EMP/s CKPT CKPG/s: ${snap:-no row}"

# The share view: PID COMM SFORK SFPOP SHR/s INST/s.  The demo's sfork
# user makes two regions a round, populates one, and first-touches 64
# pages of the other, each mapped in its child: its row is the one with
# regions.
long=$(awk 'length($0) > 80' "$out.share" | wc -l)
share=$(awk "$NUM"'
	/^ *PID COMM/ { row = ""; best = -1; inrows = 1; next }
	/^$/ { inrows = 0; next }
	# its children are named so too until they rename themselves
	inrows && $2 == "ctxdemo-shr" && NF == 6 && num($3) > best {
		best = num($3)
		row = num($3) " " num($4) " " num($5) " " num($6)
	}
	END { print row }' "$out.share")
set -- $share
ok=1
if [ $share_rc = 0 ] && [ "$long" = 0 ] && [ $# = 4 ]; then
	ok=0
	for v in "$@"; do [ "$v" -gt 0 ] || ok=1; done
	# every first touch mapped the page in the one child
	[ "$3" = "$4" ] || ok=1
fi
result $ok ctxtop_batch_share_view \
	"rc $share_rc, $long lines over 80; ctxdemo-shr SFORK SFPOP SHR/s INST/s: ${share:-no row}"

# The ipc view: PID COMM SEND/s RTT50 RTT99 RECV/s RPLY/s CPYB/s COWPG/s.
# The demo's client (ctxdemo-icl) sends 3000-byte messages to its server
# (ctxdemo-ipc), which answers each: the client's row has sends and round
# trips, the server's receives, replies and 3000 bytes copied a message.
long=$(awk 'length($0) > 80' "$out.ipc" | wc -l)
ipc=$(awk "$NUM"'
	/^ *PID COMM/ { c = s = ""; inrows = 1; next }
	/^$/ { inrows = 0; next }
	inrows && $2 == "ctxdemo-icl" && NF == 9 && num($3) > 0 && $4 != "-" {
		c = num($3)
	}
	inrows && $2 == "ctxdemo-ipc" && NF == 9 && num($6) > 0 {
		s = num($6) " " num($7) " " num($8)
	}
	END { if (c != "" && s != "") print c " " s }' "$out.ipc")
set -- $ipc
ok=1
if [ $ipc_rc = 0 ] && [ "$long" = 0 ] && [ $# = 4 ]; then
	ok=0
	for v in "$@"; do [ "$v" -gt 0 ] || ok=1; done
	# 3000 bytes copied a message received, give or take the rounding
	# of two rates shown to 2-3 digits
	[ $(($4 / $2)) -ge 2400 ] && [ $(($4 / $2)) -le 3600 ] || ok=1
fi
result $ok ctxtop_batch_ipc_view \
	"rc $ipc_rc, $long lines over 80; ctxdemo-icl SEND/s, ctxdemo-ipc RECV/s RPLY/s CPYB/s: ${ipc:-no rows}"

[ -n "$CTXKIT_KEEP" ] || rm -f "$out" "$out.rows" "$out.snap" "$out.share" "$out.ipc"
[ $fails -eq 0 ]
