/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __TRACE_HELPERS_H
#define __TRACE_HELPERS_H

#include <stdbool.h>
#include <linux/types.h>

struct bpf_object;

/* Can the running kernel's BTF be read (for CO-RE, fentry, tp_btf)? */
bool vmlinux_btf_exists(void);
/* Can a tp_btf program attach to tracepoint @name on the running kernel? */
bool tp_btf_exists(const char *name);
/* Is there a tracefs event @category/@event (for SEC("tp/...") programs)? */
bool tracepoint_exists(const char *category, const char *event);
/* Can fentry/fexit attach to kernel function @name? */
bool fentry_can_attach(const char *name);
/* Can a kprobe attach to kernel function @name? */
bool kprobe_exists(const char *name);

/* May this process load and attach tracing programs? */
bool bpf_privileged(void);

/*
 * Print @nr log2 slots of @vals ([2^i, 2^(i+1)), slot 0 from 0) as bcc's
 * print_log2_hist() does, a line at a time through @line.
 */
void print_log2_hist(void (*line)(void *ctx, const char *text), void *ctx,
		     const __u64 *vals, int nr, const char *unit);

/* Free what the checks above cached; they may still be asked again. */
void trace_helpers_release(void);

/*
 * Sum run count and run time over @obj's loaded programs, as counted while
 * BPF_ENABLE_STATS is on (run time leaves out trampoline and tracepoint
 * dispatch), and the runs skipped by recursion, which are always counted.
 */
void prog_stats_sum(struct bpf_object *obj, __u64 *run_cnt, __u64 *run_ns,
		    __u64 *misses);

/* Parse a decimal in [min, max]; 0 or -EINVAL. */
int parse_long(const char *arg, long min, long max, long *out);

#endif /* __TRACE_HELPERS_H */
