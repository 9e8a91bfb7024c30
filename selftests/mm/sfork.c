// SPDX-License-Identifier: GPL-2.0
/*
 * sfork: fork with a shared region whose write direction the kernel
 * enforces (mm/sfork.c).
 *
 * Each direction is checked both ways: writes cross over, and every way
 * a side without write access might write is refused, whoever tries it.
 * The ground truth is outside sfork: memcmp() of the other process's
 * memory, getrusage() fault counts, /proc/meminfo's Shmem and the memory
 * cgroup's usage.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/io_uring.h>
#include <linux/sfork.h>
#include <linux/userfaultfd.h>

#include "mm_util.h"

#define SFORK_BOTH	(SFORK_CHILD_WRITE | SFORK_PARENT_WRITE)

/* sfork(), or skip on a kernel without it. */
static pid_t sfork(size_t len, unsigned int flags, void **addr)
{
	static int have = -1;

	if (have < 0) {
		have = syscall(__NR_sfork, 1, 0, NULL) == -1 && errno == EINVAL;
		if (!have)
			SKIP("this kernel has no sfork (syscall %d: %s)",
			     __NR_sfork, strerror(errno));
	}
	return syscall(__NR_sfork, len, flags, addr);
}

/* sfork(len, flags, addr) must fail with err. */
#define ASSERT_SFORK_ERR(len, flags, addr, err) do {			\
		long __r = sfork(len, flags, addr);			\
		if (__r == 0)						\
			_exit(0);					\
		if (__r != -1 || errno != (err))			\
			FAIL("sfork(%s, %s, %s) = %ld (%s), expected %s", \
			     #len, #flags, #addr, __r,			\
			     __r > 0 ? "a child" : strerror(errno), #err); \
	} while (0)

/* How many mappings of sfork regions /proc/self/maps lists. */
static int regions_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	ASSERT_TRUE(f);
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, "/sfork (deleted)");
	fclose(f);
	return n;
}

static long minflt(void)
{
	struct rusage ru;

	ASSERT_OK(getrusage(RUSAGE_SELF, &ru));
	return ru.ru_minflt;
}

/* A pipe each way between the two sides of a test. */
struct chan {
	int up[2];	/* child to parent */
	int down[2];	/* parent to child */
};

static void chan_open(struct chan *c)
{
	ASSERT_OK(pipe(c->up));
	ASSERT_OK(pipe(c->down));
}

/*
 * After the fork: each side closes the ends it does not use, so that a
 * side that dies makes the other's chan_recv() fail instead of hang.
 */
static void chan_side(struct chan *c, bool child)
{
	close(child ? c->up[0] : c->up[1]);
	close(child ? c->down[1] : c->down[0]);
}

static void chan_send(int fd, long v)
{
	ASSERT_EQ(write(fd, &v, sizeof(v)), (long)sizeof(v));
}

static long chan_recv(int fd)
{
	long v;

	ASSERT_EQ(read(fd, &v, sizeof(v)), (long)sizeof(v));
	return v;
}

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	siglongjmp(segv_jmp, 1);
}

/* Does a plain store to @p raise SIGSEGV?  The memory is unchanged if so. */
static bool store_faults(volatile char *p)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	bool faulted;

	ASSERT_OK(sigaction(SIGSEGV, &sa, &old));
	if (sigsetjmp(segv_jmp, 1)) {
		faulted = true;
	} else {
		*p = 'X';
		faulted = false;
	}
	ASSERT_OK(sigaction(SIGSEGV, &old, NULL));
	return faulted;
}

/*
 * Every way the calling process might write @p (@len bytes, of a side
 * without write access) must fail and leave the memory as it was.
 */
