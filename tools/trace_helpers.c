// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "trace_helpers.h"

static const char *const tracefs_dirs[] = {
	"/sys/kernel/tracing",
	"/sys/kernel/debug/tracing",
};

/*
 * Parsing vmlinux BTF takes a while and a tool asks several questions, so
 * keep it until trace_helpers_release().
 */
static struct btf *vmlinux_btf;
static bool vmlinux_btf_tried;

static struct btf *vmlinux(void)
{
	if (!vmlinux_btf_tried) {
		vmlinux_btf_tried = true;
		vmlinux_btf = btf__load_vmlinux_btf();
		if (libbpf_get_error(vmlinux_btf))
			vmlinux_btf = NULL;
	}
	return vmlinux_btf;
}

void trace_helpers_release(void)
{
	btf__free(vmlinux_btf);
	vmlinux_btf = NULL;
	vmlinux_btf_tried = false;
}

bool vmlinux_btf_exists(void)
{
	return vmlinux();
}

/*
 * Load "return 0" as a tracing program of @type on vmlinux function or
 * typedef @btf_id, and if @attach, attach it; as libbpf-tools' probes do.
 */
static bool tracing_prog_works(enum bpf_attach_type type, int btf_id,
			       bool attach)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = type,
		    .attach_btf_id = btf_id);
	int prog_fd, link_fd = 0;

	if (btf_id <= 0)
		return false;
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "probe", "GPL", insns,
				sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog_fd < 0)
		return false;
	if (attach) {
		link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
		if (link_fd >= 0)
			close(link_fd);
	}
	close(prog_fd);
	return link_fd >= 0;
}

static int vmlinux_btf_id(const char *name, int kind)
{
	if (!vmlinux())
		return -ENOENT;
	return btf__find_by_name_kind(vmlinux(), name, kind);
}

bool tp_btf_exists(const char *name)
{
	char tname[128];

	/* Every tracepoint has a "btf_trace_<name>" typedef in vmlinux BTF. */
	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	return tracing_prog_works(BPF_TRACE_RAW_TP,
				  vmlinux_btf_id(tname, BTF_KIND_TYPEDEF),
				  false);
}

bool tracepoint_exists(const char *category, const char *event)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/%s/%s/format",
			 tracefs_dirs[i], category, event);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

/*
 * Is @name in available_filter_functions, i.e. traceable by ftrace?
 * 1 yes, 0 no, -1 the list cannot be read (tracefs not mounted).
 */
static int ftrace_can_trace(const char *name)
{
	char path[256], line[256];
	size_t i, len = strlen(name);
	bool found = false;
	FILE *f = NULL;

	for (i = 0; !f && i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/available_filter_functions",
			 tracefs_dirs[i]);
		f = fopen(path, "r");
	}
	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, name, len) &&
			(line[len] == '\n' || line[len] == ' ');
	fclose(f);
	return found;
}

bool fentry_can_attach(const char *name)
{
	/* loaded and attached: BTF says nothing of notrace or of trampolines */
	return tracing_prog_works(BPF_TRACE_FENTRY,
				  vmlinux_btf_id(name, BTF_KIND_FUNC), true);
}

/* libbpf makes kprobes through the perf PMU, else through kprobe_events. */
static bool kprobes_supported(void)
{
	char path[256];
	size_t i;

	if (!access("/sys/bus/event_source/devices/kprobe/type", F_OK))
		return true;
	for (i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/kprobe_events", tracefs_dirs[i]);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

bool kprobe_exists(const char *name)
{
	char line[256], sym[128];
	bool found = false;
	FILE *f;

	if (!kprobes_supported() ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_KPROBE, NULL) != 1)
		return false;
	if (ftrace_can_trace(name) == 1)
		return true;
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %127s", sym) == 1 &&
			!strcmp(sym, name);
	fclose(f);
	return found;
}

void prog_stats_sum(struct bpf_object *obj, __u64 *run_cnt, __u64 *run_ns,
		    __u64 *misses)
{
	struct bpf_program *prog;

	*run_cnt = *run_ns = *misses = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		*run_cnt += info.run_cnt;
		*run_ns += info.run_time_ns;
		*misses += info.recursion_misses;
	}
}

int parse_long(const char *arg, long min, long max, long *out)
{
	char *end;
	long val;

	errno = 0;
	val = strtol(arg, &end, 10);
	if (errno || end == arg || *end || val < min || val > max)
		return -EINVAL;
	*out = val;
	return 0;
}

bool bpf_privileged(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = {};
	uint64_t eff;

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0;
	eff = data[0].effective | (uint64_t)data[1].effective << 32;
#define HAS(cap)	(eff & (1ULL << (cap)))
	return HAS(CAP_SYS_ADMIN) || (HAS(CAP_BPF) && HAS(CAP_PERFMON));
#undef HAS
}

/*
 * The bcc/libbpf-tools histogram layout: one line per log2 slot from the
 * first to the last that is not empty, the count and a bar of stars.
 */
void print_log2_hist(void (*line)(void *ctx, const char *text), void *ctx,
		     const __u64 *vals, int nr, const char *unit)
{
	char buf[160], bar[41];
	__u64 max = 0;
	int i, first = -1, last = -1;

	for (i = 0; i < nr; i++) {
		if (vals[i] > max)
			max = vals[i];
		if (vals[i]) {
			last = i;
			if (first < 0)
				first = i;
		}
	}
	snprintf(buf, sizeof(buf), "%*s%-*s : count    distribution",
		 10, unit, 15, "");
	line(ctx, buf);
	for (i = first < 0 ? 0 : first; i <= last; i++) {
		__u64 lo = i ? 1ULL << i : 0, hi = (2ULL << i) - 1;
		int stars = max ? (int)(vals[i] * 40 / max) : 0;

		memset(bar, '*', stars);
		memset(bar + stars, ' ', 40 - stars);
		bar[40] = 0;
		snprintf(buf, sizeof(buf), "%*llu -> %-*llu : %-8llu |%s|",
			 10, (unsigned long long)lo, 10, (unsigned long long)hi,
			 (unsigned long long)vals[i], bar);
		line(ctx, buf);
	}
}
