/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __COWSTAT_H
#define __COWSTAT_H

#define TASK_COMM_LEN	16
#define MAX_ENTRIES	10240

/* Per-process copy-on-write counts, keyed by tgid. */
struct cow_stat {
	__u64 copies;		/* a real page was copied */
	__u64 zero_fills;	/* the source was the shared zero page */
	char comm[TASK_COMM_LEN];
};

#endif /* __COWSTAT_H */
