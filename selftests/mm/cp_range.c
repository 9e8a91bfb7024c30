// SPDX-License-Identifier: GPL-2.0
/*
 * cp_range.c - selftests of cp_range(2): full and incremental
 * checkpoints of an address range to a file.
 *
 * Every case reads the checkpoint files back with tools/cpfile.c, which
 * knows only the documented format, and compares them with the memory
 * they came from (memcmp), with what the test mapped and unmapped, and
 * with the files' sizes.  An incremental case also counts the pages it
 * changed itself: an increment must hold exactly those.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/cp_range.h>
#include <linux/io_uring.h>
#include <linux/mmcontext.h>

#include "mm_util.h"
#include "cpfile.h"

static long cpr(void *addr, size_t len, int fd, unsigned int flags)
{
	long ret = syscall(__NR_cp_range, addr, len, fd, flags);

	if (ret < 0 && errno == ENOSYS)
		SKIP("this kernel has no cp_range");
	return ret;
}

#define ASSERT_CPR_ERR(addr, len, fd, flags, err) do {			\
		long __r = cpr((void *)(addr), len, fd, flags);		\
		if (__r != -1 || errno != (err))			\
			FAIL("cp_range = %ld (%s), expected %s", __r,	\
			     __r < 0 ? strerror(errno) : "ok", #err);	\
	} while (0)

/* A fresh file in /tmp for a checkpoint, open for reading and writing. */
static int ckpt_file(char *path)
{
	int fd;

	strcpy(path, "/tmp/cp_range.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		FAIL("mkstemp: %s", strerror(errno));
	return fd;
}

/*
 * Check the checkpoint in @path against @mem, [start, start + len): every
 * page accounted for exactly once, data equal to memory, zero pages zero
 * in memory, unmapped pages unmapped.  Returns the data pages.
 */
static long check_file(const char *path, char *start, size_t len,
		       const char *mem)
{
	unsigned char *seen = calloc(len / PAGE, 1);
	long data = 0, i;
	struct cpfile f;
	struct cprun r;
	char err[256];
	unsigned char v;

	if (cpfile_open(&f, path, err, sizeof(err)))
		FAIL("%s", err);
	ASSERT_EQ(f.hdr->start, (uintptr_t)start);
	ASSERT_EQ(f.hdr->end, (uintptr_t)start + len);
	ASSERT_EQ(f.hdr->page_size, PAGE);
	ASSERT_EQ(f.hdr->base_id, 0);
	while (cpfile_next(&f, &r)) {
		size_t off = r.run->addr - (uintptr_t)start;

		for (i = 0; i < r.run->nr_pages; i++, off += PAGE) {
			const char *page = start + off;

			if (seen[off / PAGE]++)
				FAIL("page %#lx in two runs", (long)off);
			switch (r.run->kind) {
			case CP_RUN_DATA:
				if (memcmp(r.data + i * PAGE, mem + off, PAGE))
					FAIL("data of page +%#lx differs",
					     (long)off);
				data++;
				break;
			case CP_RUN_ZERO:
				/* all zero: the first byte, and all equal */
				if (mem[off] ||
				    memcmp(mem + off, mem + off + 1, PAGE - 1))
					FAIL("page +%#lx recorded zero, is "
					     "not", (long)off);
				break;
			case CP_RUN_UNMAPPED:
				if (mincore((void *)page, PAGE, &v) == 0)
					FAIL("page +%#lx recorded unmapped, "
					     "is mapped", (long)off);
				break;
			}
		}
	}
	for (i = 0; i < (long)(len / PAGE); i++)
		if (!seen[i] && mincore(start + i * PAGE, PAGE, &v) == 0)
			FAIL("mapped page +%#lx in no run", i * PAGE);
	ASSERT_EQ(f.tr->nr_data_pages, data);
	cpfile_close(&f);
	free(seen);
	return data;
}

TEST(errno_einval_ebadf_enomem)
{
	char *p = map_anon(4 * PAGE), *hole = map_anon(4 * PAGE);
	char path[32];
	int fd = ckpt_file(path), rdonly;

	unlink(path);
	ASSERT_CPR_ERR(p + 1, PAGE, fd, 0, EINVAL);	/* addr unaligned */
	ASSERT_CPR_ERR(p, 0, fd, 0, EINVAL);		/* nothing */
	ASSERT_CPR_ERR(-PAGE, PAGE, fd, 0, EINVAL);	/* end wraps */
	ASSERT_CPR_ERR(p, -PAGE, fd, 0, EINVAL);	/* past user space */
	ASSERT_CPR_ERR(p, -1UL, fd, 0, EINVAL);	/* rounded up, wraps */
	ASSERT_CPR_ERR(p, PAGE, fd, 1u << 7, EINVAL);
	ASSERT_CPR_ERR(p, PAGE, -1, 0, EBADF);
	ASSERT_CPR_ERR(p, PAGE, 12345, 0, EBADF);
	rdonly = open("/proc/self/exe", O_RDONLY);
	ASSERT_OK(rdonly);
	ASSERT_CPR_ERR(p, PAGE, rdonly, 0, EBADF);
	/* Character devices with ->write_iter take it. */
	rdonly = open("/dev/null", O_WRONLY);
	ASSERT_OK(rdonly);
	ASSERT_EQ(cpr(p, PAGE, rdonly, 0), 0);
	ASSERT_OK(munmap(hole, 4 * PAGE));
	ASSERT_CPR_ERR(hole, 4 * PAGE, fd, 0, ENOMEM);
	/* Nothing was written by any of them. */
	ASSERT_EQ(lseek(fd, 0, SEEK_END), 0);
}

/* As for madvise(): len is rounded up to a whole page. */
TEST(len_rounded_up_to_a_page)
{
	char *p = map_anon(4 * PAGE), path[32];
	struct cpfile f;
	char err[256];
	int fd = ckpt_file(path);

	fill(p, 4 * PAGE, 3);
	ASSERT_EQ(cpr(p, PAGE + 1, fd, 0), 2);
	close(fd);
	if (cpfile_open(&f, path, err, sizeof(err)))
		FAIL("%s", err);
	ASSERT_EQ(f.hdr->start, (uintptr_t)p);
	ASSERT_EQ(f.hdr->end, (uintptr_t)p + 2 * PAGE);
	cpfile_close(&f);
	unlink(path);
}

/* Data, never-touched, discarded and unmapped pages in one range. */
TEST(full_checkpoint_reads_back)
{
	const size_t len = 64 * PAGE;
	char *p = map_anon(len), *copy;
	char path[32];
	int fd = ckpt_file(path);
	long ret, data;
	struct stat st;

	fill(p, 32 * PAGE, 1);			/* 0-31: data */
	/* 32-47: never touched */
	fill(p + 48 * PAGE, 8 * PAGE, 2);	/* 48-55: zeroed again */
	ASSERT_OK(madvise(p + 48 * PAGE, 8 * PAGE, MADV_DONTNEED));
	ASSERT_OK(munmap(p + 56 * PAGE, 4 * PAGE));	/* 56-59: a hole */
	fill(p + 60 * PAGE, 4 * PAGE, 3);	/* 60-63: data */
	memset(p + 10 * PAGE, 0, PAGE);		/* written, but zero */

	ret = cpr(p, len, fd, 0);
	ASSERT_EQ(ret, 35);

	/* Compare with a copy that treats the hole as zero. */
	copy = calloc(len, 1);
	memcpy(copy, p, 56 * PAGE);
	memcpy(copy + 60 * PAGE, p + 60 * PAGE, 4 * PAGE);
	data = check_file(path, p, len, copy);
	ASSERT_EQ(data, ret);

	/* Exactly header + runs + data + trailer. */
	ASSERT_OK(fstat(fd, &st));
	ASSERT_TRUE(st.st_size > (off_t)(sizeof(struct cp_header) +
					  35 * PAGE +
					  sizeof(struct cp_trailer)));
	ASSERT_EQ((st.st_size - sizeof(struct cp_header) -
		   sizeof(struct cp_trailer) - 35 * PAGE) %
		  sizeof(struct cp_run), 0);
	ASSERT_EQ(lseek(fd, 0, SEEK_CUR), st.st_size);
	unlink(path);
}

TEST(writes_at_the_file_offset)
{
	char *p = map_anon(4 * PAGE);
	char path[32], head[100];
	int fd = ckpt_file(path);
	off_t end;

	fill(p, 4 * PAGE, 4);
	memset(head, 'h', sizeof(head));
	ASSERT_EQ(write(fd, head, sizeof(head)), (long)sizeof(head));
	ASSERT_EQ(cpr(p, 4 * PAGE, fd, 0), 4);
	end = lseek(fd, 0, SEEK_CUR);
	ASSERT_EQ(lseek(fd, 0, SEEK_END), end);
	/* The header starts right after what was there. */
	{
		struct cp_header h;

		ASSERT_EQ(pread(fd, &h, sizeof(h), sizeof(head)),
			  (long)sizeof(h));
		ASSERT_EQ(h.magic, CP_MAGIC);
	}
	unlink(path);
}

TEST(thp_pages)
{
	char *raw = mmap(NULL, 3 * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	char path[32];
	int fd = ckpt_file(path);

	ASSERT_TRUE(raw != MAP_FAILED);
	ASSERT_OK(madvise(p, 2 * HPAGE, MADV_HUGEPAGE));
	fill(p, HPAGE, 5);		/* the second huge page never touched */
	ASSERT_EQ(cpr(p, 2 * HPAGE, fd, 0), (long)(HPAGE / PAGE));
	check_file(path, p, 2 * HPAGE, p);
	unlink(path);
}

/*
 * A hole in shared memory reads as zero, and a checkpoint leaves it a
 * hole: reading it through a fault would allocate it, and commit all of
 * a sparse region.  The same for a private mapping of a memfd, whose
 * holes are the file's.
 */
TEST(sparse_shared_memory_stays_sparse)
{
	const size_t len = 64UL << 20;
	char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("sparse", 0);
	char path[3][32], *mem, *priv;
	long before, grown;
	int fd[3], i;

	ASSERT_TRUE(shared != MAP_FAILED);
	ASSERT_OK(mfd);
	ASSERT_OK(ftruncate(mfd, len));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	priv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	ASSERT_TRUE(mem != MAP_FAILED && priv != MAP_FAILED);
	madvise(priv, len, MADV_NOHUGEPAGE);
	fill(shared, PAGE, 1);
	fill(shared + len / 2, PAGE, 2);
	fill(mem + PAGE, PAGE, 3);		/* priv sees it through the file */
	fill(priv + 9 * PAGE, PAGE, 4);		/* and has a page of its own */
	for (i = 0; i < 3; i++)
		fd[i] = ckpt_file(path[i]);

	before = proc_kb("/proc/meminfo", "Shmem:");
	ASSERT_GE(before, 0);
	ASSERT_EQ(cpr(shared, len, fd[0], 0), 2);
	ASSERT_EQ(cpr(mem, len, fd[1], 0), 1);
	ASSERT_EQ(cpr(priv, len, fd[2], 0), 2);
	grown = proc_kb("/proc/meminfo", "Shmem:") - before;
	diag("Shmem grew by %ld kB for three checkpoints of 64 MiB", grown);
	/* Now read the memory, which allocates it, and compare. */
	check_file(path[0], shared, len, shared);
	check_file(path[1], mem, len, mem);
	check_file(path[2], priv, len, priv);
	if (grown > 1024)
		FAIL("the checkpoints committed %ld kB of shared memory",
		     grown);
	for (i = 0; i < 3; i++) {
		close(fd[i]);
		unlink(path[i]);
	}
	munmap(shared, len);
	munmap(mem, len);
	munmap(priv, len);
	close(mfd);
}

/* A page of shared memory that is in swap is read back from there. */
TEST(shared_memory_in_swap)
{
	const size_t pages = 64, len = pages * PAGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char vec[64];
	char path[32];
	int fd, out = 0;
	bool on;
	size_t i;

	ASSERT_TRUE(p != MAP_FAILED);
	on = swap_on();
	fill(p, len, 18);
	ASSERT_OK(madvise(p, len, MADV_PAGEOUT));
	ASSERT_OK(mincore(p, len, vec));
	for (i = 0; i < pages; i++)
		out += !(vec[i] & 1);
	diag("%d of %zu pages out", out, pages);
	if (out < 8)
		SKIP("MADV_PAGEOUT left the pages in memory");
	fd = ckpt_file(path);
	ASSERT_EQ(cpr(p, len, fd, 0), (long)pages);
	check_file(path, p, len, p);
	close(fd);
	unlink(path);
	munmap(p, len);
	swap_off(on);
}

/* The checkpoint file is mapped inside the very range it checkpoints. */
TEST(file_mapped_in_the_range)
{
	const size_t flen = 64 * PAGE;
	char path[32], *raw, *map, *anon;
	int fd = ckpt_file(path);

	ASSERT_OK(ftruncate(fd, flen));
	raw = map_anon(flen + 16 * PAGE);	/* anon, then the file */
	anon = raw;
	map = mmap(raw + 16 * PAGE, flen, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, 0);
	ASSERT_TRUE(map != MAP_FAILED);
	fill(anon, 16 * PAGE, 6);
	fill(map, flen, 7);
	ASSERT_GE(cpr(raw, 16 * PAGE + flen, fd, 0), 16);
	/* The file changed under its own mapping; it still verifies. */
	{
		struct cpfile f;
		char err[256];

		if (cpfile_open(&f, path, err, sizeof(err)))
			FAIL("%s", err);
		cpfile_close(&f);
	}
	unlink(path);
}

/*
 * memfd_secret(2) pages are not in the kernel's direct map: reading them
 * there faults in the kernel.  A checkpoint records them as not mapped,
 * in a full checkpoint and in an increment, and none of their bytes
 * reaches the file.
 */
TEST(secretmem_recorded_not_mapped)
{
	char path[32], *raw, *sec;
	int fd = ckpt_file(path), sfd, i;
	unsigned int flags[] = { 0, CP_INCREMENTAL, CP_INCREMENTAL };
	long want[] = { 4, 4, 1 };

	sfd = syscall(__NR_memfd_secret, 0);
	if (sfd < 0)
		FAIL("memfd_secret: %s", strerror(errno));
	ASSERT_OK(ftruncate(sfd, 4 * PAGE));
	raw = map_anon(8 * PAGE);
	sec = mmap(raw + 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, sfd, 0);
	ASSERT_TRUE(sec != MAP_FAILED);
	fill(raw, 4 * PAGE, 8);
	for (i = 0; i < 3; i++) {
		struct cpfile f;
		struct cprun r;
		char err[256];
		long data = 0;

		memset(sec, 0x5a, 4 * PAGE);
		raw[0] ^= 1;	/* one anonymous page changed */
		ASSERT_OK(ftruncate(fd, 0));
		ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
		ASSERT_EQ(cpr(raw, 8 * PAGE, fd, flags[i]), want[i]);
		if (cpfile_open(&f, path, err, sizeof(err)))
			FAIL("%s", err);
		while (cpfile_next(&f, &r)) {
			uintptr_t a = r.run->addr;

			if (r.run->kind == CP_RUN_DATA) {
				if (a + r.run->nr_pages * PAGE > (uintptr_t)sec)
					FAIL("secret page %#lx in a data run",
					     (long)(a - (uintptr_t)raw));
				data += r.run->nr_pages;
			} else if (a >= (uintptr_t)sec &&
				   r.run->kind != CP_RUN_UNMAPPED) {
				FAIL("secret page %#lx recorded as %s",
				     (long)(a - (uintptr_t)raw),
				     cp_kind_name(r.run->kind));
			}
		}
		ASSERT_EQ(data, want[i]);
		cpfile_close(&f);
	}
	close(sfd);
	unlink(path);
}

/*
 * A thread rewrites pages word by word, in ascending order, generation
 * after generation.  Any instant of a page is then non-increasing: new
 * generation up to some word, the old one after.  A copy that is not one
 * instant can show a later generation after an earlier one.
 */
#define TORN_PAGES	32
static volatile int stop;

static void *rewrite(void *arg)
{
	volatile uint64_t *w = arg;
	uint64_t gen, i;

	for (gen = 1; !stop; gen++)
		for (i = 0; i < TORN_PAGES * PAGE / 8; i++)
			w[i] = gen;
	return NULL;
}

TEST(no_torn_pages_under_a_writer)
{
	char *p = map_anon(TORN_PAGES * PAGE);
	char path[32];
	int fd, round;
	pthread_t tid;

	memset(p, 0, TORN_PAGES * PAGE);
	ASSERT_EQ(pthread_create(&tid, NULL, rewrite, p), 0);
	for (round = 0; round < 20; round++) {
		struct cpfile f;
		struct cprun r;
		char err[256];

		fd = ckpt_file(path);
		ASSERT_GE(cpr(p, TORN_PAGES * PAGE, fd, 0), 0);
		close(fd);
		if (cpfile_open(&f, path, err, sizeof(err)))
			FAIL("%s", err);
		while (cpfile_next(&f, &r)) {
			const uint64_t *w = (const void *)r.data;
			size_t i, n = (size_t)r.run->nr_pages * PAGE / 8;

			if (r.run->kind != CP_RUN_DATA)
				continue;
			for (i = 1; i < n; i++)
				if (i % (PAGE / 8) && w[i] > w[i - 1])
					FAIL("round %d: torn page at +%#lx: "
					     "word %zu gen %llu after %llu",
					     round, (long)(r.run->addr -
							   (uintptr_t)p),
					     i % (PAGE / 8),
					     (unsigned long long)w[i],
					     (unsigned long long)w[i - 1]);
		}
		cpfile_close(&f);
		unlink(path);
	}
	stop = 1;
	ASSERT_EQ(pthread_join(tid, NULL), 0);
}

/* Run @cmd: its exit status, and its first output line in @msg. */
static int run(const char *cmd, char *msg, size_t len)
{
	FILE *p = popen(cmd, "r");
	int st;

	if (!p)
		FAIL("popen: %s", strerror(errno));
	if (!fgets(msg, len, p))
		*msg = 0;
	msg[strcspn(msg, "\n")] = 0;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run cpinspect on @path; its exit status, its first stderr line in @msg. */
static int cpinspect(const char *path, char *msg, size_t len)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "cpinspect -q %s 2>&1 >/dev/null", path);
	return run(cmd, msg, len);
}

static void corrupt(const char *path, off_t off, int delta)
{
	int fd = open(path, O_RDWR);
	unsigned char b;

	ASSERT_OK(fd);
	ASSERT_EQ(pread(fd, &b, 1, off), 1);
	b += delta;
	ASSERT_EQ(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* cpinspect passes a good file and refuses each kind of broken one. */
TEST(cpinspect_verifies_and_refuses)
{
	char *p = map_anon(8 * PAGE);
	char path[32], msg[256];
	int fd = ckpt_file(path);
	struct stat st;

	if (system("cpinspect -h >/dev/null 2>&1"))
		SKIP("no cpinspect in PATH");
	fill(p, 8 * PAGE, 8);
	ASSERT_EQ(cpr(p, 8 * PAGE, fd, 0), 8);
	ASSERT_OK(fstat(fd, &st));
	ASSERT_EQ(cpinspect(path, msg, sizeof(msg)), 0);

	/* A flipped data bit: the checksum. */
	corrupt(path, st.st_size / 2, 1);
	ASSERT_EQ(cpinspect(path, msg, sizeof(msg)), 1);
	diag("%s", msg);
	ASSERT_TRUE(strstr(msg, "checksum"));
	corrupt(path, st.st_size / 2, -1);
	ASSERT_EQ(cpinspect(path, msg, sizeof(msg)), 0);

	/* A wrong magic, a cut-off file. */
	corrupt(path, 0, 1);
	ASSERT_EQ(cpinspect(path, msg, sizeof(msg)), 1);
	ASSERT_TRUE(strstr(msg, "magic"));
	corrupt(path, 0, -1);
	ASSERT_OK(ftruncate(fd, st.st_size - 100));
	ASSERT_EQ(cpinspect(path, msg, sizeof(msg)), 1);
	diag("%s", msg);
	unlink(path);
}

/* A region at a fixed address, free in this process and in cprestore. */
#define FIXED_AT	((char *)0x200000000000UL)

/* Make the checkpoint in @path claim @base_id, with a valid checksum. */
static void rebase(const char *path, uint64_t base_id)
{
	int fd = open(path, O_RDWR);
	struct cp_trailer tr;
	struct cp_header h;
	unsigned char *buf;
	struct stat st;

	ASSERT_OK(fd);
	ASSERT_OK(fstat(fd, &st));
	buf = malloc(st.st_size);
	ASSERT_EQ(pread(fd, buf, st.st_size, 0), st.st_size);
	memcpy(&h, buf, sizeof(h));
	h.base_id = base_id;
	h.flags = base_id ? CP_INCREMENTAL : 0;
	memcpy(buf, &h, sizeof(h));
	memcpy(&tr, buf + st.st_size - sizeof(tr), sizeof(tr));
	tr.crc32c = crc32c(buf, st.st_size - sizeof(tr));
	memcpy(buf + st.st_size - sizeof(tr), &tr, sizeof(tr));
	ASSERT_EQ(pwrite(fd, buf, st.st_size, 0), st.st_size);
	free(buf);
	close(fd);
}

/*
 * cprestore rebuilds the range in a fresh process, byte for byte, and
 * refuses a broken chain without writing anything.
 */
TEST(cprestore_rebuilds_and_refuses)
{
	const size_t len = 32 * PAGE;
	char a[32], b[32], img[] = "/tmp/cp_range.img", cmd[256], msg[256];
	char *p, *want, *got;
	int fd, ifd;

	if (system("cprestore -h >/dev/null 2>&1"))
		SKIP("no cprestore in PATH");
	p = mmap(FIXED_AT, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_TRUE(p == FIXED_AT);
	fill(p, 12 * PAGE, 9);			/* data, zero, hole, data */
	ASSERT_OK(munmap(p + 20 * PAGE, 4 * PAGE));
	fill(p + 24 * PAGE, 8 * PAGE, 10);
	want = calloc(len, 1);
	memcpy(want, p, 20 * PAGE);
	memcpy(want + 24 * PAGE, p + 24 * PAGE, 8 * PAGE);

	fd = ckpt_file(a);
	ASSERT_EQ(cpr(p, len, fd, 0), 20);
	close(fd);
	unlink(img);
	snprintf(cmd, sizeof(cmd), "cprestore -o %s %s 2>&1", img, a);
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 0);
	ifd = open(img, O_RDONLY);
	ASSERT_OK(ifd);
	got = malloc(len);
	ASSERT_EQ(read(ifd, got, len), (long)len);
	close(ifd);
	if (memcmp(got, want, len))
		FAIL("the rebuilt image differs from the memory");

	/* Broken chains: nothing is written. */
	fd = ckpt_file(b);
	ASSERT_EQ(cpr(p, len, fd, 0), 20);
	close(fd);
	unlink(img);
	snprintf(cmd, sizeof(cmd), "cprestore -o %s %s %s 2>&1", img, a, b);
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 1);	/* two full ones */
	diag("%s", msg);
	ASSERT_TRUE(strstr(msg, "full checkpoint in the middle"));
	rebase(b, 12345);				/* a wrong base */
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 1);
	diag("%s", msg);
	ASSERT_TRUE(strstr(msg, "link is missing"));
	snprintf(cmd, sizeof(cmd), "cprestore -o %s %s 2>&1", img, b);
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 1);	/* increment first */
	ASSERT_TRUE(strstr(msg, "must start with a full"));
	ASSERT_TRUE(access(img, F_OK) != 0);
	unlink(a);
	unlink(b);
}

