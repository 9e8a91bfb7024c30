// SPDX-License-Identifier: GPL-2.0
/*
 * mmcontext.c - selftests of mmcontext(2): snapshot and rollback of a
 * process's own private memory.
 *
 * Every case checks memory against a copy taken before the save (memcmp),
 * residency against mincore(), the break against sbrk(0), the layout
 * against what mincore()/munmap() say is mapped, and leaks against the
 * kernel's free page count.  None of it asks mmcontext what it did.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/io_uring.h>
#include <linux/mempolicy.h>
#include <linux/mmcontext.h>
#include <linux/userfaultfd.h>

#include "mm_util.h"

#define LEAK_DENSE	1024	/* pages each leak-test child dirties */
#define LEAK_SPARSE	32	/* and 2 MiB areas it touches once */

/*
 * Skip, not fail, on a kernel without mmcontext: ENOSYS, or a newer
 * kernel that gave the number to another call (which won't say EINVAL
 * to an unknown op the way mmcontext does).
 */
static long mmc(unsigned int op)
{
	static int have = -1;

	if (have < 0) {
		have = syscall(__NR_mmcontext, ~0u, 0) == -1 && errno == EINVAL;
		if (!have)
			SKIP("this kernel has no mmcontext (syscall %d: %s)",
			     __NR_mmcontext, strerror(errno));
	}
	return syscall(__NR_mmcontext, op, 0);
}

/* mmcontext(op) must fail with err. */
#define ASSERT_MMC_ERR(op, err) do {					\
		long __r = mmc(op);					\
		if (__r != -1 || errno != (err))			\
			FAIL("mmcontext(%s) = %ld (%s), expected %s",	\
			     #op, __r, __r ? strerror(errno) : "ok", #err); \
	} while (0)

#define ASSERT_MMC(op)	ASSERT_OK(mmc(op))

static void *dup_mem(const void *p, size_t len)
{
	void *copy = malloc(len);

	if (!copy)
		FAIL("malloc %zu", len);
	memcpy(copy, p, len);
	return copy;
}

/* Resident pages in [p, p + len), from mincore(). */
static long resident(void *p, size_t len)
{
	unsigned char vec[len / PAGE];
	long n = 0;
	size_t i;

	if (mincore(p, len, vec))
		return -errno;
	for (i = 0; i < len / PAGE; i++)
		n += vec[i] & 1;
	return n;
}

/* Is anything mapped at p?  mincore() says ENOMEM for holes. */
static bool mapped(void *p)
{
	unsigned char v;

	return mincore(p, PAGE, &v) == 0;
}

static void expect_same(const void *a, const void *b, size_t len,
			const char *what)
{
	size_t i;

	if (!memcmp(a, b, len))
		return;
	for (i = 0; i < len && ((char *)a)[i] == ((char *)b)[i]; i++)
		;
	FAIL("%s differs from the saved copy at byte %zu of %zu", what, i,
	     len);
}

/* Save, scribble, roll back (op), compare: the core of every kind. */
static void roundtrip(void *p, size_t len, unsigned int op, const char *what)
{
	void *before = dup_mem(p, len);

	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, len, 0xdeadbeef);
	ASSERT_TRUE(memcmp(p, before, len) != 0);
	ASSERT_MMC(op);
	expect_same(p, before, len, what);
	/*
	 * No free(): a block this size is its own mapping, and unmapping
	 * it would make a still-armed snapshot stale (ESTALE).
	 */
}

/* ---- errors ---------------------------------------------------------- */

TEST(errno_einval_enoent_eexist)
{
	ASSERT_MMC_ERR(4, EINVAL);
	ASSERT_MMC_ERR(0xffffffffu, EINVAL);
	ASSERT_MMC_ERR(MMCONTEXT_RESTORE, ENOENT);
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, ENOENT);
	ASSERT_MMC_ERR(MMCONTEXT_DROP, ENOENT);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_MMC_ERR(MMCONTEXT_SAVE, EEXIST);
	ASSERT_MMC_ERR(77, EINVAL);
	ASSERT_MMC(MMCONTEXT_DROP);
	ASSERT_MMC_ERR(MMCONTEXT_DROP, ENOENT);
	/* RESTORE consumes the snapshot, ROLLBACK keeps it. */
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_MMC_ERR(MMCONTEXT_RESTORE, ENOENT);
}

/* No flags are defined yet: every bit is refused, for every op. */
TEST(flags_must_be_zero)
{
	unsigned int bit;

	mmc(MMCONTEXT_DROP);		/* probe: skip without mmcontext */
	for (bit = 0; bit < 32; bit++) {
		if (syscall(__NR_mmcontext, MMCONTEXT_SAVE, 1u << bit) != -1 ||
		    errno != EINVAL)
			FAIL("SAVE with flags %#x: not EINVAL", 1u << bit);
	}
	ASSERT_MMC_ERR(MMCONTEXT_DROP, ENOENT);	/* no snapshot was taken */
	ASSERT_MMC(MMCONTEXT_SAVE);
	if (syscall(__NR_mmcontext, MMCONTEXT_ROLLBACK, ~0u) != -1 ||
	    errno != EINVAL)
		FAIL("ROLLBACK with flags ~0: not EINVAL");
	ASSERT_MMC(MMCONTEXT_DROP);
}

/* ---- the kinds of memory --------------------------------------------- */

static char data_buf[64 * 1024] = { 1, 2, 3 };
static char bss_buf[64 * 1024];

TEST(kind_anon_private)
{
	size_t len = 64 * PAGE;
	char *p = map_anon(len);

	fill(p, len, 1);
	roundtrip(p, len, MMCONTEXT_ROLLBACK, "anon mapping");
	/* Still armed: a second round on the same snapshot. */
	fill(p + 5 * PAGE, PAGE, 2);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	fill(p, PAGE, 3);	/* and writable once the snapshot is gone */
}

TEST(kind_brk_heap)
{
	size_t len = 32 * PAGE;
	char *p = sbrk(len);

	ASSERT_TRUE(p != (void *)-1);
	fill(p, len, 4);
	roundtrip(p, len, MMCONTEXT_RESTORE, "brk heap");
}

TEST(kind_data)
{
	fill(data_buf, sizeof(data_buf), 5);
	roundtrip(data_buf, sizeof(data_buf), MMCONTEXT_RESTORE, ".data");
}

TEST(kind_bss)
{
	/* Half never touched: rollback must make it zero again. */
	fill(bss_buf, sizeof(bss_buf) / 2, 6);
	roundtrip(bss_buf, sizeof(bss_buf), MMCONTEXT_RESTORE, ".bss");
}

TEST(kind_private_file)
{
	size_t len = 32 * PAGE;
	char path[] = "/tmp/mmcontext.XXXXXX";
	char *file = malloc(len), *p;
	int fd = mkstemp(path);

	ASSERT_OK(fd);
	unlink(path);
	fill(file, len, 7);
	ASSERT_EQ(write(fd, file, len), (long)len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	/* Some pages private copies already, some still the page cache. */
	fill(p, len / 4, 8);
	roundtrip(p, len, MMCONTEXT_RESTORE, "private file mapping");
	/* The file itself never changed. */
	ASSERT_EQ(pread(fd, p, len, 0), (long)len);
	expect_same(p, file, len, "file");
}

static char *map_thp(size_t len)
{
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	ASSERT_TRUE(raw != MAP_FAILED);
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	ASSERT_OK(madvise(p, len, MADV_HUGEPAGE));
	return p;
}

/* AnonHugePages of the mapping holding p, in kB, from smaps. */
static long anon_huge_kb(void *p)
{
	char line[256];
	long kb = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

TEST(kind_thp)
{
	size_t len = 2 * HPAGE;
	char *p = map_thp(len), *before;

	fill(p, len, 9);
	if (anon_huge_kb(p) < 2048)
		SKIP("no THP here (AnonHugePages %ld kB)", anon_huge_kb(p));
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	/* A few bytes in each huge page, and a whole 4 KiB page. */
	p[0] = p[HPAGE + 12345] = 0x5a;
	fill(p + HPAGE - PAGE, PAGE, 10);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, before, len, "THP mapping");
	fill(p, len, 11);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, len, "THP mapping, second round");
}

