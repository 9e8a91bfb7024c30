#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vmtest.sh - boot the ctxkit kernel in QEMU and run one command in it.
#
# The command's exit status becomes this script's.  A guest that panics,
# hangs past the timeout or dies without reporting a status gives a
# non-zero status (124 timeout, 125 otherwise) and a one-line reason.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUTPUT:-$TOP/.output}

usage() {
	cat <<EOF
usage: ${0##*/} [options] [-- COMMAND [ARG...]]
       ${0##*/} -s [options]

Boot the patched kernel with the ctxkit initramfs and run COMMAND in the
guest (default: sh -c true).  The serial console goes to stdout.

  -d DIR      carry host directory DIR into the guest at the same absolute
              path (virtio-9p, read-write); may be repeated
  -s          interactive guest shell instead of a command
  -c CPUS     vCPUs (default ${CPUS:-2})
  -m MEM      guest memory, QEMU syntax (default ${MEM:-2G})
  -t SECS     give up after SECS seconds (default ${TIMEOUT:-300})
  -k BZIMAGE  kernel (default \$OUT/kbuild/arch/x86/boot/bzImage)
  -a ARGS     append ARGS to the kernel command line (movablecore=256M, say)
  -i CPIO     initramfs (default \$OUT/initramfs.cpio)
  -h          this help

Environment: CTXKIT_ACCEL=kvm|tcg overrides the accelerator probe;
CTXKIT_ICOUNT=OPTS runs TCG with -icount OPTS (shift=0,sleep=off: guest time
counts guest instructions, for benchmark ratios that repeat);
CTXKIT_DEBUG=1 (set by make DEBUG=1) tells the guest it runs the debug
kernel.
Example: ${0##*/} -d \$PWD/bin -- \$PWD/bin/prog --flag
EOF
}

die() { printf 'vmtest: %s\n' "$*" >&2; exit 125; }

CPUS=${CPUS:-2} MEM=${MEM:-2G} TIMEOUT=${TIMEOUT:-300}
KERNEL=$OUT/kbuild/arch/x86/boot/bzImage
INITRD=$OUT/initramfs.cpio
GEN_INIT_CPIO=$OUT/kbuild/usr/gen_init_cpio
INTERACTIVE=0
DIRS=()
APPEND=

while getopts "d:sc:m:t:k:i:a:h" opt; do
	case $opt in
	d) [ -d "$OPTARG" ] || die "-d $OPTARG: not a directory"
	   DIRS+=("$(cd "$OPTARG" && pwd -P)") ;;
	s) INTERACTIVE=1 ;;
	c) CPUS=$OPTARG ;;
	m) MEM=$OPTARG ;;
	t) TIMEOUT=$OPTARG ;;
	k) KERNEL=$OPTARG ;;
	i) INITRD=$OPTARG ;;
	a) APPEND+=" $OPTARG" ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- sh -c true

[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "-c $CPUS: not a CPU count"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "-t $TIMEOUT: not a number of seconds"
[ -f "$KERNEL" ] || die "$KERNEL missing: run 'make kernel'"
[ -f "$INITRD" ] || die "$INITRD missing: run 'make initramfs'"
[ -x "$GEN_INIT_CPIO" ] || die "$GEN_INIT_CPIO missing: run 'make kernel'"

# KVM only where it can boot a standard kernel: /dev/kvm may be served by
# kvm_pvm, which runs PVM guests only and hangs a normal one in firmware.
pick_accel() {
	case ${CTXKIT_ACCEL:-} in
	kvm|tcg) echo "$CTXKIT_ACCEL"; return ;;
	"") ;;
	*) die "CTXKIT_ACCEL=$CTXKIT_ACCEL: want kvm or tcg" ;;
	esac
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
	   { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		echo kvm
		return
	fi
	if [ -e /dev/kvm ]; then
		local mods
		mods=$(cd /sys/module && ls -d kvm* 2>/dev/null | tr '\n' ' ')
		echo "vmtest: /dev/kvm has no kvm_intel/kvm_amd behind it (${mods% }), using TCG" >&2
	else
		echo "vmtest: no /dev/kvm, using TCG (slow)" >&2
	fi
	echo tcg
}

