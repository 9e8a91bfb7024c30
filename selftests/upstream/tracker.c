// SPDX-License-Identifier: GPL-2.0
/*
 * tracker.c - linked into every upstream mm selftest: puts the test
 * process under a ctxkit tracker before main() runs, chosen by the
 * environment:
 *
 *   CTXKIT_TRACKER=mmcontext  an mmcontext(2) snapshot (MMCONTEXT_SAVE)
 *                             of the whole process; dropped at exit,
 *                             which must find it still there
 *   CTXKIT_TRACKER=cp_range   cp_range(2) CP_INCREMENTAL tracking of two
 *                             ranges, written to /dev/null: the data
 *                             segment and heap (up to 1 GiB past the
 *                             break), and 64 GiB of the mmap area below
 *                             the first mapping the test makes; an
 *                             increment of each at exit
 *   unset, empty or "off"     nothing
 *
 * A tracker that cannot be set up (or torn down at exit) prints one line
 * "ctxkit-tracker: ..." on stderr and exits with status 99, so a broken
 * tracker does not pass for a passing test.  Only the process that set
 * the tracker up checks it at exit: children of fork() inherit neither
 * (an exec'd program sets up its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <asm/unistd.h>
#include <linux/cp_range.h>
#include <linux/mmcontext.h>

#define TRACKER_FAIL	99
#define HEAP_SLACK	(1UL << 30)	/* tracked past the break */
#define MMAP_SPAN	(64UL << 30)	/* tracked below the first mapping */
#define MMAP_ABOVE	(64UL << 20)	/* and above it: vdso, early maps */

extern char __data_start[];

static enum { OFF, MMCONTEXT, CP_RANGE } mode;
static pid_t owner;
static struct { unsigned long start, end; } ranges[2];

static void fail(const char *what)
{
	fprintf(stderr, "ctxkit-tracker: %s: %s\n", what, strerror(errno));
	_exit(TRACKER_FAIL);
}

static long cp_all(unsigned int flags)
{
	long n, total = 0;
	unsigned int i;
	int fd;

	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open /dev/null");
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		n = syscall(__NR_cp_range, ranges[i].start,
			    ranges[i].end - ranges[i].start, fd, flags);
		if (n < 0) {
			int e = errno;

			fprintf(stderr, "ctxkit-tracker: cp_range(%#lx, %#lx, "
				"%s): %s\n", ranges[i].start, ranges[i].end,
				flags ? "CP_INCREMENTAL" : "0", strerror(e));
			_exit(TRACKER_FAIL);
		}
		total += n;
	}
	close(fd);
	return total;
}

static void ctxkit_tracker_exit(void)
{
	int saved = errno;

	if (getpid() != owner)
		return;
	if (mode == MMCONTEXT) {
		if (syscall(__NR_mmcontext, MMCONTEXT_DROP, 0))
			fail("mmcontext(MMCONTEXT_DROP) at exit");
	} else if (mode == CP_RANGE) {
		cp_all(CP_INCREMENTAL);
	}
	errno = saved;
}

__attribute__((constructor))
void ctxkit_tracker(void)
{
	const char *env = getenv("CTXKIT_TRACKER");
	unsigned long page = sysconf(_SC_PAGESIZE), brk_end, probe;
	void *p;

	if (!env || !*env || !strcmp(env, "off"))
		return;
	if (!strcmp(env, "mmcontext")) {
		mode = MMCONTEXT;
	} else if (!strcmp(env, "cp_range")) {
		mode = CP_RANGE;
	} else {
		fprintf(stderr, "ctxkit-tracker: CTXKIT_TRACKER=%s: want "
			"mmcontext, cp_range or off\n", env);
		_exit(TRACKER_FAIL);
	}
	owner = getpid();

	if (mode == MMCONTEXT) {
		if (syscall(__NR_mmcontext, MMCONTEXT_SAVE, 0))
			fail("mmcontext(MMCONTEXT_SAVE)");
	} else {
		brk_end = ((unsigned long)sbrk(0) + page - 1) & ~(page - 1);
		ranges[0].start = (unsigned long)__data_start & ~(page - 1);
		ranges[0].end = brk_end + HEAP_SLACK;

		/* Where the next mappings go (top-down): below this one. */
		p = mmap(NULL, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			fail("mmap");
		probe = (unsigned long)p;
		*(volatile char *)p = 1;
		ranges[1].start = probe > MMAP_SPAN ? probe - MMAP_SPAN : page;
		ranges[1].end = probe + MMAP_ABOVE;
		if (ranges[1].start < ranges[0].end)
			ranges[1].start = ranges[0].end;
		cp_all(CP_INCREMENTAL);
		munmap(p, page);
	}
	if (atexit(ctxkit_tracker_exit))
		fail("atexit");
}