TEST(thp_populated_after_save_is_emptied)
{
	size_t len = 2 * HPAGE;
	char *p = map_thp(len);

	p[0] = 1;		/* first huge page populated at save */
	ASSERT_MMC(MMCONTEXT_SAVE);
	memset(p + HPAGE, 0x77, HPAGE);	/* second one only after */
	ASSERT_EQ(resident(p + HPAGE, HPAGE), (long)(HPAGE / PAGE));
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_EQ(resident(p + HPAGE, HPAGE), 0);
	ASSERT_EQ(p[HPAGE + 100], 0);
	ASSERT_EQ(p[0], 1);
}

/*
 * A write splits the PMD of a saved huge page.  Once the rollback has put
 * all of the folio back, it must map it with a PMD again; where it keeps a
 * copy (a page written two periods in a row), once it gives the copy up.
 */
#define THP_STATS "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/stats"

TEST(saved_thp_mapped_huge_again)
{
	size_t len = 2 * HPAGE;
	char *p = map_thp(len), *before;
	long partial;
	int i;

	fill(p, len, 14);
	if (anon_huge_kb(p) < 4096)
		SKIP("no THP here (AnonHugePages %ld kB)", anon_huge_kb(p));
	partial = cg_read(THP_STATS, "nr_anon_partially_mapped", NULL);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	p[100] = 1;
	p[HPAGE + 7 * PAGE] = 2;
	ASSERT_EQ(anon_huge_kb(p), 0);
	/* Queued for the shrinker to split; mapped whole, no longer. */
	ASSERT_EQ(cg_read(THP_STATS, "nr_anon_partially_mapped", NULL),
		  partial + 2);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, before, len, "THP mapping");
	ASSERT_EQ(anon_huge_kb(p), 4096);
	ASSERT_EQ(cg_read(THP_STATS, "nr_anon_partially_mapped", NULL),
		  partial);

	for (i = 0; i < 3; i++) {	/* hot: its copy is kept */
		p[HPAGE + 7 * PAGE] = 3 + i;
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
		expect_same(p, before, len, "THP mapping, hot page");
	}
	ASSERT_EQ(anon_huge_kb(p), 2048);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);	/* not written: copy given up */
	expect_same(p, before, len, "THP mapping, copy given up");
	ASSERT_EQ(anon_huge_kb(p), 4096);

	/*
	 * Dropped, the PMD holds the folio's only reference, so a write
	 * reuses it in place: with one reference too many it would split.
	 */
	ASSERT_MMC(MMCONTEXT_DROP);
	p[0] = 5;
	p[HPAGE] = 6;
	ASSERT_EQ(anon_huge_kb(p), 4096);
}

/* A leak-test child: its saved huge pages remapped, then it exits. */
static int leave_remapped_thp(void)
{
	size_t len = 2 * HPAGE;
	char *p = map_thp(len);

	fill(p, len, 15);
	if (anon_huge_kb(p) < 4096)
		return 23;
	if (mmc(MMCONTEXT_SAVE))
		return 20;
	p[0] = 1;
	p[HPAGE] = 1;
	if (mmc(MMCONTEXT_ROLLBACK))
		return 21;
	p[PAGE] = 2;
	return mmc(MMCONTEXT_ROLLBACK) ? 22 : 0;
}

TEST(remapped_thp_freed_at_exit)
{
	const int n = 16;
	long charged;
	char cg[64];
	char *p = map_thp(HPAGE);

	fill(p, HPAGE, 16);
	if (anon_huge_kb(p) < 2048)
		SKIP("no THP here (AnonHugePages %ld kB)", anon_huge_kb(p));
	ASSERT_MMC_ERR(77, EINVAL);	/* skips without mmcontext */
	cg_make(cg, sizeof(cg), "mmcontext-thp");
	cg_children(n, cg, leave_remapped_thp, false);
	charged = cg_read(cg, "memory.current", NULL);
	ASSERT_OK(rmdir(cg));
	diag("children's memcg %ld bytes; a leak would hold >= %d huge pages",
	     charged, n);
	/* As in expect_no_leak(): per-CPU charge caches, a page of slab. */
	ASSERT_LE(charged, (2 * 64 + 16) * (long)PAGE);
}

/*
 * A write to a page of a private DAX mapping that no entry maps yet is
 * copied in the filesystem's own fault handler, which says so with
 * VM_FAULT_DONE_COW.  The rollback must hear of that copy like any other.
 */
TEST(dax_private_copy_on_write_rolled_back)
{
	const size_t len = 8 * PAGE;
	char *file = malloc(len), *p;
	int fd = dax_file(len, 44, file), i;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (i = 4; i < 8; i++)		/* the upper half mapped, read-only */
		(void)*(volatile char *)(p + i * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	memset(p, 0x5a, len);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, file, len, "private DAX mapping");
	memset(p + PAGE, 0x6b, 2 * PAGE);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, file, len, "private DAX mapping, second round");
	munmap(p, len);
	close(fd);
}

/* ---- first touch, brk, layout ---------------------------------------- */

TEST(first_touch_after_save_is_empty_again)
{
	size_t len = 64 * PAGE;
	char *p = map_anon(len);
	long i;

	fill(p, len / 2, 12);	/* upper half never touched */
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, len, 13);
	ASSERT_EQ(resident(p, len), 64);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_EQ(resident(p + len / 2, len / 2), 0);
	for (i = len / 2; i < (long)len; i++)
		if (p[i])
			FAIL("byte %ld is %d after rollback, not 0", i, p[i]);
}

TEST(brk_grown_then_shrunk)
{
	char *base = sbrk(0), *top;
	char *heap = sbrk(8 * PAGE);
	char *before;

	ASSERT_TRUE(heap != (void *)-1);
	fill(heap, 8 * PAGE, 14);
	base = sbrk(0);
	before = dup_mem(heap, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);

	/* Grow by 1 MiB, use it, give half of it back, scribble below. */
	top = sbrk(256 * PAGE);
	ASSERT_TRUE(top == base);
	memset(top, 0xab, 256 * PAGE);
	ASSERT_TRUE(sbrk(-128 * (long)PAGE) != (void *)-1);
	fill(heap, 8 * PAGE, 15);

	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_TRUE(sbrk(0) == base);
	ASSERT_TRUE(!mapped(base + PAGE));
	expect_same(heap, before, 8 * PAGE, "heap");
	/* The heap grows again from the restored break. */
	top = sbrk(PAGE);
	ASSERT_TRUE(top == base);
	ASSERT_EQ(top[0], 0);
}

TEST(brk_shrunk_below_save_is_estale)
{
	char *heap = sbrk(8 * PAGE), *now;

	ASSERT_TRUE(heap != (void *)-1);
	fill(heap, 8 * PAGE, 16);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(heap, 4 * PAGE, 17);
	ASSERT_TRUE(sbrk(-4 * (long)PAGE) != (void *)-1);
	now = dup_mem(heap, 4 * PAGE);
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, ESTALE);
	/* Nothing was rolled back: not memory, not the break. */
	expect_same(heap, now, 4 * PAGE, "heap after a refused rollback");
	ASSERT_TRUE(sbrk(0) == heap + 4 * PAGE);
	ASSERT_MMC(MMCONTEXT_DROP);
}

