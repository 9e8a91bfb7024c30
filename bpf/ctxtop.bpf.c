// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ctxtop - per-process memory events: faults and their latency, COW copies,
 * first-touch allocations, stack growth, brk, shared file faults.
 *
 * Generic counters come from hooks every kernel has (handle_mm_fault by
 * fentry/fexit, or kprobes, or exceptions:page_fault_user; the brk syscall
 * tracepoints).  The rest come from ctxkit's tracepoints; ctxtop.c turns
 * off autoload for whichever hooks this kernel lacks.
 */
#include <vmlinux.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ctxtop.h"
#include "maps.bpf.h"

#define MAX_THREADS	10240

/*
 * The values of the kernel's fault enums, relocated at load (CO-RE), with
 * the ones in vmlinux.h as the fallback: an enum may lose or move a value.
 */
#define KVAL(type, name)						\
	(bpf_core_enum_value_exists(type, name) ?			\
	 bpf_core_enum_value(type, name) : name)
#define FAULT(name)	KVAL(enum vm_fault_reason, name)
/* VM_FAULT_ERROR is a macro, so it is not in BTF. */
#define FAULT_ERROR	(FAULT(VM_FAULT_OOM) | FAULT(VM_FAULT_SIGBUS) |	\
			 FAULT(VM_FAULT_SIGSEGV) | FAULT(VM_FAULT_HWPOISON) | \
			 FAULT(VM_FAULT_HWPOISON_LARGE) |		\
			 FAULT(VM_FAULT_FALLBACK))

const volatile bool filter_pid = false;
const volatile bool filter_cg = false;
/* Time each fault, for the latency histogram (ctxtop -l). */
const volatile bool time_faults = false;
/* Report PIDs as seen from this PID namespace (dev/ino of its nsfs). */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
/* the kernel's page size, set at load: vmlinux.h has no PAGE_SHIFT */
const volatile unsigned int page_shift = 12;

/* With filter_pid: the processes to count (ctxtop -p), by reported tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PIDS);
	__type(key, u32);
	__type(value, u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} cgroup_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PROCS);
	__type(key, u32);
	__type(value, struct proc_stat);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct ctx_stat);
} totals SEC(".maps");

/*
 * A fault in progress, per thread, kept across VM_FAULT_RETRY.  ts == 0:
 * none (1: not timed).  It stays when the fault completes, so the
 * thread's next fault reuses it in place.  The fentry path keeps it in
 * task-local storage; the kprobe path, for kernels where only tracing
 * programs may use task storage, in a hash by thread ID.  ctxtop creates
 * only the one it uses, and the fentry path none unless it times faults.
 */
struct fault_start {
	u64 ts;
	u64 address;
	u32 flags;
	bool retrying;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fault_start);
} fault_task SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, u32);
	__type(value, struct fault_start);
} fault_starts SEC(".maps");

struct brk_start {
	u64 old_brk;
	u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, u32);
	__type(value, struct brk_start);
} brk_starts SEC(".maps");

/* An ipc_send() waiting for its reply, by the sending thread's id. */
struct ipc_start {
	u64 ts;
	u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_THREADS);
	__type(key, u32);
	__type(value, struct ipc_start);
} ipc_starts SEC(".maps");

/* Should the current task be counted?  If so, its tgid as we report it. */
static __always_inline bool want(u32 *tgid)
{
	if (filter_cg && !bpf_current_task_under_cgroup(&cgroup_map, 0))
		return false;
	if (pidns_ino) {
		struct bpf_pidns_info ns;

		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns,
						sizeof(ns)))
			return false;
		*tgid = ns.tgid;
	} else {
		*tgid = bpf_get_current_pid_tgid() >> 32;
	}
	return !filter_pid || bpf_map_lookup_elem(&pids, tgid);
}

/*
 * @tgid's row.  A new one is named after the thread group leader, whichever
 * of its threads came first.
 */
static __always_inline struct proc_stat *proc_of(u32 tgid)
{
	static const struct proc_stat zero;
	struct task_struct *task;
	struct proc_stat *p;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		return p;
	p = bpf_map_lookup_or_try_init(&procs, &tgid, &zero);
	if (p) {
		task = (struct task_struct *)bpf_get_current_task();
		BPF_CORE_READ_STR_INTO(&p->comm, task, group_leader, comm);
	}
	return p;
}

