#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - run every ctxkit selftest: boot the guest once for the in-guest
# suite, then check the runner itself from the host.  Prints TAP, numbered
# across everything, and ends with "N passed, N failed, N skipped".
# Exit status 1 if anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUTPUT:-$(cd "$HERE/.." && pwd)/.output}
VMTEST=$HERE/vmtest.sh

guest_suite() {
	local rc
	"$VMTEST" -- /usr/lib/ctxkit/selftests/run_tests.sh
	rc=$?
	# run_tests.sh exits 0 or 1; anything else is the VM, not a test.
	[ $rc -le 1 ] || echo "not ok - guest suite # vmtest exited with status $rc"
}

# The runner carries a host directory into the guest, runs a static
# program from it, and returns the program's exit status.
host_carried_exit_status() {
	local dir=$OUT/selftests/carry rc
	"$VMTEST" -t 120 -d "$dir" -- "$dir/exit_with" 3 >"$OUT/tmp/carry.log" 2>&1
	rc=$?
	if [ $rc -eq 3 ]; then
		echo "ok - vmtest_carried_exit_status"
	else
		sed 's/^/# /' "$OUT/tmp/carry.log" | tail -n 20
		echo "# expected exit status 3 from the guest, got $rc"
		echo "not ok - vmtest_carried_exit_status"
	fi
}

mkdir -p "$OUT/tmp"
{
	guest_suite
	host_carried_exit_status
} 2>&1 | awk '
	BEGIN { print "TAP version 13" }
	/^(not )?ok( |$)/ {
		n++
		not = /^not /
		sub(/^(not )?ok( [0-9]+)?/, "")
		printf "%sok %d%s\n", not ? "not " : "", n, $0
		if (not) fail++
		else if (/# SKIP/) skip++
		else pass++
		fflush(); next
	}
	/^#/ { print; fflush(); next }
	{ print "# " $0; fflush() }
	END {
		printf "1..%d\n", n
		printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
		exit (fail > 0 || n == 0)
	}'