TEST(mappings_created_after_save_are_gone)
{
	char *old = map_anon(4 * PAGE), *anon, *shared;

	fill(old, 4 * PAGE, 18);
	ASSERT_MMC(MMCONTEXT_SAVE);
	anon = map_anon(16 * PAGE);
	shared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(shared != MAP_FAILED);
	memset(anon, 1, 16 * PAGE);
	memset(shared, 1, 4 * PAGE);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_TRUE(!mapped(anon));
	ASSERT_TRUE(!mapped(anon + 15 * PAGE));
	ASSERT_TRUE(!mapped(shared));
	ASSERT_TRUE(mapped(old));
}

TEST(unmapped_after_save_is_estale)
{
	char *p = map_anon(8 * PAGE), *now;

	fill(p, 8 * PAGE, 19);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, 4 * PAGE, 20);
	ASSERT_OK(munmap(p + 4 * PAGE, 4 * PAGE));
	/* Even mapped again at the same place, it is not the same memory. */
	ASSERT_TRUE(mmap(p + 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    MAP_FAILED);
	now = dup_mem(p, 8 * PAGE);
	ASSERT_MMC_ERR(MMCONTEXT_RESTORE, ESTALE);
	expect_same(p, now, 8 * PAGE, "memory after a refused rollback");
	ASSERT_MMC(MMCONTEXT_DROP);
}

TEST(mprotect_after_save)
{
	char *p = map_anon(8 * PAGE), *before, *now;

	fill(p, 8 * PAGE, 21);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, 8 * PAGE, 22);
	ASSERT_OK(mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ));
	now = dup_mem(p, 8 * PAGE);
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, ESTALE);
	expect_same(p, now, 8 * PAGE, "memory after a refused rollback");

	/*
	 * Protection put back: the layout matches again.  A page discarded
	 * while read-only must still come back.
	 */
	ASSERT_OK(madvise(p + 2 * PAGE, PAGE, MADV_DONTNEED));
	ASSERT_OK(mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE));
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 8 * PAGE, "memory");
}

TEST(madvise_dontneed_after_save)
{
	char *p = map_anon(16 * PAGE), *before;

	fill(p, 16 * PAGE, 23);
	before = dup_mem(p, 16 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_OK(madvise(p, 16 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(p[PAGE], 0);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 16 * PAGE, "memory");
}

/* mremap() growing a covered mapping in place: the growth is new. */
TEST(mremap_grown_in_place)
{
	char *p = map_anon(16 * PAGE), *before, *q;

	ASSERT_OK(munmap(p + 8 * PAGE, 8 * PAGE));	/* room to grow */
	fill(p, 8 * PAGE, 41);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	q = mremap(p, 8 * PAGE, 16 * PAGE, 0);
	if (q == MAP_FAILED)
		SKIP("cannot grow in place: %s", strerror(errno));
	ASSERT_TRUE(q == p);
	memset(p, 0x66, 16 * PAGE);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 8 * PAGE, "memory");
	ASSERT_TRUE(!mapped(p + 8 * PAGE));
}

/* Another process writes our covered memory: that is rolled back too. */
TEST(remote_writes_rolled_back)
{
	char *p = map_anon(8 * PAGE), *before, buf[PAGE];
	struct iovec local = { buf, sizeof(buf) }, remote;
	pid_t parent = getpid(), pid;
	int status;

	fill(p, 8 * PAGE, 42);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		memset(buf, 0x77, sizeof(buf));
		remote = (struct iovec){ p + 3 * PAGE, PAGE };
		_exit(process_vm_writev(parent, &local, 1, &remote, 1, 0) ==
		      PAGE ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(p[3 * PAGE], 0x77);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 8 * PAGE, "memory written by another process");
}

/* MADV_FREE on saved pages must not let reclaim drop the originals. */
TEST(madvise_free_after_save)
{
	char *p = map_anon(16 * PAGE), *before;

	fill(p, 16 * PAGE, 43);
	before = dup_mem(p, 16 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_OK(madvise(p, 16 * PAGE, MADV_FREE));
	ASSERT_OK(madvise(p, 16 * PAGE, MADV_PAGEOUT));	/* try to drop */
	fill(p + 4 * PAGE, PAGE, 44);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 16 * PAGE, "memory after MADV_FREE");
}

/*
 * Rolled back to before an MADV_FREE, the pages are not free any more:
 * once the snapshot is gone, reclaim must keep them.
 */
TEST(madvise_free_undone_by_rollback)
{
	char *p = map_anon(16 * PAGE), *before;

	fill(p, 16 * PAGE, 53);
	before = dup_mem(p, 16 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_OK(madvise(p, 16 * PAGE, MADV_FREE));
	fill(p + 4 * PAGE, PAGE, 54);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_OK(madvise(p, 16 * PAGE, MADV_PAGEOUT));
	expect_same(p, before, 16 * PAGE, "memory after reclaim");
}

/* MADV_FREE of a saved page that is in swap frees the swap entry. */
TEST(madvise_free_of_swapped_saved_pages)
{
	size_t pages = 32, len = pages * PAGE;
	char *p = map_anon(len), *before;
	bool on = swap_on();

	fill(p, len, 45);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ASSERT_OK(madvise(p, len, MADV_PAGEOUT));
	diag("%ld of %zu saved pages in swap", swapped(p, pages), pages);
	if (swapped(p, pages) < 8)
		SKIP("MADV_PAGEOUT left the pages in memory");
	ASSERT_OK(madvise(p, len, MADV_FREE));
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, len, "memory after MADV_FREE of swapped pages");
	swap_off(on);
}

/*
 * mremap(MREMAP_DONTUNMAP) moves the pages and leaves the old mapping
 * empty: the saved layout is gone, as with a plain move.
 */
TEST(mremap_dontunmap_is_estale)
{
	char *p = map_anon(8 * PAGE), *before, *q;

	fill(p, 8 * PAGE, 46);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	p[PAGE] = 'w';
	q = mremap(p, 8 * PAGE, 8 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
		   NULL);
	if (q == MAP_FAILED)
		SKIP("MREMAP_DONTUNMAP: %s", strerror(errno));
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, ESTALE);
	/* Refused before it changed anything. */
	ASSERT_TRUE(mapped(q) && mapped(p));
	ASSERT_EQ(q[PAGE], 'w');
	expect_same(q + 2 * PAGE, before + 2 * PAGE, 6 * PAGE, "moved memory");
	ASSERT_EQ(p[2 * PAGE], 0);
	ASSERT_MMC(MMCONTEXT_DROP);
}

/* ---- userfaultfd ------------------------------------------------------- */

static int uffd_open(__u64 features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		SKIP("userfaultfd: %s", strerror(errno));
	if (ioctl(fd, UFFDIO_API, &api))
		SKIP("UFFDIO_API %#llx: %s", (unsigned long long)features,
		     strerror(errno));
	return fd;
}

static void uffd_register(int fd, void *p, size_t len, __u64 mode)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)p, len }, .mode = mode,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		SKIP("UFFDIO_REGISTER mode %#llx: %s",
		     (unsigned long long)mode, strerror(errno));
}

#define PM_UFFD_WP	(1ULL << 57)

/* Does reading the page at @p kill the reader?  Asked of a child. */
static bool read_kills(const volatile char *p)
{
	int status;
	pid_t pid = fork();

	ASSERT_OK(pid);
	if (pid == 0)
		_exit(p[0] == 0 ? 0 : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status);
}

