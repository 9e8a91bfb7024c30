#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh - run every selftest binary installed in the guest, in order.
# Each prints TAP "ok"/"not ok" lines; a binary that dies without reporting
# a failure gets a "not ok" line of its own, and so does one during which
# the kernel reported a bug (kreport).  Exit status 1 if anything failed.
# The host side (selftests/run.sh) numbers and totals the lines.
#
#   run_tests.sh [-u DIR] [-a]
#
# -u DIR also runs upstream's mm selftests built in DIR (carried in over
# 9p): their fast part, or with -a all of them instead of ctxkit's own.
dir=$(cd "$(dirname "$0")" && pwd)
export CTXKIT_TAP_NONUM=1
rc=0
out=/tmp/run_tests.$$
upstream= all=
while getopts "u:a" opt; do
	case $opt in
	u) upstream=$OPTARG ;;
	a) all=--all ;;
	*) echo "usage: $0 [-u DIR] [-a]" >&2; exit 2 ;;
	esac
done

# run NAME CMD...: one test program, its output, and the kernel's reports
run() {
	name=$1
	shift
	echo "# selftest: $name"
	"$@" >"$out" 2>&1
	trc=$?
	cat "$out"
	if [ $trc -ne 0 ]; then
		rc=1
		grep -q '^not ok' "$out" || echo "not ok - $name # exited with status $trc"
	fi
	if ! kreport "$name"; then
		rc=1
		echo "not ok - $name # the kernel reported a bug, see above"
	fi
}

# What booting left in the log counts too.
kreport boot || { rc=1; echo "not ok - boot # the kernel reported a bug, see above"; }
if [ -z "$all" ]; then
	for t in $(find "$dir" -mindepth 2 -type f -perm -u+x | sort); do
		run "${t#"$dir"/}" "$t"
	done
fi
[ -n "$upstream" ] && run upstream-mm "$upstream/run.sh" $all
rm -f "$out"
exit $rc
