#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the "make run" demo, run inside the guest: ctxtop watches
# ctxdemo fork and write, grow stacks, move brk, share a file and roll
# back an mmcontext snapshot and checkpoint it with cp_range, and sfork;
# then ctxtop's snapshot view and its share view; then the StuBS IPC
# test and its page-frame counts.
set -e

echo "== ctxkit demo on $(uname -r): ctxtop -b watching ctxdemo"
# The demo runs until both views are done, however slow the guest.
ctxdemo 600 >/dev/null &
demo=$!
ctxtop -b -r 8 2 2
echo "== the same, ctxtop -V snap: mmcontext rollbacks and cp_range checkpoints"
ctxtop -b -V snap -r 8 2 2
echo "== ctxtop -V share: sfork regions, first touches mapped in every sharer"
ctxtop -b -V share -r 8 2 2
kill $demo
wait $demo || true
echo "== StuBS: four pairs of ipc_send/ipc_recv/ipc_reply, and page frames"
stubs 32
