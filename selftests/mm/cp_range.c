// SPDX-License-Identifier: GPL-2.0
/*
 * cp_range.c - selftests of cp_range(2): full checkpoints of an address
 * range to a file.
 *
 * Every case reads the checkpoint file back with tools/cpfile.c, which
 * knows only the documented format, and compares it with the memory it
 * came from (memcmp), with what the test mapped and unmapped, and with
 * the file's size.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/cp_range.h>

#include "mm_util.h"
#include "cpfile.h"

static long cpr(void *start, void *end, int fd, unsigned int flags)
{
	long ret = syscall(__NR_cp_range, start, end, fd, flags);

	if (ret < 0 && errno == ENOSYS)
		SKIP("this kernel has no cp_range");
	return ret;
}

#define ASSERT_CPR_ERR(start, end, fd, flags, err) do {			\
		long __r = cpr((void *)(start), (void *)(end), fd, flags); \
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
	ASSERT_CPR_ERR(p + 1, p + PAGE, fd, 0, EINVAL);
	ASSERT_CPR_ERR(p, p + PAGE + 1, fd, 0, EINVAL);
	ASSERT_CPR_ERR(p + PAGE, p + PAGE, fd, 0, EINVAL);
	ASSERT_CPR_ERR(p + PAGE, p, fd, 0, EINVAL);
	ASSERT_CPR_ERR(-PAGE, 0, fd, 0, EINVAL);	/* end wraps */
	ASSERT_CPR_ERR(p, -PAGE, fd, 0, EINVAL);	/* past user space */
	ASSERT_CPR_ERR(p, p + PAGE, fd, 1u << 7, EINVAL);
	ASSERT_CPR_ERR(p, p + PAGE, -1, 0, EBADF);
	ASSERT_CPR_ERR(p, p + PAGE, 12345, 0, EBADF);
	rdonly = open("/proc/self/exe", O_RDONLY);
	ASSERT_OK(rdonly);
	ASSERT_CPR_ERR(p, p + PAGE, rdonly, 0, EBADF);
	/* A file the kernel cannot write from inside (->write only). */
	rdonly = open("/dev/null", O_WRONLY);
	ASSERT_OK(rdonly);
	ASSERT_CPR_ERR(p, p + PAGE, rdonly, 0, EINVAL);
	ASSERT_OK(munmap(hole, 4 * PAGE));
	ASSERT_CPR_ERR(hole, hole + 4 * PAGE, fd, 0, ENOMEM);
	/* Nothing was written by any of them. */
	ASSERT_EQ(lseek(fd, 0, SEEK_END), 0);
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

	ret = cpr(p, p + len, fd, 0);
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
	ASSERT_EQ(cpr(p, p + 4 * PAGE, fd, 0), 4);
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
	ASSERT_EQ(cpr(p, p + 2 * HPAGE, fd, 0), (long)(HPAGE / PAGE));
	check_file(path, p, 2 * HPAGE, p);
	unlink(path);
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
	ASSERT_GE(cpr(raw, raw + 16 * PAGE + flen, fd, 0), 16);
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
		ASSERT_GE(cpr(p, p + TORN_PAGES * PAGE, fd, 0), 0);
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
	ASSERT_EQ(cpr(p, p + 8 * PAGE, fd, 0), 8);
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
	ASSERT_EQ(cpr(p, p + len, fd, 0), 20);
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
	ASSERT_EQ(cpr(p, p + len, fd, 0), 20);
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

TEST_MAIN()