/* ---- incremental checkpoints ------------------------------------------ */

#define MAX_CHAIN	16

/* A chain of checkpoint files, oldest first. */
struct chain {
	int n;
	char path[MAX_CHAIN][32];
};

/* Checkpoint [p, p + len) into the chain's next file; the pages, or -1. */
static long ckpt(struct chain *c, void *p, size_t len, unsigned int flags)
{
	int fd, err;
	long n;

	ASSERT_TRUE(c->n < MAX_CHAIN);
	fd = ckpt_file(c->path[c->n]);
	n = cpr(p, len, fd, flags);
	err = errno;
	close(fd);
	if (n < 0)
		unlink(c->path[c->n]);
	else
		c->n++;
	errno = err;
	return n;
}

static void chain_drop(struct chain *c)
{
	while (c->n)
		unlink(c->path[--c->n]);
}

/* What a checkpoint file holds, by kind of page. */
struct tally {
	struct cp_header h;
	long data, zero, unmapped;
	long size;		/* of the file */
	long runs;
};

static struct tally tally(const char *path)
{
	struct tally t = { };
	struct cpfile f;
	struct cprun r;
	char err[256];

	if (cpfile_open(&f, path, err, sizeof(err)))
		FAIL("%s", err);
	t.h = *f.hdr;
	t.size = f.len;
	t.runs = f.tr->nr_runs;
	while (cpfile_next(&f, &r)) {
		if (r.run->kind == CP_RUN_DATA)
			t.data += r.run->nr_pages;
		else if (r.run->kind == CP_RUN_ZERO)
			t.zero += r.run->nr_pages;
		else
			t.unmapped += r.run->nr_pages;
	}
	cpfile_close(&f);
	return t;
}

