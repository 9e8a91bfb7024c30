// SPDX-License-Identifier: GPL-2.0
/*
 * cpbench - cp_range(2) against what a user would otherwise do to save a
 * range to a file: write() it.
 *
 *  full:  cp_range of SIZE bytes of resident anonymous memory to a tmpfs
 *         file, against one write() of the same range to the same file.
 *
 * Each is timed REPS times, alternating, in one run; the median of each
 * is reported, with the ratio ours / write().  Absolute times under
 * emulation are noise; the ratio is the result.  The file is checked
 * after each: its size, and that a checkpoint's trailer counts every page.
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
#include "bench.h"

#define MAX_REPS	32

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

int main(int argc, char **argv)
{
	long mib = 256, reps = 5, i;
	const char *dir = "/tmp";
	double ours[MAX_REPS], base[MAX_REPS], t0, mo, mb;
	struct cp_trailer tr;
	size_t len, ps;
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

	if (syscall(__NR_cp_range, p, p + len, fd, 0) < 0) {
		if (errno == ENOSYS) {
			printf("cpbench: this kernel has no cp_range\n");
			return 4;
		}
		die("cp_range");
	}
	for (i = 0; i < reps; i++) {
		reset(fd);
		t0 = now();
		if (syscall(__NR_cp_range, p, p + len, fd, 0) != (long)(len / ps))
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
	mo = median(ours, reps);
	mb = median(base, reps);
	printf("cpbench: cp_range against write() of %ld MiB resident "
	       "anonymous memory to %s,\n  median of %ld alternating reps "
	       "each\n", mib, dir, reps);
	printf("%-10s %8s %12s %12s %8s %8s  %s\n", "scenario", "size",
	       "ours ms", "write() ms", "ratio", "target", "status");
	printf("%-10s %6ldM %12.1f %12.1f %8.3f %8s  %s\n", "full", mib,
	       mo * 1e3, mb * 1e3, mo / mb, "<=1.10",
	       mo / mb <= 1.10 ? "ok" : "MISS");
	return 0;
}
