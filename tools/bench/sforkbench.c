// SPDX-License-Identifier: GPL-2.0
/*
 * sforkbench - sfork(2) against the ways of sharing memory with a child
 * that exist without it, in one run.
 *
 * The seed's four access patterns, each timed from making the region to
 * reaping the last child:
 *   abundant  2 processes, each touches every page
 *   sparse    2 processes, 3 pages each
 *   random    2 processes, a random quarter of the pages each
 *   multi     5 processes, a random quarter each
 * for each way of making the region before the fork:
 *   sfork       sfork(2), lazily filled
 *   sfork-pop   sfork(2) with SFORK_POPULATE
 *   anon        mmap(MAP_SHARED|MAP_ANONYMOUS), then fork()
 *   memfd       memfd_create() + mmap(MAP_SHARED) (what POSIX shm is too)
 *   sysv        shmget() + shmat()
 *   file        the seed's file-backed variant: a file in $TMPDIR (/tmp),
 *               unlinked, mmap(MAP_SHARED)
 * A touch writes one byte of the page.  Ratios are against anon, measured
 * in the same run: above 1 is faster than anon.
 *
 * Then three of the goals:
 *   fork      sfork() of a 1 GiB lazy region against fork(), both with the
 *             child exiting at once: the ratio of their median times;
 *   populate  the child reads 1 GiB that is populated before the fork:
 *             sfork-pop against anon with MAP_POPULATE, and the faults the
 *             child takes (getrusage());
 *   ptables   the page table memory (VmPTE) of each sharer after every
 *             sharer has read a 256 MiB region, for 1, 2 and 4 sharers.
 *
 * USAGE: sforkbench [-m MIB] [-r REPS] [-g GIB]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/sfork.h>

#include "bench.h"

#define PAGE		4096UL
#define MAX_PROCS	5

enum way { SFORK, SFORK_POP, ANON, MEMFD, SYSV, FILEB, NR_WAYS };

static const char *const way_name[NR_WAYS] = {
	"sfork", "sfork-pop", "anon", "memfd", "sysv", "file",
};

enum pattern { ABUNDANT, SPARSE, RANDOM, MULTI, NR_PATTERNS };

static const char *const pattern_name[NR_PATTERNS] = {
	"abundant", "sparse", "random", "multi",
};

static void die(const char *what)
{
	fprintf(stderr, "sforkbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Make the region the way @w says; for the sfork ways, fork too. */