static struct tally last(const struct chain *c)
{
	return tally(c->path[c->n - 1]);
}

/* An increment of exactly @data, @zero and @unmapped pages, and no more. */
#define ASSERT_INCREMENT(c, d, z, u) do {				\
		struct tally __t = last(c);				\
									\
		if (!(__t.h.flags & CP_INCREMENTAL) ||			\
		    __t.data != (d) || __t.zero != (z) ||		\
		    __t.unmapped != (u))				\
			FAIL("increment %d: %s, %ld data, %ld zero, "	\
			     "%ld unmapped; expected %ld, %ld, %ld",	\
			     (c)->n, __t.h.flags & CP_INCREMENTAL ?	\
			     "incremental" : "FULL", __t.data,		\
			     __t.zero, __t.unmapped, (long)(d),		\
			     (long)(z), (long)(u));			\
		ASSERT_EQ(__t.size, (long)(sizeof(struct cp_header) +	\
					  __t.runs * sizeof(struct cp_run) + \
					  __t.data * PAGE +		\
					  sizeof(struct cp_trailer)));	\
	} while (0)

/*
 * Apply the chain to an image, with cpfile and nothing else, and compare
 * it with memory now: each page mapped with the same bytes, or unmapped
 * in both.
 */
static void check_chain(const struct chain *c, const char *start,
			size_t len)
{
	struct cpfile f[MAX_CHAIN];
	char *img = calloc(len, 1), err[256];
	unsigned char *gone = malloc(len / PAGE), v;
	size_t off;
	int i;

	memset(gone, 1, len / PAGE);
	for (i = 0; i < c->n; i++)
		if (cpfile_open(&f[i], c->path[i], err, sizeof(err)))
			FAIL("%s", err);
	if (cpfile_check_chain(f, c->n, err, sizeof(err)))
		FAIL("%s", err);
	for (i = 0; i < c->n; i++) {
		struct cprun r;

		ASSERT_EQ(f[i].hdr->start, (uintptr_t)start);
		ASSERT_EQ(f[i].hdr->end, (uintptr_t)start + len);
		ASSERT_EQ(f[i].hdr->seq, i + 1);
		while (cpfile_next(&f[i], &r)) {
			off = r.run->addr - (uintptr_t)start;
			memset(gone + off / PAGE,
			       r.run->kind == CP_RUN_UNMAPPED,
			       r.run->nr_pages);
			if (r.run->kind == CP_RUN_DATA)
				memcpy(img + off, r.data,
				       (size_t)r.run->nr_pages * PAGE);
			else
				memset(img + off, 0,
				       (size_t)r.run->nr_pages * PAGE);
		}
		cpfile_close(&f[i]);
	}
	for (off = 0; off < len; off += PAGE) {
		bool mapped = !mincore((void *)(start + off), PAGE, &v);

		if (mapped == gone[off / PAGE])
			FAIL("page +%#lx: the chain of %d says %s, it is %s",
			     (long)off, c->n,
			     gone[off / PAGE] ? "unmapped" : "mapped",
			     mapped ? "mapped" : "not");
		if (mapped && memcmp(img + off, start + off, PAGE))
			FAIL("page +%#lx: the chain of %d differs from memory",
			     (long)off, c->n);
	}
	free(img);
	free(gone);
}

