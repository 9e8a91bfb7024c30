#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - run upstream's mm selftests (built by build.sh) in the guest,
# each without a ctxkit tracker and with each tracker, and judge every
# result against the expectations.  Runs from the folder build.sh filled.
#
#   run.sh [--all] [-T "off mmcontext cp_range"] [-t SECS] [NAME...]
#
# --all     every test in "tests", not just the fast ones
# -T LIST   the tracker settings to run (default: all three); "off" alone
#           on a kernel without ctxkit
# -t SECS   override every test's timeout
# NAME...   only these tests (names from "tests")
#
# Per (test, tracker): "# selftest: upstream/NAME [tracker]", then one TAP
# line "ok - upstream/NAME [tracker]" or "not ok - ... # why".  A result
# that differs from the one in "expected" is "not ok", an unexpected pass
# included; an expected skip or known failure is "ok ... # SKIP why" or
# "ok ... # XFAIL why".  A test's own output is shown, as "# " lines, only
# (its tail) for a "not ok"; a kernel report (kreport) during a test is a
# "not ok" of its own.  Exit status 1 if anything was "not ok".
#
# The tracker is set up in each test process by the constructor linked in
# (tracker.c) from CTXKIT_TRACKER.  CTXKIT_DEBUG=1 (KASAN kernel) runs the
# same list with timeouts tripled.
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/bin
TESTS=$HERE/tests
EXPECTED=$HERE/expected
TAIL=${CTXKIT_TAIL:-40}
all=0 trackers="off mmcontext cp_range" tmo_all= only=

usage() {
	echo "usage: $0 [--all] [-T TRACKERS] [-t SECS] [NAME...]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--all|-a) all=1 ;;
	-T) [ $# -ge 2 ] || usage; trackers=$2; shift ;;
	-t) [ $# -ge 2 ] || usage; tmo_all=$2; shift ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) only="$only $1" ;;
	esac
	shift
done
[ -d "$BIN" ] && [ -f "$TESTS" ] && [ -f "$EXPECTED" ] ||
	{ echo "run.sh: $HERE has no bin/, tests or expected (build.sh)" >&2; exit 2; }
slow=1
[ "${CTXKIT_DEBUG:-0}" = 1 ] && slow=3

rc=0
LOG=/tmp/upstream-mm.$$
aslr=
trap 'rm -f "$LOG" "$LOG".*
      [ -n "$aslr" ] && sysw /proc/sys/kernel/randomize_va_space "$aslr"' EXIT
# Every test's whole output, for a look from the host (the folder is
# carried over 9p): logs/NAME.TRACKER.log; CTXKIT_LOGS= for none.
LOGS=${CTXKIT_LOGS-$HERE/logs}
[ -n "$LOGS" ] && { mkdir -p "$LOGS" 2>/dev/null || LOGS=; }
KREPORT=
command -v kreport >/dev/null 2>&1 && KREPORT=kreport

# ---- what the tests need from the system, once

sysw() { # sysw FILE VALUE: write if there, quietly
	[ -w "$1" ] && echo "$2" >"$1" 2>/dev/null
}

setup_system() {
	THP=/sys/kernel/mm/transparent_hugepage
	# THP where asked for (MADV_HUGEPAGE), as distributions ship it;
	# the tests that need other settings set and restore them.
	sysw $THP/enabled madvise
	sysw $THP/defrag madvise
	sysw $THP/shmem_enabled within_size
	# hugetlb: 256 MiB of 2 MiB pages, as run_vmtests.sh asks for
	sysw /proc/sys/vm/nr_hugepages 128
	mkdir -p /dev/hugepages
	grep -q ' /dev/hugepages ' /proc/mounts ||
		mount -t hugetlbfs none /dev/hugepages 2>/dev/null
	# on-fault-limit wants an unprivileged user
	grep -q '^nobody:' /etc/passwd 2>/dev/null ||
		echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
	grep -q '^nogroup:' /etc/group 2>/dev/null ||
		echo 'nogroup:x:65534:' >>/etc/group
	# a core dump of a test that crashes is of no use here
	ulimit -c 0
	# No brk randomization (mmap, stack and vdso stay randomized).  The
	# tests here are static and not PIE, and x86-64 puts such a
	# program's heap anywhere in the 1 GiB above its bss
	# (arch_randomize_brk()), where upstream's PIE builds never have
	# it; uffd-common.c maps shmem at a fixed 1 GiB (BASE_PMD_ADDR) and
	# failed one run in a few hundred when the heap was there.
	aslr=$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null)
	[ "$aslr" = 2 ] && sysw /proc/sys/kernel/randomize_va_space 1
	echo "# upstream mm: $(uname -r), $(nproc) CPUs," \
		"$(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)," \
		"hugetlb $(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo -)," \
		"NUMA nodes $(ls -d /sys/devices/system/node/node* 2>/dev/null | wc -l)"
}