static void check_read_only(char *p, size_t len)
{
	char before[64], buf[8] = "written", path[64];
	struct iovec local = { buf, sizeof(buf) }, remote = { p, sizeof(buf) };
	struct io_uring_params params = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)p, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct iovec iov = { p, PAGE };
	int fd, ring;
	void *q;

	memcpy(before, p, sizeof(before));

	/* A store. */
	ASSERT_TRUE(store_faults(p));

	/* mprotect(), here and after a move by mremap(). */
	if (mprotect(p, len, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		FAIL("mprotect(PROT_WRITE): %s, expected EACCES",
		     strerror(errno));
	q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0));
	ASSERT_TRUE(q != MAP_FAILED);
	if (mprotect(q, len, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		FAIL("mprotect(PROT_WRITE) after mremap: %s, expected EACCES",
		     strerror(errno));
	ASSERT_TRUE(store_faults(q));
	ASSERT_TRUE(mremap(q, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, p) == p);

	/* FOLL_FORCE through /proc/self/mem. */
	fd = open("/proc/self/mem", O_RDWR);
	ASSERT_OK(fd);
	if (pwrite(fd, buf, sizeof(buf), (uintptr_t)p) != -1 || errno != EIO)
		FAIL("pwrite(/proc/self/mem): %s, expected EIO",
		     strerror(errno));
	close(fd);

	/* process_vm_writev(), into itself. */
	if (process_vm_writev(getpid(), &local, 1, &remote, 1, 0) != -1 ||
	    errno != EFAULT)
		FAIL("process_vm_writev(): %s, expected EFAULT",
		     strerror(errno));

	/* A write pin: an io_uring fixed buffer. */
	ring = syscall(__NR_io_uring_setup, 4, &params);
	ASSERT_OK(ring);
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		    &iov, 1) != -1 || errno != EFAULT)
		FAIL("IORING_REGISTER_BUFFERS: %s, expected EFAULT",
		     strerror(errno));
	close(ring);

	/* madvise(): writing through a fault in, or punching a hole. */
	if (madvise(p, PAGE, MADV_POPULATE_WRITE) != -1 || errno != EINVAL)
		FAIL("MADV_POPULATE_WRITE: %s, expected EINVAL",
		     strerror(errno));
	if (madvise(p, PAGE, MADV_REMOVE) != -1 || errno != EACCES)
		FAIL("MADV_REMOVE: %s, expected EACCES", strerror(errno));

	/* userfaultfd, whose UFFDIO_COPY would fill the page cache. */
	fd = syscall(__NR_userfaultfd, O_CLOEXEC);
	ASSERT_OK(fd);
	ASSERT_OK(ioctl(fd, UFFDIO_API, &api));
	if (ioctl(fd, UFFDIO_REGISTER, &reg) != -1 || errno != EINVAL)
		FAIL("UFFDIO_REGISTER: %s, expected EINVAL", strerror(errno));
	close(fd);

	/* A new mapping of the same file, which root may open. */
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
		 (unsigned long)p, (unsigned long)p + len);
	fd = open(path, O_RDWR);
	ASSERT_OK(fd);
	if (pwrite(fd, buf, sizeof(buf), 0) != -1 || errno != EPERM)
		FAIL("write(2) to %s: %s, expected EPERM", path,
		     strerror(errno));
	q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (q != MAP_FAILED || errno != EPERM)
		FAIL("a writable mmap() of %s: %s, expected EPERM", path,
		     q == MAP_FAILED ? strerror(errno) : "mapped");
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(q != MAP_FAILED);
	if (mprotect(q, len, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		FAIL("mprotect(PROT_WRITE) of a new mapping of %s: %s", path,
		     strerror(errno));
	munmap(q, len);
	close(fd);

	/* remap_file_pages() makes a new mapping of the file too. */
	ASSERT_OK(syscall(__NR_remap_file_pages, p, PAGE, 0, 0, 0));
	if (mprotect(p, PAGE, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
		FAIL("mprotect(PROT_WRITE) after remap_file_pages(): %s",
		     strerror(errno));
	ASSERT_TRUE(store_faults(p));

	ASSERT_EQ(memcmp(before, p, sizeof(before)), 0);
}

/* check_read_only() in a plain fork of this side, which shares it too. */
static void check_read_only_forked(char *p, size_t len)
{
	pid_t pid = fork();

	ASSERT_OK(pid);
	if (pid == 0) {
		check_read_only(p, len);
		_exit(0);
	}
	reap(pid);
}

/* A tracer's PTRACE_POKEDATA into @pid's copy of @p must fail. */
static void check_poke_refused(pid_t pid, char *p)
{
	int status;

	ASSERT_OK(ptrace(PTRACE_ATTACH, pid, 0, 0));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (ptrace(PTRACE_POKEDATA, pid, p, 0x5858585858585858L) != -1 ||
	    errno != EIO)
		FAIL("PTRACE_POKEDATA: %s, expected EIO", strerror(errno));
	ASSERT_OK(ptrace(PTRACE_DETACH, pid, 0, 0));
}

#define DIR_PAGES	16

/*
 * The side that may write fills the region; the other sees it all, and
 * none of its ways to write gets through.  Then the other way round for
 * SFORK_BOTH.
 */
static void one_way(unsigned int flags)
{
	size_t len = DIR_PAGES * PAGE;
	bool child_writes = flags & SFORK_CHILD_WRITE;
	bool parent_writes = flags & SFORK_PARENT_WRITE;
	static char want[DIR_PAGES * PAGE];
	struct chan c;
	char *p = NULL;
	pid_t pid;

	chan_open(&c);
	pid = sfork(len, flags, (void **)&p);
	ASSERT_OK(pid);
	ASSERT_TRUE(p);
	chan_side(&c, !pid);
	if (pid == 0) {
		/* The child: write, or check the parent's writes. */
		if (child_writes) {
			fill(p, len, 1);
		} else {
			check_read_only(p, len);
			check_read_only_forked(p, len);
		}
		chan_send(c.up[1], 1);
		chan_recv(c.down[0]);	/* parent wrote, or checked */
		fill(want, len, 2);
		if (parent_writes && memcmp(p, want, len))
			FAIL("the child does not see the parent's writes");
		chan_send(c.up[1], 2);
		/* Stopped here for the parent's PTRACE_POKEDATA. */
		chan_recv(c.down[0]);
		_exit(0);
	}
	chan_recv(c.up[0]);
	fill(want, len, 1);
	if (child_writes) {
		if (memcmp(p, want, len))
			FAIL("the parent does not see the child's writes");
	} else {
		memset(want, 0, len);
		ASSERT_EQ(memcmp(p, want, len), 0);
	}
	if (parent_writes) {
		fill(p, len, 2);
	} else {
		check_read_only(p, len);
		check_read_only_forked(p, len);
	}
	chan_send(c.down[1], 1);
	chan_recv(c.up[0]);
	if (!child_writes)
		check_poke_refused(pid, p);
	chan_send(c.down[1], 2);
	reap(pid);
}

/*
 * Populated, the child's page tables are copies of the parent's, so these
 * also check the copies of a side that may not write.
 */
TEST(parent_writes_child_reads)
{
	one_way(SFORK_PARENT_WRITE);
	one_way(SFORK_PARENT_WRITE | SFORK_POPULATE);
}

TEST(child_writes_parent_reads)
{
	one_way(SFORK_CHILD_WRITE);
	one_way(SFORK_CHILD_WRITE | SFORK_POPULATE);
}

TEST(both_write)
{
	one_way(SFORK_BOTH);
	one_way(SFORK_BOTH | SFORK_POPULATE);
}

TEST(every_errno_and_no_child)
{
	void *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	void *p = NULL;
	int maps = regions_mapped();

	ASSERT_TRUE(ro != MAP_FAILED);
	sfork(PAGE, SFORK_BOTH, NULL);	/* skip if there is no sfork */
	ASSERT_SFORK_ERR(PAGE, 0, &p, EINVAL);
	ASSERT_SFORK_ERR(PAGE, SFORK_POPULATE, &p, EINVAL);
	ASSERT_SFORK_ERR(PAGE, SFORK_BOTH | 0x8, &p, EINVAL);
	ASSERT_SFORK_ERR(PAGE, SFORK_CHILD_WRITE | 0x80000000u, &p, EINVAL);
	ASSERT_SFORK_ERR(0, SFORK_BOTH, &p, EINVAL);
	ASSERT_SFORK_ERR(SIZE_MAX, SFORK_BOTH, &p, EINVAL);
	ASSERT_SFORK_ERR(SIZE_MAX - PAGE + 2, SFORK_BOTH, &p, EINVAL);
	ASSERT_SFORK_ERR(PAGE, SFORK_BOTH, NULL, EFAULT);
	ASSERT_SFORK_ERR(PAGE, SFORK_BOTH, (void **)8, EFAULT);
	ASSERT_SFORK_ERR(PAGE, SFORK_BOTH, ro, EFAULT);
	/* More than the address space holds: what mmap() says. */
	ASSERT_SFORK_ERR(1UL << 50, SFORK_BOTH, &p, ENOMEM);
	ASSERT_TRUE(!p);
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		FAIL("a failed sfork() left a child behind");
	ASSERT_EQ(regions_mapped(), maps);
}

#define POP_PAGES	4096

/* Faults the child takes to read every page of a new region. */
static long child_read_faults(unsigned int flags)
{
	struct chan c;
	char *p = NULL;
	pid_t pid;
	long f;

	chan_open(&c);
	pid = sfork(POP_PAGES * PAGE, flags, (void **)&p);
	ASSERT_OK(pid);
	chan_side(&c, !pid);
	if (pid == 0) {
		volatile char *q = p;
		unsigned long sum = 0;
		size_t i;

		f = minflt();
		for (i = 0; i < POP_PAGES; i++)
			sum += q[i * PAGE];
		chan_send(c.up[1], minflt() - f);
		_exit(sum != 0);
	}
	f = chan_recv(c.up[0]);
	reap(pid);
	return f;
}

TEST(populate_against_lazy)
{
	long lazy = child_read_faults(SFORK_PARENT_WRITE);
	long pop = child_read_faults(SFORK_PARENT_WRITE | SFORK_POPULATE);
	long pop_ro = child_read_faults(SFORK_CHILD_WRITE | SFORK_POPULATE);

	diag("child's faults to read %d pages: lazy %ld, populated %ld "
	     "(%ld with the parent read-only)", POP_PAGES, lazy, pop, pop_ro);
	/* Each untouched page of a lazy region is a fault that allocates. */
	ASSERT_GE(lazy, POP_PAGES / 2);
	ASSERT_LE(pop, POP_PAGES / 100);
	ASSERT_LE(pop_ro, POP_PAGES / 100);
}

#define TRACEFS		"/sys/kernel/tracing"
#define SHARE_PAGES	1024
#define SHARERS		5

/* The ctxkit:sfork_share events traced since trace_start(). */
static bool trace_start(void)
{
	return write_file(TRACEFS "/trace", "") &&
	       write_file(TRACEFS "/events/ctxkit/sfork_share/enable", "1");
}

/* How many sfork_share events said installed=@installed. */
static long trace_count(unsigned int installed)
{
	char line[512], want[32];
	FILE *f;
	long n = 0;

	write_file(TRACEFS "/events/ctxkit/sfork_share/enable", "0");
	f = fopen(TRACEFS "/trace", "r");
	ASSERT_TRUE(f);
	snprintf(want, sizeof(want), "installed=%u ", installed);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "sfork_share:") && strstr(line, want);
	fclose(f);
	return n;
}

/*
 * The parent touches every page of a lazy region shared by five processes
 * (the sfork() child and three plain forks); each of the other four then
 * reads them all, and sees the parent's data, with almost no fault.
 */
TEST(first_touch_seen_by_every_sharer)
{
	size_t len = SHARE_PAGES * PAGE;
	static char want[SHARE_PAGES * PAGE];
	struct chan c[SHARERS];
	pid_t pid[SHARERS];
	bool traced;
	char *p = NULL;
	long f, total = 0;
	int i, j;

	for (i = 1; i < SHARERS; i++)
		chan_open(&c[i]);
	pid[1] = sfork(len, SFORK_BOTH, (void **)&p);
	ASSERT_OK(pid[1]);
	for (i = 1; i < SHARERS; i++) {
		if (i > 1 && pid[1]) {
			pid[i] = fork();
			ASSERT_OK(pid[i]);
		} else {
			pid[i] = pid[1];
		}
		if (pid[i] == 0) {
			volatile char *q = p;
			unsigned long sum = 0;

			for (j = 1; j < SHARERS; j++)
				chan_side(&c[j], j == i);
			chan_send(c[i].up[1], 0);	/* ready */
			chan_recv(c[i].down[0]);	/* touched */
			f = minflt();
			for (j = 0; j < SHARE_PAGES; j++)
				sum += q[j * PAGE];
			f = minflt() - f;
			fill(want, len, 7);
			if (memcmp(p, want, len))
				_exit(3);
			chan_send(c[i].up[1], f + !sum);
			_exit(0);
		}
	}
	for (i = 1; i < SHARERS; i++) {
		chan_side(&c[i], false);
		chan_recv(c[i].up[0]);
	}
	traced = trace_start();
	f = minflt();
	fill(p, len, 7);
	f = minflt() - f;
	for (i = 1; i < SHARERS; i++)
		chan_send(c[i].down[1], 1);
	for (i = 1; i < SHARERS; i++) {
		long n = chan_recv(c[i].up[0]);

		diag("sharer %d: %ld faults to read %d pages", i, n,
		     SHARE_PAGES);
		ASSERT_LE(n, SHARE_PAGES / 100);
		total += n;
		reap(pid[i]);
	}
	diag("the toucher: %ld faults for %d pages", f, SHARE_PAGES);
	ASSERT_GE(f, SHARE_PAGES);
	if (traced) {
		long n = trace_count(SHARERS - 1);

		diag("sfork_share events with installed=%d: %ld", SHARERS - 1, n);
		ASSERT_EQ(n, SHARE_PAGES);
	}
}

/*
 * Nesting: the sfork() child C of P forks G1 plainly, which shares P's
 * region R1 as C does (read-only), and sforks G2 with a region R2 of its
 * own that only G2 writes.  P's writes to R1 after all that reach C, G1
 * and G2.
 */
TEST(nested_sfork_and_plain_fork)
{
	size_t len = 4 * PAGE;
	static char want[4 * PAGE];
	struct chan c;
	char *r1 = NULL;
	pid_t pid;

	chan_open(&c);
	pid = sfork(len, SFORK_PARENT_WRITE, (void **)&r1);
	ASSERT_OK(pid);
	chan_side(&c, !pid);
	if (pid == 0) {
		char *r2 = NULL;
		pid_t g1, g2;
		int ready[2], go[2];

		ASSERT_OK(pipe(ready));
		ASSERT_OK(pipe(go));
		g1 = fork();
		ASSERT_OK(g1);
		if (g1 == 0) {
			check_read_only(r1, len);
			chan_send(ready[1], 1);
			chan_recv(go[0]);
			fill(want, len, 11);
			_exit(memcmp(r1, want, len) ? 5 : 0);
		}
		g2 = sfork(len, SFORK_CHILD_WRITE, (void **)&r2);
		ASSERT_OK(g2);
		ASSERT_TRUE(r2 && r2 != r1);
		if (g2 == 0) {
			check_read_only(r1, len);
			fill(r2, len, 12);
			chan_send(ready[1], 2);
			chan_recv(go[0]);
			fill(want, len, 11);
			_exit(memcmp(r1, want, len) ? 6 : 0);
		}
		/* Only G1 and G2 write ready[] and read go[]. */
		close(ready[1]);
		close(go[0]);
		chan_recv(ready[0]);
		chan_recv(ready[0]);
		/* C reads G2's writes, and may write neither region. */
		fill(want, len, 12);
		ASSERT_EQ(memcmp(r2, want, len), 0);
		check_read_only(r2, len);
		check_read_only(r1, len);
		chan_send(c.up[1], 1);
		chan_recv(c.down[0]);	/* P wrote R1 */
		chan_send(go[1], 1);
		chan_send(go[1], 1);
		reap(g1);
		reap(g2);
		fill(want, len, 11);
		_exit(memcmp(r1, want, len) ? 7 : 0);
	}
	chan_recv(c.up[0]);
	fill(r1, len, 11);
	chan_send(c.down[1], 1);
	reap(pid);
}

/* exec() drops the region, as it drops every mapping. */
TEST(exec_drops_the_region)
{
	char *p = NULL;
	pid_t pid;

	pid = sfork(PAGE, SFORK_BOTH, (void **)&p);
	ASSERT_OK(pid);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c",
		      "! grep -q 'sfork (deleted)' /proc/self/maps", (char *)NULL);
		_exit(99);
	}
	ASSERT_EQ(regions_mapped(), 1);
	reap(pid);
}