TEST(incremental_holds_exactly_what_changed)
{
	const size_t len = 64 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };
	struct tally t0, t;

	fill(p, len, 1);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 64);	/* full */
	t0 = last(&c);
	ASSERT_EQ(t0.h.flags, 0);
	ASSERT_EQ(t0.h.seq, 1);
	ASSERT_EQ(t0.h.base_id, 0);

	p[3 * PAGE] ^= 1;
	p[40 * PAGE + 100] = 7;
	memset(p + 50 * PAGE, 0, PAGE);			/* written, zero */
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	ASSERT_INCREMENT(&c, 2, 1, 0);
	t = last(&c);
	ASSERT_EQ(t.h.seq, 2);
	ASSERT_EQ(t.h.base_id, t0.h.id);

	/* Nothing changed: header, trailer, nothing else. */
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	ASSERT_INCREMENT(&c, 0, 0, 0);
	ASSERT_EQ(last(&c).runs, 0);
	check_chain(&c, p, len);
	chain_drop(&c);

	/* A full one of a tracked range starts the chain again. */
	ASSERT_EQ(ckpt(&c, p, len, 0), 63);
	t0 = last(&c);
	ASSERT_EQ(t0.h.base_id, 0);
	p[PAGE] = 1;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	ASSERT_EQ(last(&c).h.base_id, t0.h.id);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* Touch a random page: write, zero, discard, or only read it (how 3). */
static void touch(char *p, size_t pages, unsigned char *changed, int how)
{
	size_t i = rand() % pages;

	if (how != 3)
		changed[i] = 1;
	switch (how) {
	case 0:
		p[i * PAGE + rand() % PAGE] = rand();
		break;
	case 1:
		memset(p + i * PAGE, 0, PAGE);
		break;
	case 2:
		ASSERT_OK(madvise(p + i * PAGE, PAGE, MADV_DONTNEED));
		break;
	case 3:
		(void)*(volatile char *)(p + i * PAGE);	/* no change */
		break;
	}
}

/*
 * Ten increments with random writes, zeroing and MADV_DONTNEED between
 * them: each holds exactly the pages touched, and the chain rebuilds the
 * final memory.
 */
TEST(chain_of_ten_increments)
{
	const size_t pages = 256, len = pages * PAGE;
	unsigned char changed[256];
	char *p = map_anon(len);
	struct chain c = { };
	long want;
	int k, i;

	srand(5);
	fill(p, len / 2, 11);		/* the rest never touched */
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), (long)pages / 2);
	for (k = 1; k <= 10; k++) {
		memset(changed, 0, sizeof(changed));
		for (i = 0; i < 24; i++)
			touch(p, pages, changed, rand() % 8 < 5 ? 0 :
			      rand() % 3 + 1);
		for (want = 0, i = 0; i < (int)pages; i++)
			want += changed[i] != 0;
		ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 0);
		{
			struct tally t = last(&c);

			if (t.data + t.zero + t.unmapped != want)
				FAIL("increment %d: %ld pages, touched %ld",
				     k, t.data + t.zero + t.unmapped, want);
		}
	}
	ASSERT_EQ(c.n, 11);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* MADV_DONTNEED then a read maps the zero page; then a write. */
