#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh - run every selftest binary installed in the guest, in order.
# Each prints TAP "ok"/"not ok" lines; a binary that dies without reporting
# a failure gets a "not ok" line of its own.  Exit status 1 if anything
# failed.  The host side (selftests/run.sh) numbers and totals the lines.
dir=$(cd "$(dirname "$0")" && pwd)
export CTXKIT_TAP_NONUM=1
rc=0
out=/tmp/run_tests.$$

for t in $(find "$dir" -mindepth 2 -type f -perm -u+x | sort); do
	name=${t#"$dir"/}
	echo "# selftest: $name"
	"$t" >"$out" 2>&1
	trc=$?
	cat "$out"
	if [ $trc -ne 0 ]; then
		rc=1
		grep -q '^not ok' "$out" || echo "not ok - $name # exited with status $trc"
	fi
done
rm -f "$out"
exit $rc
