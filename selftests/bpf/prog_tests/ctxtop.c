// SPDX-License-Identifier: GPL-2.0
/*
 * ctxtop - each of ctxtop's BPF counters against ground truth from outside
 * BPF: getrusage(), /proc/self/maps and statm, the values brk() returns,
 * mincore() and memcmp() after a rollback, /proc/PID/smaps of an sfork
 * sharer, the messages and bytes a test sent itself, and what fork()
 * semantics say must happen.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <bpf/btf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/cp_range.h>
#include <linux/ipc_msg.h>
#include <linux/mmcontext.h>
#include <linux/sfork.h>
#include "ctxtop.h"
#include "ctxtop.skel.h"
#include "ctxtop_hooks.h"
#include "trace_helpers.h"
#include "../../harness.h"

#define NPAGES	1024

static long page_size;

static long rusage_faults(void);
static long rss_pages(void);

static void ctxtop_require(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	if (!tp_btf_exists("cow_copy"))
		SKIP("kernel has no ctxkit tracepoints");
	if (!fentry_can_attach("handle_mm_fault"))
		SKIP("cannot fentry handle_mm_fault");
}

struct load_opts {
	pid_t tgid;		/* count only this process (0: all) */
	unsigned int max_procs;	/* procs map size (0: as built) */
	enum fault_tier tier;	/* fault hook */
	bool untimed;		/* no latency, as ctxtop's default */
	const char *btf;	/* BTF for CO-RE (NULL: the kernel's) */
};

/*
 * Load ctxtop's programs as ctxtop does; on a patched kernel that is every
 * ctxkit tracepoint and, by default, timed faults through fentry.
 */
static struct ctxtop_bpf *ctxtop_load_opts(const struct load_opts *o)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = o->btf);
	struct ctxtop_hooks hooks;
	struct ctxtop_bpf *obj;
	__u32 key = o->tgid;
	__u8 one = 1;

	ctxtop_require();
	obj = ctxtop_bpf__open_opts(&open_opts);
	ASSERT_TRUE(obj);
	ctxtop_hooks__choose(obj, &hooks, o->tier, !o->untimed);
	ASSERT_EQ(hooks.tier, o->tier);
	ASSERT_EQ(hooks.available, NR_FEATURES -
		  (o->tier == TIER_TRACEPOINT ? 2 : 0));
	obj->rodata->filter_pid = o->tgid != 0;
	if (o->max_procs)
		ASSERT_EQ(bpf_map__set_max_entries(obj->maps.procs,
						   o->max_procs), 0);
	ASSERT_EQ(ctxtop_bpf__load(obj), 0);
	if (o->tgid)
		ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(obj->maps.pids), &key,
					      &one, BPF_ANY), 0);
	ASSERT_EQ(ctxtop_bpf__attach(obj), 0);
	return obj;
}

static struct ctxtop_bpf *ctxtop_load(pid_t tgid, unsigned int max_procs)
{
	struct load_opts o = { .tgid = tgid, .max_procs = max_procs };

	return ctxtop_load_opts(&o);
}

/* @pid's counters so far; all zero if it has none. */
static struct proc_stat proc_stat(struct ctxtop_bpf *obj, pid_t pid)
{
	struct proc_stat st = {};
	__u32 key = pid;

	if (bpf_map_lookup_elem(bpf_map__fd(obj->maps.procs), &key, &st))
		ASSERT_EQ(errno, ENOENT);
	return st;
}

static __u64 ctr(struct ctxtop_bpf *obj, pid_t pid, enum ctr c)
{
	return proc_stat(obj, pid).s.ctr[c];
}

/*
 * Reading a counter may itself fault in (or copy) a stack page, after the
 * kernel took the value.  Read once before a measured window so the reads
 * that bound it find their pages in place.
 */
static void warm_up(struct ctxtop_bpf *obj)
{
	rss_pages();
	rusage_faults();
	ctr(obj, getpid(), CTR_FAULTS);
}

