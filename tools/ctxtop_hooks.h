/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __CTXTOP_HOOKS_H
#define __CTXTOP_HOOKS_H

#include <stdbool.h>

struct ctxtop_bpf;
struct ctx_stat;

/* What ctxtop can count, each needing its own kernel hook. */
enum feature {
	F_FAULTS, F_MAJOR, F_LATENCY, F_COW, F_ANON, F_STACK, F_BRK, F_FILE,
	F_MMCONTEXT, F_CP_RANGE, F_SFORK, F_IPC,
	NR_FEATURES,
};

extern const char *const feature_names[NR_FEATURES];

/* How faults are seen, best first. */
enum fault_tier {
	TIER_FENTRY,		/* fentry/fexit on handle_mm_fault */
	TIER_KPROBE,		/* kprobe/kretprobe on it */
	TIER_TRACEPOINT,	/* exceptions:page_fault_user: no latency, no GUP */
	TIER_NONE,
	NR_TIERS,
};

extern const char *const tier_names[NR_TIERS];

struct ctxtop_hooks {
	enum fault_tier tier;
	const char *fault_hook;		/* tier_names[tier] */
	const char *why[NR_FEATURES];	/* why a feature is missing; NULL: it is not */
	int available;			/* features available */
	bool latency;			/* faults are timed */
};

/* What ctxtop__start() is asked for. */
struct ctxtop_start_opts {
	enum fault_tier tier;	/* the best tier to try */
	bool any_tier;		/* fall back past @tier if it fails */
	bool latency;		/* time faults */
	const char *btf_path;	/* BTF for CO-RE, if not the kernel's */
	/* called between open and load, and between load and attach */
	int (*before_load)(struct ctxtop_bpf *obj, void *ctx);
	int (*before_attach)(struct ctxtop_bpf *obj, void *ctx);
	void *ctx;
	const char *prog;	/* for messages: "ctxtop: ..." */
};

/*
 * Open, load and attach ctxtop's programs with the best hooks the running
 * kernel offers (never chosen by its version).  Each tier is probed by
 * loading a program on it; if the whole object then fails to load or
 * attach on that tier, the next one is tried, with a line on stderr.
 * Returns the object, with @h saying what is missing and why, or NULL
 * with a one-line message printed and errno set.
 */
struct ctxtop_bpf *ctxtop__start(const struct ctxtop_start_opts *o,
				 struct ctxtop_hooks *h);

/*
 * The same for callers that load and attach by themselves: turn off
 * autoload for the programs the kernel (or @tier) cannot take, and record
 * in @h what is missing.  Also tells the programs the page size.
 */
void ctxtop_hooks__choose(struct ctxtop_bpf *obj, struct ctxtop_hooks *h,
			  enum fault_tier tier, bool latency);

/* The totals map summed over every CPU, into @sum; 0 or -errno. */
int ctxtop__read_totals(struct ctxtop_bpf *obj, struct ctx_stat *sum);

#endif /* __CTXTOP_HOOKS_H */