/*
 * A truncate takes the private copies of the file's pages out of every
 * MAP_PRIVATE mapping of it, and not under the mmap lock: the snapshot is
 * stale, and the rollback fails before it changes anything.  A punched
 * hole leaves the private copies, and the rollback puts back what was
 * saved.  Only a new snapshot is good again.
 */
TEST(truncate_of_a_private_file_mapping_is_estale)
{
	const size_t len = 8 * PAGE;
	int fd = memfd_create("mmcontext", 0);
	char *file = malloc(len), *p, *saved;

	ASSERT_OK(fd);
	fill(file, len, 47);
	ASSERT_EQ(write(fd, file, len), (long)len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	fill(p + 2 * PAGE, 4 * PAGE, 48);	/* private copies of 2..5 */
	saved = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);

	ASSERT_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    2 * PAGE, 2 * PAGE));
	p[3 * PAGE] = 'w';
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, saved, len, "memory after a punched hole");

	ASSERT_OK(ftruncate(fd, PAGE));
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, ESTALE);
	ASSERT_TRUE(read_kills(p + 2 * PAGE));
	ASSERT_MMC(MMCONTEXT_DROP);

	ASSERT_MMC(MMCONTEXT_SAVE);
	p[0] = 'x';
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	ASSERT_EQ(p[0], saved[0]);
	ASSERT_MMC(MMCONTEXT_DROP);
	munmap(p, len);
	close(fd);
	free(file);
	free(saved);
}

/*
 * Pages the userfaultfd ioctls put into a covered mapping after the save
 * are changes like any other: COPY, ZEROPAGE, POISON and MOVE.
 */
TEST(uffd_ioctls_rolled_back)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len), *src = map_anon(PAGE), *before, *page, *empty;
	struct uffdio_copy copy = { .len = PAGE };
	struct uffdio_zeropage zero = { .range = { .len = PAGE } };
	struct uffdio_poison poison = { .range = { .len = PAGE } };
	struct uffdio_move move = { .len = PAGE };
	int fd = uffd_open(UFFD_FEATURE_POISON | UFFD_FEATURE_MOVE);

	fill(p, 4 * PAGE, 47);			/* pages 4..7 never touched */
	before = dup_mem(p, 4 * PAGE);
	empty = calloc(4, PAGE);
	uffd_register(fd, p, len, UFFDIO_REGISTER_MODE_MISSING);
	page = aligned_alloc(PAGE, PAGE);
	memset(page, 0xaa, PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);

	copy.dst = (uintptr_t)(p + 4 * PAGE);
	copy.src = (uintptr_t)page;
	ASSERT_OK(ioctl(fd, UFFDIO_COPY, &copy));
	zero.range.start = (uintptr_t)(p + 5 * PAGE);
	ASSERT_OK(ioctl(fd, UFFDIO_ZEROPAGE, &zero));
	poison.range.start = (uintptr_t)(p + 6 * PAGE);
	ASSERT_OK(ioctl(fd, UFFDIO_POISON, &poison));
	/* A saved page discarded, then refilled by UFFDIO_COPY. */
	ASSERT_OK(madvise(p + PAGE, PAGE, MADV_DONTNEED));
	copy.dst = (uintptr_t)(p + PAGE);
	ASSERT_OK(ioctl(fd, UFFDIO_COPY, &copy));
	/* UFFDIO_MOVE of a page made after the save. */
	memset(src, 0xbb, PAGE);
	move.dst = (uintptr_t)(p + 7 * PAGE);
	move.src = (uintptr_t)src;
	if (ioctl(fd, UFFDIO_MOVE, &move))
		FAIL("UFFDIO_MOVE: %s", strerror(errno));
	ASSERT_EQ((unsigned char)p[4 * PAGE], 0xaa);
	ASSERT_EQ((unsigned char)p[7 * PAGE], 0xbb);

	ASSERT_MMC(MMCONTEXT_RESTORE);
	close(fd);		/* no more MISSING faults: reads map zero */
	expect_same(p, before, 4 * PAGE, "saved memory");
	ASSERT_EQ(resident(p + 4 * PAGE, 4 * PAGE), 0);
	ASSERT_TRUE(!read_kills(p + 6 * PAGE));
	expect_same(p + 4 * PAGE, empty, 4 * PAGE, "memory empty at save");
}

/*
 * UFFDIO_COPY and UFFDIO_ZEROPAGE into a 2 MiB range that had nothing at
 * save: the snapshot learns of a table it has never seen, and must not
 * allocate for it under the page table lock (the debug kernel reports
 * "sleeping function called from invalid context" if it does).
 */