#define HAMMER_PAGES	2048
#define HAMMER_ROUNDS	3

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The page @i holds after round @round, and its owner: one sharer each. */
static unsigned int page_seed(size_t i, int round)
{
	return (unsigned int)(i * 7919 + round * 104729 + 1);
}

static int page_owner(size_t i)
{
	return (i * 2654435761u >> 7) % SHARERS;
}

static uint32_t checksum(const char *p, size_t len)
{
	const uint32_t *w = (const uint32_t *)p;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len / 4; i++)
		sum = (sum << 1 | sum >> 31) ^ w[i];
	return sum;
}

/*
 * Five sharers of a lazy region.  In each round every sharer rewrites
 * the pages it owns, in random order, while reading others' pages at
 * random; after each round all five checksum the whole region and must
 * agree with what the pattern says.
 */
TEST(five_sharers_hammer_random_pages)
{
	size_t len = HAMMER_PAGES * PAGE;
	char *want = map_anon(len);
	struct chan c[SHARERS];
	pid_t pid[SHARERS] = { 0 };
	char *p = NULL;
	uint32_t sum;
	int i, me = 0, round;
	size_t pg;

	for (i = 1; i < SHARERS; i++)
		chan_open(&c[i]);
	pid[1] = sfork(len, SFORK_BOTH, (void **)&p);
	ASSERT_OK(pid[1]);
	if (!pid[1])
		me = 1;
	for (i = 2; i < SHARERS && !me; i++) {
		pid[i] = fork();
		ASSERT_OK(pid[i]);
		if (!pid[i])
			me = i;
	}
	for (i = 1; i < SHARERS; i++)
		chan_side(&c[i], i == me);

	for (round = 0; round < HAMMER_ROUNDS; round++) {
		uint64_t s = 0x9e3779b97f4a7c15ull * (me + 1) + round;
		volatile char *q = p;
		unsigned long reads = 0;

		/* Write the pages this sharer owns, starting at random. */
		pg = rnd(&s) % HAMMER_PAGES;
		for (i = 0; i < HAMMER_PAGES; i++, pg = (pg + 1) % HAMMER_PAGES) {
			if (page_owner(pg) == me)
				fill(p + pg * PAGE, PAGE, page_seed(pg, round));
			reads += q[(rnd(&s) % HAMMER_PAGES) * PAGE];
		}
		/* Barrier: the sharers tell the parent, which tells them. */
		if (me) {
			chan_send(c[me].up[1], reads);
			chan_recv(c[me].down[0]);
		} else {
			for (i = 1; i < SHARERS; i++)
				chan_recv(c[i].up[0]);
			for (i = 1; i < SHARERS; i++)
				chan_send(c[i].down[1], 1);
		}
		for (pg = 0; pg < HAMMER_PAGES; pg++)
			fill(want + pg * PAGE, PAGE, page_seed(pg, round));
		sum = checksum(p, len);
		if (sum != checksum(want, len)) {
			for (pg = 0; pg < HAMMER_PAGES; pg++)
				if (memcmp(p + pg * PAGE, want + pg * PAGE, PAGE))
					break;
			FAIL("sharer %d, round %d: checksum %08x, want %08x; "
			     "page %zu (owner %d) differs", me, round, sum,
			     checksum(want, len), pg, page_owner(pg));
		}
		/* Nobody writes the next round before everyone checked. */
		if (me) {
			chan_send(c[me].up[1], sum);
			chan_recv(c[me].down[0]);
		} else {
			for (i = 1; i < SHARERS; i++)
				ASSERT_EQ(chan_recv(c[i].up[0]), sum);
			for (i = 1; i < SHARERS; i++)
				chan_send(c[i].down[1], 1);
		}
	}
	if (me)
		_exit(0);
	for (i = 1; i < SHARERS; i++)
		reap(pid[i]);
}

