// SPDX-License-Identifier: GPL-2.0
/*
 * cpbench - cp_range(2) against what a user would otherwise do to save a
 * range to a file.
 *
 *  full:  cp_range of SIZE bytes of resident anonymous memory to a tmpfs
 *         file, against one write() of the same range to the same file.
 *  incr:  1% of the pages written since the last checkpoint (random
 *         pages, new ones each rep).  cp_range(CP_INCREMENTAL) against
 *         the userspace way of Linux 6.7+: userfaultfd async
 *         write-protect, PAGEMAP_SCAN with PM_SCAN_WP_MATCHING to find
 *         and re-protect the written pages, and a write() of each range
 *         behind its address and length.  Also timed: one write() of as
 *         many pages from one buffer, what moving the bytes alone costs.
 *  find:  nothing written since the last checkpoint: what finding the
 *         dirty pages costs, cp_range(CP_INCREMENTAL) against one
 *         PAGEMAP_SCAN pass.
 *
 * Each is timed REPS times, alternating, in one run; the median of each
 * is reported, with the ratio ours / theirs.  Absolute times under
 * emulation are noise; the ratio is the result.  The files are checked
 * after each: a full checkpoint's trailer counts every page, and an
 * increment holds exactly the pages written, its size exactly header,
 * runs, those pages and trailer.
 *
 * USAGE: cpbench [-s SIZE_MIB] [-r REPS] [-d DIR]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <asm/unistd.h>
#include <linux/cp_range.h>
#include <linux/fs.h>
#include "bench.h"
#include "uffd.h"

#define MAX_REPS	32
#define SCAN_VEC_LEN	256

static size_t ps;

static void die(const char *what)
{
	fprintf(stderr, "cpbench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void reset(int fd)
{
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
		die("ftruncate");
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Write one word of @n random pages of [p, p + len); the distinct ones. */
static long dirty(char *p, size_t len, long n, uint64_t *rng,
		  unsigned char *seen)
{
	long i, distinct = 0;

	memset(seen, 0, len / ps);
	for (i = 0; i < n; i++) {
		size_t pg = rng_next(rng) % (len / ps);

		((uint64_t *)(p + pg * ps))[pg % 8] = *rng;
		distinct += !seen[pg]++;
	}
	return distinct;
}

/*
 * The userspace increment: find the pages written since the last pass
 * and write-protect them again in one PAGEMAP_SCAN walk, then write()
 * each range, behind its address and length.  Adds the time the scans
 * took to @find; returns the pages written out.
 */
static long scan_and_write(int pagemap, char *p, size_t len, int fd,
			   double *find)
{
	struct page_region vec[SCAN_VEC_LEN];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_VEC_LEN,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n, i, pages = 0;
	double t0;

	while (arg.start < arg.end) {
		t0 = now();
		n = ioctl(pagemap, PAGEMAP_SCAN, &arg);
		*find += now() - t0;
		if (n < 0)
			die("PAGEMAP_SCAN");
		for (i = 0; i < n; i++) {
			uint64_t rec[2] = { vec[i].start,
					    vec[i].end - vec[i].start };

			if (write(fd, rec, sizeof(rec)) != sizeof(rec) ||
			    write(fd, (void *)(uintptr_t)rec[0], rec[1]) !=
			    (ssize_t)rec[1])
				die("write");
			pages += rec[1] / ps;
		}
		arg.start = arg.walk_end;
	}
	return pages;
}

/* Check that the increment in @fd holds exactly @want pages, no more. */
static void check_increment(int fd, long want)
{
	off_t size = lseek(fd, 0, SEEK_END);
	struct cp_trailer tr;
	struct cp_header h;

	if (pread(fd, &h, sizeof(h), 0) != sizeof(h) ||
	    pread(fd, &tr, sizeof(tr), size - sizeof(tr)) != sizeof(tr))
		die("pread");
	if (!(h.flags & CP_INCREMENTAL) || tr.nr_data_pages != (uint64_t)want ||
	    size != (off_t)(sizeof(h) + tr.nr_runs * sizeof(struct cp_run) +
			    want * ps + sizeof(tr))) {
		fprintf(stderr, "cpbench: FAIL: increment of %lld pages, "
			"%lld bytes; wrote %ld pages\n",
			(long long)tr.nr_data_pages, (long long)size, want);
		exit(1);
	}
}

static void row(const char *name, long mib, double ours, double theirs,
		double target)
{
	printf("%-6s %6ldM %12.2f %12.2f %8.3f %7s%.2f  %s\n", name, mib,
	       ours * 1e3, theirs * 1e3, ours / theirs, "<=", target,
	       ours / theirs <= target ? "ok" : "MISS");
}