TEST(uffd_fill_of_a_range_empty_at_save)
{
	char *raw = mmap(NULL, 3 * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	struct uffdio_copy copy = { .len = PAGE };
	struct uffdio_zeropage zero = { .range = { .len = PAGE } };
	char *page = aligned_alloc(PAGE, PAGE);
	int fd = uffd_open(0);

	ASSERT_TRUE(raw != MAP_FAILED);
	ASSERT_OK(madvise(raw, 3 * HPAGE, MADV_NOHUGEPAGE));
	uffd_register(fd, p, 2 * HPAGE, UFFDIO_REGISTER_MODE_MISSING);
	memset(page, 0xcc, PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	copy.dst = (uintptr_t)(p + 5 * PAGE);
	copy.src = (uintptr_t)page;
	ASSERT_OK(ioctl(fd, UFFDIO_COPY, &copy));
	zero.range.start = (uintptr_t)(p + HPAGE + 7 * PAGE);
	ASSERT_OK(ioctl(fd, UFFDIO_ZEROPAGE, &zero));
	ASSERT_EQ((unsigned char)p[5 * PAGE], 0xcc);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	close(fd);
	ASSERT_EQ(resident(p, 2 * HPAGE), 0);
	ASSERT_EQ(p[5 * PAGE], 0);
}

/*
 * A copy kept over two rollback periods, written again and then given
 * to MADV_FREE: the next rollback must not keep it (reclaim may drop a
 * lazily freed page), and after it the saved data must survive reclaim.
 */
TEST(kept_copy_given_to_madv_free)
{
	char *p = map_anon(8 * PAGE), *before;
	int r;

	fill(p, 8 * PAGE, 57);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (r = 0; r < 3; r++) {	/* written period after period: kept */
		fill(p, 8 * PAGE, 58 + r);
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
	}
	fill(p, 8 * PAGE, 62);
	ASSERT_OK(madvise(p, 8 * PAGE, MADV_FREE));
	ASSERT_MMC(MMCONTEXT_RESTORE);
	ASSERT_OK(madvise(p, 8 * PAGE, MADV_PAGEOUT));
	expect_same(p, before, 8 * PAGE, "memory after reclaim");
}

/*
 * Write-protected by the monitor at save, unprotected since: the page
 * comes back unprotected, or the next write would go to a monitor that
 * no longer expects it.
 */
TEST(uffd_wp_dropped_since_save_stays_dropped)
{
	struct uffdio_writeprotect wp = {
		.range = { .len = 4 * PAGE },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	char *p = map_anon(4 * PAGE), *before;
	int fd;

	fill(p, 4 * PAGE, 63);
	before = dup_mem(p, 4 * PAGE);
	fd = uffd_open(0);
	uffd_register(fd, p, 4 * PAGE, UFFDIO_REGISTER_MODE_WP);
	wp.range.start = (uintptr_t)p;
	ASSERT_OK(ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	ASSERT_TRUE(pagemap_entry(0, p) & PM_UFFD_WP);
	ASSERT_MMC(MMCONTEXT_SAVE);
	wp.mode = 0;			/* unprotect */
	ASSERT_OK(ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	fill(p, 4 * PAGE, 64);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 4 * PAGE, "memory");
	if (pagemap_entry(0, p) & PM_UFFD_WP)
		FAIL("the rollback put back the uffd write protection of "
		     "save time");
	close(fd);
}

/*
 * A saved page of a private file mapping, write-protected by userfaultfd
 * and then discarded, leaves a uffd-wp marker in its place.  The rollback
 * puts the page back, still write-protected for the monitor; it must not
 * spin on the marker.
 */
TEST(uffd_wp_marker_in_private_file_mapping)
{
	struct uffdio_writeprotect wp = {
		.range = { .len = 4 * PAGE },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int mfd = memfd_create("mmc-wp", 0), fd;
	char *p, *before;

	ASSERT_OK(mfd);
	ASSERT_OK(ftruncate(mfd, 4 * PAGE));
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	fill(p, 4 * PAGE, 48);			/* private copies */
	before = dup_mem(p, 4 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fd = uffd_open(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	uffd_register(fd, p, 4 * PAGE, UFFDIO_REGISTER_MODE_WP);
	wp.range.start = (uintptr_t)p;
	ASSERT_OK(ioctl(fd, UFFDIO_WRITEPROTECT, &wp));
	ASSERT_OK(madvise(p, 4 * PAGE, MADV_DONTNEED));
	ASSERT_TRUE(pagemap_entry(0, p) & PM_UFFD_WP);		/* the marker */

	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 4 * PAGE, "memory");
	if (!(pagemap_entry(0, p) & PM_UFFD_WP))
		FAIL("the rollback dropped the uffd write protection");
	close(fd);
	munmap(p, 4 * PAGE);
	close(mfd);
}

/* ---- pins -------------------------------------------------------------- */

/* io_uring fixed buffers over [p, p + len): FOLL_WRITE | FOLL_LONGTERM. */
static int fixed_buffers(void *p, size_t len)
{
	struct io_uring_params params = { };
	struct iovec iov = { p, len };
	int ring = syscall(__NR_io_uring_setup, 4, &params);

	if (ring < 0)
		SKIP("io_uring_setup: %s", strerror(errno));
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		    &iov, 1))
		SKIP("IORING_REGISTER_BUFFERS: %s", strerror(errno));
	return ring;
}

/*
 * Buffers pinned since the save hold copies: a rollback that put the
 * saved pages back would leave the device with the copies.  It refuses,
 * unchanged, until they are unpinned.
 */
TEST(rollback_refuses_pages_pinned_since_save)
{
	char *p = map_anon(8 * PAGE), *before, *now;
	int ring;

	fill(p, 8 * PAGE, 55);
	before = dup_mem(p, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_SAVE);
	ring = fixed_buffers(p + 2 * PAGE, 2 * PAGE);
	fill(p + 2 * PAGE, 2 * PAGE, 56);
	p[6 * PAGE] = 1;
	now = dup_mem(p, 8 * PAGE);
	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, EBUSY);
	expect_same(p, now, 8 * PAGE, "memory after a refused rollback");
	ASSERT_OK(syscall(__NR_io_uring_register, ring,
			  IORING_UNREGISTER_BUFFERS, NULL, 0));
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, 8 * PAGE, "memory");
	close(ring);
}

/* ---- KSM ---------------------------------------------------------------- */

static long read_long(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	long v = -1;

	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		v = atol(buf);
	if (fd >= 0)
		close(fd);
	return v;
}

/*
 * Run KSM for two full scans, so that whatever can merge has; 1000 pages
 * a batch, since the debug kernel scans slowly.
 */
static void ksm_two_scans(void)
{
	long start = read_long("/sys/kernel/mm/ksm/full_scans");
	double t0 = now_s();

	write_file("/sys/kernel/mm/ksm/pages_to_scan", "1000");
	if (!write_file("/sys/kernel/mm/ksm/run", "1"))
		FAIL("start KSM: %s", strerror(errno));
	while (read_long("/sys/kernel/mm/ksm/full_scans") < start + 2) {
		if (now_s() - t0 > 300)
			FAIL("KSM did not scan twice in 300 s");
		usleep(10000);
	}
}

/*
 * The pages a snapshot holds are not merged by KSM (their extra
 * reference makes write_protect_page() refuse them) until it is
 * dropped; a forked child, which has no snapshot, merges its own pages.
 * upstream's ksm_functional_tests test_prctl_fork fails under an
 * mmcontext tracker because its child reads the parent's
 * /proc/self/ksm_merging_pages through a file opened before the fork.
 */
TEST(ksm_leaves_saved_pages_and_merges_a_childs)
{
	size_t len = 64 * PAGE;
	char *p = map_anon(len);
	int status;
	pid_t pid;

	if (access("/sys/kernel/mm/ksm/run", W_OK))
		SKIP("no KSM to run");
	write_file("/sys/kernel/mm/ksm/run", "2");	/* unmerge all */
	memset(p, 0x3c, len);
	ASSERT_OK(madvise(p, len, MADV_MERGEABLE));
	ASSERT_MMC(MMCONTEXT_SAVE);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *q = map_anon(2 * HPAGE);

		memset(q, 0xcf, 2 * HPAGE);
		if (madvise(q, 2 * HPAGE, MADV_MERGEABLE))
			_exit(2);
		ksm_two_scans();
		/* its own pages, and the parent's it shares: not the saved */
		_exit(read_long("/proc/self/ksm_merging_pages") >=
		      (long)(2 * HPAGE / PAGE) ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status))
		FAIL("the child of a process with a snapshot merged too few "
		     "pages (status %d)", WEXITSTATUS(status));
	ksm_two_scans();
	ASSERT_EQ(read_long("/proc/self/ksm_merging_pages"), 0);
	ASSERT_MMC(MMCONTEXT_DROP);
	ksm_two_scans();
	if (read_long("/proc/self/ksm_merging_pages") < 32)
		FAIL("dropped, the snapshot's pages still did not merge: %ld",
		     read_long("/proc/self/ksm_merging_pages"));
	write_file("/sys/kernel/mm/ksm/run", "2");
	write_file("/sys/kernel/mm/ksm/pages_to_scan", "100");	/* default */
}

/* ---- mappings the rollback leaves as they are -------------------------- */

/*
 * A PROT_NONE reservation grown by mprotect() after the save, the way
 * malloc grows a thread arena, stays mapped, and can grow further.
 */
TEST(reservation_grown_after_save_left_alone)
{
	size_t len = 64UL << 20, used = 128UL << 10, grown = 1UL << 20;
	char *r = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *before;
	size_t off;

	ASSERT_TRUE(r != MAP_FAILED);
	ASSERT_OK(mprotect(r, used, PROT_READ | PROT_WRITE));
	fill(r, used - PAGE, 49);	/* the last used page never touched */
	before = dup_mem(r, used);
	ASSERT_MMC(MMCONTEXT_SAVE);
	/* so that a run of pages with nothing at save reaches the growth */
	fill(r, used, 50);
	ASSERT_OK(mprotect(r + used, grown, PROT_READ | PROT_WRITE));
	memset(r + used, 0x5a, grown);

	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(r, before, used, "the used part");
	for (off = 0; off < len; off += PAGE)
		if (!mapped(r + off))
			FAIL("the rollback unmapped +%#zx of the reservation",
			     off);
	ASSERT_EQ((unsigned char)r[used + grown - 1], 0x5a);
	ASSERT_OK(mprotect(r + used + grown, grown, PROT_READ | PROT_WRITE));
	r[used + grown] = 1;
	ASSERT_MMC(MMCONTEXT_DROP);
}

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

/*
 * A sealed mapping made after the save cannot be unmapped: the rollback
 * fails with EPERM before it changes anything.
 */
TEST(sealed_new_mapping_refused_before_any_change)
{
	char *p = map_anon(4 * PAGE), *q, *now;

	fill(p, 4 * PAGE, 51);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, 4 * PAGE, 52);
	q = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(q != MAP_FAILED);
	memset(q, 1, 8 * PAGE);
	if (syscall(__NR_mseal, q + 4 * PAGE, 4 * PAGE, 0))
		SKIP("mseal: %s", strerror(errno));
	now = dup_mem(p, 4 * PAGE);

	ASSERT_MMC_ERR(MMCONTEXT_ROLLBACK, EPERM);
	ASSERT_TRUE(mapped(q) && q[0] == 1);	/* below the sealed part */
	expect_same(p, now, 4 * PAGE, "memory after a refused rollback");
	ASSERT_MMC(MMCONTEXT_DROP);
}