static char *map_anon(long pages)
{
	char *p = mmap(NULL, pages * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	ASSERT_OK(madvise(p, pages * page_size, MADV_NOHUGEPAGE));
	return p;
}

static void touch(char *p, long pages)
{
	long i;

	for (i = 0; i < pages; i++)
		p[i * page_size] = 1;
}

static long rusage_faults(void)
{
	struct rusage ru;

	ASSERT_OK(getrusage(RUSAGE_SELF, &ru));
	return ru.ru_minflt + ru.ru_majflt;
}

/* Resident pages, from /proc/self/statm; no stdio, so no heap pages. */
static long rss_pages(void)
{
	char buf[128] = "";
	long size, rss;
	int fd = open("/proc/self/statm", O_RDONLY);

	ASSERT_OK(fd);
	ASSERT_GE(read(fd, buf, sizeof(buf) - 1), 1);
	close(fd);
	ASSERT_EQ(sscanf(buf, "%ld %ld", &size, &rss), 2);
	return rss;
}

/* Size in bytes of the [stack] VMA, from /proc/self/maps. */
static unsigned long stack_vma_size(void)
{
	unsigned long start, end, size = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	ASSERT_TRUE(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[stack]") &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2)
			size = end - start;
	fclose(f);
	ASSERT_NE(size, 0);
	return size;
}

/*
 * A child faults in several ways: first touches, writes through
 * /proc/self/mem (get_user_pages() faults, regs NULL), and, with swap,
 * swap-ins (major).  Its counters must equal what wait4() says it took:
 * min_flt + maj_flt, and maj_flt, exactly.
 */
static void faults_match_rusage_on(enum fault_tier tier, bool untimed,
				   bool swap)
{
	struct load_opts o = { .tier = tier, .untimed = untimed };
	struct ctxtop_bpf *obj = ctxtop_load_opts(&o);
	struct rusage ru;
	__u64 flt, maj;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *p = map_anon(NPAGES), *q = map_anon(NPAGES / 8);
		char *s = map_anon(NPAGES / 8), buf[64] = "gup";
		int fd = open("/proc/self/mem", O_RDWR);
		long i, sum = 0;

		touch(p, NPAGES);
		/* each write faults in a page of q through GUP */
		for (i = 0; fd >= 0 && i < NPAGES / 8; i++)
			if (pwrite(fd, buf, sizeof(buf),
				   (uintptr_t)q + i * page_size) != sizeof(buf))
				_exit(2);
		if (swap) {
			touch(s, NPAGES / 8);
			madvise(s, NPAGES / 8 * page_size, MADV_PAGEOUT);
			for (i = 0; i < NPAGES / 8; i++)
				sum += s[i * page_size];
		}
		_exit(fd < 0 ? 3 : sum > NPAGES ? 4 : 0);
	}
	ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	flt = ctr(obj, pid, CTR_FAULTS);
	maj = ctr(obj, pid, CTR_MAJOR);
	diag("faults via %s%s: bpf %llu (major %llu), getrusage %ld (major %ld)",
	     tier_names[tier], untimed ? "" : ", timed",
	     (unsigned long long)flt, (unsigned long long)maj,
	     ru.ru_minflt + ru.ru_majflt, ru.ru_majflt);
	if (tier == TIER_TRACEPOINT) {
		/* fault exceptions: not GUP, but retried ones twice */
		ASSERT_GE(flt, NPAGES);
		ASSERT_EQ(maj, 0);
	} else {
		ASSERT_EQ(flt, ru.ru_minflt + ru.ru_majflt);
		ASSERT_EQ(maj, ru.ru_majflt);
		if (swap)
			ASSERT_GE(maj, 1);
	}
	ctxtop_bpf__destroy(obj);
}

/* Swap on /dev/ram0 for the major faults of swap-ins, if the guest has it. */
static bool swap_on(void)
{
	if (access("/dev/ram0", F_OK) || !system("grep -q ram0 /proc/swaps"))
		return false;
	return !system("mkswap /dev/ram0 >/dev/null 2>&1 && swapon /dev/ram0");
}

TEST(faults_match_rusage_on_every_hook)
{
	bool swap;

	ctxtop_require();
	if (!kprobe_exists("handle_mm_fault") ||
	    !tracepoint_exists("exceptions", "page_fault_user"))
		SKIP("kernel lacks a fallback fault hook");
	swap = swap_on();
	if (!swap)
		diag("no swap: no major faults to count");
	faults_match_rusage_on(TIER_FENTRY, true, swap);
	faults_match_rusage_on(TIER_FENTRY, false, swap);
	faults_match_rusage_on(TIER_KPROBE, true, swap);
	faults_match_rusage_on(TIER_KPROBE, false, swap);
	faults_match_rusage_on(TIER_TRACEPOINT, true, false);
	if (swap)
		ASSERT_EQ(system("swapoff /dev/ram0"), 0);
}

TEST(latency_hist_total_is_fault_count)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	char *p = map_anon(NPAGES);
	struct proc_stat st;
	__u64 sum = 0;
	int i;

	touch(p, NPAGES);
	st = proc_stat(obj, getpid());
	for (i = 0; i < MAX_SLOTS; i++)
		sum += st.s.lat[i];
	diag("faults %llu, histogram total %llu",
	     (unsigned long long)st.s.ctr[CTR_FAULTS], (unsigned long long)sum);
	ASSERT_GE(st.s.ctr[CTR_FAULTS], NPAGES);
	ASSERT_EQ(sum, st.s.ctr[CTR_FAULTS]);
	ctxtop_bpf__destroy(obj);
}