# ---- per-test settings: "tests" names them in its SETUP column

save= saved=
set_saving() { # set_saving FILE VALUE: set, restore after the test
	[ -w "$1" ] || return 0
	saved="$saved$1=$(cat "$1")
"
	echo "$2" >"$1" 2>/dev/null
}
restore() {
	printf '%s' "$saved" | while IFS='=' read -r f v; do
		[ -n "$f" ] && echo "$v" >"$f" 2>/dev/null
	done
	saved=
}

setup() { # setup WORD,WORD...
	for w in $(echo "$1" | tr ',' ' '); do
		case $w in
		-) ;;
		hp1) set_saving /proc/sys/vm/nr_hugepages 1 ;;
		hp8) set_saving /proc/sys/vm/nr_hugepages 8 ;;
		hp0) set_saving /proc/sys/vm/nr_hugepages 0 ;;
		shm) set_saving /proc/sys/kernel/shmmax 268435456
		     set_saving /proc/sys/kernel/shmall 4194304 ;;
		overcommit) set_saving /proc/sys/vm/overcommit_memory 1 ;;
		softoffline) set_saving /proc/sys/vm/enable_soft_offline 1 ;;
		thp-always) set_saving /sys/kernel/mm/transparent_hugepage/enabled always ;;
		dropcaches) sync; echo 3 >/proc/sys/vm/drop_caches
			    echo 1 >/proc/sys/vm/compact_memory 2>/dev/null ;;
		ksmfast) # ksmd scans fast: the tests wait for two full scans
			set_saving /sys/kernel/mm/ksm/pages_to_scan 4096
			set_saving /sys/kernel/mm/ksm/sleep_millisecs 1 ;;
		nobody) ;;	# see run_one
		*) echo "# run.sh: unknown setup $w" ;;
		esac
	done
}

# ---- expectations: "expected" has NAME OFF MMCONTEXT CP_RANGE [# reason]

expect() { # expect NAME TRACKER: the expected result(s), e.g. "pass" or "fail|pass"
	awk -v n="$1" -v t="$2" '
		/^[ \t]*(#|$)/ { next }
		$1 == n {
			c = t == "off" ? 2 : t == "mmcontext" ? 3 : t == "cp_range" ? 4 : 0
			if (c) print $c
			exit
		}' "$EXPECTED"
}
reason() { # reason NAME: the comment of its line
	awk -v n="$1" '$1 == n { i = index($0, "#"); if (i) print substr($0, i + 1); exit }' \
		"$EXPECTED" | sed 's/^ *//'
}

# ---- subtests: the TAP lines of the test's own output

# The subtests that passed, one a line, each named by its description and
# the "[RUN]" line before it (cow and others repeat descriptions), with
# numbers as N (some descriptions count what varies from run to run).
subtests() { # subtests LOG
	awk '/^# \[RUN\] / { run = substr($0, 9); next }
	     /^ok [0-9]+ / && !/# *(SKIP|XFAIL|TODO)/ {
		d = $0; sub(/^ok [0-9]+ /, "", d)
		d = (run != "" ? run " :: " : "") d
		gsub(/[0-9]+/, "N", d)
		print d
	     }' "$1" | sort
}

# What passed in OFF but not in TRACKED, as many times as it is missing:
# "excepted SUBTEST" where a "subtest NAME TRACKER TEXT # reason" line of
# expected names it (TEXT a part of it; TRACKER may be *), else "lost".
lost_subtests() { # lost_subtests OFF TRACKED NAME TRACKER
	awk -v n="$3" -v t="$4" '
	FILENAME == ARGV[1] {
		if ($1 == "subtest" && $2 == n && ($3 == t || $3 == "*")) {
			l = $0
			sub(/^subtest[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", l)
			sub(/[ \t]*#.*/, "", l)
			pat[++np] = l
		}
		next
	}
	FILENAME == ARGV[2] { c[$0]++; next }
	{ c[$0]-- }
	END {
		for (k in c) for (i = 0; i < c[k]; i++) {
			e = 0
			for (j = 1; j <= np; j++) if (index(k, pat[j])) e = 1
			print (e ? "excepted " : "lost ") k
		}
	}' "$EXPECTED" "$1" "$2"
}

# ---- one test under one tracker

# The test's result from its exit status: pass, skip (KSFT_SKIP), timeout,
# tracker (the tracker failed to set up or tear down), or fail.
result_of() { # result_of STATUS
	case $1 in
	0) echo pass ;;
	4) echo skip ;;
	124|137|143) echo timeout ;;
	99) if grep -q '^ctxkit-tracker:' "$LOG"; then echo tracker; else echo fail; fi ;;
	*) echo fail ;;
	esac
}

