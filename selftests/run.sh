#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - run every ctxkit selftest: boot the guest once for the in-guest
# suite (with the fast part of upstream's mm selftests), then from the host
# check the runner itself and ctxtop on the host's stock kernel; on the
# debug kernel (CTXKIT_DEBUG=1), also that a KASAN report fails a run.
# Prints TAP, numbered across everything, and ends with
# "N passed, N failed, N skipped".  Exit status 1 if anything failed.
#
#   run.sh       all of the above
#   run.sh -u    every upstream mm selftest, and nothing else
#   run.sh -b    boot only: no kernel report at boot or at power-off (and
#                on the debug kernel, the LKDTM check)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUTPUT:-$(cd "$HERE/.." && pwd)/.output}
VMTEST=$HERE/vmtest.sh
UPSTREAM=$OUT/upstream-mm
DEBUG=${CTXKIT_DEBUG:-0}
# KASAN and lockdep under TCG: everything takes several times longer.
SUITE_TIMEOUT=$([ "$DEBUG" = 1 ] && echo 4800 || echo 1800)

guest_suite() {
	local rc args=()
	[ -x "$UPSTREAM/run.sh" ] && args=(-u "$UPSTREAM")
	[ $# -gt 0 ] && args+=("$@")
	"$VMTEST" -t "$SUITE_TIMEOUT" ${args[0]:+-d "$UPSTREAM"} -- \
		/usr/lib/ctxkit/selftests/run_tests.sh "${args[@]}"
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

# ctxtop on the host's own, unpatched kernel: the generic counters come
# from fallback hooks and the ctxkit ones say why they are unavailable.
host_stock_kernel_mode() {
	local log=$OUT/tmp/stock.log name=host_stock_kernel_mode rc demo
	if [ -r /sys/kernel/btf/vmlinux ] &&
	   grep -q btf_trace_cow_copy /sys/kernel/btf/vmlinux; then
		echo "ok - $name # SKIP host kernel has ctxkit's patches"
		return
	fi
	"$OUT/bin/ctxdemo" 600 >/dev/null 2>&1 &
	demo=$!
	# tracepoints attach through tracefs; mount it if the host has not,
	# in a mount namespace of our own so the host is left as it was
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
		unshare -m --propagation private sh -c '
			grep -q " /sys/kernel/tracing tracefs " /proc/mounts ||
				mount -t tracefs tracefs /sys/kernel/tracing
			exec "$0" -b -r 100 1 2' "$OUT/bin/ctxtop" >"$log" 2>&1
	else
		"$OUT/bin/ctxtop" -b -r 100 1 2 >"$log" 2>&1
	fi
	rc=$?
	kill $demo
	wait $demo
	if [ $rc -ne 0 ]; then
		if [ "$(id -u)" -ne 0 ] && [ $rc -eq 1 ] &&
		   grep -q 'needs root, or CAP_BPF and CAP_PERFMON' "$log"; then
			echo "ok - $name # not root: ctxtop says it needs privileges"
		else
			sed 's/^/# /' "$log" | tail -n 10
			echo "not ok - $name"
		fi
		return
	fi
	sed -n '1,/^ *PID COMM/p' "$log" | sed 's/^/# /'
	local bad=0 f
	for f in cow first-touch stack shared-file; do
		grep -q "^  $f: ." "$log" || { echo "# no reason for $f"; bad=1; }
	done
	# where faults are counted, the demo must show some
	if ! grep -q '^  faults:' "$log" &&
	   ! awk '$2 == "ctxdemo" && $3 + 0 > 0 { f = 1 } END { exit !f }' "$log"; then
		echo "# no ctxdemo row with faults"
		bad=1
	fi
	[ $bad -eq 0 ] && echo "ok - $name" || echo "not ok - $name"
}

# The same as a user without privileges: one line saying what ctxtop
# needs, and exit status 1, not "nothing to trace" or a crash.
host_stock_kernel_non_root() {
	local log=$OUT/tmp/stock-user.log name=host_stock_kernel_non_root rc
	if ! command -v setpriv >/dev/null || [ "$(id -u)" -ne 0 ]; then
		echo "ok - $name # SKIP needs root and setpriv to become nobody"
		return
	fi
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$OUT/bin/ctxtop" -b 1 1 >"$log" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && [ "$(wc -l <"$log")" -eq 1 ] &&
	   grep -q 'needs root, or CAP_BPF and CAP_PERFMON' "$log"; then
		echo "ok - $name"
	else
		sed 's/^/# /' "$log" | tail -n 5
		echo "# expected exit status 1 and one line; got $rc"
		echo "not ok - $name"
	fi
}

# The kernel's own userland test of mm/vma.c, which the series hooks into,
# built from the patched tree on the host (the build is the test's first
# half: a hook without a stub there breaks it).
host_kernel_vma_test() {
	local src=${KSRC:-$OUT/linux}/tools/testing/vma log=$OUT/tmp/vma.log
	local name=kernel_tools_testing_vma rc
	if [ ! -d "$src" ]; then
		echo "ok - $name # SKIP no kernel tree at ${src%/tools/*}"
		return
	fi
	{ make -C "$src" -s -j"$(nproc)" && "$src/vma"; } >"$log" 2>&1
	rc=$?
	make -C "$src" -s clean >/dev/null 2>&1
	grep -E 'tests run|error|undefined' "$log" | sed 's/^/# /' | tail -n 10
	[ $rc -eq 0 ] && echo "ok - $name" || echo "not ok - $name"
}

# ZONE_MOVABLE must stay free to empty, so a snapshot moves its pages out
# of it: mmcontext's tests again, in a guest that has one.
guest_movable() {
	local rc
	"$VMTEST" -t "$SUITE_TIMEOUT" -a movablecore=256M -- sh -c '
		kreport boot || echo "not ok - boot # the kernel reported a bug"
		awk "/zone *Movable/ { m = 1; next } /^Node/ { m = 0 }
		     m && \$1 == \"present\" && \$2 > 0 { f = 1 }
		     END { exit !f }" /proc/zoneinfo ||
			echo "not ok - movable_guest_has_zone_movable"
		/usr/lib/ctxkit/selftests/mm/mmcontext >/tmp/movable 2>&1
		trc=$?
		sed "s/^\(\(not \)\?ok [0-9]* - \)/\1movable:/" /tmp/movable
		[ $trc -eq 0 ] || grep -q "^not ok" /tmp/movable ||
			echo "not ok - movable # mmcontext exited with status $trc"
		kreport movable || echo "not ok - movable # the kernel reported a bug"'
	rc=$?
	[ $rc -le 1 ] || echo "not ok - movable guest # vmtest exited with status $rc"
}

# DAX: persistent memory emulated on the guest's RAM (memmap=), with struct
# pages: 256 MiB with an ext2 filesystem mounted -o dax on it, and 2 GiB
# made a device DAX aligned to 1 GiB, as ndctl would through sysfs (a
# uuid, the alignment, struct pages in RAM, the namespace, bind).  The
# tests of DAX mappings skip in the other guests; here they run.
DAX_TESTS_MMCONTEXT="dax_private_copy_on_write_rolled_back"
DAX_TESTS_CP_RANGE="dax_private_copy_on_write_in_increment dax_device_pud_pages"
guest_dax() {
	local rc
	"$VMTEST" -t "$SUITE_TIMEOUT" -m 7G -a 'memmap=256M!1G memmap=2G!4G' -- sh -c '
		kreport boot || echo "not ok - boot # the kernel reported a bug"
		if [ -b /dev/pmem0 ] && mke2fs -F -b 4096 /dev/pmem0 >/dev/null 2>&1 &&
		   mkdir -p /mnt/dax && mount -t ext2 -o dax /dev/pmem0 /mnt/dax; then
			echo "ok - dax_guest_mounts_ext2_with_dax"
		else
			echo "not ok - dax_guest_mounts_ext2_with_dax"
		fi
		nd=/sys/bus/nd
		if echo namespace1.0 >$nd/drivers/nd_pmem/unbind &&
		   cat /proc/sys/kernel/random/uuid >$nd/devices/dax1.0/uuid &&
		   echo 1073741824 >$nd/devices/dax1.0/align &&
		   echo ram >$nd/devices/dax1.0/mode &&
		   echo namespace1.0 >$nd/devices/dax1.0/namespace &&
		   echo dax1.0 >$nd/drivers/dax_pmem/bind && [ -c /dev/dax1.0 ]; then
			echo "ok - dax_guest_has_a_device_dax_of_1gib_pages"
		else
			echo "not ok - dax_guest_has_a_device_dax_of_1gib_pages"
		fi
		export CTXKIT_DAX_DIR=/mnt/dax CTXKIT_DEVDAX=/dev/dax1.0
		for t in "mmcontext '"$DAX_TESTS_MMCONTEXT"'" "cp_range '"$DAX_TESTS_CP_RANGE"'"; do
			/usr/lib/ctxkit/selftests/mm/$t >/tmp/dax 2>&1
			trc=$?
			sed "s/^\(\(not \)\?ok [0-9]* - \)/\1dax:/" /tmp/dax
			[ $trc -eq 0 ] || grep -q "^not ok" /tmp/dax ||
				echo "not ok - dax:${t%% *} # exited with status $trc"
		done
		umount /mnt/dax
		kreport dax || echo "not ok - dax # the kernel reported a bug"'
	rc=$?
	[ $rc -le 1 ] || echo "not ok - dax guest # vmtest exited with status $rc"
}

# The kernel boots and powers off without reporting anything.
guest_boot() {
	local rc
	"$VMTEST" -t 1200 -- sh -c 'kreport boot && echo "ok - boots_without_reports"'
	rc=$?
	[ $rc -eq 0 ] || echo "not ok - boots_without_reports # vmtest exited with status $rc"
}

# The debug lane itself: a use-after-free provoked through LKDTM must
# fail the run, named with the test that was running.
debug_lane_catches_kasan() {
	local log=$OUT/tmp/lkdtm.log rc name=debug_lane_catches_kasan
	"$VMTEST" -t 600 -- sh -c 'echo "# selftest: lkdtm"
		echo READ_AFTER_FREE >/sys/kernel/debug/provoke-crash/DIRECT' \
		>"$log" 2>&1
	rc=$?
	# KASAN, or KFENCE when the freed object was one it sampled
	if [ $rc -ne 0 ] &&
	   grep -qE 'BUG: (KASAN: slab-use-after-free|KFENCE: use-after-free)' "$log" &&
	   grep -q 'panicked while running lkdtm' "$log"; then
		echo "ok - $name"
	else
		sed 's/^/# /' "$log" | tail -n 20
		echo "# expected a KASAN report and a failed run, got status $rc"
		echo "not ok - $name"
	fi
}

mkdir -p "$OUT/tmp"
{
	if [ "${1:-}" = -u ]; then
		guest_suite -a
	elif [ "${1:-}" = -b ]; then
		guest_boot
		if [ "$DEBUG" = 1 ]; then
			debug_lane_catches_kasan
		fi
	else
		guest_suite
		guest_movable
		guest_dax
		host_carried_exit_status
		host_stock_kernel_mode
		host_stock_kernel_non_root
		# on the host, so the same for both kernels: run it once
		[ "$DEBUG" = 1 ] || host_kernel_vma_test
		if [ "$DEBUG" = 1 ]; then
			debug_lane_catches_kasan
		fi
	fi
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