/* Copy-on-write, counted by the child around its own writes only. */
TEST(cow_copies_exact)
{
	struct ctxtop_bpf *obj = ctxtop_load(0, 0);
	char *p = map_anon(NPAGES);
	int status;
	pid_t pid;

	memset(p, 0x5a, NPAGES * page_size);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		__u64 c0;

		warm_up(obj);
		c0 = ctr(obj, getpid(), CTR_COW);
		touch(p, NPAGES);
		_exit(ctr(obj, getpid(), CTR_COW) - c0 == NPAGES ? 0 : 1);
	}
	ASSERT_OK(waitpid(pid, &status, 0));
	diag("child %d: %llu copies in all", pid,
	     (unsigned long long)ctr(obj, pid, CTR_COW));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ctxtop_bpf__destroy(obj);
}

TEST(first_touch_matches_rss)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	char *p = map_anon(NPAGES);
	long rss0, rss1;
	__u64 a0, a1;

	warm_up(obj);
	rss0 = rss_pages();
	a0 = ctr(obj, getpid(), CTR_ANON_PAGES);
	touch(p, NPAGES);
	a1 = ctr(obj, getpid(), CTR_ANON_PAGES);
	rss1 = rss_pages();
	diag("first-touch pages %llu, rss +%ld", (unsigned long long)(a1 - a0),
	     rss1 - rss0);
	ASSERT_EQ(a1 - a0, NPAGES);
	ASSERT_EQ(rss1 - rss0, NPAGES);
	ctxtop_bpf__destroy(obj);
}

/* One page per frame; noinline and the sum keep every frame real. */
static __attribute__((noinline)) long recurse(int depth)
{
	volatile char frame[4096];
	long sum;

	frame[0] = (char)depth;
	frame[sizeof(frame) - 1] = (char)depth;
	if (depth <= 1)
		return frame[0];
	sum = recurse(depth - 1);
	return sum + frame[sizeof(frame) - 1];
}

TEST(stack_growth_matches_maps)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	unsigned long before, after;
	__u64 g0, g1, e0, e1;
	volatile long sink;

	warm_up(obj);
	before = stack_vma_size();
	g0 = ctr(obj, getpid(), CTR_STACK_PAGES);
	e0 = ctr(obj, getpid(), CTR_STACK);
	sink = recurse(512);
	(void)sink;
	g1 = ctr(obj, getpid(), CTR_STACK_PAGES);
	e1 = ctr(obj, getpid(), CTR_STACK);
	after = stack_vma_size();
	diag("stack VMA %lu -> %lu KiB; bpf: %llu pages in %llu growths",
	     before >> 10, after >> 10, (unsigned long long)(g1 - g0),
	     (unsigned long long)(e1 - e0));
	ASSERT_GE(after - before, 256 * page_size);
	ASSERT_EQ((g1 - g0) * page_size, after - before);
	ASSERT_GE(e1 - e0, 1);
	ASSERT_LE(e1 - e0, g1 - g0);
	ctxtop_bpf__destroy(obj);
}

TEST(brk_grows_and_shrinks)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	unsigned long cur, want[] = { 3, 5, 0, 1, 0, 0 };
	__u64 g0, s0, g1, s1;
	size_t i;

	/* grow, grow, query, shrink, shrink, no change: 2 grows, 2 shrinks */
	cur = syscall(SYS_brk, 0);
	ASSERT_NE(cur, 0);
	warm_up(obj);
	g0 = ctr(obj, getpid(), CTR_BRK_GROW);
	s0 = ctr(obj, getpid(), CTR_BRK_SHRINK);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned long req = cur + want[i] * page_size;

		if (i == 2)
			req = 0;	/* a query changes nothing */
		if (i != 2)
			ASSERT_EQ(syscall(SYS_brk, req), req);
		else
			ASSERT_EQ(syscall(SYS_brk, req), cur + 5 * page_size);
	}
	g1 = ctr(obj, getpid(), CTR_BRK_GROW);
	s1 = ctr(obj, getpid(), CTR_BRK_SHRINK);
	diag("brk: %llu grows, %llu shrinks", (unsigned long long)(g1 - g0),
	     (unsigned long long)(s1 - s0));
	ASSERT_EQ(g1 - g0, 2);
	ASSERT_EQ(s1 - s0, 2);
	ctxtop_bpf__destroy(obj);
}