/* ---- many rollbacks, fork, threads ------------------------------------ */

TEST(rollback_many_times)
{
	size_t len = 256 * PAGE;
	char *p = map_anon(len), *before;
	unsigned int seed = 1;
	int i, j;

	fill(p, len / 2, 24);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (i = 0; i < 300; i++) {
		for (j = 0; j < 16; j++) {
			size_t off = (size_t)rand_r(&seed) % len;

			p[off] = (char)(i + j + 1);
		}
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
		if (memcmp(p, before, len))
			FAIL("round %d: memory differs after rollback", i);
	}
	ASSERT_MMC(MMCONTEXT_DROP);
}

TEST(fork_with_live_snapshot)
{
	size_t len = 16 * PAGE;
	char *p = map_anon(len), *before;
	int to_child[2], to_parent[2], status;
	char c;
	pid_t pid;

	fill(p, len, 25);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	p[0] = 'P';			/* written before the fork */
	ASSERT_OK(pipe(to_child));
	ASSERT_OK(pipe(to_parent));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		/* The snapshot is the parent's alone. */
		if (mmc(MMCONTEXT_ROLLBACK) != -1 || errno != ENOENT)
			_exit(10);
		if (p[0] != 'P')
			_exit(11);
		p[PAGE] = 'C';
		if (write(to_parent[1], "x", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(12);
		/* Untouched by the parent's write and its rollback. */
		_exit(p[0] == 'P' && p[PAGE] == 'C' &&
		      p[2 * PAGE] == before[2 * PAGE] ? 0 : 13);
	}
	ASSERT_EQ(read(to_parent[0], &c, 1), 1);
	ASSERT_EQ(p[PAGE], before[PAGE]);	/* not the child's 'C' */
	p[2 * PAGE] = 'Q';
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, len, "parent memory");
	ASSERT_EQ(write(to_child[1], "x", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

/*
 * Pages written in period after period: the rollback keeps their copies
 * and the next write reuses them.  Every way a kept copy could be
 * written without being noticed must still be rolled back.
 */
TEST(hot_pages_rolled_back_many_times)
{
	size_t len = 32 * PAGE;
	char *p = map_anon(len), *before;
	int i, j, status;
	pid_t pid;

	fill(p, len, 40);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (i = 0; i < 40; i++) {
		for (j = 0; j < 8; j++)		/* the hot set */
			p[j * PAGE + i] = (char)i;
		p[(8 + i % 4) * PAGE] = (char)i;	/* and a few others */
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
		if (memcmp(p, before, len))
			FAIL("round %d: memory differs after rollback", i);
	}
	/* A period without writes, then the hot set again. */
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, before, len, "memory after an empty period");
	for (i = 0; i < 3; i++) {
		memset(p, 0x11, 8 * PAGE);
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
	}
	expect_same(p, before, len, "hot set");

	/* mprotect() must not make a kept copy writable behind our back. */
	ASSERT_OK(mprotect(p, 8 * PAGE, PROT_READ));
	ASSERT_OK(mprotect(p, 8 * PAGE, PROT_READ | PROT_WRITE));
	memset(p, 0x22, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, before, len, "hot set after mprotect");

	/* Nor may a child and its parent share a kept copy wrongly. */
	memset(p, 0x33, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		int ok = !memcmp(p, before, len);

		memset(p, 0x44, 8 * PAGE);
		_exit(ok ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_same(p, before, len, "parent memory after the child wrote");
	memset(p, 0x55, 8 * PAGE);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, len, "memory after restore");
}

struct worker {
	char *mem;
	size_t len;
	unsigned int seed;
};

static void *scribble(void *arg)
{
	struct worker *w = arg;

	fill(w->mem, w->len, w->seed);
	return NULL;
}

TEST(threads_started_after_save)
{
	enum { NR = 4 };
	size_t len = 64 * PAGE;
	char *p = map_anon(NR * len), *before;
	struct worker w[NR];
	pthread_t tid[NR];
	int i;

	fill(p, NR * len, 26);
	before = dup_mem(p, NR * len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (i = 0; i < NR; i++) {
		w[i] = (struct worker){ p + i * len, len, 100 + i };
		ASSERT_EQ(pthread_create(&tid[i], NULL, scribble, &w[i]), 0);
	}
	for (i = 0; i < NR; i++)
		ASSERT_EQ(pthread_join(tid[i], NULL), 0);
	ASSERT_MMC(MMCONTEXT_RESTORE);
	expect_same(p, before, NR * len, "memory the threads wrote");
}

/*
 * A thread keeps faulting on covered memory while the main thread saves
 * and rolls back.  It runs on a MAP_SHARED stack, which is not covered,
 * so the rollbacks do not pull its own stack from under it.
 */
static volatile int stop;

static void *hammer(void *arg)
{
	volatile char *scratch = arg;
	unsigned long i;

	for (i = 0; !stop; i++)
		scratch[(i * 4099) % (64 * PAGE)] = (char)i;
	return NULL;
}

TEST(rollback_races_another_threads_faults)
{
	size_t len = 32 * PAGE, stack_len = 256 * 1024;
	char *p = map_anon(len), *scratch = map_anon(64 * PAGE), *before;
	void *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_attr_t attr;
	pthread_t tid;
	int i;

	ASSERT_TRUE(stack != MAP_FAILED);
	fill(p, len, 27);
	before = dup_mem(p, len);
	ASSERT_EQ(pthread_attr_init(&attr), 0);
	ASSERT_EQ(pthread_attr_setstack(&attr, stack, stack_len), 0);
	ASSERT_EQ(pthread_create(&tid, &attr, hammer, scratch), 0);
	for (i = 0; i < 100; i++) {
		ASSERT_MMC(MMCONTEXT_SAVE);
		fill(p, len, 28 + i);
		ASSERT_MMC(MMCONTEXT_RESTORE);
		if (memcmp(p, before, len))
			FAIL("round %d: memory differs after rollback", i);
	}
	stop = 1;
	ASSERT_EQ(pthread_join(tid, NULL), 0);
}

/*
 * A thread on a CPU of its own, on memory no rollback touches: its stack
 * and this control block are MAP_SHARED.  Each round asked for, it writes
 * a byte into each of @pages pages at @p.
 */
struct on_cpu {
	volatile int running;
	volatile int asked;	/* rounds asked for */
	volatile int done;	/* rounds done */
	volatile int stop;
	char *p;
	int pages;
	int cpu;
	pthread_t tid;
};

static void *on_cpu_main(void *arg)
{
	struct on_cpu *w = arg;
	int i;

	pin_cpu(w->cpu);
	w->running = 1;
	while (!w->stop) {
		int round = w->asked;

		if (round == w->done)
			continue;
		for (i = 0; i < w->pages; i++)
			w->p[i * PAGE] = (char)round;
		__atomic_store_n(&w->done, round, __ATOMIC_RELEASE);
	}
	return NULL;
}

static struct on_cpu *start_on_cpu(int cpu, char *p, int pages)
{
	size_t stack_len = 256 * 1024;
	struct on_cpu *w = mmap(NULL, sizeof(*w) + stack_len,
				PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_attr_t attr;

	if (sysconf(_SC_NPROCESSORS_ONLN) <= cpu)
		SKIP("needs CPU %d", cpu);
	ASSERT_TRUE(w != MAP_FAILED);
	w->cpu = cpu;
	w->p = p;
	w->pages = pages;
	ASSERT_EQ(pthread_attr_init(&attr), 0);
	ASSERT_EQ(pthread_attr_setstack(&attr, (char *)w + PAGE,
					stack_len - PAGE), 0);
	ASSERT_EQ(pthread_create(&w->tid, &attr, on_cpu_main, w), 0);
	while (!w->running)
		;
	return w;
}

static void on_cpu_round(struct on_cpu *w, int round)
{
	w->asked = round;
	while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) != round)
		;
}

static void stop_on_cpu(struct on_cpu *w)
{
	w->stop = 1;
	ASSERT_EQ(pthread_join(w->tid, NULL), 0);
}

/* The TLB shootdowns all CPUs took so far, from /proc/interrupts (x86). */
static long tlb_shootdowns(void)
{
	char line[4096], *s, *end;
	FILE *f = fopen("/proc/interrupts", "r");
	long sum = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		for (s = line; *s == ' '; s++)
			;
		if (strncmp(s, "TLB:", 4))
			continue;
		for (s += 4, sum = 0;; s = end) {
			long v = strtol(s, &end, 10);

			if (end == s)
				break;
			sum += v;
		}
		break;
	}
	fclose(f);
	return sum;
}

/*
 * While another thread runs on another CPU, each TLB flush of the process
 * interrupts that CPU.  A rollback must flush once per page table it
 * restores, not once per page.
 */
TEST(rollback_flushes_the_tlb_once_per_table)
{
	const size_t pages = 512, len = pages * PAGE;
	char *p = map_anon(len), *before;
	struct on_cpu *w;
	long t0, t1;

	if (tlb_shootdowns() < 0)
		SKIP("no TLB shootdown count in /proc/interrupts");
	pin_cpu(0);
	w = start_on_cpu(1, NULL, 0);	/* only runs */
	fill(p, len, 41);
	before = dup_mem(p, len);
	ASSERT_MMC(MMCONTEXT_SAVE);
	fill(p, len, 42);
	t0 = tlb_shootdowns();
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	t1 = tlb_shootdowns();
	stop_on_cpu(w);
	expect_same(p, before, len, "memory");
	diag("%ld TLB shootdowns for a rollback of %zu pages", t1 - t0, pages);
	/* 2 tables at most; the rest is slack for the kernel's own. */
	ASSERT_LE(t1 - t0, 16);
}

/*
 * A copy sits in the LRU batch of the CPU whose write fault made it, with
 * a reference of its own, until that CPU drains its batch.  A rollback
 * must still be able to keep a copy that another thread made on another
 * CPU, or a threaded fuzzing loop copies its hot pages every round.
 */
TEST(copies_made_on_another_cpu_are_kept)
{
	enum { HOT = 4 };
	char *p = map_anon(HOT * PAGE), *before;
	uint64_t orig[HOT];
	struct on_cpu *w;
	int i, round;

	pin_cpu(0);
	fill(p, HOT * PAGE, 43);
	before = dup_mem(p, HOT * PAGE);
	w = start_on_cpu(1, p, HOT);	/* before the save keeps its stack */
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (i = 0; i < HOT; i++)
		orig[i] = PM_PFN(pagemap_entry(0, p + i * PAGE));
	if (!orig[0])
		SKIP("pagemap shows no PFNs (needs CAP_SYS_ADMIN)");
	for (round = 1; round <= 4; round++) {
		on_cpu_round(w, round);
		ASSERT_MMC(MMCONTEXT_ROLLBACK);
		expect_same(p, before, HOT * PAGE, "hot pages");
	}
	stop_on_cpu(w);
	for (i = 0; i < HOT; i++)
		if (PM_PFN(pagemap_entry(0, p + i * PAGE)) == orig[i])
			FAIL("page %d, written in 4 rounds in a row on CPU 1: "
			     "its copy was not kept", i);
}

/* ---- lifetime: exit, exec, no leaks ------------------------------------ */

static long vmstat(const char *name)
{
	char key[64];
	long val, ret = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

/* PFNs [start, end) of a node's ZONE_MOVABLE, and its free pages. */
struct pfn_range {
	unsigned long start, end, free;
	int node;
};

/* The populated ZONE_MOVABLE of each node, from /proc/zoneinfo. */
static int movable_ranges(struct pfn_range *r, int max)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	unsigned long spanned = 0, free = 0, v;
	char line[256], zone[32];
	bool movable = false;
	int node = 0, n = 0;

	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %d, zone %31s", &node, zone) == 2) {
			movable = !strcmp(zone, "Movable");
			spanned = free = 0;
		} else if (!movable) {
			continue;
		} else if (sscanf(line, " pages free %lu", &v) == 1) {
			free = v;
		} else if (sscanf(line, " spanned %lu", &v) == 1) {
			spanned = v;
		} else if (sscanf(line, " start_pfn: %lu", &v) == 1 &&
			   spanned && n < max) {
			r[n].start = v;
			r[n].free = free;
			r[n].node = node;
			r[n++].end = v + spanned;
		}
	}
	fclose(f);
	return n;
}