TEST(dontneed_then_retouch)
{
	const size_t len = 8 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };

	fill(p, len, 12);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);
	ASSERT_OK(madvise(p + 2 * PAGE, 2 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(*(volatile char *)(p + 2 * PAGE), 0);	/* zero page */
	p[3 * PAGE] = 5;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	ASSERT_INCREMENT(&c, 1, 1, 0);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* munmap() of part of the range, then mmap() again over part of that. */
TEST(munmap_then_mmap_again)
{
	const size_t len = 32 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };
	int fd = data_file(2, 13);

	fill(p, len, 14);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 32);
	ASSERT_OK(munmap(p + 8 * PAGE, 8 * PAGE));
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	ASSERT_INCREMENT(&c, 0, 0, 8);

	/* 8-11 anonymous, 9 written; 12-13 a private file; 14-15 a hole. */
	ASSERT_TRUE(mmap(p + 8 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    p + 8 * PAGE);
	ASSERT_TRUE(mmap(p + 12 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED, fd, 0) == p + 12 * PAGE);
	p[9 * PAGE] = 1;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 3);
	ASSERT_INCREMENT(&c, 3, 3, 0);
	check_chain(&c, p, len);

	/* The file's pages are recorded every time: it may change. */
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	/* Once copied on write they are ours, and tracked. */
	p[12 * PAGE] = 2;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	check_chain(&c, p, len);
	chain_drop(&c);
	close(fd);
}

/*
 * A write to a page of a private DAX mapping that no entry maps is copied
 * in the filesystem's own fault handler (VM_FAULT_DONE_COW).  A truncate
 * empties the entries without telling cp_range; the increment after such
 * writes must still hold them.  It does even without the fault's report
 * (0029), as the copy is mapped writable and cp_unsure() records any such
 * page: mmcontext's dax_private_copy_on_write_rolled_back is the test that
 * needs the report.
 */
TEST(dax_private_copy_on_write_in_increment)
{
	const size_t len = 8 * PAGE;
	char *file = malloc(len), *p;
	struct chain c = { };
	int fd = dax_file(len, 45, file);

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);	/* full */
	ASSERT_OK(ftruncate(fd, 0));
	ASSERT_OK(ftruncate(fd, len));
	memset(p, 0x5a, 2 * PAGE);
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	check_chain(&c, p, len);
	p[7 * PAGE] = 1;		/* one mapped by the increment */
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	check_chain(&c, p, len);
	chain_drop(&c);
	munmap(p, len);
	close(fd);
}

/*
 * Device DAX aligned to 1 GiB is mapped with PUD entries.  A walk by hand
 * that knows no PUD leaf would read one as a table of PMDs; cp_range
 * reads it through GUP.  A checkpoint of part of one must read back.
 */
TEST(dax_device_pud_pages)
{
	const char *dev = getenv("CTXKIT_DEVDAX");
	const size_t gib = 1UL << 30, len = 4 * HPAGE;
	struct chain c = { };
	char *p, *at;
	int fd;

	if (!dev)
		SKIP("no device DAX here (run.sh's DAX guest has one)");
	fd = open(dev, O_RDWR);
	ASSERT_OK(fd);
	p = mmap(NULL, gib, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ((uintptr_t)p % gib, 0);	/* so a PUD maps it */
	at = p + 3 * HPAGE;
	fill(at, len, 46);
	ASSERT_EQ(ckpt(&c, at, len, 0), (long)(len / PAGE));
	check_chain(&c, at, len);
	chain_drop(&c);
	fill(at, len, 47);
	ASSERT_EQ(ckpt(&c, at, len, CP_INCREMENTAL), (long)(len / PAGE));
	p[3 * HPAGE + 5] ^= 1;
	ASSERT_EQ(ckpt(&c, at, len, CP_INCREMENTAL), (long)(len / PAGE));
	check_chain(&c, at, len);
	chain_drop(&c);
	munmap(p, gib);
	close(fd);
}

/* mremap() moves pages inside the range, then grows a mapping in place. */
TEST(mremap_moves_and_grows)
{
	const size_t len = 32 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };

	fill(p, 16 * PAGE, 15);
	ASSERT_OK(munmap(p + 24 * PAGE, 8 * PAGE));
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 16);
	ASSERT_TRUE(mremap(p + 4 * PAGE, 4 * PAGE, 4 * PAGE,
			   MREMAP_MAYMOVE | MREMAP_FIXED, p + 24 * PAGE) ==
		    p + 24 * PAGE);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 4);
	ASSERT_INCREMENT(&c, 4, 0, 4);
	ASSERT_TRUE(mremap(p + 24 * PAGE, 4 * PAGE, 8 * PAGE, 0) ==
		    p + 24 * PAGE);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	ASSERT_INCREMENT(&c, 0, 4, 0);
	check_chain(&c, p, len);
	chain_drop(&c);
}

static long anon_huge_kb(void)
{
	return proc_kb("/proc/self/smaps_rollup", "AnonHugePages:");
}

/* A write to a THP costs its 4 KiB page in the increment, not 2 MiB. */
TEST(thp_increment_is_per_page)
{
	char *raw = mmap(NULL, 3 * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	const long hp = HPAGE / PAGE;
	struct chain c = { };
	long kb;

	ASSERT_TRUE(raw != MAP_FAILED);
	ASSERT_OK(madvise(p, 2 * HPAGE, MADV_HUGEPAGE));
	kb = anon_huge_kb();
	fill(p, HPAGE, 16);
	if (anon_huge_kb() - kb < (long)(HPAGE >> 10))
		SKIP("no THP for the test's huge page");
	ASSERT_EQ(ckpt(&c, p, 2 * HPAGE, CP_INCREMENTAL), hp);
	p[7 * PAGE + 5] = 1;
	ASSERT_EQ(ckpt(&c, p, 2 * HPAGE, CP_INCREMENTAL), 1);
	ASSERT_INCREMENT(&c, 1, 0, 0);
	p[100 * PAGE] = 2;
	p[101 * PAGE] = 3;
	p[HPAGE + 3 * PAGE] = 4;	/* the untouched huge page */
	ASSERT_EQ(ckpt(&c, p, 2 * HPAGE, CP_INCREMENTAL), 3);
	check_chain(&c, p, 2 * HPAGE);
	chain_drop(&c);
	munmap(raw, 3 * HPAGE);
}

/*
 * Swap-out is no change; a page read back in is still tracked when it
 * is written later; one written while swapped out is recorded.
 */
TEST(swap_out_and_back)
{
	const size_t pages = 64, len = pages * PAGE;
	struct chain c = { };
	bool on;
	char *p;

	on = swap_on();
	p = map_anon(len);
	fill(p, len, 17);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), (long)pages);
	ASSERT_OK(madvise(p, len, MADV_PAGEOUT));
	diag("%ld of %zu pages in swap", swapped(p, pages), pages);
	if (swapped(p, pages) < 8)
		SKIP("MADV_PAGEOUT left the pages in memory");
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);

	(void)*(volatile char *)(p + 3 * PAGE);		/* in, read only */
	(void)*(volatile char *)(p + 20 * PAGE);
	p[3 * PAGE + 1] = 1;				/* then written */
	p[5 * PAGE] = 2;				/* written in */
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	ASSERT_INCREMENT(&c, 2, 0, 0);
	check_chain(&c, p, len);
	chain_drop(&c);
	munmap(p, len);
	swap_off(on);
}

/*
 * hugetlb pages are read through GUP, which knows every size of them: a
 * 1 GiB page is a PUD-level leaf, which no PMD walk may read as a table.
 * Every increment records them, as no write to them is heard of.
 */