TEST(shared_file_faults_exact)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	char path[] = "/tmp/ctxtop-shared-XXXXXX";
	long r0, r1;
	__u64 c0, c1;
	char *p;
	int fd;

	fd = mkstemp(path);
	ASSERT_OK(fd);
	unlink(path);
	ASSERT_OK(ftruncate(fd, NPAGES * page_size));
	p = mmap(NULL, NPAGES * page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_OK(madvise(p, NPAGES * page_size, MADV_NOHUGEPAGE));

	warm_up(obj);
	r0 = rusage_faults();
	c0 = ctr(obj, getpid(), CTR_FILE_SHARED);
	touch(p, NPAGES);
	c1 = ctr(obj, getpid(), CTR_FILE_SHARED);
	r1 = rusage_faults();
	diag("shared file faults: bpf %llu, getrusage %ld",
	     (unsigned long long)(c1 - c0), r1 - r0);
	/* a write fault on a shared mapping maps one page: no fault-around */
	ASSERT_EQ(c1 - c0, NPAGES);
	ASSERT_EQ(r1 - r0, NPAGES);
	ctxtop_bpf__destroy(obj);
}

/* A child that faults in NPAGES / 8 pages once it reads a byte from go. */
static pid_t spawn_toucher(int go[2])
{
	pid_t pid = fork();
	char c;

	ASSERT_OK(pid);
	if (pid == 0) {
		char *p = map_anon(NPAGES / 8);

		/* EOF, not a hang, if the test dies before saying go */
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		touch(p, NPAGES / 8);
		_exit(0);
	}
	return pid;
}

TEST(pid_filter_excludes_others)
{
	struct ctxtop_bpf *obj;
	int go[2], status;
	pid_t a, b;

	ctxtop_require();
	ASSERT_OK(pipe(go));
	a = spawn_toucher(go);
	b = spawn_toucher(go);
	obj = ctxtop_load(a, 0);
	ASSERT_EQ(write(go[1], "ab", 2), 2);
	ASSERT_OK(waitpid(a, &status, 0));
	ASSERT_OK(waitpid(b, &status, 0));
	diag("traced %d: %llu faults; other %d: %llu", a,
	     (unsigned long long)ctr(obj, a, CTR_FAULTS), b,
	     (unsigned long long)ctr(obj, b, CTR_FAULTS));
	ASSERT_GE(ctr(obj, a, CTR_FAULTS), NPAGES / 8);
	ASSERT_EQ(ctr(obj, b, CTR_FAULTS), 0);
	ASSERT_EQ(ctr(obj, getpid(), CTR_FAULTS), 0);
	ctxtop_bpf__destroy(obj);
}

TEST(lru_bound_holds)
{
	const unsigned int max = 16, nproc = 64;
	struct ctxtop_bpf *obj = ctxtop_load(0, max);
	__u32 key, *prev = NULL;
	unsigned int i, entries = 0;
	struct ctx_stat sum;
	__u64 total;
	int go[2], status;

	ASSERT_OK(pipe(go));
	for (i = 0; i < nproc; i++) {
		ASSERT_OK(spawn_toucher(go));
		ASSERT_EQ(write(go[1], "x", 1), 1);
		ASSERT_OK(wait(&status));
	}
	while (!bpf_map_get_next_key(bpf_map__fd(obj->maps.procs), prev, &key)) {
		entries++;
		prev = &key;
	}
	ASSERT_EQ(ctxtop__read_totals(obj, &sum), 0);
	total = sum.ctr[CTR_FAULTS];
	diag("%u processes, %u map entries (max %u), %llu faults in totals",
	     nproc, entries, max, (unsigned long long)total);
	ASSERT_GE(entries, 1);
	ASSERT_LE(entries, max);
	/* the totals keep counting what the bounded map evicted */
	ASSERT_GE(total, (__u64)nproc * (NPAGES / 8));
	ctxtop_bpf__destroy(obj);
}

/*
 * mmcontext: snapshot, dirty some saved pages and populate some new ones,
 * roll back.  The counters must equal what the test did; mincore() and
 * memcmp() confirm the rollback did it.
 */