/*
 * While four sharers fault pages in at random, a fifth changes its own
 * view: mprotect(), MADV_DONTNEED, mremap() away and back, short-lived
 * forks that exit, and at last munmap() and exit.  The four must see
 * only their own writes, intact.
 */
TEST(sharer_exits_unmaps_mprotects_while_others_fault)
{
	size_t len = HAMMER_PAGES * PAGE;
	char *p = NULL, *spare;
	pid_t pid[SHARERS] = { 0 };
	int i, me = 0, status;
	double end;

	pid[1] = sfork(len, SFORK_BOTH, (void **)&p);
	ASSERT_OK(pid[1]);
	if (!pid[1])
		me = 1;
	for (i = 2; i < SHARERS && !me; i++) {
		pid[i] = fork();
		ASSERT_OK(pid[i]);
		if (!pid[i])
			me = i;
	}
	end = now_s() + 3;
	if (me == 1) {
		/* The one that keeps changing its mapping. */
		spare = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
		ASSERT_TRUE(spare != MAP_FAILED);
		while (now_s() < end) {
			pid_t kid;

			ASSERT_OK(mprotect(p, len / 2, PROT_READ));
			ASSERT_OK(mprotect(p, len / 2, PROT_NONE));
			ASSERT_OK(mprotect(p, len, PROT_READ | PROT_WRITE));
			ASSERT_OK(madvise(p, len, MADV_DONTNEED));
			ASSERT_TRUE(mremap(p, len, len,
					   MREMAP_MAYMOVE | MREMAP_FIXED,
					   spare) == spare);
			ASSERT_TRUE(mremap(spare, len, len,
					   MREMAP_MAYMOVE | MREMAP_FIXED,
					   p) == p);
			kid = fork();
			ASSERT_OK(kid);
			if (kid == 0)
				_exit(0);
			ASSERT_EQ(waitpid(kid, &status, 0), kid);
		}
		ASSERT_OK(munmap(p, len));
		_exit(0);
	}
	if (me) {
		/* Sharer k owns the pages i with i % 4 == k - 2. */
		uint64_t s = me * 0x2545f4914f6cdd1dull;
		int mine = me - 2;
		size_t pg;

		while (now_s() < end) {
			pg = rnd(&s) % HAMMER_PAGES;
			if ((int)(pg % 4) == mine)
				p[pg * PAGE + (rnd(&s) % PAGE)] = (char)me;
			else
				(void)*(volatile char *)(p + pg * PAGE);
		}
		for (pg = mine; pg < HAMMER_PAGES; pg += 4) {
			size_t b;

			for (b = 0; b < PAGE; b++)
				if (p[pg * PAGE + b] && p[pg * PAGE + b] != me)
					FAIL("sharer %d: page %zu byte %zu is %d",
					     me, pg, b, p[pg * PAGE + b]);
		}
		_exit(0);
	}
	/* The parent owns i % 4 == 3 and writes as the others do. */
	{
		uint64_t s = 0x853c49e6748fea9bull;
		size_t pg, b;

		while (now_s() < end) {
			pg = rnd(&s) % HAMMER_PAGES;
			if (pg % 4 == 3)
				p[pg * PAGE + (rnd(&s) % PAGE)] = 9;
			else
				(void)*(volatile char *)(p + pg * PAGE);
		}
		for (i = 1; i < SHARERS; i++)
			reap(pid[i]);
		for (pg = 3; pg < HAMMER_PAGES; pg += 4)
			for (b = 0; b < PAGE; b++)
				if (p[pg * PAGE + b] && p[pg * PAGE + b] != 9)
					FAIL("page %zu byte %zu is %d", pg, b,
					     p[pg * PAGE + b]);
	}
}