/* How many of the pages at @p are in one of the ranges. */
static long pages_in(const char *p, size_t pages, const struct pfn_range *r,
		     int nr)
{
	long in = 0;
	size_t i;
	int j;

	for (i = 0; i < pages; i++) {
		uint64_t e = pagemap_entry(0, p + i * PAGE);
		unsigned long pfn = e & ((1ULL << 55) - 1);

		ASSERT_TRUE(e >> 63);		/* present */
		ASSERT_NE(pfn, 0);		/* and we may see PFNs */
		for (j = 0; j < nr; j++)
			in += pfn >= r[j].start && pfn < r[j].end;
	}
	return in;
}

/*
 * The snapshot's references keep its pages from migrating, as a
 * long-term pin does, so like a pin the save first moves them out of
 * ZONE_MOVABLE, which memory offlining must be able to empty.  Needs a
 * guest booted with movablecore=.
 */
TEST(saved_pages_leave_zone_movable)
{
	const size_t pages = 256, len = pages * PAGE;
	struct pfn_range r[8];
	int nr = movable_ranges(r, 8), i, best = 0;
	unsigned long nodes;
	char *p, *before;
	long in;

	if (!nr)
		SKIP("no ZONE_MOVABLE: boot with movablecore=");
	/* Fault the pages in on the node whose ZONE_MOVABLE has most room. */
	for (i = 1; i < nr; i++)
		if (r[i].free > r[best].free)
			best = i;
	nodes = 1UL << r[best].node;
	ASSERT_OK(syscall(__NR_set_mempolicy, MPOL_BIND, &nodes, 64));
	p = map_anon(len);
	fill(p, len, 51);
	ASSERT_OK(syscall(__NR_set_mempolicy, MPOL_DEFAULT, NULL, 0));
	before = dup_mem(p, len);
	in = pages_in(p, pages, r, nr);
	diag("%ld of %zu pages in ZONE_MOVABLE before the save", in, pages);
	if (in < (long)pages / 2)
		SKIP("the pages did not come from ZONE_MOVABLE");
	ASSERT_MMC(MMCONTEXT_SAVE);
	in = pages_in(p, pages, r, nr);
	diag("%ld after it", in);
	ASSERT_EQ(in, 0);
	expect_same(p, before, len, "memory moved by the save");
	fill(p, len, 52);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	expect_same(p, before, len, "memory after the rollback");
	ASSERT_EQ(pages_in(p, pages, r, nr), 0);
	ASSERT_MMC(MMCONTEXT_DROP);
	munmap(p, len);
	free(before);
}