run_one() { # run_one NAME TRACKER TIMEOUT SETUP CMD...
	name=$1 tr=$2 tmo=$3 prep=$4
	shift 4
	id="upstream/$name [$tr]"
	echo "# selftest: $id"
	want=$(expect "$name" "$tr")
	if [ -z "$want" ]; then
		echo "not ok - $id # no line for it in expected"
		rc=1
		return
	fi
	if [ "$want" = norun ]; then
		echo "ok - $id # SKIP not run: $(reason "$name")"
		return
	fi
	prog=$1
	shift
	[ -x "$BIN/$prog" ] && prog=$BIN/$prog
	env=
	[ "$tr" = off ] || env="CTXKIT_TRACKER=$tr"
	setup "$prep"
	t0=$(date +%s)
	case ",$prep," in
	*,nobody,*)
		setsid timeout -s TERM -k 10 "$tmo" su -p -s /bin/sh nobody -c \
			"cd /tmp && exec env $env \"\$0\" \"\$@\"" "$prog" "$@" \
			>"$LOG" 2>&1 </dev/null &
		;;
	*)
		(cd /tmp && exec setsid env $env timeout -s TERM -k 10 "$tmo" \
			"$prog" "$@") >"$LOG" 2>&1 </dev/null &
		;;
	esac
	pid=$!
	{ wait $pid; } 2>/dev/null
	st=$?
	# what the test left running: its own session
	kill -s KILL -$pid 2>/dev/null
	t1=$(date +%s)
	restore
	got=$(result_of $st)
	[ "$got" = timeout ] && echo "# timed out after ${tmo}s" >>"$LOG"
	[ "$got" = fail ] && [ $st -gt 128 ] && [ $st -le 192 ] &&
		echo "# killed by signal $((st - 128))" >>"$LOG"
	totals=$(grep -a '^# Totals:' "$LOG" | tail -n 1 | sed 's/^# //')
	[ -n "$LOGS" ] && cp "$LOG" "$LOGS/$name.$tr.log" 2>/dev/null
	info="${got}, $((t1 - t0))s${totals:+, $totals}"

	# Subtests: what passed without a tracker must pass with one.
	lost=
	if [ "$tr" = off ]; then
		subtests "$LOG" >"$LOG.off.$name"
	elif [ -f "$LOG.off.$name" ] && [ "$want" = "$(expect "$name" off)" ]; then
		# (a test this tracker is expected to change as a whole has
		# its reason on its line: its subtests are not compared)
		subtests "$LOG" >"$LOG.tr"
		lost_subtests "$LOG.off.$name" "$LOG.tr" "$name" "$tr" >"$LOG.lost"
		lost=$(grep -c '^lost ' "$LOG.lost")
		nexc=$(grep -c '^excepted ' "$LOG.lost")
		[ "$nexc" -gt 0 ] && info="$info, $nexc subtests excepted"
	fi
	if [ -n "$lost" ] && [ "$lost" -gt 0 ]; then
		sed -n 's/^lost /# lost: /p' "$LOG.lost" | head -n 20
		echo "not ok - $id # $info, but $lost subtests that pass without a tracker did not"
		rc=1
	else case "|$want|" in
	*"|$got|"*)
		why=$(reason "$name")
		case $got in
		pass) if [ "$want" = pass ]; then echo "ok - $id # $info"
		      else echo "ok - $id # $info (expected: $want: $why)"; fi ;;
		skip) echo "ok - $id # SKIP $info: $why" ;;
		*) echo "ok - $id # XFAIL $info: $why" ;;
		esac
		;;
	*)
		tail -n "$TAIL" "$LOG" | sed 's/^/# /'
		echo "not ok - $id # $info, expected $want"
		rc=1
		;;
	esac
	fi
	if [ -n "$KREPORT" ] && ! $KREPORT "$id"; then
		echo "not ok - $id # the kernel reported a bug, see above"
		rc=1
	fi
}

# ---- the list

setup_system
start=$(date +%s)
n=0
while read -r name group tmo prep cmd <&3; do
	case $name in ''|'#'*) continue ;; esac
	if [ -n "$only" ]; then
		case " $only " in *" $name "*) ;; *) continue ;; esac
	elif [ $all = 0 ] && [ "$group" != fast ]; then
		continue
	fi
	[ -n "$tmo_all" ] && tmo=$tmo_all
	tmo=$((tmo * slow))
	for tr in $trackers; do
		# shellcheck disable=SC2086 # cmd is the test and its arguments
		run_one "$name" "$tr" "$tmo" "$prep" $cmd
		n=$((n + 1))
	done
done 3<"$TESTS"
echo "# upstream mm: $n runs in $(( $(date +%s) - start ))s"
exit $rc