quote() { printf "'%s' " "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

mkdir -p "$OUT/tmp"
RUN=$(mktemp -d "$OUT/tmp/vmtest.XXXXXX")
trap 'rm -rf "$RUN"' EXIT

# The per-run part of the initramfs: the command, its cwd and the mounts.
# The kernel unpacks concatenated cpio archives in order.
mkdir -p "$RUN/ctxkit"
{
	for a in "$@"; do quote "$a"; done
	echo
} >"$RUN/ctxkit/cmd"
cwd=/
for i in "${!DIRS[@]}"; do
	echo "ctxkit$i ${DIRS[$i]}" >>"$RUN/ctxkit/mounts"
	case $PWD/ in "${DIRS[$i]}"/*) cwd=$PWD ;; esac
done
echo "$cwd" >"$RUN/ctxkit/cwd"
# -s: the host terminal's type and size, for the guest's shell.
if [ $INTERACTIVE -eq 1 ]; then
	size=$(stty size 2>/dev/null || echo "24 80")
	echo "${TERM:-linux} $size" >"$RUN/ctxkit/interactive"
fi
{
	echo "dir /ctxkit 0755 0 0"
	for f in "$RUN"/ctxkit/*; do
		echo "file /ctxkit/${f##*/} $f 0644 0 0"
	done
} >"$RUN/list"
"$GEN_INIT_CPIO" "$RUN/list" >"$RUN/run.cpio"
cat "$INITRD" "$RUN/run.cpio" >"$RUN/initrd"

ACCEL=$(pick_accel)
if [ "$ACCEL" = kvm ]; then
	accel=(-accel kvm -cpu host)
else
	# One host thread for all vCPUs: with multi-threaded TCG a vCPU was
	# seen executing a stale int3 after ftrace had finished patching
	# handle_mm_fault for fentry (an "Oops: int3" panic), which the
	# kernel's sync-core protocol rules out on real hardware.
	accel=(-accel tcg,thread=single -cpu max
	       ${CTXKIT_ICOUNT:+-icount "$CTXKIT_ICOUNT"})
fi

# A WARN is a bug: panic on it, as on an oops.  Two fake NUMA nodes, so
# that migration between nodes can be tested.  Under TCG on a busy host a
# vCPU can go without host time for tens of seconds: the lockup and RCU
# stall detectors wait their longest (120 s, 300 s) before they report.
cmdline="console=ttyS0 quiet panic=-1 oops=panic panic_on_warn=1 loglevel=4"
cmdline+=" numa=fake=2 watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=300"
cmdline+=" pci=noacpi$APPEND"
[ "${CTXKIT_DEBUG:-0}" = 1 ] && cmdline+=" ctxkit.debug=1"
qemu=(qemu-system-x86_64 -nodefaults -no-reboot -display none
      "${accel[@]}" -smp "$CPUS" -m "$MEM"
      -kernel "$KERNEL" -initrd "$RUN/initrd" -append "$cmdline")
for i in "${!DIRS[@]}"; do
	qemu+=(-virtfs "local,path=${DIRS[$i]},mount_tag=ctxkit$i,security_model=none,id=fs$i")
done

if [ $INTERACTIVE -eq 1 ]; then
	# Ctrl-A x quits; the shell's exit powers the guest off.
	exec "${qemu[@]}" -serial mon:stdio
fi

LOG=$RUN/console.log
set +e
timeout -k 5 "$TIMEOUT" "${qemu[@]}" -serial stdio -monitor none </dev/null 2>&1 |
	sed -u 's/\r$//' | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e

status=$(grep -a '^CTXKIT-EXIT: [0-9]*$' "$LOG" | tail -n 1 | cut -d' ' -f2 || true)
if [ -n "$status" ]; then
	exit "$status"
fi
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "vmtest: guest timed out after ${TIMEOUT}s (-t to raise)" >&2
	exit 124
fi
if grep -aq 'Kernel panic' "$LOG"; then
	# the test that was running: the last one the guest runner named
	running=$(sed -n '/Kernel panic/q; s/^# selftest: //p' "$LOG" | tail -n 1)
	echo "vmtest: guest kernel panicked${running:+ while running $running}:" \
		"$(grep -a -m1 'Kernel panic' "$LOG")" >&2
else
	echo "vmtest: guest stopped without an exit status (qemu exit $qrc)" >&2
fi
exit 125
