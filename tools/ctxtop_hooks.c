// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ctxtop_hooks - which of ctxtop's BPF programs this kernel can take. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ctxtop.h"
#include "ctxtop.skel.h"
#include "ctxtop_hooks.h"
#include "trace_helpers.h"

const char *const feature_names[NR_FEATURES] = {
	[F_FAULTS]	= "faults",
	[F_MAJOR]	= "major",
	[F_LATENCY]	= "latency",
	[F_COW]		= "cow",
	[F_ANON]	= "first-touch",
	[F_STACK]	= "stack",
	[F_BRK]		= "brk",
	[F_MMCONTEXT]	= "mmcontext",
	[F_CP_RANGE]	= "cp_range",
	[F_SFORK]	= "sfork",
	[F_IPC]		= "ipc",
	[F_FILE]	= "shared-file",
};

const char *const tier_names[NR_TIERS] = {
	[TIER_FENTRY]		= "fentry",
	[TIER_KPROBE]		= "kprobe",
	[TIER_TRACEPOINT]	= "tracepoint",
	[TIER_NONE]		= "none",
};

static void prog_off(struct bpf_program *prog)
{
	bpf_program__set_autoload(prog, false);
}

/* Can faults be seen through @tier here?  If not, why not. */
static const char *tier_missing(enum fault_tier tier)
{
	switch (tier) {
	case TIER_FENTRY:
		if (!vmlinux_btf_exists())
			return "kernel has no BTF";
		return fentry_can_attach("handle_mm_fault") ? NULL :
		       "cannot fentry handle_mm_fault";
	case TIER_KPROBE:
		return kprobe_exists("handle_mm_fault") ? NULL :
		       "cannot kprobe handle_mm_fault";
	case TIER_TRACEPOINT:
		return tracepoint_exists("exceptions", "page_fault_user") ?
		       NULL : "no exceptions:page_fault_user tracepoint";
	default:
		return NULL;
	}
}

/*
 * Faults by the first of fentry/fexit on handle_mm_fault, kprobes, or the
 * fault exception tracepoint (no latency then) that works, from @from on;
 * ctxkit's events by tp_btf.
 */
void ctxtop_hooks__choose(struct ctxtop_bpf *obj, struct ctxtop_hooks *h,
			  enum fault_tier from, bool latency)
{
	static const struct {
		const char *tp;
		enum feature f;
	} ctxkit_tps[] = {
		{ "cow_copy", F_COW },
		{ "anon_alloc", F_ANON },
		{ "stack_grow", F_STACK },
		{ "file_fault", F_FILE },
		{ "mmcontext_save", F_MMCONTEXT },
		{ "mmcontext_dirty", F_MMCONTEXT },
		{ "mmcontext_rollback", F_MMCONTEXT },
		{ "cp_range", F_CP_RANGE },
		{ "sfork_create", F_SFORK },
		{ "sfork_populate", F_SFORK },
		{ "sfork_share", F_SFORK },
		{ "ipc_send", F_IPC },
		{ "ipc_recv", F_IPC },
		{ "ipc_reply", F_IPC },
	};
	struct bpf_program *tp_progs[] = {
		obj->progs.cow_copy, obj->progs.anon_alloc,
		obj->progs.stack_grow, obj->progs.file_fault,
		obj->progs.mmcontext_save, obj->progs.mmcontext_dirty,
		obj->progs.mmcontext_rollback, obj->progs.cp_range,
		obj->progs.sfork_create, obj->progs.sfork_populate,
		obj->progs.sfork_share, obj->progs.ipc_send,
		obj->progs.ipc_recv, obj->progs.ipc_reply,
	};
	const char *why = NULL;
	enum fault_tier t;
	size_t i;

	*h = (struct ctxtop_hooks){ 0 };
	obj->rodata->page_shift = __builtin_ctzl(sysconf(_SC_PAGESIZE));

	for (t = from; t < TIER_NONE; t++) {
		const char *miss = tier_missing(t);

		if (!miss)
			break;
		why = why ? why : miss;
	}
	h->tier = t;
	h->fault_hook = tier_names[t];
	h->latency = latency && t < TIER_TRACEPOINT;
	obj->rodata->time_faults = h->latency;
	/* fexit alone counts faults; fentry times them */
	if (t != TIER_FENTRY || !h->latency)
		prog_off(obj->progs.fault_fentry);
	if (t != TIER_FENTRY) {
		prog_off(obj->progs.fault_fexit);
		bpf_map__set_autocreate(obj->maps.fault_task, false);
	}
	if (t != TIER_KPROBE) {
		prog_off(obj->progs.fault_kprobe);
		prog_off(obj->progs.fault_kretprobe);
		bpf_map__set_autocreate(obj->maps.fault_starts, false);
	}
	if (t != TIER_TRACEPOINT)
		prog_off(obj->progs.fault_tp);
	if (t == TIER_TRACEPOINT) {
		h->why[F_LATENCY] = "the fault tracepoint cannot time faults";
		h->why[F_MAJOR] = "the fault tracepoint does not tell major faults";
	} else if (t == TIER_NONE) {
		h->why[F_LATENCY] = h->why[F_MAJOR] = why;
	}
	if (t == TIER_NONE)
		h->why[F_FAULTS] = from == TIER_FENTRY || !why ?
			"no fault hook on this kernel" : why;

