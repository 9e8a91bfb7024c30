/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __CTXTOP_H
#define __CTXTOP_H

#define TASK_COMM_LEN	16
#define MAX_PROCS	10240
/* the most processes -p takes */
#define MAX_PIDS	64
/* log2 buckets of fault latency in ns: slot i holds [2^i, 2^(i+1)) */
#define MAX_SLOTS	32

/*
 * What ctxtop counts.  A new counter is one entry here, one increment in
 * ctxtop.bpf.c and one line in ctxtop.c's column table.
 */
enum ctr {
	CTR_FAULTS,		/* page faults completed: min_flt + maj_flt */
	CTR_MAJOR,		/*   ... of them major: maj_flt */
	CTR_COW,		/* copy-on-write: real page copies */
	CTR_ZERO_FILL,		/* copy-on-write from the zero page */
	CTR_ANON,		/* first-touch anonymous allocations */
	CTR_ANON_PAGES,		/*   ... and the pages they allocated */
	CTR_STACK,		/* stack VMA growth events */
	CTR_STACK_PAGES,	/*   ... and the pages grown */
	CTR_BRK_GROW,		/* brk() calls that grew the heap */
	CTR_BRK_SHRINK,		/* brk() calls that shrank it */
	CTR_FILE_SHARED,	/* faults on shared file mappings */
	CTR_MMC_SAVE,		/* mmcontext snapshots taken */
	CTR_MMC_ARMED,		/*   ... and the pages they armed */
	CTR_MMC_DIRTY,		/* pages changed since snapshot or rollback */
	CTR_MMC_ROLLBACK,	/* rollbacks (and restores) that succeeded */
	CTR_MMC_RESTORED,	/*   ... pages they mapped back */
	CTR_MMC_EMPTIED,	/*   ... pages they emptied */
	CTR_CP_CALLS,		/* cp_range() checkpoints written */
	CTR_CP_PAGES,		/*   ... and the pages of data in them */
	CTR_SF_CREATE,		/* sfork() regions created */
	CTR_SF_POPULATED,	/*   ... pages populated up front */
	CTR_SF_SHARE,		/* first touches of a lazy region's page */
	CTR_SF_INSTALLED,	/*   ... and the other sharers mapped into */
	CTR_IPC_SEND,		/* ipc_send() messages queued, by the sender */
	CTR_IPC_RECV,		/* messages received, by the receiver */
	CTR_IPC_COPIED,		/*   ... bytes of them copied */
	CTR_IPC_COW,		/*   ... pages of them mapped copy-on-write */
	CTR_IPC_REPLY,		/* ipc_reply() answers, by the replier */
	NR_CTRS,
};

struct ctx_stat {
	__u64 ctr[NR_CTRS];
	__u64 lat[MAX_SLOTS];	/* fault latency histogram, ns */
	__u64 rtt[MAX_SLOTS];	/* ipc_send() to its reply, ns, by the sender */
};

/* Per-process value of the procs map, keyed by tgid. */
struct proc_stat {
	struct ctx_stat s;
	char comm[TASK_COMM_LEN];
};

#endif /* __CTXTOP_H */
