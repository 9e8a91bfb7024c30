#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh - build upstream's tools/testing/selftests/mm from the unpacked
# kernel source, static, every test linked with ctxkit's tracker
# (tracker.c here), for the guest to run with run.sh.
#
#   build.sh KSRC UAPI_INCLUDE OUTDIR
#
# KSRC is the kernel tree (left untouched: what the tests need is copied
# to OUTDIR/src and built there, since check_config.sh writes into the
# source folder), UAPI_INCLUDE the patched kernel's installed uapi headers.
# Writes OUTDIR/bin/NAME per test, OUTDIR/run.sh, OUTDIR/tests,
# OUTDIR/expected and OUTDIR/build.log; OUTDIR/not-built lists the tests of
# upstream's TEST_GEN_FILES that did not build, each with its error.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: ${0##*/} KSRC UAPI_INCLUDE OUTDIR" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KSRC=$(cd "$1" && pwd)
UAPI=$(cd "$2" && pwd)
mkdir -p "$3"
OUTDIR=$(cd "$3" && pwd)
CC=${CC:-gcc}
JOBS=${JOBS:-$(nproc)}

[ -f "$KSRC/tools/testing/selftests/mm/Makefile" ] ||
	{ echo "build.sh: $KSRC has no tools/testing/selftests/mm" >&2; exit 1; }
[ -f "$UAPI/linux/mmcontext.h" ] ||
	{ echo "build.sh: $UAPI has no linux/mmcontext.h (patched uapi headers)" >&2; exit 1; }

# What the mm Makefile and its sources reach, relative to the top of the
# tree (top_srcdir): the selftests' own framework, tools/include, and the
# kernel headers the tests include by path.
SRC=$OUTDIR/src
mkdir -p "$SRC"
(cd "$KSRC" && rsync -a --delete --relative \
	tools/testing/selftests/mm/ \
	tools/testing/selftests/lib.mk \
	tools/testing/selftests/kselftest.h \
	tools/testing/selftests/kselftest_harness.h \
	tools/testing/selftests/kselftest/ \
	tools/testing/selftests/x86/check_cc.sh \
	tools/testing/selftests/x86/trivial_program.c \
	tools/testing/selftests/x86/trivial_32bit_program.c \
	tools/testing/selftests/x86/trivial_64bit_program.c \
	tools/include/ \
	mm/gup_test.h \
	lib/test_hmm_uapi.h \
	include/vdso/time64.h \
	"$SRC/")

# The tracker, once, as an archive: the link pulls it in through -u, and a
# rule that names it twice (the pkey tests' CFLAGS + EXTRA_CFLAGS) links it
# once.
mkdir -p "$OUTDIR/obj" "$OUTDIR/bin"
"$CC" -O2 -g -Wall -Wextra -Werror -isystem "$UAPI" \
	-c "$HERE/tracker.c" -o "$OUTDIR/obj/tracker.o"
rm -f "$OUTDIR/obj/libctxkit_tracker.a"
ar rcs "$OUTDIR/obj/libctxkit_tracker.a" "$OUTDIR/obj/tracker.o"
TRACKER="-Wl,-u,ctxkit_tracker $OUTDIR/obj/libctxkit_tracker.a"

# Upstream's list of tests, from its own Makefile.
cat >"$OUTDIR/obj/list.mk" <<'EOF'
ctxkit-list:
	@echo $(notdir $(TEST_GEN_FILES))
EOF
MAKEARGS=(-C "$SRC/tools/testing/selftests/mm" CC="$CC"
	  OUTPUT="$OUTDIR/bin" KHDR_INCLUDES="-isystem $UAPI"
	  EXTRA_CFLAGS="-static $TRACKER" V=1)
make -s "${MAKEARGS[@]}" -f Makefile -f "$OUTDIR/obj/list.mk" ctxkit-list \
	>"$OUTDIR/obj/list" 2>"$OUTDIR/build.log"
read -r -a TESTS <"$OUTDIR/obj/list"

echo "  UPSTREAM ${#TESTS[@]} tests of tools/testing/selftests/mm, static, with the tracker"
make -k -j"$JOBS" "${MAKEARGS[@]}" all >>"$OUTDIR/build.log" 2>&1 || true

# Known build breakage of the 6.12 sources, worked around by flags alone
# (upstream's sources are used as they are): a test that failed is retried
# with its flags here.
declare -A FIX=(
	# uses KSFT_SKIP without including kselftest.h (fixed upstream later)
	[khugepaged]="-include $SRC/tools/testing/selftests/kselftest.h"
)

# Each test that did not build, with its own error, one at a time.
: >"$OUTDIR/not-built"
built=0
for t in "${TESTS[@]}"; do
	if [ -x "$OUTDIR/bin/$t" ]; then
		built=$((built + 1))
		continue
	fi
	log=$OUTDIR/obj/$t.log
	if make "${MAKEARGS[@]}" ${FIX[$t]:+EXTRA_CFLAGS="-static $TRACKER ${FIX[$t]}"} \
		"$OUTDIR/bin/$t" >"$log" 2>&1 &&
	   [ -x "$OUTDIR/bin/$t" ]; then
		built=$((built + 1))
		continue
	fi
	why=$(grep -m1 -E 'error|No rule|undefined reference' "$log" || tail -n1 "$log")
	echo "$t: $why" >>"$OUTDIR/not-built"
	echo "  UPSTREAM build of $t FAILED:" >&2
	grep -E -m8 'error|No rule|undefined reference' "$log" | sed 's/^/    /' >&2 ||
		tail -n 8 "$log" | sed 's/^/    /' >&2
done
# The pkey tests are added only where check_cc.sh could build a static
# program for their word size: say so when one was left out.
for t in protection_keys_32 pkey_sighandler_tests_32; do
	case " ${TESTS[*]} " in *" $t "*) ;; *)
		echo "$t: not in TEST_GEN_FILES: no static 32-bit toolchain" \
		     "(gcc-multilib)" >>"$OUTDIR/not-built" ;;
	esac
done

# Binaries that are not static would not run in the busybox guest.
for t in "${TESTS[@]}"; do
	f=$OUTDIR/bin/$t
	[ -x "$f" ] || continue
	if readelf -l "$f" | grep -q 'program interpreter'; then
		echo "  UPSTREAM $t is not static" >&2
		exit 1
	fi
done

install -m 0755 "$HERE/run.sh" "$OUTDIR/run.sh"
install -m 0644 "$HERE/tests" "$HERE/expected" "$OUTDIR/"
nb=$(wc -l <"$OUTDIR/not-built")
echo "  UPSTREAM $built built, $nb not built (see $OUTDIR/not-built)"