/* The incremental scenarios; 1 if the kernel or uffd-wp lacks it. */
static int incremental(char *p, size_t len, long mib, long reps, int fd)
{
	double ours[MAX_REPS], base[MAX_REPS], find[MAX_REPS];
	double fo[MAX_REPS], fb[MAX_REPS], floor[MAX_REPS], t0;
	long i, n = len / ps / 100, want, got;
	unsigned char *seen = malloc(len / ps);
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	const char *what;
	int uffd, pagemap;

	uffd = uffd_wp_async(p, len, &what);
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (uffd < 0 || pagemap < 0) {
		printf("cpbench: incr: no userspace baseline here (%s: %s)\n",
		       uffd < 0 ? what : "pagemap", strerror(errno));
		return 1;
	}
	reset(fd);
	if (syscall(__NR_cp_range, p, len, fd, CP_INCREMENTAL) < 0)
		die("cp_range(CP_INCREMENTAL)");

	for (i = 0; i < reps; i++) {
		/* The same pages for both: ours first, then theirs. */
		want = dirty(p, len, n, &rng, seen);
		reset(fd);
		t0 = now();
		if (syscall(__NR_cp_range, p, len, fd, CP_INCREMENTAL) !=
		    want)
			die("cp_range(CP_INCREMENTAL)");
		ours[i] = now() - t0;
		check_increment(fd, want);

		reset(fd);
		find[i] = 0;
		t0 = now();
		got = scan_and_write(pagemap, p, len, fd, &find[i]);
		base[i] = now() - t0;
		if (got != want) {
			fprintf(stderr, "cpbench: FAIL: PAGEMAP_SCAN found %ld "
				"pages, %ld were written\n", got, want);
			exit(1);
		}

		/* The bytes alone: as many pages in one write(). */
		reset(fd);
		t0 = now();
		if (write(fd, p, want * ps) != (ssize_t)(want * ps))
			die("write");
		floor[i] = now() - t0;

		/* Nothing written: the cost of finding that out. */
		reset(fd);
		t0 = now();
		if (syscall(__NR_cp_range, p, len, fd, CP_INCREMENTAL))
			die("cp_range(CP_INCREMENTAL)");
		fo[i] = now() - t0;
		fb[i] = 0;
		if (scan_and_write(pagemap, p, len, fd, &fb[i]))
			die("PAGEMAP_SCAN found pages");
	}
	row("incr", mib, median(ours, reps), median(base, reps), 0.5);
	row("find", mib, median(fo, reps), median(fb, reps), 1.0);
	printf("  incr: %ld random page writes a rep (1%%), ~%ld distinct; "
	       "PAGEMAP_SCAN alone %.2f ms of theirs;\n  one write() of as "
	       "many pages from one buffer %.2f ms\n", n, want,
	       median(find, reps) * 1e3, median(floor, reps) * 1e3);
	close(pagemap);
	close(uffd);
	free(seen);
	return 0;
}

int main(int argc, char **argv)
{
	long mib = 256, reps = 5, i;
	const char *dir = "/tmp";
	double ours[MAX_REPS], base[MAX_REPS], t0;
	struct cp_trailer tr;
	size_t len;
	char path[256];
	char *p;
	int opt, fd;

	while ((opt = getopt(argc, argv, "s:r:d:h")) != -1) {
		switch (opt) {
		case 's':
			mib = strtol(optarg, NULL, 0);
			break;
		case 'r':
			reps = strtol(optarg, NULL, 0);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: cpbench [-s SIZE_MIB] [-r REPS] "
				"[-d DIR]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (mib < 1 || reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "cpbench: bad size or reps (1..%d)\n",
			MAX_REPS);
		return 2;
	}
	ps = sysconf(_SC_PAGESIZE);
	len = (size_t)mib << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, len, MADV_NOHUGEPAGE);
	for (i = 0; i < (long)(len / 8); i++)
		((uint64_t *)p)[i] = i * 0x9e3779b97f4a7c15ULL + 1;
	snprintf(path, sizeof(path), "%s/cpbench.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		die(path);
	unlink(path);

	if (syscall(__NR_cp_range, p, len, fd, 0) < 0) {
		if (errno == ENOSYS) {
			printf("cpbench: this kernel has no cp_range\n");
			return 4;
		}
		die("cp_range");
	}
	for (i = 0; i < reps; i++) {
		reset(fd);
		t0 = now();
		if (syscall(__NR_cp_range, p, len, fd, 0) != (long)(len / ps))
			die("cp_range");
		ours[i] = now() - t0;
		if (pread(fd, &tr, sizeof(tr), lseek(fd, 0, SEEK_END) -
			  sizeof(tr)) != sizeof(tr) ||
		    tr.magic != CP_TRAILER_MAGIC ||
		    tr.nr_data_pages != len / ps) {
			fprintf(stderr, "cpbench: FAIL: checkpoint trailer\n");
			return 1;
		}

		reset(fd);
		t0 = now();
		if (write(fd, p, len) != (ssize_t)len)
			die("write");
		base[i] = now() - t0;
	}
	printf("cpbench: cp_range against the userspace way, %ld MiB of "
	       "resident anonymous memory to %s,\n  median of %ld "
	       "alternating reps each\n", mib, dir, reps);
	printf("%-6s %7s %12s %12s %8s %9s  %s\n", "", "size", "ours ms",
	       "theirs ms", "ratio", "target", "status");
	row("full", mib, median(ours, reps), median(base, reps), 1.10);
	incremental(p, len, mib, reps, fd);
	return 0;
}