static void hugetlb_pages(size_t hsize, long nr_pages, int size_flag,
			  const char *pool)
{
	const size_t len = nr_pages * hsize;
	long old = cg_read(pool, "nr_hugepages", NULL);
	long lack = nr_pages - cg_read(pool, "free_hugepages", NULL);
	char nr[128], val[32];
	struct chain c = { };
	long n;
	char *p;

	if (old < 0)
		SKIP("no %s", pool);
	snprintf(nr, sizeof(nr), "%s/nr_hugepages", pool);
	snprintf(val, sizeof(val), "%ld", old + lack);
	if (lack > 0 && !write_file(nr, val))
		SKIP("cannot grow %s", nr);
	snprintf(val, sizeof(val), "%ld", old);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		 MAP_ANONYMOUS | MAP_HUGETLB | size_flag, -1, 0);
	if (p == MAP_FAILED) {
		write_file(nr, val);
		SKIP("no %ld free %zu MiB pages: %s", nr_pages, hsize >> 20,
		     strerror(errno));
	}
	/* The first page's start, middle and end; any second one untouched. */
	fill(p, 8 * PAGE, 1);
	fill(p + hsize / 2, PAGE, 2);
	fill(p + hsize - PAGE, PAGE, 3);
	n = ckpt(&c, p, len, CP_INCREMENTAL);
	ASSERT_EQ(n, 10);
	check_file(c.path[0], p, len, p);
	p[hsize / 2 + 1] ^= 1;
	p[5 * PAGE] = 0;
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	check_chain(&c, p, len);
	chain_drop(&c);
	munmap(p, len);
	write_file(nr, val);
}

TEST(hugetlb_2mib_pages)
{
	hugetlb_pages(2UL << 20, 2, 21 << MAP_HUGE_SHIFT,
		      "/sys/kernel/mm/hugepages/hugepages-2048kB");
}

TEST(hugetlb_1gib_pages)
{
	hugetlb_pages(1UL << 30, 1, 30 << MAP_HUGE_SHIFT,
		      "/sys/kernel/mm/hugepages/hugepages-1048576kB");
}

/*
 * A page pinned for DMA can change with no fault: here io_uring reads a
 * file into its fixed buffer.  Every increment records every pinned
 * page, in 4 KiB pages and in a THP.
 */
static void pinned_pages_in_every_increment(bool thp)
{
	char *raw = NULL, *p;
	const size_t len = thp ? HPAGE : 16 * PAGE;
	const long pages = len / PAGE;
	struct chain c = { };
	struct uring u;
	int fd;
	long kb;

	if (thp) {
		raw = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_TRUE(raw != MAP_FAILED);
		p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
		ASSERT_OK(madvise(p, HPAGE, MADV_HUGEPAGE));
		kb = anon_huge_kb();
		fill(p, len, 60);
		if (anon_huge_kb() - kb < (long)(HPAGE >> 10))
			SKIP("no THP for the test's huge page");
	} else {
		p = map_anon(len);
		fill(p, len, 60);
	}
	uring_init(&u, p, len);
	fd = data_file(1, 61);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), pages);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), pages);
	uring_read_fixed(&u, fd, p + 3 * PAGE, PAGE);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), pages);
	check_chain(&c, p, len);
	chain_drop(&c);
	close(fd);
	/* The ring's mappings keep it, and its pins, until the test exits. */
	close(u.fd);
	munmap(thp ? raw : p, thp ? 2 * HPAGE : len);
}

TEST(pinned_pages_in_every_increment_4k)
{
	pinned_pages_in_every_increment(false);
}

TEST(pinned_pages_in_every_increment_thp)
{
	pinned_pages_in_every_increment(true);
}

/* Writes by another process, and through /proc/PID/mem. */
TEST(remote_writes)
{
	const size_t len = 16 * PAGE;
	char *p = map_anon(len), buf[] = "remote";
	struct chain c = { };
	int fd, status;
	pid_t pid;

	fill(p, len, 18);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 16);
	fd = open("/proc/self/mem", O_RDWR);
	ASSERT_OK(fd);
	ASSERT_EQ(pwrite(fd, buf, 6, (uintptr_t)p + 2 * PAGE + 5), 6);
	close(fd);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		struct iovec l = { buf, 6 }, r = { p + 6 * PAGE, 6 };

		_exit(process_vm_writev(getppid(), &l, 1, &r, 1, 0) != 6);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(status, 0);
	ASSERT_EQ(memcmp(p + 6 * PAGE, buf, 6), 0);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	ASSERT_INCREMENT(&c, 2, 0, 0);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* Write @s at @p through /proc/self/mem: FOLL_FORCE, no write fault. */
static void poke(char *p, const char *s)
{
	int fd = open("/proc/self/mem", O_RDWR);

	ASSERT_OK(fd);
	ASSERT_EQ(pwrite(fd, s, strlen(s), (uintptr_t)p), (long)strlen(s));
	close(fd);
}

/*
 * FOLL_FORCE writes (/proc/PID/mem, ptrace) to a read-only private
 * mapping: GUP may write an exclusive anonymous page without a fault.
 */
TEST(foll_force_writes_to_a_read_only_mapping)
{
	const size_t len = 4 * PAGE;
	char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	struct chain c = { };

	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_OK(madvise(p, len, MADV_NOHUGEPAGE));
	poke(p + PAGE, "A");
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	poke(p + PAGE + 1, "B");
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	ASSERT_INCREMENT(&c, 1, 0, 0);
	poke(p + 3 * PAGE, "C");			/* a new page */
	poke(p + PAGE + 2, "D");
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 2);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* The same for a THP mapped by a PMD. */
TEST(foll_force_writes_to_a_read_only_thp)
{
	char *raw = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	struct chain c = { };
	long kb;

	ASSERT_TRUE(raw != MAP_FAILED);
	ASSERT_OK(madvise(p, HPAGE, MADV_HUGEPAGE));
	kb = anon_huge_kb();
	fill(p, HPAGE, 20);
	if (anon_huge_kb() - kb < (long)(HPAGE >> 10))
		SKIP("no THP for the test's huge page");
	ASSERT_OK(mprotect(p, HPAGE, PROT_READ));
	ASSERT_EQ(ckpt(&c, p, HPAGE, CP_INCREMENTAL), (long)(HPAGE / PAGE));
	poke(p + 9 * PAGE, "B");
	ASSERT_EQ(ckpt(&c, p, HPAGE, CP_INCREMENTAL), 1);
	ASSERT_INCREMENT(&c, 1, 0, 0);
	check_chain(&c, p, HPAGE);
	chain_drop(&c);
	munmap(raw, 2 * HPAGE);
}

static volatile bool stop_mapper;
static double worst_mmap;	/* seconds */

/* Another thread maps and unmaps a page, timing each pair. */
static void *mapper(void *arg)
{
	while (!stop_mapper) {
		double t = now_s();
		void *q = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE |
			       MAP_ANONYMOUS, -1, 0);

		if (q != MAP_FAILED)
			munmap(q, PAGE);
		t = now_s() - t;
		if (t > worst_mmap)
			worst_mmap = t;
		usleep(1000);
	}
	return NULL;
}

/*
 * A full checkpoint of a sparse terabyte: never-touched memory with no
 * page table is recorded without visiting each page, and the mmap lock
 * is dropped often enough that another thread's mmap() goes on.
 */
TEST(sparse_terabyte_does_not_stall_mmap)
{
	const size_t len = 1UL << 40;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		       MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int fd = open("/dev/null", O_WRONLY);
	pthread_t th;
	double t;
	long n;

	if (p == MAP_FAILED)
		SKIP("mmap 1 TiB: %s", strerror(errno));
	ASSERT_OK(fd);
	p[0] = 1;
	p[len / 2] = 2;
	p[len - 1] = 3;
	ASSERT_OK(pthread_create(&th, NULL, mapper, NULL));
	t = now_s();
	n = cpr(p, len, fd, 0);
	t = now_s() - t;
	stop_mapper = true;
	pthread_join(th, NULL);
	diag("1 TiB in %.2f s, the slowest mmap()+munmap() %.3f s", t,
	     worst_mmap);
	ASSERT_EQ(n, 3);
	if (t > 30 || worst_mmap > 2)
		FAIL("%.1f s for the checkpoint, %.1f s for an mmap()", t,
		     worst_mmap);
	close(fd);
	munmap(p, len);
}