TEST(mmcontext_counts_match)
{
	const long dirty = 48, fresh = 80, saved = NPAGES - fresh;
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	unsigned char vec[NPAGES];
	char *p = map_anon(NPAGES), *before;
	struct proc_stat st;
	long i, rss;

	touch(p, saved);		/* the last `fresh` pages stay empty */
	before = malloc(NPAGES * page_size);
	ASSERT_TRUE(before);
	memcpy(before, p, NPAGES * page_size);
	warm_up(obj);
	rss = rss_pages();

	if (syscall(__NR_mmcontext, MMCONTEXT_SAVE, 0)) {
		if (errno == ENOSYS)
			SKIP("kernel has no mmcontext");
		FAIL("mmcontext(SAVE): %s", strerror(errno));
	}
	/* Nothing else may write memory until the rollback. */
	for (i = 0; i < dirty; i++)
		p[i * 3 * page_size] = 2;
	for (i = saved; i < NPAGES; i++)
		p[i * page_size] = 3;
	ASSERT_OK(syscall(__NR_mmcontext, MMCONTEXT_ROLLBACK, 0));

	st = proc_stat(obj, getpid());
	diag("armed %llu (rss %ld) dirty %llu restored %llu emptied %llu",
	     (unsigned long long)st.s.ctr[CTR_MMC_ARMED], rss,
	     (unsigned long long)st.s.ctr[CTR_MMC_DIRTY],
	     (unsigned long long)st.s.ctr[CTR_MMC_RESTORED],
	     (unsigned long long)st.s.ctr[CTR_MMC_EMPTIED]);
	ASSERT_EQ(st.s.ctr[CTR_MMC_SAVE], 1);
	ASSERT_EQ(st.s.ctr[CTR_MMC_ROLLBACK], 1);
	ASSERT_EQ(st.s.ctr[CTR_MMC_DIRTY], dirty + (NPAGES - saved));
	ASSERT_EQ(st.s.ctr[CTR_MMC_RESTORED], dirty);
	ASSERT_EQ(st.s.ctr[CTR_MMC_EMPTIED], NPAGES - saved);
	/* Armed: at least our pages, at most what was resident. */
	ASSERT_GE(st.s.ctr[CTR_MMC_ARMED], saved);
	ASSERT_LE(st.s.ctr[CTR_MMC_ARMED], rss);

	/* mincore() first: reading an emptied page maps the zero page. */
	ASSERT_OK(mincore(p, NPAGES * page_size, vec));
	for (i = saved; i < NPAGES; i++)
		ASSERT_EQ(vec[i] & 1, 0);
	ASSERT_EQ(memcmp(p, before, NPAGES * page_size), 0);
	ASSERT_OK(syscall(__NR_mmcontext, MMCONTEXT_DROP, 0));
	ctxtop_bpf__destroy(obj);
}

/*
 * cp_range: the checkpoints and pages counted equal what the calls
 * returned and what the files' trailers, read back, say they hold.
 */
TEST(cp_range_pages_match_file)
{
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	char *p = map_anon(64), path[] = "/tmp/ctxtop-cp.XXXXXX";
	struct cp_trailer tr;
	long ret, total = 0;
	struct stat st;
	int fd, i;

	fd = mkstemp(path);
	ASSERT_OK(fd);
	unlink(path);
	touch(p, 40);			/* 40 pages of data, 24 never touched */
	for (i = 0; i < 3; i++) {
		p[(40 + i) * page_size] = 1;	/* one more each time */
		ret = syscall(__NR_cp_range, p, 64 * page_size, fd, 0);
		if (ret < 0 && errno == ENOSYS)
			SKIP("kernel has no cp_range");
		ASSERT_EQ(ret, 41 + i);
		total += ret;
		ASSERT_OK(fstat(fd, &st));
		ASSERT_EQ(pread(fd, &tr, sizeof(tr), st.st_size - sizeof(tr)),
			  (long)sizeof(tr));
		ASSERT_EQ(tr.magic, CP_TRAILER_MAGIC);
		ASSERT_EQ(tr.nr_data_pages, (__u64)ret);
	}
	/* A refused call counts nothing. */
	ASSERT_EQ(syscall(__NR_cp_range, p + 1, page_size, fd, 0), -1);
	ASSERT_EQ(ctr(obj, getpid(), CTR_CP_CALLS), 3);
	ASSERT_EQ(ctr(obj, getpid(), CTR_CP_PAGES), total);
	close(fd);
	ctxtop_bpf__destroy(obj);
}

