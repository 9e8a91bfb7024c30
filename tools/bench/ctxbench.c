// SPDX-License-Identifier: GPL-2.0
/*
 * ctxbench - what ctxtop's BPF programs cost the workloads they watch.
 *
 * Each workload runs REPS times (default 10, pinned to CPU 0) each of three
 * ways, alternating, in this one run: with nothing attached; with ctxtop's
 * programs as it attaches them by default (faults counted, not timed, no
 * BPF_ENABLE_STATS); and in full (ctxtop -l --self-stats: every fault
 * timed, and the host-wide run-time stats on).  It prints each way's ratio
 * of medians to the base, and the added cost per fault: the extra time per
 * run divided by the faults counted in it.  Absolute times under
 * emulation are noise; the ratios are the result.
 *
 * It attaches what ctxtop would on the running kernel, so on a stock kernel
 * it measures ctxtop's fallback hooks.
 *
 * USAGE: ctxbench [-m MiB] [-f MiB] [-r REPS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.h"
#include "ctxtop.h"
#include "ctxtop.skel.h"
#include "ctxtop_hooks.h"
#include "trace_helpers.h"

#define MAX_REPS	64

static long ps;
static long anon_mib = 1024, fork_mib = 256, reps = 10;

static void die(const char *what)
{
	fprintf(stderr, "ctxbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* @small_pages: no THP, one fault per 4 KiB page, the worst case. */
static char *map_anon(long bytes, bool small_pages)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (small_pages)
		madvise(p, bytes, MADV_NOHUGEPAGE);
	return p;
}

static void touch(char *p, long bytes)
{
	long off;

	for (off = 0; off < bytes; off += ps)
		p[off] = 1;
}

/* Touch fresh anonymous memory, with THP as the system has it... */
static void w_anon_touch(void)
{
	long bytes = anon_mib << 20;
	char *p = map_anon(bytes, false);

	touch(p, bytes);
	munmap(p, bytes);
}

/* ... and one 4 KiB fault at a time. */
static void w_anon_touch_4k(void)
{
	long bytes = anon_mib << 20;
	char *p = map_anon(bytes, true);

	touch(p, bytes);
	munmap(p, bytes);
}

/* Fork; the child writes every page its parent had filled. */
static void w_fork_cow(void)
{
	long bytes = fork_mib << 20;
	char *p = map_anon(bytes, false);
	pid_t pid;

	touch(p, bytes);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		touch(p, bytes);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	munmap(p, bytes);
}

/* Two processes write every page of a shared file mapping. */
static void w_shared_file(void)
{
	long bytes = fork_mib << 20;
	char path[] = "/tmp/ctxbench-XXXXXX";
	pid_t pid;
	char *p;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	if (ftruncate(fd, bytes))
		die("ftruncate");
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	pid = fork();
	if (pid < 0)
		die("fork");
	touch(p, bytes);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	munmap(p, bytes);
	close(fd);
}

static const struct workload {
	const char *name;
	void (*run)(void);
} workloads[] = {
	{ "anon-touch", w_anon_touch },
	{ "anon-4k", w_anon_touch_4k },
	{ "fork-cow", w_fork_cow },
	{ "shared-file", w_shared_file },
};

/* Each program's own run time per run, over the full way's runs. */
static void print_prog_costs(struct ctxtop_bpf *obj)
{
	struct bpf_program *prog;

	printf("%-16s %12s %10s\n", "program", "runs", "ns/run");
	bpf_object__for_each_program(prog, obj->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    !info.run_cnt)
			continue;
		printf("%-16s %12llu %10.0f\n", bpf_program__name(prog),
		       (unsigned long long)info.run_cnt,
		       (double)info.run_time_ns / info.run_cnt);
	}
}

/* The faults @obj has counted so far, over every CPU. */
static __u64 faults_counted(struct ctxtop_bpf *obj)
{
	struct ctx_stat sum;

	if (ctxtop__read_totals(obj, &sum))
		die("read totals");
	return sum.ctr[CTR_FAULTS];
}

/*
 * ctxtop's start-up: from exec to its first data (less the interval it
 * waits before printing), and its peak RSS.  Its exit, which detaches
 * every program, is not start-up and is not timed.
 */
static void ctxtop_startup(void)
{
	const double interval = 0.1;
	double t0, first = 0;
	struct rusage ru;
	int status, out[2];
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(out))
		die("pipe");
	t0 = now();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		execlp("ctxtop", "ctxtop", "-b", "0.1", "1", NULL);
		_exit(127);
	}
	close(out[1]);
	while ((n = read(out[0], buf, sizeof(buf))) > 0)
		if (!first)
			first = now() - t0;
	close(out[0]);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !first) {
		printf("ctxtop start-up: ctxtop -b failed (status %#x)\n", status);
		return;
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("ctxtop start-up: %.0f ms from exec to attached and sampling "
	       "(first output %.0f ms, less its 0.1 s interval); max RSS %.1f MiB\n",
	       (first - interval) * 1e3, first * 1e3, ru.ru_maxrss / 1024.0);
}

