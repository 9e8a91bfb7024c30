// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cowstat - count copy-on-write page copies per process, from the
 * ctxkit:cow_copy tracepoint.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "cowstat.h"
#include "maps.bpf.h"

const volatile pid_t targ_tgid = 0;
/* Count only faults in [targ_start, targ_end) when targ_end is set. */
const volatile __u64 targ_start = 0;
const volatile __u64 targ_end = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, u32);
	__type(value, struct cow_stat);
} stats SEC(".maps");

SEC("tp_btf/cow_copy")
int BPF_PROG(cow_copy, struct vm_area_struct *vma, unsigned long address,
	     struct folio *new_folio, bool zero_page, bool unshare)
{
	static const struct cow_stat zero;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct cow_stat *st;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	if (targ_end && (address < targ_start || address >= targ_end))
		return 0;

	st = bpf_map_lookup_or_try_init(&stats, &tgid, &zero);
	if (!st)
		return 0;
	/* The latest name: the first copy often comes before exec(). */
	bpf_get_current_comm(st->comm, sizeof(st->comm));
	if (zero_page)
		__sync_fetch_and_add(&st->zero_fills, 1);
	else
		__sync_fetch_and_add(&st->copies, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