#define FREE_PAGES	4096

/* Shmem of /proc/meminfo, in kB. */
static long shmem_kb(void)
{
	return proc_kb("/proc/meminfo", "Shmem:");
}

static char cg_path[64];

static int touch_region_and_exit(void)
{
	size_t len = FREE_PAGES * PAGE;
	char *p = NULL;
	pid_t pid;

	pid = sfork(len, SFORK_BOTH, (void **)&p);
	if (pid < 0)
		return 10;
	/* Each allocates half of it. */
	memset(p + (pid ? 0 : len / 2), pid ? 1 : 2, len / 2);
	if (pid == 0)
		_exit(0);
	reap(pid);
	/* Charged here, all of it, whichever sharer allocated it. */
	if (cg_read(cg_path, "memory.current", NULL) < (long)len)
		return 12;
	/* The child is gone; its pages are still the parent's to see. */
	return p[0] == 1 && p[len - 1] == 2 ? 0 : 11;
}

/*
 * The region's pages are charged to the cgroup of the process that
 * allocated them, and all of it is freed with the last sharer: the
 * cgroup's usage and Shmem come back, and kmemleak has nothing new.
 */
TEST(memory_freed_with_the_last_sharer)
{
	long shmem0, shmem1, cur;
	bool kml = kmemleak_start();
	char cg[64];

	cg_make(cg, sizeof(cg), "sfork");
	strcpy(cg_path, cg);
	shmem0 = shmem_kb();
	cg_children(1, cg, touch_region_and_exit, false);
	cur = cg_read(cg, "memory.current", NULL);
	shmem1 = shmem_kb();
	diag("after the last sharer: memory.current %ld bytes, Shmem %ld -> "
	     "%ld kB", cur, shmem0, shmem1);
	ASSERT_LE(cur, 1L << 20);	/* the region alone is 16 MiB */
	ASSERT_LE(shmem1, shmem0 + 1024);
	ASSERT_OK(rmdir(cg));
	kmemleak_none(kml);
}

TEST_MAIN()