	for (i = 0; i < sizeof(ctxkit_tps) / sizeof(ctxkit_tps[0]); i++)
		if (!h->why[ctxkit_tps[i].f] && !tp_btf_exists(ctxkit_tps[i].tp))
			h->why[ctxkit_tps[i].f] = !vmlinux_btf_exists() ?
				"kernel has no BTF" :
				"kernel lacks ctxkit tracepoints";
	/* a feature is all its tracepoints or none */
	for (i = 0; i < sizeof(ctxkit_tps) / sizeof(ctxkit_tps[0]); i++)
		if (h->why[ctxkit_tps[i].f])
			prog_off(tp_progs[i]);

	/* without it, a process keeps the name it had at its first event */
	if (!tracepoint_exists("task", "task_rename"))
		prog_off(obj->progs.comm_rename);

	if (!tracepoint_exists("syscalls", "sys_enter_brk") ||
	    !tracepoint_exists("syscalls", "sys_exit_brk")) {
		prog_off(obj->progs.brk_enter);
		prog_off(obj->progs.brk_exit);
		h->why[F_BRK] = "no syscall tracepoints";
	}

	for (i = 0; i < NR_FEATURES; i++)
		if (!h->why[i])
			h->available++;
	/* libbpf parses its own copy at load; don't hold two */
	trace_helpers_release();
}

struct ctxtop_bpf *ctxtop__start(const struct ctxtop_start_opts *o,
				 struct ctxtop_hooks *h)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = o->btf_path);
	enum fault_tier tier = o->tier;
	struct ctxtop_bpf *obj;
	const char *what;
	int err;

	for (;;) {
		obj = ctxtop_bpf__open_opts(&open_opts);
		if (!obj) {
			err = -errno;
			fprintf(stderr, "%s: cannot open the BPF object: %s\n",
				o->prog, strerror(-err));
			goto out;
		}
		ctxtop_hooks__choose(obj, h, tier, o->latency);
		if (!o->any_tier && h->tier != tier) {
			fprintf(stderr, "%s: cannot see faults through %s here: %s\n",
				o->prog, tier_names[tier],
				h->why[F_FAULTS] ? h->why[F_FAULTS] :
				tier_missing(tier));
			err = -EOPNOTSUPP;
			goto out;
		}
		if (!h->available) {
			fprintf(stderr, "%s: nothing to trace on this kernel: %s\n",
				o->prog, h->why[F_FAULTS]);
			err = -EOPNOTSUPP;
			goto out;
		}
		if (o->before_load) {
			err = o->before_load(obj, o->ctx);
			if (err)
				goto out;
		}
		what = "load";
		err = ctxtop_bpf__load(obj);
		if (!err && o->before_attach) {
			err = o->before_attach(obj, o->ctx);
			if (err)
				goto out;
		}
		if (!err) {
			what = "attach";
			err = ctxtop_bpf__attach(obj);
		}
		if (!err)
			return obj;
		if (!o->any_tier || h->tier >= TIER_TRACEPOINT) {
			fprintf(stderr, "%s: failed to %s BPF programs (faults via %s): %s\n",
				o->prog, what, h->fault_hook, strerror(-err));
			goto out;
		}
		fprintf(stderr, "%s: faults via %s failed to %s (%s); trying the next hook\n",
			o->prog, h->fault_hook, what, strerror(-err));
		tier = h->tier + 1;
		ctxtop_bpf__destroy(obj);
	}
out:
	ctxtop_bpf__destroy(obj);
	errno = -err;
	return NULL;
}

int ctxtop__read_totals(struct ctxtop_bpf *obj, struct ctx_stat *sum)
{
	int ncpus = libbpf_num_possible_cpus(), cpu, i, err = 0;
	struct ctx_stat *percpu;
	__u32 zero = 0;

	if (ncpus < 0)
		return ncpus;
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(obj->maps.totals), &zero, percpu)) {
		err = -errno;
		goto out;
	}
	memset(sum, 0, sizeof(*sum));
	for (cpu = 0; cpu < ncpus; cpu++) {
		for (i = 0; i < NR_CTRS; i++)
			sum->ctr[i] += percpu[cpu].ctr[i];
		for (i = 0; i < MAX_SLOTS; i++) {
			sum->lat[i] += percpu[cpu].lat[i];
			sum->rtt[i] += percpu[cpu].rtt[i];
		}
	}
out:
	free(percpu);
	return err;
}