/* Add @n to counter @c and @n2 to @c2 (n2 may be 0), for @tgid and in total. */
static __always_inline void count2(u32 tgid, enum ctr c, u64 n, enum ctr c2,
				   u64 n2)
{
	struct proc_stat *p;
	struct ctx_stat *t;
	u32 zero = 0;

	t = bpf_map_lookup_elem(&totals, &zero);
	if (t) {
		t->ctr[c] += n;
		t->ctr[c2] += n2;
	}
	p = proc_of(tgid);
	if (p) {
		__sync_fetch_and_add(&p->s.ctr[c], n);
		if (n2)
			__sync_fetch_and_add(&p->s.ctr[c2], n2);
	}
}

static __always_inline void count(u32 tgid, enum ctr c, u64 n)
{
	count2(tgid, c, n, c, 0);
}

static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	/* floor(log2(v)); bounded loop for the verifier */
	for (int i = 32; i > 0; i >>= 1) {
		if (v >= (1ULL << i)) {
			v >>= i;
			r += i;
		}
	}
	return r;
}

/* The log2 slot of the ns since @start; the last slot takes the rest. */
static __always_inline u32 lat_slot(u64 start)
{
	u32 slot = log2l(bpf_ktime_get_ns() - start);

	return slot < MAX_SLOTS ? slot : MAX_SLOTS - 1;
}