/* Runs longer than 2^32 pages: a hole of 17 TiB. */
TEST(hole_of_seventeen_tib)
{
	const size_t len = 17UL << 40;
	char *p = (char *)0x100000000000UL, path[32];	/* 16 TiB */
	struct tally t;
	int fd;

	if (mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		 MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != p)
		SKIP("cannot map at %p: %s", p, strerror(errno));
	p[0] = 1;
	if (mmap(p + len - PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		 MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != p + len - PAGE)
		SKIP("cannot map at %p: %s", p + len - PAGE, strerror(errno));
	p[len - 1] = 2;
	fd = ckpt_file(path);
	ASSERT_EQ(cpr(p, len, fd, 0), 2);
	close(fd);
	t = tally(path);
	ASSERT_EQ(t.data, 2);
	ASSERT_EQ(t.unmapped, (long)(len / PAGE - 2));
	ASSERT_EQ(t.zero, 0);
	unlink(path);
}

/* mprotect() read-only and back must not let writes go unseen. */
TEST(mprotect_round_trip)
{
	const size_t len = 8 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };

	fill(p, len, 19);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);
	ASSERT_OK(mprotect(p, len, PROT_READ));
	ASSERT_OK(mprotect(p, len, PROT_READ | PROT_WRITE));
	p[PAGE] = 1;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/*
 * Threads write all the time, each to its own pages, generation after
 * generation, word by word in ascending order (see rewrite()).  Every
 * increment has untorn pages, and after the writers stop one more brings
 * the chain to memory.
 */
TEST(threads_write_during_increments)
{
	const size_t len = 2 * TORN_PAGES * PAGE;
	char *p = map_anon(len);
	struct chain c = { };
	pthread_t tid[2];
	int i;

	memset(p, 0, len);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	stop = 0;
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&tid[i], NULL, rewrite,
					 p + i * TORN_PAGES * PAGE), 0);
	for (i = 0; i < 12; i++) {
		struct cpfile f;
		struct cprun r;
		char err[256];

		ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 0);
		if (cpfile_open(&f, c.path[c.n - 1], err, sizeof(err)))
			FAIL("%s", err);
		while (cpfile_next(&f, &r)) {
			const uint64_t *w = (const void *)r.data;
			size_t j, n = (size_t)r.run->nr_pages * PAGE / 8;

			for (j = 1; r.data && j < n; j++)
				if (j % (PAGE / 8) && w[j] > w[j - 1])
					FAIL("increment %d: torn page", i);
		}
		cpfile_close(&f);
	}
	stop = 1;
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(tid[i], NULL), 0);
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 0);
	check_chain(&c, p, len);
	chain_drop(&c);
}

/* The output file is MAP_SHARED inside the range: recorded every time. */
TEST(increments_into_a_file_mapped_in_the_range)
{
	const size_t flen = 16 * PAGE, len = 32 * PAGE;
	char path[32], *p = map_anon(len);
	int fd = ckpt_file(path), i;

	ASSERT_OK(ftruncate(fd, flen));
	ASSERT_TRUE(mmap(p + 16 * PAGE, flen, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == p + 16 * PAGE);
	fill(p, len, 20);
	for (i = 0; i < 3; i++) {
		struct tally t;

		ASSERT_OK(lseek(fd, 0, SEEK_SET));
		ASSERT_GE(cpr(p, len, fd, CP_INCREMENTAL), 16);
		t = tally(path);
		ASSERT_EQ(t.h.seq, i + 1);
		ASSERT_EQ(t.data + t.zero, i ? 17 : 32);
		p[i * PAGE] = 1;	/* changes seen by the next one */
		ASSERT_OK(ftruncate(fd, flen));
	}
	unlink(path);
}

/* A checkpoint that fails part way leaves the next one full. */
TEST(failed_checkpoint_restarts_the_chain)
{
	const size_t len = 8 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };
	int pfd[2];

	fill(p, len, 21);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);
	p[0] = 1;
	signal(SIGPIPE, SIG_IGN);
	ASSERT_OK(pipe(pfd));
	close(pfd[0]);
	ASSERT_CPR_ERR(p, len, pfd[1], CP_INCREMENTAL, EPIPE);
	close(pfd[1]);
	chain_drop(&c);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);
	ASSERT_EQ(last(&c).h.base_id, 0);
	chain_drop(&c);
}

/* A range unmapped since the last checkpoint: recorded, no ENOMEM. */
TEST(incremental_errnos)
{
	char *p = map_anon(4 * PAGE), *hole = map_anon(4 * PAGE);
	struct chain c = { };
	char path[32];
	int fd = ckpt_file(path);

	unlink(path);
	ASSERT_CPR_ERR(p, PAGE, fd, CP_INCREMENTAL | 2, EINVAL);
	ASSERT_CPR_ERR(p + 1, PAGE, fd, CP_INCREMENTAL, EINVAL);
	ASSERT_CPR_ERR(p, PAGE, -1, CP_INCREMENTAL, EBADF);
	ASSERT_OK(munmap(hole, 4 * PAGE));
	ASSERT_CPR_ERR(hole, 4 * PAGE, fd, CP_INCREMENTAL, ENOMEM);
	ASSERT_EQ(lseek(fd, 0, SEEK_END), 0);

	fill(p, 4 * PAGE, 22);
	ASSERT_EQ(ckpt(&c, p, 4 * PAGE, CP_INCREMENTAL), 4);
	ASSERT_OK(munmap(p, 4 * PAGE));
	ASSERT_EQ(ckpt(&c, p, 4 * PAGE, CP_INCREMENTAL), 0);
	ASSERT_INCREMENT(&c, 0, 0, 4);
	check_chain(&c, p, 4 * PAGE);
	chain_drop(&c);
}