/*
 * The pages a snapshot holds are in VmSnap, whether still mapped or
 * replaced by copies, which takes them out of VmRSS.
 */
TEST(status_shows_what_the_snapshot_holds)
{
	const size_t len = 256 * PAGE;
	char *p = map_anon(len);
	long snap, rss;

	fill(p, len, 49);
	ASSERT_EQ(proc_kb("/proc/self/status", "VmSnap:"), 0);
	ASSERT_MMC(MMCONTEXT_SAVE);
	snap = proc_kb("/proc/self/status", "VmSnap:");
	rss = proc_kb("/proc/self/status", "VmRSS:");
	diag("VmSnap %ld kB, VmRSS %ld kB after the save", snap, rss);
	ASSERT_GE(snap, (long)(len >> 10));
	ASSERT_LE(snap, rss);
	fill(p, len, 50);		/* 256 copies; the originals still held */
	ASSERT_EQ(proc_kb("/proc/self/status", "VmSnap:"), snap);
	ASSERT_MMC(MMCONTEXT_ROLLBACK);
	ASSERT_EQ(proc_kb("/proc/self/status", "VmSnap:"), snap);
	ASSERT_MMC(MMCONTEXT_DROP);
	ASSERT_EQ(proc_kb("/proc/self/status", "VmSnap:"), 0);
	munmap(p, len);
}

/* A leak-test child: dense pages and sparse ones, saved, then dirtied. */
static int leave_snapshot(void)
{
	char *p = map_anon(LEAK_DENSE * PAGE);
	char *sparse = map_anon(LEAK_SPARSE * HPAGE);	/* a shadow per 2 MiB */
	size_t j;

	fill(p, LEAK_DENSE * PAGE, 1);
	for (j = 0; j < LEAK_SPARSE; j++)
		sparse[j * HPAGE] = 1;
	if (mmc(MMCONTEXT_SAVE))
		return 20;
	fill(p, LEAK_DENSE * PAGE, 2);
	return 0;
}

/*
 * Everything a snapshot allocates is charged to the memcg of its process
 * (pages, shadow tables, slab, xarray nodes), and so is all the rest of
 * its memory.  Once the children are gone their cgroup must be back to
 * (nearly) nothing; with memcg off, the free page count must be back.
 */
static void expect_no_leak(bool do_exec)
{
	const int n = 40;
	const long held = n * (LEAK_DENSE + LEAK_SPARSE * 2);	/* pages */
	long before, after, charged;
	char cg[64];

	ASSERT_MMC_ERR(77, EINVAL);	/* skips without mmcontext */
	cg_make(cg, sizeof(cg), "mmcontext-leak");

	cg_children(2, cg, leave_snapshot, do_exec);	/* warm up */
	before = vmstat("nr_free_pages");
	cg_children(n, cg, leave_snapshot, do_exec);
	after = vmstat("nr_free_pages");
	charged = cg_read(cg, "memory.current", NULL);
	ASSERT_OK(rmdir(cg));
	diag("%s: nr_free_pages %ld -> %ld, children's memcg %ld bytes; a "
	     "leak would hold >= %ld pages", do_exec ? "exec" : "exit",
	     before, after, charged, held);
	/*
	 * The per-CPU charge caches may keep 64 pages each, plus a page
	 * or so of slab bytes; a leak would be >= 40 * 32 shadow pages.
	 */
	ASSERT_LE(charged, (2 * 64 + 16) * (long)PAGE);
	/*
	 * The free page count is the coarse check: other activity moves
	 * it by thousands of pages (seen: -4900), a leak by all of held.
	 */
	ASSERT_GE(after, before - held / 2);
}

TEST(exit_frees_snapshot)
{
	expect_no_leak(false);
}

TEST(exec_frees_snapshot)
{
	expect_no_leak(true);
}

/* ---- memory cgroup ---------------------------------------------------- */

TEST(memcg_charged_and_enomem_at_limit)
{
	/* Big enough that the shadow dwarfs the per-CPU charge caches. */
	const size_t len = 1UL << 30, shadow = len / HPAGE * PAGE;
	const long slack = 2 * 64 * PAGE;	/* MEMCG_CHARGE_BATCH per CPU */
	char cg[64], path[128], pid[16], val[32];
	long cur0, cur1, cur2;
	char *p, *before;

	ASSERT_MMC_ERR(77, EINVAL);	/* skips without mmcontext */
	cg_make(cg, sizeof(cg), "mmcontext");
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_TRUE(write_file(path, pid));

	p = map_anon(len);
	memset(p, 1, len);
	before = dup_mem(p, 16 * PAGE);

	/* One shadow page per 2 MiB of mapped memory, charged to us. */
	cur0 = cg_read(cg, "memory.current", NULL);
	ASSERT_MMC(MMCONTEXT_SAVE);
	cur1 = cg_read(cg, "memory.current", NULL);
	ASSERT_MMC(MMCONTEXT_DROP);
	cur2 = cg_read(cg, "memory.current", NULL);
	diag("memory.current %ld -> %ld on save -> %ld on drop; shadow %zu",
	     cur0, cur1, cur2, shadow);
	ASSERT_GE(cur1 - cur0, (long)shadow - slack);
	ASSERT_LE(cur2, cur0 + slack);

	/* Not enough room left for the shadow: ENOMEM, no OOM kill. */
	snprintf(path, sizeof(path), "%s/memory.max", cg);
	snprintf(val, sizeof(val), "%ld", cur2 + slack);
	ASSERT_TRUE(write_file(path, val));
	ASSERT_MMC_ERR(MMCONTEXT_SAVE, ENOMEM);
	ASSERT_TRUE(write_file(path, "max"));
	/* No partial snapshot was left, and memory is as it was. */
	ASSERT_MMC_ERR(MMCONTEXT_DROP, ENOENT);
	expect_same(p, before, 16 * PAGE, "memory after a failed save");
	memset(p, 2, len);

	ASSERT_OK(munmap(p, len));
	ASSERT_TRUE(write_file(CG_ROOT "/cgroup.procs", pid));
	ASSERT_OK(rmdir(cg));
}

/* ---- size ------------------------------------------------------------ */

static uint32_t page_word(size_t page, unsigned int gen)
{
	return (uint32_t)(page * 2654435761u) ^ gen;
}

TEST(one_gib_resident)
{
	const size_t len = 1UL << 30, npages = len / PAGE;
	unsigned int seed = 7;
	uint32_t *w;
	char *p;
	size_t i;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		SKIP("cannot map 1 GiB: %s", strerror(errno));
	for (i = 0; i < npages; i++)
		*(uint32_t *)(p + i * PAGE) = page_word(i, 0);
	ASSERT_MMC(MMCONTEXT_SAVE);
	for (i = 0; i < 4096; i++) {
		size_t pg = (size_t)rand_r(&seed) % npages;

		*(uint32_t *)(p + pg * PAGE) = page_word(pg, 1);
	}
	ASSERT_MMC(MMCONTEXT_RESTORE);
	for (i = 0; i < npages; i++) {
		w = (uint32_t *)(p + i * PAGE);
		if (*w != page_word(i, 0))
			FAIL("page %zu: %#x after rollback, saved %#x", i, *w,
			     page_word(i, 0));
	}
}

TEST_MAIN()