/* Rss in kB of @pid's mapping that starts at @addr, from its smaps. */
static long smaps_rss_kb(pid_t pid, void *addr)
{
	char path[64], line[512], head[32];
	long rss = -1;
	bool in = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	snprintf(head, sizeof(head), "%lx-", (unsigned long)addr);
	f = fopen(path, "r");
	ASSERT_TRUE(f);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, head, strlen(head));
		else if (in && sscanf(line, "Rss: %ld kB", &rss) == 1)
			break;
	}
	fclose(f);
	ASSERT_GE(rss, 0);
	return rss;
}

/*
 * sfork: the parent writes every page of a lazy region first, and each
 * write maps the page in the child too.  The counters must equal what
 * the parent did; the child's smaps shows the pages mapped before it
 * reads them, and getrusage() that it reads them without faults.  A
 * populated region counts its pages, which smaps shows in the caller.
 */
TEST(sfork_counts_match)
{
	const long pages = 256, pop = 64;
	struct ctxtop_bpf *obj = ctxtop_load(getpid(), 0);
	int ready[2], go[2], status;
	struct proc_stat st;
	char c = 0, *p;
	pid_t pid;
	long i;

	ASSERT_OK(pipe(ready));
	ASSERT_OK(pipe(go));
	pid = syscall(__NR_sfork, pages * page_size, SFORK_PARENT_WRITE, &p);
	if (pid < 0 && errno == ENOSYS)
		SKIP("kernel has no sfork");
	ASSERT_OK(pid);
	if (pid == 0) {
		long f0, f1, bad = 0;

		rusage_faults();	/* its stack in place */
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		f0 = rusage_faults();
		for (i = 0; i < pages; i++)
			bad += p[i * page_size] != (char)(i + 1);
		f1 = rusage_faults();
		_exit(bad ? 1 : f1 - f0 > pages / 100 ? 2 : 0);
	}
	/* The child waits on the pipe, its mm complete and unlocked. */
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	ASSERT_EQ(smaps_rss_kb(pid, p), 0);
	for (i = 0; i < pages; i++)
		p[i * page_size] = i + 1;
	ASSERT_EQ(smaps_rss_kb(pid, p), pages * page_size / 1024);
	ASSERT_EQ(write(go[1], &c, 1), 1);
	ASSERT_OK(waitpid(pid, &status, 0));
	diag("child exit %d (1: wrong data, 2: faults)", WEXITSTATUS(status));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_OK(munmap(p, pages * page_size));

	pid = syscall(__NR_sfork, pop * page_size,
		      SFORK_CHILD_WRITE | SFORK_POPULATE, &p);
	ASSERT_OK(pid);
	if (pid == 0)
		_exit(0);
	ASSERT_OK(waitpid(pid, &status, 0));
	ASSERT_EQ(smaps_rss_kb(getpid(), p), pop * page_size / 1024);
	/* A refused call counts nothing. */
	ASSERT_EQ(syscall(__NR_sfork, page_size, 0, &p), -1);

	st = proc_stat(obj, getpid());
	diag("regions %llu populated %llu first touches %llu installed %llu",
	     (unsigned long long)st.s.ctr[CTR_SF_CREATE],
	     (unsigned long long)st.s.ctr[CTR_SF_POPULATED],
	     (unsigned long long)st.s.ctr[CTR_SF_SHARE],
	     (unsigned long long)st.s.ctr[CTR_SF_INSTALLED]);
	ASSERT_EQ(st.s.ctr[CTR_SF_CREATE], 2);
	ASSERT_EQ(st.s.ctr[CTR_SF_POPULATED], pop);
	ASSERT_EQ(st.s.ctr[CTR_SF_SHARE], pages);
	ASSERT_EQ(st.s.ctr[CTR_SF_INSTALLED], pages);
	ctxtop_bpf__destroy(obj);
}

/* The PFN of the page at @p in process @pid, from its pagemap. */
static __u64 pfn_of(pid_t pid, const void *p)
{
	char path[64];
	__u64 e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(pread(fd, &e, 8, (uintptr_t)p / 4096 * 8), 8);
	close(fd);
	return e & ((1ULL << 55) - 1);
}

/*
 * ipc: a child sends N small messages, one big copied one and one mapped
 * copy-on-write to this process, which receives and answers each; a
 * refused send counts nothing, and one receive truncates.  Every counter
 * must equal what the two did (bytes copied, not sent; pages mapped, as
 * pagemap shows them shared), and the child's round-trip histogram must
 * hold one entry per answered message.
 */
