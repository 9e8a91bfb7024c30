/* SPDX-License-Identifier: GPL-2.0 */
/* mm_util.h - what the selftests of the memory features share. */
#ifndef __CTXKIT_MM_UTIL_H
#define __CTXKIT_MM_UTIL_H

#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/io_uring.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../harness.h"

#define PAGE		4096UL
#define HPAGE		(2UL << 20)

/* Fill len bytes with a pattern that depends on seed and position. */
static inline void fill(void *p, size_t len, unsigned int seed)
{
	uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

/* Private anonymous memory of 4 KiB pages: page counts stay exact. */
static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap %zu: %s", len, strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * A new file of @len bytes of fill(@seed), also copied to @contents, in
 * the DAX filesystem that run.sh's DAX guest mounts at $CTXKIT_DAX_DIR.
 * Skips anywhere else; fails if statx() says the file is not DAX.
 */
static inline int dax_file(size_t len, unsigned int seed, void *contents)
{
	const char *dir = getenv("CTXKIT_DAX_DIR");
	struct statx sx;
	char path[256];
	int fd;

	if (!dir)
		SKIP("no DAX filesystem here (run.sh's DAX guest has one)");
	snprintf(path, sizeof(path), "%s/ctxkit-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		FAIL("mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	fill(contents, len, seed);
	ASSERT_EQ(pwrite(fd, contents, len, 0), (long)len);
	ASSERT_OK(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
	if (!(sx.stx_attributes & STATX_ATTR_DAX))
		FAIL("%s: a file there is not DAX (statx attributes %#llx)",
		     dir, (unsigned long long)sx.stx_attributes);
	return fd;
}

/* Wait for @pid, which must exit with status 0. */
static inline void reap(pid_t pid)
{
	int status;

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		FAIL("child %d: killed by signal %d", pid, WTERMSIG(status));
	if (WEXITSTATUS(status))
		FAIL("child %d: exit status %d", pid, WEXITSTATUS(status));
}

#define CG_ROOT	"/sys/fs/cgroup"

static inline bool write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

/* Forget what kmemleak found so far; false if it is not there. */
static inline bool kmemleak_start(void)
{
	if (access(KMEMLEAK, W_OK))
		return false;
	write_file(KMEMLEAK, "scan");
	write_file(KMEMLEAK, "clear");
	return true;
}

/*
 * The leaks kmemleak reports since kmemleak_start(), the first of them in
 * @first; -1 if it is not there.
 */
static inline int kmemleak_reports(char *first, size_t len)
{
	char line[256];
	int n = 0;
	FILE *f;

	if (!write_file(KMEMLEAK, "scan"))
		return -1;
	sleep(6);	/* reported only once older than 5 s */
	write_file(KMEMLEAK, "scan");
	f = fopen(KMEMLEAK, "r");
	if (!f)
		return -1;
	first[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "unreferenced object"))
			continue;
		if (!n++)
			snprintf(first, len, "%s", line);
	}
	fclose(f);
	first[strcspn(first, "\n")] = 0;
	return n;
}

/* Fail if kmemleak, started with kmemleak_start() (@started), found any. */
static inline void kmemleak_none(bool started)
{
	char leak[256];
	int leaks;

	if (!started)
		return;
	leaks = kmemleak_reports(leak, sizeof(leak));
	if (leaks)
		FAIL("kmemleak: %d new reports: %s", leaks, leak);
}

/* A key of a memory.stat-like file, or memory.current's value (key NULL). */
static inline long cg_read(const char *cg, const char *file, const char *key)
{
	char path[256], k[64];
	long val, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!key) {
		if (fscanf(f, "%ld", &val) == 1)
			ret = val;
	} else {
		while (fscanf(f, "%63s %ld", k, &val) == 2)
			if (!strcmp(k, key))
				ret = val;
	}
	fclose(f);
	return ret;
}