/* ctxtop's programs, loaded as ctxtop -l (@timed) or plain ctxtop would. */
static struct ctxtop_bpf *load(bool timed, struct ctxtop_hooks *hooks)
{
	struct ctxtop_bpf *obj = ctxtop_bpf__open();

	if (!obj)
		die("open BPF object");
	ctxtop_hooks__choose(obj, hooks, TIER_FENTRY, timed);
	if (!hooks->available) {
		fprintf(stderr, "ctxbench: nothing ctxtop could attach here\n");
		exit(1);
	}
	if (ctxtop_bpf__load(obj))
		die("load BPF programs");
	return obj;
}

enum { BASE, DEFAULT, FULL, NR_WAYS };

/* One run of workload @w, the way @way; its time; adds the faults counted. */
static double run_way(const struct workload *w, int way,
		      struct ctxtop_bpf *objs[NR_WAYS], __u64 *faults)
{
	int stats_fd = -1;
	__u64 f0 = 0;
	double t0, t;

	if (way != BASE) {
		if (ctxtop_bpf__attach(objs[way]))
			die("attach");
		f0 = faults_counted(objs[way]);
	}
	if (way == FULL) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			die("BPF_ENABLE_STATS");
	}
	t0 = now();
	w->run();
	t = now() - t0;
	if (stats_fd >= 0)
		close(stats_fd);
	if (way != BASE) {
		*faults += faults_counted(objs[way]) - f0;
		ctxtop_bpf__detach(objs[way]);
	}
	return t;
}

int main(int argc, char **argv)
{
	double times[NR_WAYS][MAX_REPS];
	struct ctxtop_bpf *objs[NR_WAYS] = {};
	struct ctxtop_hooks hooks, full_hooks;
	cpu_set_t cpus;
	int opt, r, way;
	size_t w;

	while ((opt = getopt(argc, argv, "m:f:r:")) != -1) {
		long *dst = opt == 'm' ? &anon_mib : opt == 'f' ? &fork_mib : &reps;
		long max = opt == 'r' ? MAX_REPS : 1 << 16;

		if (opt == '?' || parse_long(optarg, 1, max, dst)) {
			fprintf(stderr, "usage: ctxbench [-m MiB] [-f MiB] [-r REPS<=%d]\n",
				MAX_REPS);
			return 2;
		}
	}
	ps = sysconf(_SC_PAGESIZE);
	/* pinned, workloads and their children alike, as the anchors measure */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		die("sched_setaffinity");
	/* first: RUSAGE_CHILDREN's max RSS must not see the workloads */
	ctxtop_startup();

	/* what ctxtop would attach on this kernel, by default and in full */
	objs[DEFAULT] = load(false, &hooks);
	objs[FULL] = load(true, &full_hooks);

	printf("ctxbench: anon-touch %ld MiB, fork-cow and shared-file %ld MiB, "
	       "%ld reps each way, %ld CPUs, faults via %s\n", anon_mib,
	       fork_mib, reps, sysconf(_SC_NPROCESSORS_ONLN), hooks.fault_hook);
	printf("  default: ctxtop's default, faults counted, not timed\n"
	       "  full: ctxtop -l --self-stats, faults timed, BPF_ENABLE_STATS on\n");
	for (w = 0; w < NR_FEATURES; w++)
		if (full_hooks.why[w])
			printf("  not attached: %s (%s)\n", feature_names[w],
			       full_hooks.why[w]);
	printf("%-12s %9s %9s %9s %8s %8s %10s %9s %9s\n", "workload", "base ms",
	       "dflt ms", "full ms", "dflt/b", "full/b", "faults",
	       "dflt ns/f", "full ns/f");

	for (w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
		__u64 faults[NR_WAYS] = {};
		double med[NR_WAYS];

		workloads[w].run();	/* warm up */
		for (r = 0; r < reps; r++)
			for (way = 0; way < NR_WAYS; way++)
				times[way][r] = run_way(&workloads[w], way, objs,
							&faults[way]);
		for (way = 0; way < NR_WAYS; way++)
			med[way] = median(times[way], reps);
		printf("%-12s %9.1f %9.1f %9.1f %8.3f %8.3f %10llu %9.0f %9.0f\n",
		       workloads[w].name, med[BASE] * 1e3, med[DEFAULT] * 1e3,
		       med[FULL] * 1e3, med[DEFAULT] / med[BASE],
		       med[FULL] / med[BASE],
		       (unsigned long long)(faults[FULL] / reps),
		       faults[DEFAULT] ? (med[DEFAULT] - med[BASE]) * 1e9 /
		       ((double)faults[DEFAULT] / reps) : 0,
		       faults[FULL] ? (med[FULL] - med[BASE]) * 1e9 /
		       ((double)faults[FULL] / reps) : 0);
		fflush(stdout);
	}

	print_prog_costs(objs[FULL]);
	for (way = DEFAULT; way < NR_WAYS; way++)
		ctxtop_bpf__destroy(objs[way]);
	return 0;
}