TEST(ipc_counts_match)
{
	const long n = 50, small = 3000, big = 16 * 4096, cow = 32;
	struct ctxtop_bpf *obj = ctxtop_load(0, 0);
	char *cm = mmap(NULL, cow * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *rb = mmap(NULL, cow * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct proc_stat child_st, me;
	char *buf = malloc(big);
	long i, shared = 0;
	__u64 rtt = 0;
	size_t len;
	pid_t pid;
	int status;

	ASSERT_TRUE(buf);
	if (syscall(__NR_ipc_reply, 0, NULL, 0, ~0U) == -1 && errno == ENOSYS)
		SKIP("kernel has no ipc_send");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		char *m = calloc(1, big);

		if (!m || syscall(__NR_ipc_send, getppid(), m, 1, m, 1, ~0U) != -1)
			_exit(1);
		for (i = 0; i < n; i++)
			if (syscall(__NR_ipc_send, getppid(), m, small, m, 8,
				    0) != 8)
				_exit(2);
		if (syscall(__NR_ipc_send, getppid(), m, big, NULL, 0,
			    IPC_SEND_COPY))
			_exit(3);
		memset(cm, 7, cow * 4096);
		if (syscall(__NR_ipc_send, getppid(), cm, cow * 4096, NULL, 0,
			    0))
			_exit(4);
		_exit(0);
	}
	ASSERT_TRUE(cm != MAP_FAILED && rb != MAP_FAILED);
	madvise(cm, cow * 4096, MADV_NOHUGEPAGE);
	madvise(rb, cow * 4096, MADV_NOHUGEPAGE);
	for (i = 0; i <= n; i++) {
		/* One is truncated: 1000 of its bytes are copied. */
		ASSERT_EQ(syscall(__NR_ipc_recv, buf, i == 7 ? 1000 : big, &len,
				  0), pid);
		ASSERT_EQ(len, i < n ? small : big);
		ASSERT_EQ(syscall(__NR_ipc_reply, pid, buf, i < n ? 8 : 0, 0),
			  0);
	}
	/* The child waits for the reply: its pages stay where they are. */
	ASSERT_EQ(syscall(__NR_ipc_recv, rb, cow * 4096, &len, 0), pid);
	for (i = 0; i < cow; i++)
		shared += pfn_of(pid, cm + i * 4096) ==
			  pfn_of(getpid(), rb + i * 4096);
	ASSERT_EQ(syscall(__NR_ipc_reply, pid, NULL, 0, 0), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	diag("child exit %d", WEXITSTATUS(status));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	child_st = proc_stat(obj, pid);
	me = proc_stat(obj, getpid());
	for (i = 0; i < MAX_SLOTS; i++)
		rtt += child_st.s.rtt[i];
	diag("sent %llu received %llu copied %llu cow %llu replied %llu rtt %llu",
	     (unsigned long long)child_st.s.ctr[CTR_IPC_SEND],
	     (unsigned long long)me.s.ctr[CTR_IPC_RECV],
	     (unsigned long long)me.s.ctr[CTR_IPC_COPIED],
	     (unsigned long long)me.s.ctr[CTR_IPC_COW],
	     (unsigned long long)me.s.ctr[CTR_IPC_REPLY],
	     (unsigned long long)rtt);
	ASSERT_EQ(shared, cow);
	ASSERT_EQ(child_st.s.ctr[CTR_IPC_SEND], n + 2);
	ASSERT_EQ(me.s.ctr[CTR_IPC_RECV], n + 2);
	ASSERT_EQ(me.s.ctr[CTR_IPC_COPIED], (n - 1) * small + 1000 + big);
	ASSERT_EQ(me.s.ctr[CTR_IPC_COW], shared);
	ASSERT_EQ(me.s.ctr[CTR_IPC_REPLY], n + 2);
	ASSERT_EQ(rtt, n + 2);
	/* Nothing counted against the wrong side. */
	ASSERT_EQ(me.s.ctr[CTR_IPC_SEND], 0);
	ASSERT_EQ(child_st.s.ctr[CTR_IPC_RECV], 0);
	free(buf);
	ctxtop_bpf__destroy(obj);
}

/*
 * A BTF file like the kernel's, but with @field dropped from struct
 * @name (the other members keep their offsets), as on kernels where it
 * is gone.  Into @path.
 */
static void btf_without_field(const char *name, const char *field,
			      const char *path)
{
	struct btf *src = btf__load_vmlinux_btf(), *dst = btf__new_empty();
	int id, n, i, dropped = 0;
	const void *raw;
	__u32 size;
	FILE *f;

	ASSERT_TRUE(src && dst);
	n = btf__type_cnt(src);
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(src, id);
		const struct btf_member *m = btf_members(t);

		if (!btf_is_struct(t) ||
		    strcmp(btf__name_by_offset(src, t->name_off), name)) {
			ASSERT_EQ(btf__add_type(dst, src, t), id);
			continue;
		}
		ASSERT_EQ(btf__add_struct(dst, name, t->size), id);
		for (i = 0; i < btf_vlen(t); i++, m++) {
			const char *mname = btf__name_by_offset(src, m->name_off);

			if (!strcmp(mname, field)) {
				dropped++;
				continue;
			}
			ASSERT_EQ(btf__add_field(dst, mname, m->type,
						 btf_member_bit_offset(t, i),
						 btf_member_bitfield_size(t, i)), 0);
		}
	}
	ASSERT_EQ(dropped, 1);
	raw = btf__raw_data(dst, &size);
	ASSERT_TRUE(raw);
	f = fopen(path, "w");
	ASSERT_TRUE(f);
	ASSERT_EQ(fwrite(raw, 1, size, f), size);
	ASSERT_EQ(fclose(f), 0);
	btf__free(dst);
	btf__free(src);
}

/*
 * A child renames itself after its first fault; its row must take the new
 * name, through the task_rename tracepoint.
 */
static void rename_is_seen(struct ctxtop_bpf *obj)
{
	struct proc_stat st;
	int go[2], status;
	pid_t pid;
	char c;

	ASSERT_OK(pipe(go));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *p = map_anon(8);

		touch(p, 4);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		prctl(PR_SET_NAME, "ctxtop-renamed");
		touch(p + 4 * page_size, 4);
		_exit(0);
	}
	close(go[0]);
	ASSERT_EQ(write(go[1], "x", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	st = proc_stat(obj, pid);
	diag("the child's row: %llu faults, named %s",
	     (unsigned long long)st.s.ctr[CTR_FAULTS], st.comm);
	ASSERT_GE(st.s.ctr[CTR_FAULTS], 4);
	ASSERT_STR_EQ(st.comm, "ctxtop-renamed");
}

/*
 * task_rename's pid field went away in 6.13: the object must still load
 * (a plain read of it would fail CO-RE relocation, and the whole object
 * with it) and keep names current, on a BTF without the field.
 */
TEST(comm_rename_loads_without_the_pid_field)
{
	const char *path = "/tmp/ctxtop_test.btf";
	struct load_opts o = { .btf = path };
	struct ctxtop_bpf *obj;

	ctxtop_require();
	if (!tracepoint_exists("task", "task_rename"))
		SKIP("no task:task_rename tracepoint");
	btf_without_field("trace_event_raw_task_rename", "pid", path);
	obj = ctxtop_load_opts(&o);
	ASSERT_TRUE(bpf_program__fd(obj->progs.comm_rename) >= 0);
	rename_is_seen(obj);
	ctxtop_bpf__destroy(obj);
	unlink(path);
	/* and with the kernel's own BTF, which has it */
	obj = ctxtop_load(0, 0);
	rename_is_seen(obj);
	ctxtop_bpf__destroy(obj);
}

static int thread_go[2];

static void *faulting_thread(void *arg)
{
	char c;

	prctl(PR_SET_NAME, "ctxtop-thread");
	if (read(thread_go[0], &c, 1) != 1)
		return NULL;
	touch(arg, 16);
	return NULL;
}

/*
 * A process whose first event comes from a thread with a name of its own
 * is still shown under its leader's name.
 */
TEST(comm_is_the_thread_group_leaders)
{
	struct ctxtop_bpf *obj;
	int ready[2], status;
	struct proc_stat st;
	pid_t pid;
	char c;

	ctxtop_require();
	ASSERT_OK(pipe(thread_go));
	ASSERT_OK(pipe(ready));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		char *p = map_anon(16);
		pthread_t t;

		prctl(PR_SET_NAME, "ctxtop-leader");
		if (pthread_create(&t, NULL, faulting_thread, p))
			_exit(1);
		/* the leader waits in join: no events of its own */
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pthread_join(t, NULL);
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	/* let the thread rename itself and block */
	usleep(200000);
	obj = ctxtop_load(pid, 0);
	ASSERT_EQ(write(thread_go[1], "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	st = proc_stat(obj, pid);
	diag("row of %d: %llu faults, named %s", pid,
	     (unsigned long long)st.s.ctr[CTR_FAULTS], st.comm);
	ASSERT_GE(st.s.ctr[CTR_FAULTS], 16);
	ASSERT_STR_EQ(st.comm, "ctxtop-leader");
	ctxtop_bpf__destroy(obj);
}

TEST_MAIN()