/* The N of a "Key: N kB" line of a /proc file, or -1 if it has none. */
static inline long proc_kb(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	size_t n = strlen(key);
	char line[128];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && sscanf(line + n, "%ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A fresh memory cgroup CG_ROOT/@name-PID, its path in @cg; or skip. */
static inline void cg_make(char *cg, size_t len, const char *name)
{
	snprintf(cg, len, CG_ROOT "/%s-%d", name, getpid());
	if (!write_file(CG_ROOT "/cgroup.subtree_control", "+memory") ||
	    mkdir(cg, 0755))
		SKIP("no cgroup v2 memory controller: %s", strerror(errno));
}

/*
 * @n children, one after the other, each in cgroup @cg: @work (0, or the
 * child's exit status), then exit, or exec /bin/true if @do_exec.  Each
 * must end with status 0.
 */
static inline void cg_children(int n, const char *cg, int (*work)(void),
			       bool do_exec)
{
	char procs[128];
	int i, status;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		ASSERT_OK(pid);
		if (pid == 0) {
			if (!write_file(procs, "0"))
				_exit(22);
			status = work();
			if (status)
				_exit(status);
			if (do_exec)
				execl("/bin/true", "true", (char *)NULL);
			_exit(do_exec ? 21 : 0);
		}
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
	}
}

/* Pages of [p, p + pages) in swap, from /proc/self/pagemap (bit 62). */
static inline long swapped(const char *p, size_t pages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e;
	long n = 0;
	size_t i;

	ASSERT_OK(fd);
	for (i = 0; i < pages; i++) {
		ASSERT_EQ(pread(fd, &e, 8, ((uintptr_t)p / PAGE + i) * 8), 8);
		n += !!(e & (1ULL << 62));
	}
	close(fd);
	return n;
}

/* Swap on the brd RAM disk, or skip.  True if this call turned it on. */
static inline bool swap_on(void)
{
	if (access("/dev/ram0", F_OK))
		SKIP("no /dev/ram0 to swap to");
	if (!system("grep -q ram0 /proc/swaps"))
		return false;
	if (system("mkswap /dev/ram0 >/dev/null 2>&1 && swapon /dev/ram0"))
		SKIP("cannot swapon /dev/ram0");
	return true;
}

static inline void swap_off(bool on)
{
	if (on)
		ASSERT_EQ(system("swapoff /dev/ram0"), 0);
}

/* A fresh unlinked file in /tmp of @pages pages of fill(@seed). */
static inline int data_file(size_t pages, unsigned int seed)
{
	char path[] = "/tmp/mm_util.XXXXXX";
	int fd = mkstemp(path);
	char *buf = malloc(pages * PAGE);

	if (fd < 0)
		FAIL("mkstemp: %s", strerror(errno));
	ASSERT_TRUE(buf != NULL);
	unlink(path);
	fill(buf, pages * PAGE, seed);
	ASSERT_EQ(write(fd, buf, pages * PAGE), (long)(pages * PAGE));
	free(buf);
	return fd;
}

/* The /proc/PID/pagemap entry of the page at @p; @pid 0 is the caller. */
static inline uint64_t pagemap_entry(pid_t pid, const void *p)
{
	char path[64];
	uint64_t e;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY);
	ASSERT_OK(fd);
	ASSERT_EQ(pread(fd, &e, 8, (uintptr_t)p / PAGE * 8), 8);
	close(fd);
	return e;
}

#define PM_PFN(e)	((e) & ((1ULL << 55) - 1))

/* An io_uring with one fixed buffer, driven by hand: no liburing. */
struct uring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static inline void *ring_map(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, off);

	if (p == MAP_FAILED)
		FAIL("mmap io_uring at %#lx: %s", (long)off, strerror(errno));
	return p;
}

/* Register [buf, buf + len) as fixed buffer 0: pinned for good. */
static inline void uring_init(struct uring *u, void *buf, size_t len)
{
	struct io_uring_params pr = { };
	struct iovec iov = { buf, len };
	char *sq, *cq;

	u->fd = syscall(__NR_io_uring_setup, 4, &pr);
	if (u->fd < 0)
		SKIP("io_uring_setup: %s", strerror(errno));
	sq = ring_map(u->fd, pr.sq_off.array + pr.sq_entries * 4,
		      IORING_OFF_SQ_RING);
	cq = ring_map(u->fd, pr.cq_off.cqes + pr.cq_entries *
		      sizeof(struct io_uring_cqe), IORING_OFF_CQ_RING);
	u->sqes = ring_map(u->fd, pr.sq_entries * sizeof(struct io_uring_sqe),
			   IORING_OFF_SQES);
	u->sq_tail = (unsigned int *)(sq + pr.sq_off.tail);
	u->sq_mask = (unsigned int *)(sq + pr.sq_off.ring_mask);
	u->sq_array = (unsigned int *)(sq + pr.sq_off.array);
	u->cq_head = (unsigned int *)(cq + pr.cq_off.head);
	u->cq_mask = (unsigned int *)(cq + pr.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + pr.cq_off.cqes);
	if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_BUFFERS,
		    &iov, 1))
		SKIP("IORING_REGISTER_BUFFERS: %s", strerror(errno));
}

/* Read @len bytes of @fd into the fixed buffer at @dst: no page fault. */
static inline void uring_read_fixed(struct uring *u, int fd, void *dst, size_t len)
{
	unsigned int tail = *u->sq_tail, idx = tail & *u->sq_mask, head;
	struct io_uring_sqe *sqe = &u->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)dst;
	sqe->len = len;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, u->fd, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) != 1)
		FAIL("io_uring_enter: %s", strerror(errno));
	head = __atomic_load_n(u->cq_head, __ATOMIC_ACQUIRE);
	res = u->cqes[head & *u->cq_mask].res;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	if (res != (int)len)
		FAIL("IORING_OP_READ_FIXED = %d, expected %zu", res, len);
}

/* Run the calling thread on @cpu only. */
static inline void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ASSERT_OK(sched_setaffinity(0, sizeof(set), &set));
}

/* Seconds on CLOCK_MONOTONIC. */
static inline double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

#endif /* __CTXKIT_MM_UTIL_H */
