// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cowstat - count copy-on-write page copies per process.
 *
 * Attaches to the ctxkit:cow_copy tracepoint (tp_btf), so it needs a kernel
 * with ctxkit's patches; elsewhere it says so and exits.
 *
 * USAGE: cowstat [-h] [-v] [-T] [-p PID] [interval] [count]
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "cowstat.h"
#include "cowstat.skel.h"
#include "trace_helpers.h"

static struct env {
	pid_t pid;
	int interval;
	int times;
	bool timestamp;
	bool verbose;
} env = {
	.interval = 99999999,
	.times = 99999999,
};

static volatile sig_atomic_t exiting;

const char *argp_program_version = "cowstat 0.1";
const char argp_program_doc[] =
"Count copy-on-write page copies per process.\n"
"\n"
"COPIES are real page copies; ZERO-FILLS are writes to a page that was\n"
"mapped to the shared zero page, which need no copy.\n"
"\n"
"USAGE: cowstat [-h] [-v] [-T] [-p PID] [interval] [count]\n"
"\n"
"EXAMPLES:\n"
"    cowstat            # summarize until Ctrl-C\n"
"    cowstat 1 10       # print 1 second summaries, 10 times\n"
"    cowstat -p 185     # only process 185\n";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Process ID to trace", 0 },
	{ "timestamp", 'T', NULL, 0, "Include timestamp on output", 0 },
	{ "verbose", 'v', NULL, 0, "Verbose debug output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	long val;

	switch (key) {
	case 'h':
		argp_state_help(state, stderr, ARGP_HELP_STD_HELP);
		break;
	case 'v':
		env.verbose = true;
		break;
	case 'T':
		env.timestamp = true;
		break;
	case 'p':
		if (parse_long(arg, 1, INT_MAX, &val))
			argp_error(state, "invalid PID: %s", arg);
		env.pid = val;
		break;
	case ARGP_KEY_ARG:
		if (parse_long(arg, 1, INT_MAX, &val))
			argp_error(state, "invalid %s: %s",
				   state->arg_num ? "count" : "interval", arg);
		if (state->arg_num == 0)
			env.interval = val;
		else if (state->arg_num == 1)
			env.times = val;
		else
			argp_usage(state);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int libbpf_print_fn(enum libbpf_print_level level, const char *format,
			   va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	return vfprintf(stderr, format, args);
}

static void sig_handler(int sig)
{
	exiting = 1;
}

struct row {
	__u32 tgid;
	struct cow_stat st;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *ra = a, *rb = b;

	if (ra->st.copies != rb->st.copies)
		return ra->st.copies < rb->st.copies ? 1 : -1;
	if (ra->st.zero_fills != rb->st.zero_fills)
		return ra->st.zero_fills < rb->st.zero_fills ? 1 : -1;
	return ra->tgid < rb->tgid ? -1 : ra->tgid > rb->tgid;
}

/* Print this interval's counts, busiest first, and clear them. */
static int print_stats(int fd)
{
	static struct row rows[MAX_ENTRIES];
	__u32 key, next, *prev = NULL;
	int i, n = 0, err;

	while (n < MAX_ENTRIES && !bpf_map_get_next_key(fd, prev, &next)) {
		err = bpf_map_lookup_elem(fd, &next, &rows[n].st);
		if (!err)
			rows[n++].tgid = next;
		key = next;
		prev = &key;
	}
	qsort(rows, n, sizeof(rows[0]), row_cmp);

	if (env.timestamp) {
		char ts[32];
		time_t t = time(NULL);

		strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
		printf("%s\n", ts);
	}
	printf("%-7s %-16s %12s %12s\n", "PID", "COMM", "COPIES", "ZERO-FILLS");
	for (i = 0; i < n; i++) {
		printf("%-7u %-16s %12llu %12llu\n", rows[i].tgid,
		       rows[i].st.comm, (unsigned long long)rows[i].st.copies,
		       (unsigned long long)rows[i].st.zero_fills);
		bpf_map_delete_elem(fd, &rows[i].tgid);
	}
	printf("\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
	};
	struct cowstat_bpf *obj;
	int err;

	/* usage errors exit with 2, as for every ctxkit tool */
	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;

	libbpf_set_print(libbpf_print_fn);
	if (!bpf_privileged()) {
		fprintf(stderr, "cowstat: needs root, or CAP_BPF and CAP_PERFMON\n");
		return 1;
	}
	if (env.pid && kill(env.pid, 0) && errno == ESRCH) {
		fprintf(stderr, "cowstat: no process %d\n", env.pid);
		return 1;
	}

	obj = cowstat_bpf__open();
	if (!obj) {
		fprintf(stderr, "cowstat: failed to open BPF object\n");
		return 1;
	}
	obj->rodata->targ_tgid = env.pid;

	if (!tp_btf_exists("cow_copy")) {
		fprintf(stderr, "cowstat: kernel has no ctxkit:cow_copy tracepoint (needs ctxkit's patches)\n");
		err = -ENOENT;
		goto cleanup;
	}
	err = cowstat_bpf__load(obj);
	if (err) {
		fprintf(stderr, "cowstat: failed to load BPF object: %s\n",
			strerror(-err));
		goto cleanup;
	}
	err = cowstat_bpf__attach(obj);
	if (err) {
		fprintf(stderr, "cowstat: failed to attach: %s\n",
			strerror(-err));
		goto cleanup;
	}

	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	fprintf(stderr, "Tracing copy-on-write copies... Hit Ctrl-C to end.\n");

	while (!exiting) {
		sleep(env.interval);
		print_stats(bpf_map__fd(obj->maps.stats));
		if (--env.times == 0)
			break;
	}

cleanup:
	cowstat_bpf__destroy(obj);
	return err != 0;
}
