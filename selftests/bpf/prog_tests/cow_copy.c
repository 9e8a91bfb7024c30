// SPDX-License-Identifier: GPL-2.0
/*
 * cow_copy - the ctxkit:cow_copy tracepoint, counted by cowstat's BPF
 * program, against what fork() semantics say must have happened.
 *
 * A child of a process that populated N private pages gets exactly N real
 * copies when it writes each page once, and the parent's pages keep their
 * contents.  Pages the parent never touched give no copies at all; if the
 * child reads them first (mapping the shared zero page), its writes are N
 * zero-fills and still no copies.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cowstat.h"
#include "cowstat.skel.h"
#include "trace_helpers.h"
#include "../../harness.h"

#define NPAGES	64
#define FILL	0xa5

static size_t page_size;

/* Anonymous private pages, THP off so every page faults on its own. */
static char *map_pages(void)
{
	char *p;

	page_size = sysconf(_SC_PAGESIZE);
	p = mmap(NULL, NPAGES * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	ASSERT_OK(madvise(p, NPAGES * page_size, MADV_NOHUGEPAGE));
	return p;
}

/* Load and attach cowstat, counting only faults inside [p, p + len). */
static struct cowstat_bpf *cowstat_attach(char *p)
{
	struct cowstat_bpf *obj;

	if (!tp_btf_exists("cow_copy"))
		SKIP("kernel has no ctxkit:cow_copy tracepoint");
	obj = cowstat_bpf__open();
	ASSERT_TRUE(obj);
	obj->rodata->targ_start = (uintptr_t)p;
	obj->rodata->targ_end = (uintptr_t)p + NPAGES * page_size;
	ASSERT_EQ(cowstat_bpf__load(obj), 0);
	ASSERT_EQ(cowstat_bpf__attach(obj), 0);
	return obj;
}

/* Fork a child that (optionally reads, then) writes each page once. */
static pid_t run_child(char *p, bool read_first)
{
	int status;
	pid_t pid;
	size_t i;

	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		if (read_first)
			for (i = 0; i < NPAGES; i++)
				(void)*(volatile char *)(p + i * page_size);
		for (i = 0; i < NPAGES; i++)
			p[i * page_size] = 1;
		_exit(0);
	}
	ASSERT_OK(waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return pid;
}

static struct cow_stat stat_of(struct cowstat_bpf *obj, pid_t pid)
{
	struct cow_stat st = {};
	__u32 key = pid;

	if (bpf_map_lookup_elem(bpf_map__fd(obj->maps.stats), &key, &st))
		ASSERT_EQ(errno, ENOENT);
	return st;
}

TEST(cow_private_pages)
{
	char *p = map_pages();
	struct cowstat_bpf *obj;
	struct cow_stat st;
	size_t i;
	pid_t pid;

	memset(p, FILL, NPAGES * page_size);
	obj = cowstat_attach(p);
	pid = run_child(p, false);
	st = stat_of(obj, pid);
	diag("child %d: %llu copies, %llu zero-fills", pid,
	     (unsigned long long)st.copies, (unsigned long long)st.zero_fills);
	ASSERT_EQ(st.copies, NPAGES);
	ASSERT_EQ(st.zero_fills, 0);
	/* The child's writes went to its own copies, not to ours. */
	for (i = 0; i < NPAGES * page_size; i++)
		if ((unsigned char)p[i] != FILL)
			FAIL("parent byte %zu changed to %#x", i, p[i]);
	cowstat_bpf__destroy(obj);
}

TEST(cow_unpopulated_pages)
{
	char *p = map_pages();
	struct cowstat_bpf *obj;
	struct cow_stat st;
	pid_t pid;

	obj = cowstat_attach(p);
	pid = run_child(p, false);
	st = stat_of(obj, pid);
	ASSERT_EQ(st.copies, 0);
	ASSERT_EQ(st.zero_fills, 0);
	cowstat_bpf__destroy(obj);
}

TEST(cow_zero_page_fills)
{
	char *p = map_pages();
	struct cowstat_bpf *obj;
	struct cow_stat st;
	pid_t pid;

	obj = cowstat_attach(p);
	pid = run_child(p, true);
	st = stat_of(obj, pid);
	diag("child %d: %llu copies, %llu zero-fills", pid,
	     (unsigned long long)st.copies, (unsigned long long)st.zero_fills);
	ASSERT_EQ(st.copies, 0);
	ASSERT_EQ(st.zero_fills, NPAGES);
	cowstat_bpf__destroy(obj);
}

TEST_MAIN()
