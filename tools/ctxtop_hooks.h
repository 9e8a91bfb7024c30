/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __CTXTOP_HOOKS_H
#define __CTXTOP_HOOKS_H

struct ctxtop_bpf;

/* What ctxtop can count, each needing its own kernel hook. */
enum feature {
	F_FAULTS, F_LATENCY, F_COW, F_ANON, F_STACK, F_BRK, F_FILE,
	F_MMCONTEXT, F_CP_RANGE, F_SFORK, F_IPC,
	NR_FEATURES,
};

extern const char *const feature_names[NR_FEATURES];

struct ctxtop_hooks {
	const char *fault_hook;		/* fentry, kprobe, tracepoint, none */
	const char *why[NR_FEATURES];	/* why a feature is missing; NULL: it is not */
	int available;			/* features available */
};

/*
 * Before load: pick the hooks the running kernel offers (never by its
 * version), turn off autoload for the programs it cannot take, and record
 * in @h what is missing and why.  Also tells the programs the page size.
 */
void ctxtop_hooks__choose(struct ctxtop_bpf *obj, struct ctxtop_hooks *h);

#endif /* __CTXTOP_HOOKS_H */
