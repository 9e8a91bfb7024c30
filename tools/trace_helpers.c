// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static bool vmlinux_btf_has(const char *name, int kind)
{
	if (!vmlinux_btf_tried) {
		vmlinux_btf_tried = true;
		vmlinux_btf = btf__load_vmlinux_btf();
	}
	return vmlinux_btf && btf__find_by_name_kind(vmlinux_btf, name, kind) > 0;
}

void trace_helpers_release(void)
{
	btf__free(vmlinux_btf);
	vmlinux_btf = NULL;
	vmlinux_btf_tried = false;
}

/* fentry, fexit and tp_btf are BPF_PROG_TYPE_TRACING programs. */
static bool tracing_progs_ok(void)
{
	static int ok = -1;

	if (ok < 0)
		ok = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, NULL) == 1;
	return ok;
}

bool tp_btf_exists(const char *name)
{
	char tname[128];

	/* Every tracepoint has a "btf_trace_<name>" typedef in vmlinux BTF. */
	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	return vmlinux_btf_has(tname, BTF_KIND_TYPEDEF) && tracing_progs_ok();
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
	/* notrace functions are in BTF too; the ftrace list, if any, rules */
	return vmlinux_btf_has(name, BTF_KIND_FUNC) &&
	       ftrace_can_trace(name) != 0 && tracing_progs_ok();
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

void prog_stats_sum(struct bpf_object *obj, __u64 *run_cnt, __u64 *run_ns)
{
	struct bpf_program *prog;

	*run_cnt = *run_ns = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		*run_cnt += info.run_cnt;
		*run_ns += info.run_time_ns;
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
