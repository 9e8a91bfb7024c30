#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the "make run" demo, run inside the guest: ctxtop watches
# ctxdemo fork and write, grow stacks, move brk and share a file.
set -e

echo "== ctxkit demo on $(uname -r): ctxtop -b watching ctxdemo"
ctxdemo 7 &
demo=$!
ctxtop -b -r 8 2 3
wait $demo
