// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ctxtop_hooks - which of ctxtop's BPF programs this kernel can take. */
#include <unistd.h>
#include <bpf/libbpf.h>
#include "ctxtop.skel.h"
#include "ctxtop_hooks.h"
#include "trace_helpers.h"

const char *const feature_names[NR_FEATURES] = {
	[F_FAULTS]	= "faults",
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

static void prog_off(struct bpf_program *prog)
{
	bpf_program__set_autoload(prog, false);
}

/*
 * fentry/fexit on handle_mm_fault, else kprobes, else the fault exception
 * tracepoint (no latency then); ctxkit's events by tp_btf.
 */
void ctxtop_hooks__choose(struct ctxtop_bpf *obj, struct ctxtop_hooks *h)
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
	size_t i;

	*h = (struct ctxtop_hooks){ .fault_hook = "none" };
	obj->rodata->page_shift = __builtin_ctzl(sysconf(_SC_PAGESIZE));

	if (fentry_can_attach("handle_mm_fault")) {
		h->fault_hook = "fentry";
		prog_off(obj->progs.fault_kprobe);
		prog_off(obj->progs.fault_kretprobe);
		prog_off(obj->progs.fault_tp);
		bpf_map__set_autocreate(obj->maps.fault_starts, false);
	} else if (kprobe_exists("handle_mm_fault")) {
		h->fault_hook = "kprobe";
		prog_off(obj->progs.fault_fentry);
		prog_off(obj->progs.fault_fexit);
		prog_off(obj->progs.fault_tp);
		bpf_map__set_autocreate(obj->maps.fault_task, false);
	} else {
		prog_off(obj->progs.fault_fentry);
		prog_off(obj->progs.fault_fexit);
		prog_off(obj->progs.fault_kprobe);
		prog_off(obj->progs.fault_kretprobe);
		bpf_map__set_autocreate(obj->maps.fault_task, false);
		bpf_map__set_autocreate(obj->maps.fault_starts, false);
		h->why[F_LATENCY] = "handle_mm_fault cannot be traced";
		if (tracepoint_exists("exceptions", "page_fault_user")) {
			h->fault_hook = "tracepoint";
		} else {
			prog_off(obj->progs.fault_tp);
			h->why[F_FAULTS] = "no fault hook on this kernel";
		}
	}

	for (i = 0; i < sizeof(ctxkit_tps) / sizeof(ctxkit_tps[0]); i++) {
		if (tp_btf_exists(ctxkit_tps[i].tp))
			continue;
		prog_off(tp_progs[i]);
		h->why[ctxkit_tps[i].f] = "kernel lacks ctxkit tracepoints";
	}

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