/* This thread's fault_start, from task storage (@task) or the hash. */
static __always_inline struct fault_start *fault_start_of(bool task,
							  bool create)
{
	static const struct fault_start zero;
	u32 tid = (u32)bpf_get_current_pid_tgid();

	if (task)
		return bpf_task_storage_get(&fault_task, bpf_get_current_task_btf(),
					    0, create ?
					    BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (create)
		return bpf_map_lookup_or_try_init(&fault_starts, &tid, &zero);
	return bpf_map_lookup_elem(&fault_starts, &tid);
}

static __always_inline int fault_enter(unsigned long address,
				       unsigned int flags, bool task)
{
	struct fault_start *s;
	u32 tgid;

	s = fault_start_of(task, false);
	if (s && s->ts && s->retrying && s->address == address) {
		/* the retry of a fault we are already following */
		s->retrying = false;
		s->flags = flags;
		return 0;
	}
	if (!want(&tgid)) {
		if (s)
			s->ts = 0;
		return 0;
	}
	if (!s)
		s = fault_start_of(task, true);
	if (!s)
		return 0;
	s->ts = time_faults ? bpf_ktime_get_ns() : 1;
	s->address = address;
	s->flags = flags;
	s->retrying = false;
	return 0;
}

/*
 * A fault completed: counted as mm_account_fault() counts the task's
 * min_flt and maj_flt, so get_user_pages() faults taken on the task's
 * behalf count too.  @start: when it began, 0 if not timed.
 */
static __always_inline void fault_count(vm_fault_t ret, unsigned int flags,
					u64 start)
{
	bool major = (ret & FAULT(VM_FAULT_MAJOR)) ||
		     (flags & KVAL(enum fault_flag, FAULT_FLAG_TRIED));
	struct proc_stat *p;
	struct ctx_stat *t;
	u32 zero = 0, slot = 0, tgid;

	if (!want(&tgid))
		return;
	if (start)
		slot = lat_slot(start);
	t = bpf_map_lookup_elem(&totals, &zero);
	if (t) {
		t->ctr[CTR_FAULTS]++;
		t->ctr[CTR_MAJOR] += major;
		if (start)
			t->lat[slot & (MAX_SLOTS - 1)]++;
	}
	p = proc_of(tgid);
	if (p) {
		__sync_fetch_and_add(&p->s.ctr[CTR_FAULTS], 1);
		if (major)
			__sync_fetch_and_add(&p->s.ctr[CTR_MAJOR], 1);
		if (start)
			__sync_fetch_and_add(&p->s.lat[slot & (MAX_SLOTS - 1)], 1);
	}
}

/* The end of a fault that fault_enter() saw begin. */
static __always_inline int fault_exit(vm_fault_t ret, bool task)
{
	struct fault_start *s;

	s = fault_start_of(task, false);
	if (!s || !s->ts)
		return 0;
	if (ret & FAULT(VM_FAULT_RETRY)) {
		s->retrying = true;
		return 0;
	}
	if (!(ret & FAULT_ERROR))
		fault_count(ret, s->flags, time_faults ? s->ts : 0);
	s->ts = 0;
	return 0;
}

/*
 * Faults: handle_mm_fault(), from the arch fault handler (regs set) or
 * from get_user_pages() (regs NULL).  Counted once complete, not on error.
 * Untimed, fexit alone counts them: it sees the flags and the result.
 */
SEC("fentry/handle_mm_fault")
int BPF_PROG(fault_fentry, struct vm_area_struct *vma, unsigned long address,
	     unsigned int flags, struct pt_regs *regs)
{
	return fault_enter(address, flags, true);
}

SEC("fexit/handle_mm_fault")
int BPF_PROG(fault_fexit, struct vm_area_struct *vma, unsigned long address,
	     unsigned int flags, struct pt_regs *regs, vm_fault_t ret)
{
	if (time_faults)
		return fault_exit(ret, true);
	if (!(ret & (FAULT(VM_FAULT_RETRY) | FAULT_ERROR)))
		fault_count(ret, flags, 0);
	return 0;
}

SEC("kprobe/handle_mm_fault")
int BPF_KPROBE(fault_kprobe, struct vm_area_struct *vma, unsigned long address,
	       unsigned int flags)
{
	return fault_enter(address, flags, false);
}

SEC("kretprobe/handle_mm_fault")
int BPF_KRETPROBE(fault_kretprobe, long ret)
{
	return fault_exit(ret, false);
}

/*
 * Last resort: count user fault exceptions (x86), with no latency: every
 * exception, including those that fail or are retried; no GUP faults.
 */
SEC("tp/exceptions/page_fault_user")
int fault_tp(void *ctx)
{
	u32 tgid;

	if (want(&tgid))
		count(tgid, CTR_FAULTS, 1);
	return 0;
}

SEC("tp_btf/cow_copy")
int BPF_PROG(cow_copy, struct vm_area_struct *vma, unsigned long address,
	     struct folio *new_folio, bool zero_page, bool unshare)
{
	u32 tgid;

	if (want(&tgid))
		count(tgid, zero_page ? CTR_ZERO_FILL : CTR_COW, 1);
	return 0;
}

SEC("tp_btf/anon_alloc")
int BPF_PROG(anon_alloc, struct vm_area_struct *vma, unsigned long address,
	     unsigned int nr_pages)
{
	u32 tgid;

	if (want(&tgid))
		count2(tgid, CTR_ANON, 1, CTR_ANON_PAGES, nr_pages);
	return 0;
}

SEC("tp_btf/stack_grow")
int BPF_PROG(stack_grow, struct vm_area_struct *vma, unsigned long grow)
{
	u32 tgid;

	if (want(&tgid))
		count2(tgid, CTR_STACK, 1, CTR_STACK_PAGES, grow);
	return 0;
}

SEC("tp_btf/file_fault")
int BPF_PROG(file_fault, unsigned long address, unsigned long pgoff, bool write,
	     bool shared, bool major)
{
	u32 tgid;

	if (shared && want(&tgid))
		count(tgid, CTR_FILE_SHARED, 1);
	return 0;
}

/*
 * mmcontext.  Dirty pages count against the process that made the
 * change, which is the snapshot's owner unless another process wrote
 * through process_vm_writev() or /proc/PID/mem.
 */
SEC("tp_btf/mmcontext_save")
int BPF_PROG(mmcontext_save, unsigned int nr_vmas, unsigned long nr_pages)
{
	u32 tgid;

	if (want(&tgid))
		count2(tgid, CTR_MMC_SAVE, 1, CTR_MMC_ARMED, nr_pages);
	return 0;
}

SEC("tp_btf/mmcontext_dirty")
int BPF_PROG(mmcontext_dirty, unsigned long address, unsigned int why)
{
	u32 tgid;

	if (want(&tgid))
		count(tgid, CTR_MMC_DIRTY, 1);
	return 0;
}

SEC("tp_btf/mmcontext_rollback")
int BPF_PROG(mmcontext_rollback, unsigned long restored, unsigned long emptied,
	     unsigned int unmapped, int err)
{
	u32 tgid;

	if (err || !want(&tgid))
		return 0;
	count2(tgid, CTR_MMC_ROLLBACK, 1, CTR_MMC_RESTORED, restored);
	count(tgid, CTR_MMC_EMPTIED, emptied);
	return 0;
}

SEC("tp_btf/cp_range")
int BPF_PROG(cp_range, unsigned long start, unsigned long end, u64 nr_data,
	     u64 bytes, long err)
{
	u32 tgid;

	if (!err && want(&tgid))
		count2(tgid, CTR_CP_CALLS, 1, CTR_CP_PAGES, nr_data);
	return 0;
}

/*
 * sfork.  A region counts against its creator; a first touch, and the
 * installs it made in the other sharers, against the toucher.
 */
SEC("tp_btf/sfork_create")
int BPF_PROG(sfork_create, unsigned long address, unsigned long len,
	     unsigned int flags, pid_t child)
{
	u32 tgid;

	if (want(&tgid))
		count(tgid, CTR_SF_CREATE, 1);
	return 0;
}

SEC("tp_btf/sfork_populate")
int BPF_PROG(sfork_populate, unsigned long address, unsigned long len)
{
	u32 tgid;

	if (want(&tgid))
		count(tgid, CTR_SF_POPULATED, len >> page_shift);
	return 0;
}

SEC("tp_btf/sfork_share")
int BPF_PROG(sfork_share, unsigned long address, unsigned int installed,
	     unsigned int sharers)
{
	u32 tgid;

	if (want(&tgid))
		count2(tgid, CTR_SF_SHARE, 1, CTR_SF_INSTALLED, installed);
	return 0;
}

/*
 * ipc.  A message counts against its sender, its receipt (and what it
 * copied or mapped) against the receiver, a reply against the replier;
 * the round trip, from the send to the reply that wakes the sender,
 * against the sender.  The events carry thread ids of the initial PID
 * namespace, as bpf_get_current_pid_tgid() does.
 */
SEC("tp_btf/ipc_send")
int BPF_PROG(ipc_send, pid_t to, size_t len, unsigned int flags)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct ipc_start s;

	if (!want(&s.tgid))
		return 0;
	count(s.tgid, CTR_IPC_SEND, 1);
	s.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&ipc_starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/ipc_recv")
int BPF_PROG(ipc_recv, pid_t from, size_t len, size_t copied,
	     unsigned long cow_pages)
{
	u32 tgid;

	if (!want(&tgid))
		return 0;
	count2(tgid, CTR_IPC_RECV, 1, CTR_IPC_COPIED, copied);
	count(tgid, CTR_IPC_COW, cow_pages);
	return 0;
}

SEC("tp_btf/ipc_reply")
int BPF_PROG(ipc_reply, pid_t to, size_t len)
{
	struct ipc_start *s;
	struct proc_stat *p;
	struct ctx_stat *t;
	u32 tid = to, zero = 0, slot, tgid;

	if (want(&tgid))
		count(tgid, CTR_IPC_REPLY, 1);
	/* The sender was wanted when it sent, or it is not in the map. */
	s = bpf_map_lookup_elem(&ipc_starts, &tid);
	if (!s)
		return 0;
	slot = lat_slot(s->ts);
	t = bpf_map_lookup_elem(&totals, &zero);
	if (t)
		t->rtt[slot]++;
	/* Its row exists: ipc_send counted it. */
	p = bpf_map_lookup_elem(&procs, &s->tgid);
	if (p)
		__sync_fetch_and_add(&p->s.rtt[slot], 1);
	bpf_map_delete_elem(&ipc_starts, &tid);
	return 0;
}

/* brk: the syscall tracepoints, with mm->brk read on the way in. */
SEC("tp/syscalls/sys_enter_brk")
int brk_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct brk_start s = {};

	if (!want(&s.tgid))
		return 0;
	s.old_brk = BPF_CORE_READ(task, mm, brk);
	bpf_map_update_elem(&brk_starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_brk")
int brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct brk_start *s;
	u64 new_brk = ctx->ret;

	s = bpf_map_lookup_elem(&brk_starts, &tid);
	if (!s)
		return 0;
	if (new_brk > s->old_brk)
		count(s->tgid, CTR_BRK_GROW, 1);
	else if (new_brk < s->old_brk)
		count(s->tgid, CTR_BRK_SHRINK, 1);
	bpf_map_delete_elem(&brk_starts, &tid);
	return 0;
}

/*
 * Keep a process's name current: the first event of a forked child comes
 * before its exec() or prctl(PR_SET_NAME), and both end in task_rename.
 * Only a thread group leader renaming itself names the process.  The
 * event's pid field is gone from some kernels (6.13): there the renamed
 * task is taken to be the caller, as it is but for a write to another
 * thread's /proc/PID/comm.
 */
struct trace_event_raw_task_rename___x {
	pid_t pid;
} __attribute__((preserve_access_index));

SEC("tp/task/task_rename")
int comm_rename(struct trace_event_raw_task_rename *ctx)
{
	struct trace_event_raw_task_rename___x *x = (void *)ctx;
	u64 id = bpf_get_current_pid_tgid();
	struct proc_stat *p;
	u32 tgid;

	if (bpf_core_field_exists(x->pid) && x->pid != (u32)id)
		return 0;
	if ((u32)id != id >> 32 || !want(&tgid))
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		bpf_probe_read_kernel_str(p->comm, sizeof(p->comm), ctx->newcomm);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