/* CP_FORGET stops tracking a range; the next checkpoint of it is full. */
TEST(forget_stops_tracking)
{
	char *p = map_anon(8 * PAGE);
	struct chain c = { };
	char path[32];
	int fd = ckpt_file(path);

	unlink(path);
	fill(p, 8 * PAGE, 23);
	ASSERT_CPR_ERR(p, 8 * PAGE, -1, CP_FORGET, ENOENT);	/* not yet */
	ASSERT_EQ(ckpt(&c, p, 8 * PAGE, CP_INCREMENTAL), 8);
	ASSERT_CPR_ERR(p, 8 * PAGE, fd, CP_FORGET, EINVAL);	/* fd not -1 */
	ASSERT_CPR_ERR(p, 8 * PAGE, -1, CP_FORGET | CP_INCREMENTAL, EINVAL);
	ASSERT_CPR_ERR(p, 4 * PAGE, -1, CP_FORGET, ENOENT);	/* not exact */
	ASSERT_EQ(cpr(p, 8 * PAGE, -1, CP_FORGET), 0);
	ASSERT_CPR_ERR(p, 8 * PAGE, -1, CP_FORGET, ENOENT);	/* gone */
	p[PAGE] = 5;
	ASSERT_EQ(ckpt(&c, p, 8 * PAGE, CP_INCREMENTAL), 8);	/* full */
	ASSERT_EQ(last(&c).h.flags, 0);
	ASSERT_EQ(last(&c).h.seq, 1);
	chain_drop(&c);
	/* A tracked range's marks are bounded: 1 TiB at most. */
	ASSERT_CPR_ERR(0x100000000000UL, (1UL << 40) + PAGE, fd,
		       CP_INCREMENTAL, E2BIG);
	ASSERT_EQ(lseek(fd, 0, SEEK_END), 0);
	close(fd);
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Writes to [p, p + len) after mprotect() read-only and back: faults. */
static long faults_after_reprotect(char *p, size_t len)
{
	long before;
	size_t off;

	ASSERT_OK(mprotect(p, len, PROT_READ));
	ASSERT_OK(mprotect(p, len, PROT_READ | PROT_WRITE));
	before = minflt();
	for (off = 0; off < len; off += PAGE)
		p[off]++;
	return minflt() - before;
}

/*
 * Tracking costs write faults in the mappings a tracked range overlaps,
 * not in the rest of the process, and not after CP_FORGET: mprotect()
 * makes exclusive anonymous pages writable again there.
 */
TEST(side_effects_confined_to_tracked_ranges)
{
	const size_t len = 64 * PAGE;
	char *a = map_anon(2 * len + PAGE), *b = a + len + PAGE;
	struct chain c = { };
	long n;

	/* a guard page, so that a and b are two mappings, not one */
	ASSERT_OK(mprotect(a + len, PAGE, PROT_NONE));
	fill(a, len, 24);
	fill(b, len, 25);
	ASSERT_EQ(ckpt(&c, a, len, CP_INCREMENTAL), 64);
	n = faults_after_reprotect(a, len);
	diag("tracked: %ld faults for 64 writes", n);
	ASSERT_GE(n, 64);
	n = faults_after_reprotect(b, len);
	diag("not tracked: %ld faults for 64 writes", n);
	if (n >= 16)
		FAIL("%ld write faults in a mapping no range tracks", n);
	ASSERT_EQ(ckpt(&c, a, len, CP_INCREMENTAL), 64);
	check_chain(&c, a, len);
	ASSERT_EQ(cpr(a, len, -1, CP_FORGET), 0);
	faults_after_reprotect(a, len);		/* once to get exclusive */
	n = faults_after_reprotect(a, len);
	diag("forgotten: %ld faults for 64 writes", n);
	if (n >= 16)
		FAIL("%ld write faults in a range no longer tracked", n);
	chain_drop(&c);
}

/*
 * Sixteen ranges are tracked at once; a seventeenth takes the place of
 * the oldest, whose next increment is full again.  A fork()ed child
 * tracks nothing.
 */
TEST(ranges_fork_and_eviction)
{
	char *p = map_anon(17 * PAGE);
	struct chain c = { };
	int i, status;
	pid_t pid;

	fill(p, 17 * PAGE, 23);
	for (i = 0; i < 17; i++) {
		ASSERT_EQ(ckpt(&c, p + i * PAGE, PAGE, CP_INCREMENTAL), 1);
		chain_drop(&c);
	}
	ASSERT_EQ(ckpt(&c, p + 16 * PAGE, PAGE, CP_INCREMENTAL), 0);
	ASSERT_EQ(last(&c).h.seq, 2);
	chain_drop(&c);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		bool ok = ckpt(&c, p + 16 * PAGE, PAGE, CP_INCREMENTAL) == 1 &&
			  last(&c).h.seq == 1;

		chain_drop(&c);
		_exit(!ok);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(status, 0);
	ASSERT_EQ(ckpt(&c, p, PAGE, CP_INCREMENTAL), 1);	/* evicted */
	ASSERT_EQ(last(&c).h.seq, 1);
	chain_drop(&c);
}

static long mmc(unsigned int op)
{
	return syscall(__NR_mmcontext, op, 0);
}

/* An mmcontext rollback changes memory: the next increment has it. */
TEST(mmcontext_rollback_is_a_change)
{
	const size_t len = 8 * PAGE;
	char *p = map_anon(len);
	struct chain c = { };

	if (mmc(77) != -1 || errno != EINVAL)
		SKIP("this kernel has no mmcontext");
	fill(p, len, 24);
	ASSERT_OK(mmc(MMCONTEXT_SAVE));
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 8);
	p[3 * PAGE] = 1;
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	ASSERT_OK(mmc(MMCONTEXT_ROLLBACK));
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	check_chain(&c, p, len);
	ASSERT_OK(mmc(MMCONTEXT_DROP));
	chain_drop(&c);
}

#define TRACK_SPAN	(4UL << 30)

/* A leak-test child: tracks a 4 GiB range that is mostly a hole. */
static int track_a_hole(void)
{
	struct chain c = { };
	char *p = mmap(NULL, TRACK_SPAN, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED || munmap(p + PAGE, TRACK_SPAN - PAGE))
		return 23;
	if (ckpt(&c, p, TRACK_SPAN, CP_INCREMENTAL) < 0)
		return 24;
	chain_drop(&c);
	return 0;
}

/*
 * Children track a 4 GiB range (a 128 KiB bitmap each, charged to their
 * memcg), then exit or exec.  Their memcg must be back to (nearly)
 * nothing.
 */
static void tracking_is_freed(bool do_exec)
{
	const long limit = (2 * 64 + 16) * (long)PAGE;
	char cg[64];
	long charged;
	int i;

	cg_make(cg, sizeof(cg), "cp-range-leak");
	cg_children(32, cg, track_a_hole, do_exec);
	/*
	 * The bitmaps are freed an RCU grace period after the exit
	 * (khugepaged may be looking at them): give that 30 s.
	 */
	for (i = 0; i < 300; i++) {
		charged = cg_read(cg, "memory.current", NULL);
		if (charged <= limit)
			break;
		usleep(100000);
	}
	ASSERT_OK(rmdir(cg));
	diag("%s: children's memcg %ld bytes after %d.%d s; a leak would be "
	     ">= %ld", do_exec ? "exec" : "exit", charged, i / 10, i % 10,
	     32 * (TRACK_SPAN >> 15));
	/* Per-CPU charge caches: up to 64 pages each; slab bytes. */
	ASSERT_LE(charged, limit);
}

TEST(exit_frees_tracking)
{
	tracking_is_freed(false);
}

TEST(exec_frees_tracking)
{
	tracking_is_freed(true);
}

/*
 * cprestore applies a full checkpoint and its increments in a fresh
 * process, byte for byte, and refuses the chain with a link left out.
 */
TEST(cprestore_applies_increments)
{
	const size_t len = 32 * PAGE;
	char img[] = "/tmp/cp_range.img2", cmd[512], msg[256];
	struct chain c = { };
	char *p, *want, *got;
	int ifd;

	if (system("cprestore -h >/dev/null 2>&1"))
		SKIP("no cprestore in PATH");
	p = mmap(FIXED_AT, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_TRUE(p == FIXED_AT);
	fill(p, len, 25);
	ASSERT_EQ(ckpt(&c, p, len, CP_INCREMENTAL), 32);
	p[3 * PAGE] = 1;
	ASSERT_OK(madvise(p + 5 * PAGE, 2 * PAGE, MADV_DONTNEED));
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	ASSERT_OK(munmap(p + 20 * PAGE, 4 * PAGE));
	p[30 * PAGE] = 2;
	ASSERT_GE(ckpt(&c, p, len, CP_INCREMENTAL), 1);
	want = calloc(len, 1);
	memcpy(want, p, 20 * PAGE);
	memcpy(want + 24 * PAGE, p + 24 * PAGE, 8 * PAGE);

	unlink(img);
	snprintf(cmd, sizeof(cmd), "cprestore -o %s %s %s %s 2>&1", img,
		 c.path[0], c.path[1], c.path[2]);
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 0);
	ifd = open(img, O_RDONLY);
	ASSERT_OK(ifd);
	got = malloc(len);
	ASSERT_EQ(read(ifd, got, len), (long)len);
	close(ifd);
	if (memcmp(got, want, len))
		FAIL("the image rebuilt from 3 checkpoints differs");

	unlink(img);
	snprintf(cmd, sizeof(cmd), "cprestore -o %s %s %s 2>&1", img,
		 c.path[0], c.path[2]);
	ASSERT_EQ(run(cmd, msg, sizeof(msg)), 1);
	diag("%s", msg);
	ASSERT_TRUE(strstr(msg, "link is missing"));
	ASSERT_TRUE(access(img, F_OK) != 0);
	chain_drop(&c);
}

TEST_MAIN()