static char *make_region(enum way w, size_t len, pid_t *child)
{
	char path[64], *p;
	int fd, id;

	*child = -1;
	switch (w) {
	case SFORK:
	case SFORK_POP:
		*child = syscall(__NR_sfork, len, SFORK_CHILD_WRITE |
				 SFORK_PARENT_WRITE |
				 (w == SFORK_POP ? SFORK_POPULATE : 0), &p);
		if (*child < 0)
			die("sfork");
		return p;
	case ANON:
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		break;
	case MEMFD:
		fd = memfd_create("sforkbench", 0);
		if (fd < 0 || ftruncate(fd, len))
			die("memfd");
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		break;
	case SYSV:
		id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
		if (id < 0)
			die("shmget");
		p = shmat(id, NULL, 0);
		shmctl(id, IPC_RMID, NULL);	/* gone with the last detach */
		if (p == (void *)-1)
			die("shmat");
		return p;
	default:
		snprintf(path, sizeof(path), "%s/sforkbench-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		fd = mkstemp(path);
		if (fd < 0 || unlink(path) || ftruncate(fd, len))
			die("temp file");
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void unmap_region(enum way w, char *p, size_t len)
{
	if (w == SYSV)
		shmdt(p);
	else
		munmap(p, len);
}

/* Process @me's part of @pat over @pages pages at @p. */
static void touch(char *p, size_t pages, enum pattern pat, int me)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (me + 1);
	size_t i;

	switch (pat) {
	case ABUNDANT:
		for (i = 0; i < pages; i++)
			p[i * PAGE] = (char)me;
		break;
	case SPARSE:
		for (i = 0; i < 3; i++)
			p[(rnd(&s) % pages) * PAGE] = (char)me;
		break;
	default:
		for (i = 0; i < pages / 4; i++)
			p[(rnd(&s) % pages) * PAGE] = (char)me;
	}
}

static void reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("child failed");
}

/* One run of @pat with the region made the way @w says; seconds. */
static double run(enum way w, enum pattern pat, size_t len)
{
	int procs = pat == MULTI ? MAX_PROCS : 2, i;
	size_t pages = len / PAGE;
	pid_t pid[MAX_PROCS];
	double t0 = now();
	char *p;

	p = make_region(w, len, &pid[1]);
	if (pid[1] < 0)
		pid[1] = fork();
	if (pid[1] < 0)
		die("fork");
	if (pid[1] == 0) {
		touch(p, pages, pat, 1);
		_exit(0);
	}
	for (i = 2; i < procs; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			die("fork");
		if (pid[i] == 0) {
			touch(p, pages, pat, i);
			_exit(0);
		}
	}
	touch(p, pages, pat, 0);
	for (i = 1; i < procs; i++)
		reap(pid[i]);
	unmap_region(w, p, len);
	return now() - t0;
}

static void patterns(size_t len, int reps)
{
	double t[NR_WAYS][NR_PATTERNS], v[64];
	int w, pat, r;

	printf("patterns: %zu MiB region, median of %d runs, ms (ratio: anon's "
	       "time over this one's)\n", len >> 20, reps);
	printf("%-10s", "way");
	for (pat = 0; pat < NR_PATTERNS; pat++)
		printf(" %10s %6s", pattern_name[pat], "ratio");
	printf("\n");
	/* Interleaved, so that drift hits every way alike. */
	for (pat = 0; pat < NR_PATTERNS; pat++) {
		double all[NR_WAYS][64];

		for (r = 0; r < reps; r++)
			for (w = 0; w < NR_WAYS; w++)
				all[w][r] = run(w, pat, len);
		for (w = 0; w < NR_WAYS; w++) {
			memcpy(v, all[w], reps * sizeof(double));
			t[w][pat] = median(v, reps);
		}
	}
	for (w = 0; w < NR_WAYS; w++) {
		printf("%-10s", way_name[w]);
		for (pat = 0; pat < NR_PATTERNS; pat++)
			printf(" %10.1f %6.2f", t[w][pat] * 1e3,
			       t[ANON][pat] / t[w][pat]);
		printf("\n");
	}
}

/* sfork() of a lazy region against fork(), the child exiting at once. */
static void fork_cost(size_t len, int reps)
{
	double f[64], s[64];
	int r;

	for (r = 0; r < reps; r++) {
		double t0 = now();
		pid_t pid = fork();
		void *p;

		if (pid == 0)
			_exit(0);
		f[r] = now() - t0;
		reap(pid);
		t0 = now();
		pid = syscall(__NR_sfork, len, SFORK_CHILD_WRITE |
			      SFORK_PARENT_WRITE, &p);
		if (pid == 0)
			_exit(0);
		s[r] = now() - t0;
		if (pid < 0)
			die("sfork");
		reap(pid);
		munmap(p, len);
	}
	printf("fork: fork() %.1f us, sfork() with a %zu MiB lazy region "
	       "%.1f us: sfork/fork %.3f (median of %d)\n",
	       median(f, reps) * 1e6, len >> 20, median(s, reps) * 1e6,
	       median(s, reps) / median(f, reps), reps);
}

/* The child reads every page of a populated region: seconds and faults. */
static void child_read(bool use_sfork, size_t len, double *secs, long *flt)
{
	int fd[2];
	double v[2];
	char *p;
	pid_t pid;

	if (pipe(fd))
		die("pipe");
	if (use_sfork) {
		pid = syscall(__NR_sfork, len, SFORK_PARENT_WRITE |
			      SFORK_POPULATE, &p);
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			die("mmap");
		pid = fork();
	}
	if (pid < 0)
		die("sfork/fork");
	if (pid == 0) {
		volatile char *q = p;
		struct rusage ru0, ru1;
		unsigned long sum = 0;
		size_t i;

		getrusage(RUSAGE_SELF, &ru0);
		v[0] = now();
		for (i = 0; i < len; i += PAGE)
			sum += q[i];
		v[0] = now() - v[0];
		getrusage(RUSAGE_SELF, &ru1);
		v[1] = ru1.ru_minflt - ru0.ru_minflt;
		if (write(fd[1], v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(sum != 0);
	}
	if (read(fd[0], v, sizeof(v)) != sizeof(v))
		die("read");
	reap(pid);
	munmap(p, len);
	close(fd[0]);
	close(fd[1]);
	*secs = v[0];
	*flt = (long)v[1];
}

static void populate(size_t len, int reps)
{
	double s[64], a[64];
	long sf = 0, af = 0;
	int r;

	for (r = 0; r < reps; r++) {
		child_read(true, len, &s[r], &sf);
		child_read(false, len, &a[r], &af);
	}
	printf("populate: the child reads %zu MiB populated before the fork: "
	       "sfork-pop %.1f ms (%ld faults), anon+MAP_POPULATE %.1f ms "
	       "(%ld faults): %.1fx faster (median of %d)\n", len >> 20,
	       median(s, reps) * 1e3, sf, median(a, reps) * 1e3, af,
	       median(a, reps) / median(s, reps), reps);
}

static long vmpte_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * VmPTE of each sharer once all have read the region, less what the same
 * process has without the region.
 */
static void ptables(size_t len)
{
	static const int counts[] = { 1, 2, 4 };
	long base = vmpte_kb();
	unsigned int c;

	printf("ptables: page table memory per sharer for a %zu MiB region, "
	       "every sharer reading all of it (VmPTE, less %ld kB without "
	       "the region)\n", len >> 20, base);
	for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int n = counts[c], i, go[2], done[2], quit[2];
		long total = 0, kb;
		bool sharer = false;
		pid_t pid[4];
		char *p, b = 0;

		if (pipe(go) || pipe(done) || pipe(quit))
			die("pipe");
		pid[0] = syscall(__NR_sfork, len, SFORK_PARENT_WRITE, &p);
		if (pid[0] < 0)
			die("sfork");
		sharer = !pid[0];
		for (i = 1; i < n && !sharer; i++) {
			pid[i] = fork();
			if (pid[i] < 0)
				die("fork");
			sharer = !pid[i];
		}
		if (sharer) {
			volatile char *q = p;
			size_t j;

			if (read(go[0], &b, 1) != 1)
				_exit(1);
			for (j = 0; j < len; j += PAGE)
				(void)q[j];
			kb = vmpte_kb() - base;
			if (write(done[1], &kb, sizeof(kb)) != sizeof(kb))
				_exit(1);
			/* Alive until all have measured. */
			if (read(quit[0], &b, 1) != 1)
				_exit(1);
			_exit(0);
		}
		/* The parent writes it all, then the sharers read it. */
		memset(p, 1, len);
		for (i = 0; i < n; i++)
			if (write(go[1], &b, 1) != 1)
				die("write");
		for (i = 0; i < n; i++) {
			if (read(done[0], &kb, sizeof(kb)) != sizeof(kb))
				die("read");
			total += kb;
		}
		for (i = 0; i < n; i++)
			if (write(quit[1], &b, 1) != 1)
				die("write");
		for (i = 0; i < n; i++)
			reap(pid[i]);
		munmap(p, len);
		close(go[0]);
		close(go[1]);
		close(done[0]);
		close(done[1]);
		close(quit[0]);
		close(quit[1]);
		printf("  %d sharer(s) besides the writer: %ld kB each, %ld kB "
		       "in all\n", n, total / n, total);
	}
}

int main(int argc, char **argv)
{
	size_t mib = 64, gib = 1;
	int reps = 5, opt;

	while ((opt = getopt(argc, argv, "m:r:g:")) != -1) {
		switch (opt) {
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'g':
			gib = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: sforkbench [-m MIB] [-r REPS] "
				"[-g GIB]\n");
			return 2;
		}
	}
	if (!mib || reps < 1 || reps > 64 || !gib) {
		fprintf(stderr, "sforkbench: bad -m, -r or -g\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	patterns(mib << 20, reps);
	fork_cost(gib << 30, reps * 4 > 64 ? 64 : reps * 4);
	populate(gib << 30, reps);
	ptables(256UL << 20);
	return 0;
}
