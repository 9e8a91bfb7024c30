// SPDX-License-Identifier: GPL-2.0
/*
 * ctxfuzz - a seeded fuzzer for ctxkit's system calls, with oracles.
 *
 * Each seed runs in its own process: a deterministic sequence of calls
 * drawn from calls[] (mmcontext(2), cp_range(2), and address-space
 * operations between them), all confined to an 8 MiB arena so that the
 * fuzzer never unmaps its own code, heap or stack.  Two oracles check
 * the results, not just the absence of a crash:
 *
 *  - mmcontext: at each save, every covered arena page (private and
 *    writable) is copied to shared memory, which no snapshot covers.
 *    After a rollback that succeeded, each covered page must be mapped
 *    and equal to the copy, pages mapped at save must still be mapped,
 *    pages that were holes at save must be holes again, and the break
 *    must be back.  A rollback must fail with ESTALE exactly when the
 *    layout of covered memory changed, and then leave memory as it was.
 *    Files mapped privately are truncated and punched too: a covered page
 *    that was the file's own at save must then read as the file does, and
 *    a shrink that took private copies away makes the snapshot stale.
 *    Every other error must be one the man page lists for that op.
 *  - cp_range: right after each checkpoint of a range, its contents are
 *    copied to shared memory; a fresh child with the arena unmapped
 *    applies the chain of files with cpfile_apply() and must get them.
 *  - sfork: each side of a new region sees what the other wrote, and a
 *    side that may not write fails to, whichever way it tries, with the
 *    memory left as it was.
 *  - ipc: a forked child sends a slice of its copy of the arena, the
 *    seed receives it into another and replies; both sides check every
 *    byte, and a slice that faults fails exactly the side it belongs to.
 *    Two children also pass a slice between them, where no snapshot
 *    keeps the pages from being mapped copy-on-write, and the sender
 *    must never see the receiver's writes.  kernel.ipc_cow_min is a page
 *    while the fuzzer runs, so that every whole page that can be is
 *    shared, not copied.
 *
 * A failing seed prints one line with the command that replays it; a
 * crash or a hang of the seed's process is a failure too.
 *
 * USAGE: ctxfuzz -d SECS [-s FIRST_SEED] [-n OPS] [-v]
 *        ctxfuzz -r SEED [-n OPS]
 *
 * -r replays one seed and logs every op; -v names each seed as it starts
 * (a seed that panics the kernel has no time to say it failed); -n sets
 * the ops per seed (200).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/cp_range.h>
#include <linux/ipc_msg.h>
#include <linux/mmcontext.h>
#include <linux/sfork.h>
#include <linux/userfaultfd.h>
#include "cpfile.h"
#include "ctxfuzz.h"

#define DEF_OPS		200		/* per seed */
#define HANG_SECS	120		/* no syscall for this long: a hang */
#define BRK_PAGES	64
#define FAIL_EXIT	3		/* a seed's process: an oracle failed */
#define TASK_TOP	0x7ffffffff000UL	/* x86-64, 4-level paging */

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define PM_PRESENT	(1ULL << 63)	/* /proc/PID/pagemap */
#define PM_SWAP		(1ULL << 62)
#define PM_FILE		(1ULL << 61)	/* a file page, or shared anon */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static struct fuzz_state *st;

/* --- counting, logging, failing ----------------------------------- */

static void count(bool ctx)
{
	__atomic_fetch_add(&st->stats.beat, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->stats.syscalls, 1, __ATOMIC_RELAXED);
	if (ctx)
		__atomic_fetch_add(&st->stats.ctx_calls, 1, __ATOMIC_RELAXED);
}

/* Plain syscalls, counted.  No stdio: its buffers are rolled back. */
#define SYS(x)	(count(false), (x))

static void say(const char *fmt, ...)
{
	char buf[MSG_LEN + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(2, buf, n) < 0)
		return;
}

/* What op is running, for the verbose log and for a failure's line. */
static void describe(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->desc, sizeof(st->desc), fmt, ap);
	va_end(ap);
	if (st->verbose)
		say("op %u: %.120s", st->op, st->desc);
}

static void note(const char *fmt, ...)
{
	char buf[MSG_LEN];
	va_list ap;

	if (!st->verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("    %s", buf);
}

/* An oracle failed: say why in shared memory, end this process. */
static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	if (st->verbose)
		say("    FAIL: %s", st->msg);
	_exit(FAIL_EXIT);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static const char *errname(int e)
{
	static const char *const names[] = {
		[EPERM] = "EPERM", [ENOENT] = "ENOENT", [EINTR] = "EINTR",
		[EIO] = "EIO", [EBADF] = "EBADF", [EAGAIN] = "EAGAIN",
		[ENOMEM] = "ENOMEM", [EFAULT] = "EFAULT", [EBUSY] = "EBUSY",
		[EEXIST] = "EEXIST", [EINVAL] = "EINVAL", [EFBIG] = "EFBIG",
		[ENOSPC] = "ENOSPC", [EPIPE] = "EPIPE", [ESTALE] = "ESTALE",
		[E2BIG] = "E2BIG",
	};

	if (e > 0 && e < (int)(sizeof(names) / sizeof(names[0])) && names[e])
		return names[e];
	return strerror(e);
}

/* --- the ctxkit calls ---------------------------------------------- */

static long mmc_flags(unsigned int op, unsigned int flags)
{
	count(true);
	return syscall(__NR_mmcontext, op, flags);
}

static long mmc(unsigned int op)
{
	return mmc_flags(op, 0);
}

static long cpr(unsigned long addr, unsigned long len, int fd,
		unsigned int flags)
{
	count(true);
	return syscall(__NR_cp_range, addr, len, fd, flags);
}

/* --- the arena ----------------------------------------------------- */

static char *pg_addr(unsigned long pg)
{
	return st->arena + pg * PAGE;
}

static unsigned long arena_off(const void *p)
{
	return (const char *)p - st->arena;
}

/* A random length in pages: mostly small, now and then a huge page. */
static unsigned long rnd_len(void)
{
	if (one_in(st, 12))
		return 512;
	if (one_in(st, 4))
		return 1 + rnd(st, 64);
	return 1 + rnd(st, 8);
}

/* A random range [*pg, *pg + *n) in the arena. */
static void rnd_range(unsigned long *pg, unsigned long *n)
{
	*n = rnd_len();
	if (*n == 512)
		*pg = rnd(st, ARENA_PAGES / 512) * 512;
	else
		*pg = rnd(st, ARENA_PAGES - *n + 1);
}

/*
 * Fill @pi with the arena's pages as /proc/self/maps shows them.  The
 * buffer is static: transient, so that its being covered does not matter.
 */
static void arena_scan(struct pginfo *pi)
{
	static char buf[1 << 18];
	unsigned long lo = (unsigned long)st->arena, hi = lo + ARENA_SIZE;
	size_t len = 0;
	char *line;
	ssize_t n;
	int fd;

	memset(pi, 0, sizeof(*pi) * ARENA_PAGES);
	st->stats.beat++;
	fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		fail("open /proc/self/maps: %s", strerror(errno));
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	for (line = buf; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		unsigned long s, e, off, ino, a;
		unsigned int maj, mnr;
		char perm[5];

		if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &s, &e, perm,
			   &off, &maj, &mnr, &ino) != 7)
			continue;
		if (e <= lo || s >= hi)
			continue;
		for (a = s > lo ? s : lo; a < e && a < hi; a += PAGE) {
			struct pginfo *p = &pi[(a - lo) / PAGE];

			p->mapped = 1;
			p->prot = (perm[0] == 'r' ? PROT_READ : 0) |
				  (perm[1] == 'w' ? PROT_WRITE : 0) |
				  (perm[2] == 'x' ? PROT_EXEC : 0);
			p->shared = perm[3] == 's';
			p->ino = ino ? ino ^ ((uint64_t)maj << 48 |
					      (uint64_t)mnr << 32) : 0;
			p->pgoff = ino ? off / PAGE + (a - s) / PAGE : 0;
		}
	}
}

static struct pginfo pi_now[ARENA_PAGES];	/* transient */

/* -r: the arena's lines of /proc/self/maps, around a rollback. */
static void dump_maps(const char *when)
{
	static char buf[1 << 18];
	unsigned long lo = (unsigned long)st->arena, s, e;
	char *line, *nl;
	ssize_t n;
	size_t len = 0;
	int fd;

	if (!st->verbose)
		return;
	fd = open("/proc/self/maps", O_RDONLY);
	while (fd >= 0 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	if (fd >= 0)
		close(fd);
	buf[len] = 0;
	say("    maps %s:", when);
	for (line = buf; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = 0;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && e > lo &&
		    s < lo + ARENA_SIZE)
			say("      +%#lx-+%#lx %.40s", s - lo, e - lo,
			    strchr(line, ' ') + 1);
	}
}

static bool pg_covered(const struct pginfo *p)
{
	return p->mapped && !p->shared && (p->prot & PROT_WRITE);
}

static bool pg_same(const struct pginfo *a, const struct pginfo *b)
{
	return a->mapped == b->mapped && a->prot == b->prot &&
	       a->shared == b->shared && a->ino == b->ino &&
	       a->pgoff == b->pgoff;
}

/*
 * Read arena memory through /proc/self/mem: any protection, no faults.
 * The oracles' own calls are not counted as the fuzzer's.
 */
static bool mem_read(void *dst, unsigned long off, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(st->self_mem, (char *)dst + done, len - done,
				  (off_t)(uintptr_t)(st->arena + off + done));

		if (n <= 0)
			return false;
		done += n;
	}
	return true;
}

/* The pagemap entry of arena page @pg (flags only, without privilege). */
static uint64_t pagemap(unsigned long pg)
{
	uint64_t e = 0;

	if (pread(st->pagemap, &e, 8, (uintptr_t)pg_addr(pg) / PAGE * 8) != 8)
		fail("read /proc/self/pagemap: %s", strerror(errno));
	return e;
}

/*
 * The model of the layout after a save.  A new mapping over pages that
 * were mapped at save may or may not survive a rollback (one identical
 * to the saved VMA does); over a hole it must not.  Replacing or
 * unmapping a covered page makes the snapshot stale.
 */
static void set_stale(void)
{
	if (!st->stale)
		snprintf(st->stale_why, sizeof(st->stale_why), "op %u: %.120s",
			 st->op, st->desc);
	st->stale = true;
}

static void model_new(unsigned long pg, unsigned long n)
{
	unsigned long i;

	if (!st->have_snap)
		return;
	for (i = pg; i < pg + n && i < ARENA_PAGES; i++) {
		if (st->pg[i] & PG_COVERED)
			set_stale();
		if (st->pg[i] & PG_MAPPED)
			st->pg[i] &= ~(PG_EXP_MAPPED | PG_EXP_UNMAPPED);
	}
}

static void model_gone(unsigned long pg, unsigned long n)
{
	unsigned long i;

	if (!st->have_snap)
		return;
	for (i = pg; i < pg + n && i < ARENA_PAGES; i++) {
		if (st->pg[i] & PG_COVERED)
			set_stale();
		st->pg[i] = (st->pg[i] & ~PG_EXP_MAPPED) | PG_EXP_UNMAPPED;
	}
}

/* --- touching memory from the main thread -------------------------- */

/* volatile: stores around the copy must not be optimized away */
static sigjmp_buf *volatile probe_env;

static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	if (probe_env)
		siglongjmp(*probe_env, sig);
	signal(sig, SIG_DFL);	/* not ours: crash on the retry */
}

/* Write or read @n bytes at @p; false if that faulted. */
static bool probe_copy(volatile char *dst, const volatile char *src,
		       size_t n)
{
	sigjmp_buf env;
	size_t i;

	if (sigsetjmp(env, 1)) {
		probe_env = NULL;
		return false;
	}
	probe_env = &env;
	if (n > 8)	/* a fault inside memcpy() jumps out just the same */
		memcpy((char *)dst, (const char *)src, n);
	else
		for (i = 0; i < n; i++)
			dst[i] = src[i];
	probe_env = NULL;
	return true;
}

static void rnd_fill(void *p, size_t len)
{
	uint64_t v = rnd64(&st->rng);
	unsigned char *b = p;
	size_t i;

	/* a page is often all one byte or zero: cp_range's ZERO runs */
	if (one_in(st, 4)) {
		memset(p, one_in(st, 2) ? 0 : (int)(v & 0xff), len);
		return;
	}
	for (i = 0; i < len; i++) {
		v = v * 6364136223846793005ULL + 1442695040888963407ULL;
		b[i] = v >> 56;
	}
}

/* --- address-space operations ---------------------------------------- */

enum { K_ANON, K_RESERVE, K_ANON_RO, K_FILE_PRIV, K_FILE_SHARED,
       K_ANON_SHARED, K_MEMFD_PRIV, K_MEMFD_SHARED, K_SECRET, NR_KINDS };

static const char *const kind_names[NR_KINDS] = {
	"anon", "reserve", "anon-ro", "file-priv", "file-shared",
	"anon-shared", "memfd-priv", "memfd-shared", "secretmem",
};

static void op_mmap(struct fuzz_state *s)
{
	int kind = rnd(st, NR_KINDS), prot = PROT_READ | PROT_WRITE;
	int flags = MAP_FIXED, fd = -1;
	unsigned long pg, n, foff = 0;
	void *p;

	rnd_range(&pg, &n);
	switch (kind) {
	case K_ANON:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case K_RESERVE:
		prot = PROT_NONE;
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
		break;
	case K_ANON_RO:
		prot = PROT_READ;
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case K_ANON_SHARED:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case K_SECRET:		/* not in the direct map: issue 11 #1 */
		if (st->fd_secret < 0)
			return;
		fd = st->fd_secret;
		flags |= MAP_SHARED;
		foff = rnd(st, 64) * PAGE;
		n = n > 16 ? 16 : n;
		break;
	default:
		fd = kind == K_FILE_PRIV ? st->fd_priv :
		     kind == K_FILE_SHARED ? st->fd_shared :
		     kind == K_MEMFD_PRIV ? st->memfd_priv : st->memfd_shared;
		flags |= kind == K_FILE_PRIV || kind == K_MEMFD_PRIV ?
			 MAP_PRIVATE : MAP_SHARED;
		foff = one_in(st, 2) ? pg * PAGE :
		       rnd(st, FILE_SIZE / PAGE - n) * PAGE;
	}
	if (one_in(st, 5))
		flags |= MAP_POPULATE;
	describe("mmap %s +%#lx %lup%s", kind_names[kind], pg * PAGE, n,
		 flags & MAP_POPULATE ? " populate" : "");
	p = SYS(mmap(pg_addr(pg), n * PAGE, prot, flags, fd, foff));
	if (p == MAP_FAILED) {
		note("= %s", errname(errno));
		return;
	}
	model_new(pg, n);
	if (kind == K_ANON && one_in(st, 3))
		SYS(madvise(p, n * PAGE, one_in(st, 2) ? MADV_HUGEPAGE :
						     MADV_NOHUGEPAGE));
}

static void op_munmap(struct fuzz_state *s)
{
	unsigned long pg, n;
	int r;

	rnd_range(&pg, &n);
	describe("munmap +%#lx %lup", pg * PAGE, n);
	r = SYS(munmap(pg_addr(pg), n * PAGE));
	if (!r)
		model_gone(pg, n);
}

static const int prots[] = {
	PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE,
	PROT_READ | PROT_WRITE | PROT_EXEC, PROT_READ | PROT_WRITE,
};

static void op_mprotect(struct fuzz_state *s)
{
	int prot = prots[rnd(st, sizeof(prots) / sizeof(prots[0]))];
	unsigned long pg, n;
	int r;

	rnd_range(&pg, &n);
	describe("mprotect +%#lx %lup prot %d", pg * PAGE, n, prot);
	r = SYS(mprotect(pg_addr(pg), n * PAGE, prot));
	note("= %s", r ? errname(errno) : "0");
}

/* A source for mremap: a run of mapped pages that look like one VMA. */
static bool mremap_src(unsigned long *pg, unsigned long *n)
{
	static struct pginfo pi[ARENA_PAGES];
	unsigned long i, start = rnd(st, ARENA_PAGES), want = rnd_len();

	arena_scan(pi);
	for (i = 0; i < ARENA_PAGES && !pi[(start + i) % ARENA_PAGES].mapped;
	     i++)
		;
	if (i == ARENA_PAGES)
		return false;
	start = (start + i) % ARENA_PAGES;
	for (i = 1; i < want && start + i < ARENA_PAGES; i++) {
		const struct pginfo *a = &pi[start + i - 1], *b = a + 1;

		if (!b->mapped || b->prot != a->prot ||
		    b->shared != a->shared || b->ino != a->ino ||
		    (a->ino && b->pgoff != a->pgoff + 1))
			break;
	}
	*pg = start;
	*n = i;
	return true;
}

/* A destination of @n pages that does not overlap [src, src + sn). */
static bool mremap_dst(unsigned long src, unsigned long sn,
		       unsigned long n, unsigned long *dst)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		unsigned long d = rnd(st, ARENA_PAGES - n + 1);

		if (d + n <= src || d >= src + sn) {
			*dst = d;
			return true;
		}
	}
	return false;
}

/*
 * A fixed mremap that failed may have unmapped its destination first, and
 * one that shrinks the tail of its source.
 */
static void mremap_failed(unsigned long dst, unsigned long n)
{
	static struct pginfo pi[ARENA_PAGES];
	unsigned long i;

	arena_scan(pi);
	for (i = dst; i < dst + n; i++)
		if (!pi[i].mapped)
			model_gone(i, 1);
}

/* The source keeps an empty VMA, but its covered pages moved away. */
static void dontunmap_src(unsigned long pg, unsigned long n)
{
	unsigned long i;

	for (i = pg; st->have_snap && i < pg + n; i++)
		if (st->pg[i] & PG_COVERED)
			set_stale();
}

static void op_mremap(struct fuzz_state *s)
{
	unsigned long pg, n, nn, dst = 0;
	int how = rnd(st, 4), flags = 0;
	void *p;

	if (!mremap_src(&pg, &n)) {
		describe("mremap: nothing mapped");
		return;
	}
	nn = n;
	if (how == 0 && n > 1)
		nn = 1 + rnd(st, n - 1);			/* shrink */
	else if (how == 1)
		nn = n + 1 + rnd(st, 16);		/* grow in place */
	else if (how >= 2) {
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		if (how == 3)
			flags |= MREMAP_DONTUNMAP;
		else if (one_in(st, 2))
			nn = 1 + rnd(st, n + 8);
		if (!mremap_dst(pg, n, nn, &dst)) {
			describe("mremap: no destination");
			return;
		}
	}
	if (pg + nn > ARENA_PAGES && !flags)
		nn = ARENA_PAGES - pg;
	describe("mremap +%#lx %lup -> %lup%s%s +%#lx", pg * PAGE, n, nn,
		 flags & MREMAP_FIXED ? " fixed" : "",
		 flags & MREMAP_DONTUNMAP ? " dontunmap" : "", dst * PAGE);
	p = SYS(mremap(pg_addr(pg), n * PAGE, nn * PAGE, flags,
		       pg_addr(dst)));
	if (p == MAP_FAILED) {
		note("= %s", errname(errno));
		if (flags & MREMAP_FIXED)
			mremap_failed(dst, nn);
		/* A shrinking move unmaps the tail before it can fail. */
		if (nn < n)
			mremap_failed(pg + nn, n - nn);
		return;
	}
	if (!flags) {
		if (nn < n)
			model_gone(pg + nn, n - nn);
		else
			model_new(pg + n, nn - n);
		return;
	}
	if (flags & MREMAP_DONTUNMAP) {
		/* the source keeps its VMA, its pages moved: "moved" */
		dontunmap_src(pg, n);
		model_new(pg, n);
	} else {
		model_gone(pg, n);
	}
	model_new(dst, nn);
}

static const int advices[] = {
	MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT, MADV_COLD, MADV_WILLNEED,
	MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_REMOVE, MADV_POPULATE_READ,
	MADV_POPULATE_WRITE, MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT,
};

static void op_madvise(struct fuzz_state *s)
{
	int adv = advices[rnd(st, sizeof(advices) / sizeof(advices[0]))];
	unsigned long pg, n;
	int r;

	rnd_range(&pg, &n);
	describe("madvise +%#lx %lup advice %d", pg * PAGE, n, adv);
	r = SYS(madvise(pg_addr(pg), n * PAGE, adv));
	note("= %s", r ? errname(errno) : "0");
}

/* The files op_truncate() may change, in the order of st->ino[]. */
static int file_fd(int k)
{
	return k == 0 ? st->fd_priv : k == 1 ? st->fd_shared :
	       k == 2 ? st->memfd_priv : st->memfd_shared;
}

/*
 * The file pages [first, last] of file k read zero from now on.  Covered
 * pages that were its own pages at save must read as the file does after
 * a rollback.  A shrink also takes the private copies of those pages out
 * of every private mapping that has an anon_vma (mmcontext_cows_zapped()),
 * which makes a snapshot stale.  The fuzzer cannot see an anon_vma: an
 * anonymous page in the range proves one, any private page of the range
 * allows one.
 */
static void model_file_changed(int k, unsigned long first,
			       unsigned long last, bool zaps_cows)
{
	unsigned long i;

	if (!st->have_snap)
		return;
	for (i = 0; i < ARENA_PAGES; i++) {
		const struct pginfo *p = &st->pg_save[i];

		if (st->pg[i] & PG_FILEPG && p->ino == st->ino[k] &&
		    p->pgoff >= first && p->pgoff <= last)
			st->pg[i] |= PG_FILECHG;
	}
	if (!zaps_cows)
		return;
	arena_scan(pi_now);
	for (i = 0; i < ARENA_PAGES; i++) {
		const struct pginfo *p = &pi_now[i];
		uint64_t e;

		if (!p->mapped || p->shared || p->ino != st->ino[k] ||
		    p->pgoff < first || p->pgoff > last)
			continue;
		e = pagemap(i);
		if ((e & PM_PRESENT && !(e & PM_FILE)) || e & PM_SWAP) {
			set_stale();
			return;
		}
		if (!st->stale_maybe)
			snprintf(st->maybe_why, sizeof(st->maybe_why),
				 "op %u: %.120s", st->op, st->desc);
		st->stale_maybe = true;
	}
}

/* Shrink a file and grow it back, or punch a hole in it. */
static void op_truncate(struct fuzz_state *s)
{
	static const char *const names[] = {
		"priv", "shared", "memfd-priv", "memfd-shared",
	};
	int k = rnd(st, 4), fd = file_fd(k), r;
	unsigned long pg = rnd(st, FILE_SIZE / PAGE), n;

	if (one_in(st, 2)) {
		n = rnd_len();
		if (pg + n > FILE_SIZE / PAGE)
			n = FILE_SIZE / PAGE - pg;
		describe("fallocate %s punch %#lx %lup", names[k], pg * PAGE,
			 n);
		r = SYS(fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				  FALLOC_FL_KEEP_SIZE, pg * PAGE, n * PAGE));
		if (r)
			fail("fallocate: %s", strerror(errno));
		model_file_changed(k, pg, pg + n - 1, false);
		return;
	}
	describe("ftruncate %s %#lx, then back", names[k], pg * PAGE);
	if (SYS(ftruncate(fd, pg * PAGE)) || SYS(ftruncate(fd, FILE_SIZE)))
		fail("ftruncate: %s", strerror(errno));
	model_file_changed(k, pg, FILE_SIZE / PAGE - 1, true);
}

/* Direct writes from the main thread; faults are caught and skipped. */
static void op_write(struct fuzz_state *s)
{
	unsigned char buf[PAGE];
	unsigned long pg, n, i, ok = 0;

	rnd_range(&pg, &n);
	if (n > 16)
		n = 16;
	describe("write +%#lx %lup", pg * PAGE, n);
	for (i = 0; i < n; i++) {
		size_t off = 0, len = PAGE;

		if (one_in(st, 2)) {
			off = rnd(st, PAGE);
			len = 1 + rnd(st, PAGE - off);
		}
		rnd_fill(buf, len);
		ok += probe_copy(pg_addr(pg + i) + off, (char *)buf, len);
	}
	note("%lu of %lu pages written", ok, n);
}

/* Writes that do not fault: /proc/self/mem, and process_vm_writev(). */
static void op_procmem(struct fuzz_state *s)
{
	unsigned char buf[2 * PAGE];
	unsigned long off = rnd(st, ARENA_SIZE - sizeof(buf));
	size_t len = 1 + rnd(st, sizeof(buf));
	ssize_t r;

	rnd_fill(buf, len);
	if (one_in(st, 2)) {
		describe("pwrite /proc/self/mem +%#lx %zu", off, len);
		r = SYS(pwrite(st->self_mem, buf, len,
			       (off_t)(uintptr_t)(st->arena + off)));
	} else {
		struct iovec l = { buf, len }, rv = { st->arena + off, len };

		describe("process_vm_writev self +%#lx %zu", off, len);
		r = SYS(process_vm_writev(getpid(), &l, 1, &rv, 1, 0));
	}
	note("= %zd", r);
}

static int wait_child(pid_t pid)
{
	int status;

	while (SYS(waitpid(pid, &status, 0)) < 0)
		if (errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	return status;
}

/* A child's status: its failure is ours; it may have been killed. */
static void child_done(pid_t pid, const char *what, bool killed)
{
	int status = wait_child(pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == FAIL_EXIT)
		_exit(FAIL_EXIT);		/* st->msg says why */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return;
	if (WIFSIGNALED(status))
		fail("%s child killed by signal %d (%s)", what,
		     WTERMSIG(status), strsignal(WTERMSIG(status)));
	fail("%s child exited with %d", what, WEXITSTATUS(status));
}

/* From a forked child into the seed's process. */
static void op_pvwritev(struct fuzz_state *s)
{
	unsigned char buf[PAGE];
	unsigned long off = rnd(st, ARENA_SIZE - PAGE);
	size_t len = 1 + rnd(st, PAGE);
	pid_t pid;

	rnd_fill(buf, len);
	describe("process_vm_writev child -> parent +%#lx %zu", off, len);
	pid = SYS(fork());
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid) {
		struct iovec l = { buf, len }, r = { st->arena + off, len };

		SYS(process_vm_writev(st->parent, &l, 1, &r, 1, 0));
		_exit(0);
	}
	child_done(pid, "process_vm_writev", false);
}

/*
 * fork: the child has no snapshot (ENOENT), can take and use its own,
 * and exits with it, or execs, or is killed while it works.
 */

static void fork_child(unsigned int what, unsigned long pick)
{
	volatile char *p;
	unsigned long i;
	char b, nb;
	long r;

	arena_scan(pi_now);
	for (i = 0; i < ARENA_PAGES; i++)
		if (pg_covered(&pi_now[(pick + i) % ARENA_PAGES]))
			break;
	if (i == ARENA_PAGES)
		_exit(0);
	p = pg_addr((pick + i) % ARENA_PAGES) + pick % PAGE;

	r = mmc(MMCONTEXT_ROLLBACK);
	if (r != -1 || errno != ENOENT)
		fail("fork child: mmcontext(ROLLBACK) = %ld (%s), expected "
		     "ENOENT: a child must not inherit the snapshot", r,
		     r ? errname(errno) : "ok");
	if (!probe_copy(&b, p, 1))
		_exit(0);
	r = mmc(MMCONTEXT_SAVE);
	if (r) {
		if (errno != EBUSY && errno != ENOMEM && errno != EINTR)
			fail("fork child: mmcontext(SAVE) = %s",
			     errname(errno));
		_exit(0);
	}
	nb = b ^ 0x5a;
	if (!probe_copy(p, &nb, 1) || what == 1)
		_exit(0);			/* exit frees the snapshot */
	if (what == 2) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	r = mmc(MMCONTEXT_ROLLBACK);
	if (r && errno != ENOMEM && errno != EINTR)
		fail("fork child: mmcontext(ROLLBACK) = %s", errname(errno));
	if (!r && probe_copy(&nb, p, 1) && nb != b)
		fail("fork child: byte at +%#lx is %#x after rollback, was "
		     "%#x", arena_off((char *)p), nb & 0xff, b & 0xff);
	cpr((unsigned long)st->arena, ARENA_SIZE, st->fd_null,
	    pick & 1 ? CP_INCREMENTAL : 0);
	_exit(0);
}

static void op_fork(struct fuzz_state *s)
{
	unsigned int what = rnd(st, 4);
	bool kill_it = one_in(st, 4);
	unsigned long pick = rnd64(&st->rng);	/* the child draws nothing */
	unsigned int delay = rnd(st, 2000);
	pid_t pid;

	describe("fork, child %s%s", what == 1 ? "exits with a snapshot" :
		 what == 2 ? "execs" : "rolls back", kill_it ? ", killed" : "");
	pid = SYS(fork());
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid)
		fork_child(what, pick);
	if (kill_it) {
		usleep(delay);
		SYS(kill(pid, SIGKILL));
	}
	child_done(pid, "fork", kill_it);
}

/* --- threads: concurrent writers that cannot fault -------------------- */

struct worker {
	pthread_t tid;
	uint64_t rng;
	int ops;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[512];
	int i;

	for (i = 0; i < w->ops; i++) {
		unsigned long off = rnd64(&w->rng) % (ARENA_SIZE - PAGE);
		unsigned long n = 1 + rnd64(&w->rng) % 8;
		char *a = st->arena + (off & ~(PAGE - 1));
		struct iovec l = { buf, sizeof(buf) };
		struct iovec r = { st->arena + off, sizeof(buf) };

		memset(buf, (int)w->rng, sizeof(buf));
		switch (rnd64(&w->rng) % 5) {
		case 0:
			SYS(pwrite(st->self_mem, buf, sizeof(buf),
				   (off_t)(uintptr_t)(st->arena + off)));
			break;
		case 1:
			SYS(process_vm_writev(getpid(), &l, 1, &r, 1, 0));
			break;
		case 2:
			SYS(madvise(a, n * PAGE,
				    advices[rnd64(&w->rng) % 7]));
			break;
		case 3:
			SYS(mprotect(a, n * PAGE, prots[rnd64(&w->rng) % 6]));
			break;
		default:
			/* never the chain's range: it would rebase it */
			if ((unsigned long)a != st->cs)
				cpr((unsigned long)a, n * PAGE, st->fd_null,
				    0);
		}
	}
	return NULL;
}

static void op_threads(struct fuzz_state *s)
{
	struct worker w[3];
	pthread_attr_t attr;
	int i, nr = 1 + rnd(st, 3);

	describe("%d threads", nr);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (i = 0; i < nr; i++) {
		w[i].rng = rnd64(&st->rng) | 1;
		w[i].ops = 4 + rnd(st, 16);
		if (SYS(pthread_create(&w[i].tid, &attr, worker_run, &w[i])))
			fail("pthread_create failed");
	}
	for (i = 0; i < nr; i++)
		pthread_join(w[i].tid, NULL);
	pthread_attr_destroy(&attr);
}

/* --- signals ------------------------------------------------------------- */

static void counting_handler(int sig)
{
}

static void op_signal(struct fuzz_state *s)
{
	struct itimerval it = { { 0, 0 }, { 0, 1 + rnd(st, 3000) } };

	switch (rnd(st, 3)) {
	case 0:
		describe("raise SIGUSR1");
		SYS(raise(SIGUSR1));
		break;
	case 1:
		describe("tgkill SIGUSR1");
		SYS(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1));
		break;
	default:
		describe("SIGALRM in %ld us", it.it_value.tv_usec);
		SYS(setitimer(ITIMER_REAL, &it, NULL));
	}
}

/* --- userfaultfd ------------------------------------------------------ */

static int uffd_open(uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd;

	fd = SYS(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
			 UFFD_USER_MODE_ONLY));
	if (fd < 0)
		fd = SYS(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
	if (fd < 0)
		return -1;
	if (SYS(ioctl(fd, UFFDIO_API, &api))) {
		close(fd);
		return -1;
	}
	return fd;
}

struct resolver {
	int uffd;
	volatile bool stop;
	uint64_t rng;
	unsigned long resolved;
};

/* UFFDIO_COPY's source, used by one thread at a time. */
static unsigned char uffd_page[PAGE] __attribute__((aligned(4096)));

/* Resolve missing faults with a copy of random bytes or a zero page. */
static void *resolver_run(void *arg)
{
	struct resolver *r = arg;
	unsigned char *page = uffd_page;
	struct uffd_msg msg;

	while (!r->stop) {
		struct pollfd pfd = { r->uffd, POLLIN, 0 };
		unsigned long addr;

		if (SYS(poll(&pfd, 1, 10)) <= 0)
			continue;
		if (SYS(read(r->uffd, &msg, sizeof(msg))) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = msg.arg.pagefault.address & ~(PAGE - 1);
		if (rnd64(&r->rng) % 3) {
			struct uffdio_copy c = {
				.dst = addr, .src = (unsigned long)page,
				.len = PAGE,
			};

			memset(page, (int)r->rng | 1, PAGE);
			SYS(ioctl(r->uffd, UFFDIO_COPY, &c));
		} else {
			struct uffdio_zeropage z = { .range = { addr, PAGE } };

			SYS(ioctl(r->uffd, UFFDIO_ZEROPAGE, &z));
		}
		r->resolved++;
	}
	return NULL;
}

/* uffd ioctls from the main thread: copy, zero page, move. */
static void uffd_direct(int uffd, unsigned long pg, unsigned long n)
{
	unsigned char *page = uffd_page;
	unsigned long i, from = rnd(st, ARENA_PAGES);

	for (i = pg; i < pg + n; i++) {
		struct uffdio_copy c = {
			.dst = (unsigned long)pg_addr(i),
			.src = (unsigned long)page, .len = PAGE,
		};
		struct uffdio_zeropage z = { .range = { c.dst, PAGE } };
		struct uffdio_move m = {
			.dst = c.dst, .src = (unsigned long)pg_addr(from),
			.len = PAGE, .mode = UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
		};

		switch (rnd(st, 3)) {
		case 0:
			rnd_fill(page, PAGE);
			SYS(ioctl(uffd, UFFDIO_COPY, &c));
			break;
		case 1:
			SYS(ioctl(uffd, UFFDIO_ZEROPAGE, &z));
			break;
		default:
			SYS(ioctl(uffd, UFFDIO_MOVE, &m));
		}
	}
}

static void op_uffd_missing(struct fuzz_state *s)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct resolver r = { .rng = rnd64(&st->rng) };
	unsigned long pg, n = 1 + rnd(st, 16), i;
	bool threaded = one_in(st, 2);
	pthread_t tid;
	char b = 1;

	pg = rnd(st, ARENA_PAGES - n);
	describe("uffd missing +%#lx %lup, %s", pg * PAGE, n,
		 threaded ? "resolved by a thread" : "copy/zero/move");
	r.uffd = uffd_open(UFFD_FEATURE_MOVE);
	if (r.uffd < 0)
		r.uffd = uffd_open(0);
	if (r.uffd < 0) {
		note("no userfaultfd: %s", errname(errno));
		return;
	}
	reg.range.start = (unsigned long)pg_addr(pg);
	reg.range.len = n * PAGE;
	if (SYS(ioctl(r.uffd, UFFDIO_REGISTER, &reg))) {
		note("register: %s", errname(errno));
		goto out;
	}
	if (one_in(st, 2))
		SYS(madvise(pg_addr(pg), n * PAGE, MADV_DONTNEED));
	if (!threaded) {
		uffd_direct(r.uffd, pg, n);
	} else if (!SYS(pthread_create(&tid, NULL, resolver_run, &r))) {
		for (i = pg; i < pg + n; i++)
			probe_copy(pg_addr(i) + rnd(st, PAGE), &b, 1);
		r.stop = true;
		pthread_join(tid, NULL);
		note("%lu faults resolved", r.resolved);
	}
	SYS(ioctl(r.uffd, UFFDIO_UNREGISTER, &reg.range));
out:
	close(r.uffd);
}

/*
 * A write-protect registration that outlives the op: WP_ASYNC, so that
 * writes resolve in the kernel and nothing waits for a reader.
 */
static void op_uffd_wp(struct fuzz_state *s)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp;
	unsigned long pg, n;
	int what = rnd(st, 4);

	rnd_range(&pg, &n);
	reg.range.start = (unsigned long)pg_addr(pg);
	reg.range.len = n * PAGE;
	wp.range = reg.range;
	if (what == 3 && st->uffd_wp >= 0) {
		describe("uffd wp: close");
		close(st->uffd_wp);
		st->uffd_wp = -1;
		return;
	}
	describe("uffd wp %s +%#lx %lup", what == 0 ? "unregister" :
		 what == 1 ? "unprotect" : "register", pg * PAGE, n);
	if (st->uffd_wp == -1) {
		st->uffd_wp = uffd_open(UFFD_FEATURE_WP_ASYNC |
					UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
					UFFD_FEATURE_WP_UNPOPULATED);
		if (st->uffd_wp < 0)
			st->uffd_wp = uffd_open(UFFD_FEATURE_WP_ASYNC);
		if (st->uffd_wp < 0)
			st->uffd_wp = -2;	/* not supported: stop trying */
	}
	if (st->uffd_wp < 0)
		return;
	if (what == 0) {
		SYS(ioctl(st->uffd_wp, UFFDIO_UNREGISTER, &reg.range));
		return;
	}
	if (what != 1 && SYS(ioctl(st->uffd_wp, UFFDIO_REGISTER, &reg))) {
		note("register: %s", errname(errno));
		return;
	}
	wp.mode = what == 1 ? 0 : UFFDIO_WRITEPROTECT_MODE_WP;
	SYS(ioctl(st->uffd_wp, UFFDIO_WRITEPROTECT, &wp));
}

/* --- brk ------------------------------------------------------------- */

static void op_brk(struct fuzz_state *s)
{
	unsigned long grow = (1 + rnd(st, 8)) * PAGE;
	unsigned long top = st->brk_base + BRK_PAGES * PAGE;

	if (one_in(st, 2) && st->brk_cur + grow <= top) {
		describe("brk +%lup", grow / PAGE);
		if (SYS(sbrk(grow)) == (void *)-1)
			return;
		rnd_fill((char *)st->brk_cur, grow);
		st->brk_cur += grow;
		return;
	}
	if (st->brk_cur - st->brk_base < grow)
		grow = st->brk_cur - st->brk_base;
	describe("brk -%lup", grow / PAGE);
	if (!grow || SYS(sbrk(-(long)grow)) == (void *)-1)
		return;
	st->brk_cur -= grow;
	if (st->have_snap && st->brk_cur < st->brk_saved)
		set_stale();
}

/* --- mmcontext and its oracle --------------------------------------------- */

/* Copy every covered page of the arena and remember the layout. */
static void snap_take(void)
{
	unsigned long i, j;

	arena_scan(st->pg_save);
	for (i = 0; i < ARENA_PAGES; i++) {
		const struct pginfo *p = &st->pg_save[i];

		st->pg[i] = p->mapped ? PG_MAPPED | PG_EXP_MAPPED :
					PG_EXP_UNMAPPED;
		if (pg_covered(p))
			st->pg[i] |= PG_COVERED;
	}
	for (i = 0; i < ARENA_PAGES; i = j) {
		for (j = i; j < ARENA_PAGES && st->pg[j] & PG_COVERED; j++)
			;
		if (j > i && !mem_read(st->saved + i * PAGE, i * PAGE,
				       (j - i) * PAGE))
			for (; i < j; i++)	/* past EOF: skip that page */
				if (!mem_read(st->saved + i * PAGE, i * PAGE,
					      PAGE))
					st->pg[i] |= PG_NOREAD;
		if (j == i)
			j++;
	}
	for (i = 0; i < ARENA_PAGES; i++)
		if (st->pg[i] & PG_COVERED && st->pg_save[i].ino &&
		    (pagemap(i) & (PM_PRESENT | PM_FILE)) ==
		    (PM_PRESENT | PM_FILE))
			st->pg[i] |= PG_FILEPG;
	st->brk_saved = st->brk_cur;
	memcpy(st->brk_copy, (void *)st->brk_base,
	       st->brk_cur - st->brk_base);
	st->have_snap = true;
	st->stale = false;
	st->stale_maybe = false;
}

/* Why a rollback now must fail with ESTALE, or NULL. */
static const char *stale_reason(char *buf, size_t len)
{
	unsigned long i;

	if (st->stale) {
		snprintf(buf, len, "covered memory changed by %.150s",
			 st->stale_why);
		return buf;
	}
	arena_scan(pi_now);
	for (i = 0; i < ARENA_PAGES; i++) {
		if (!(st->pg[i] & PG_COVERED) ||
		    pg_same(&pi_now[i], &st->pg_save[i]))
			continue;
		snprintf(buf, len, "covered +%#lx: prot %d -> %d", i * PAGE,
			 st->pg_save[i].prot, pi_now[i].prot);
		return buf;
	}
	return NULL;
}

/* FNV-1a of every mapped arena page: did a failed rollback change any? */
static uint64_t arena_hash(void)
{
	static uint64_t buf[PAGE / 8];
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned long i, k;

	arena_scan(pi_now);
	for (i = 0; i < ARENA_PAGES; i++) {
		if (!pi_now[i].mapped || !mem_read(buf, i * PAGE, PAGE))
			continue;
		for (k = 0; k < PAGE / 8; k++)
			h = (h ^ buf[k]) * 0x100000001b3ULL;
		h ^= i;
	}
	return h;
}

/* Where file k's page @pgoff is now: the expected contents instead. */
static void file_now(unsigned long i, unsigned char *want)
{
	int k;

	for (k = 0; k < 4 && st->ino[k] != st->pg_save[i].ino; k++)
		;
	if (k == 4 || pread(file_fd(k), want, PAGE,
			    st->pg_save[i].pgoff * PAGE) != (ssize_t)PAGE)
		fail("rollback: no file for covered +%#lx", i * PAGE);
}

/*
 * Covered pages [i, i + n) must hold what they held at save, or, if
 * they were the file's own pages and it changed, what the file holds.
 */
static void check_content(unsigned long i, unsigned long n)
{
	static unsigned char buf[16 * PAGE], now[16 * PAGE];
	const unsigned char *want = st->saved + i * PAGE;
	unsigned long k;

	for (k = 0; k < n; k++)
		if (st->pg[i + k] & PG_FILECHG)
			break;
	if (k < n) {
		memcpy(now, want, n * PAGE);
		for (k = 0; k < n; k++)
			if (st->pg[i + k] & PG_FILECHG)
				file_now(i + k, now + k * PAGE);
		want = now;
	}

	if (!mem_read(buf, i * PAGE, n * PAGE))
		fail("rollback: covered +%#lx unreadable: %s", i * PAGE,
		     strerror(errno));
	if (!memcmp(buf, want, n * PAGE))
		return;
	for (k = 0; buf[k] == want[k]; k++)
		;
	fail("rollback: covered byte +%#lx is %#x, was %#x at save",
	     i * PAGE + k, buf[k], want[k]);
}

/* After a rollback that returned 0: memory and layout as at save. */
static void snap_check(void)
{
	unsigned long i, n, brk;

	arena_scan(pi_now);
	for (i = 0; i < ARENA_PAGES; i++) {
		uint8_t pg = st->pg[i];

		if (pg & PG_COVERED) {
			if (!pi_now[i].mapped)
				fail("rollback: covered +%#lx is not mapped "
				     "any more", i * PAGE);
			if (pg & PG_NOREAD)
				continue;
			for (n = 1; n < 16 && i + n < ARENA_PAGES &&
			     (st->pg[i + n] & (PG_COVERED | PG_NOREAD)) ==
				PG_COVERED && pi_now[i + n].mapped; n++)
				;
			check_content(i, n);
			i += n - 1;
		} else if (pg & PG_EXP_MAPPED && !pi_now[i].mapped) {
			fail("rollback unmapped +%#lx, mapped and not covered "
			     "at save (prot %d, %d before): it must be left as "
			     "it is", i * PAGE, st->pg_save[i].prot,
			     st->pg_pre[i].prot);
		} else if (pg & PG_EXP_UNMAPPED && pi_now[i].mapped) {
			fail("rollback left +%#lx mapped, not mapped at save",
			     i * PAGE);
		}
	}
	brk = SYS(syscall(SYS_brk, 0));
	if (brk != st->brk_saved)
		fail("rollback: break at %#lx, was %#lx at save", brk,
		     st->brk_saved);
	if (memcmp((void *)st->brk_base, st->brk_copy,
		   st->brk_saved - st->brk_base))
		fail("rollback: brk memory differs from save");
	st->brk_cur = st->brk_saved;
}

static void mmc_rollback(unsigned int op, const char *name)
{
	char why[MSG_LEN / 2 + 32];
	const char *stale = stale_reason(why, sizeof(why));
	uint64_t before = stale || st->stale_maybe ? arena_hash() : 0;
	long r;

	arena_scan(st->pg_pre);	/* shared: it survives the rollback */
	describe("mmcontext(%s)%s", name, stale ? ", stale" : "");
	dump_maps("before");
	r = mmc(op);
	if (!r)
		dump_maps("after");
	if (r == -1 && (errno == EINTR || errno == ENOMEM)) {
		note("= %s", errname(errno));
		return;
	}
	if (r == -1 && errno == ESTALE && (stale || st->stale_maybe)) {
		if (arena_hash() != before)
			fail("mmcontext(%s) failed with ESTALE but changed "
			     "memory", name);
		if (!stale) {		/* and from now on, every time */
			snprintf(st->stale_why, sizeof(st->stale_why),
				 "%s", st->maybe_why);
			st->stale = true;
		}
		return;
	}
	if (r == -1 && errno == ESTALE)
		fail("mmcontext(%s) = ESTALE, but the layout of covered "
		     "memory is as at save", name);
	if (r == -1)
		fail("mmcontext(%s) = %s: not a documented error", name,
		     errname(errno));
	if (stale)
		fail("mmcontext(%s) = 0, expected ESTALE (%s)", name, stale);
	st->stale_maybe = false;	/* no anon_vma then, nothing zapped */
	snap_check();
	if (op == MMCONTEXT_RESTORE)
		st->have_snap = false;
}

static void expect_err(long r, int err, const char *what)
{
	if (r != -1 || errno != err)
		fail("%s = %ld (%s), expected %s", what, r,
		     r ? errname(errno) : "ok", errname(err));
}

static void op_mmcontext(struct fuzz_state *s)
{
	static const unsigned int bad[] = { 4, 5, 0x80000000u, ~0u, 0x100 };
	unsigned int pick = rnd(st, 20);
	long r;

	if (pick == 0 || pick == 1) {
		unsigned int op = pick ? bad[rnd(st, 5)] : 4 + rnd64(&st->rng);
		unsigned int flags = 0;

		if (op < 4)
			op = 4;
		if (one_in(st, 2)) {		/* a good op, flags not 0 */
			op = rnd(st, 4);
			flags = 1u << rnd(st, 32) | rnd64(&st->rng);
		}
		describe("mmcontext(%#x, %#x)", op, flags);
		expect_err(mmc_flags(op, flags), EINVAL,
			   "mmcontext(invalid op or flags)");
		return;
	}
	if (!st->have_snap) {
		if (pick < 16) {
			describe("mmcontext(SAVE)");
			r = mmc(MMCONTEXT_SAVE);
			if (!r) {
				snap_take();
				return;
			}
			if (errno != EBUSY && errno != ENOMEM &&
			    errno != EINTR)
				fail("mmcontext(SAVE) = %s: not a documented "
				     "error", errname(errno));
			note("= %s", errname(errno));
			return;
		}
		describe("mmcontext(%s) without a snapshot",
			 pick == 16 ? "ROLLBACK" : pick == 17 ? "RESTORE" :
			 "DROP");
		expect_err(mmc(pick == 16 ? MMCONTEXT_ROLLBACK :
			       pick == 17 ? MMCONTEXT_RESTORE : MMCONTEXT_DROP),
			   ENOENT, "mmcontext without a snapshot");
		return;
	}
	if (pick < 4 || (st->stale && pick < 12)) {
		describe("mmcontext(DROP)");
		r = mmc(MMCONTEXT_DROP);
		if (r && errno != EINTR)
			fail("mmcontext(DROP) = %s", errname(errno));
		if (!r)
			st->have_snap = false;
		return;
	}
	if (pick < 6) {
		describe("mmcontext(SAVE) with a snapshot");
		expect_err(mmc(MMCONTEXT_SAVE), EEXIST, "second SAVE");
		return;
	}
	if (pick < 9)
		mmc_rollback(MMCONTEXT_RESTORE, "RESTORE");
	else
		mmc_rollback(MMCONTEXT_ROLLBACK, "ROLLBACK");
}

/* --- cp_range and its oracle ----------------------------------------- */

static void chain_reset(void)
{
	int i;

	for (i = 0; i < st->nchain; i++)
		unlink(st->chain[i]);
	st->nchain = 0;
	st->chain_broken = false;
}

/* The range's contents now, as the chain must rebuild them. */
static void cp_capture(void)
{
	unsigned long first = arena_off((char *)st->cs) / PAGE;
	unsigned long last = arena_off((char *)st->ce) / PAGE, i, j, n;

	arena_scan(pi_now);
	for (i = first; i < last; i += n) {
		for (n = 1; i + n < last && n < 64 &&
		     pi_now[i + n].mapped == pi_now[i].mapped; n++)
			;
		memset(st->cp_mapped + i, pi_now[i].mapped, n);
		if (!pi_now[i].mapped ||
		    mem_read(st->expect + i * PAGE, i * PAGE, n * PAGE))
			continue;
		for (j = i; j < i + n; j++)
			if (!mem_read(st->expect + j * PAGE, j * PAGE, PAGE))
				st->cp_mapped[j] = 2;	/* past EOF */
	}
}

/* In a fresh child with nothing mapped in the arena: apply, compare. */
static void cp_verify_child(void)
{
	struct cpfile files[CHAIN_MAX];
	unsigned long first = arena_off((char *)st->cs) / PAGE;
	unsigned long last = arena_off((char *)st->ce) / PAGE, i;
	char err[256];
	int n;

	if (munmap(st->arena, ARENA_SIZE))
		fail("verify: munmap arena: %s", strerror(errno));
	for (n = 0; n < st->nchain; n++)
		if (cpfile_open(&files[n], st->chain[n], err, sizeof(err)))
			fail("cp_range chain: %s", err);
	if (cpfile_apply(files, st->nchain, err, sizeof(err)))
		fail("cp_range chain of %d: apply: %s", st->nchain, err);
	for (i = first; i < last; i++) {
		unsigned char v;
		bool mapped = !mincore(pg_addr(i), PAGE, &v);
		const unsigned char *got = (unsigned char *)pg_addr(i);
		const unsigned char *want = st->expect + i * PAGE;
		unsigned long k;

		if (st->cp_mapped[i] == 2)
			continue;
		if (mapped != st->cp_mapped[i])
			fail("cp_range chain of %d: +%#lx is %smapped, was "
			     "%smapped at the increment", st->nchain,
			     i * PAGE, mapped ? "" : "not ",
			     st->cp_mapped[i] ? "" : "not ");
		if (!mapped || !memcmp(got, want, PAGE))
			continue;
		for (k = 0; got[k] == want[k]; k++)
			;
		fail("cp_range chain of %d: byte +%#lx is %#x, was %#x at "
		     "the increment", st->nchain, i * PAGE + k, got[k],
		     want[k]);
	}
	_exit(0);
}

static void cp_new_range(void)
{
	unsigned long n = rnd_len(), pg;

	if (n == 512)
		pg = rnd(st, ARENA_PAGES / 512) * 512;
	else
		pg = 1 + rnd(st, ARENA_PAGES - n - 1);	/* never the arena */
	st->cs = (unsigned long)pg_addr(pg);
	st->ce = st->cs + n * PAGE;
}

static void op_cp_chain(struct fuzz_state *s)
{
	struct cp_header h;
	unsigned int flags = CP_INCREMENTAL;
	char *path;
	pid_t pid;
	long r;
	int fd;

	if (!st->nchain || st->chain_broken || st->nchain == CHAIN_MAX ||
	    one_in(st, 10)) {
		chain_reset();
		if (!st->cs || one_in(st, 3))
			cp_new_range();
		flags = 0;	/* the first of a chain is full */
	}
	path = st->chain[st->nchain];
	snprintf(path, sizeof(st->chain[0]), "%s/cp%u", st->dir,
		 st->file_seq++);
	describe("cp_range +%#lx..+%#lx %s, chain of %d",
		 arena_off((char *)st->cs), arena_off((char *)st->ce),
		 flags ? "incremental" : "full", st->nchain);
	fd = SYS(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	r = cpr(st->cs, st->ce - st->cs, fd, flags);
	if (r < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		st->chain_broken = true;
		if (e != ENOMEM && e != EINTR && e != ENOSPC)
			fail("cp_range = %s: not a documented error",
			     errname(e));
		note("= %s", errname(e));
		return;
	}
	if (r > (long)((st->ce - st->cs) / PAGE))
		fail("cp_range = %ld, more pages than the range has", r);
	cp_capture();
	if (SYS(pread(fd, &h, sizeof(h), 0)) != sizeof(h))
		fail("cp_range wrote no header to %s", path);
	close(fd);
	if (!h.base_id && st->nchain) {
		/* a full one after all (tracking was lost): a new chain */
		int i;

		for (i = 0; i < st->nchain; i++)
			unlink(st->chain[i]);
		memmove(st->chain[0], path, sizeof(st->chain[0]));
		st->nchain = 0;
	} else if (h.base_id && !flags) {
		fail("cp_range without CP_INCREMENTAL wrote an increment");
	}
	st->nchain++;
	note("= %ld, base %#llx, chain of %d", r,
	     (unsigned long long)h.base_id, st->nchain);
	pid = SYS(fork());
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid)
		cp_verify_child();
	child_done(pid, "cp_range verify", false);
}

/* Random and boundary arguments; the errors must be documented ones. */
enum { FD_BAD, FD_CLOSED, FD_RO, FD_PIPE_RD, FD_PIPE_WR, FD_NULL, FD_FILE,
       FD_SHARED, FD_SOCK, FD_EVENT, NR_FDS };

static const char *const fd_names[NR_FDS] = {
	"-1", "closed", "read-only", "pipe-read", "pipe", "/dev/null",
	"file", "mapped-file", "socket", "eventfd",
};

static void cp_rnd_range(unsigned long *start, unsigned long *end)
{
	unsigned long a = (unsigned long)st->arena;
	char local;

	switch (rnd(st, 12)) {
	case 0:
		*start = 0;
		*end = rnd(st, 2) ? PAGE : 1UL << 20;
		break;
	case 1:
		*start = TASK_TOP - PAGE * (1 + rnd(st, 2));
		*end = TASK_TOP + PAGE * rnd(st, 3);
		break;
	case 2:
		*start = ~0UL & ~(PAGE - 1);
		*end = rnd(st, 2) ? ~0UL : 0;
		break;
	case 3:
		*start = a;
		*end = a + ARENA_SIZE;
		break;
	case 4:
		*start = a + rnd(st, ARENA_PAGES) * PAGE;
		*end = *start - PAGE * rnd(st, 2);	/* empty or reversed */
		break;
	case 5:
		*start = a + rnd(st, ARENA_SIZE);	/* unaligned */
		*end = *start + PAGE * (1 + rnd(st, 8)) + rnd(st, 2);
		break;
	case 6:
		*start = (unsigned long)&local & ~(PAGE - 1);	/* the stack */
		*end = *start + PAGE * (1 + rnd(st, 4));
		break;
	case 7:
		*start = (unsigned long)st;	/* shared, not covered */
		*end = *start + PAGE * (1 + rnd(st, 64));
		break;
	case 8:
		*start = one_in(st, 8) ? 0 : (unsigned long)op_cp_chain &
					     ~(PAGE - 1);
		*end = one_in(st, 8) ? TASK_TOP : *start + 64 * PAGE;
		break;
	default:
		*start = a + rnd(st, ARENA_PAGES) * PAGE;
		*end = *start + rnd_len() * PAGE;
	}
}

static int cp_rnd_fd(int kind, int *tmp, int *sk)
{
	char path[96];
	int sv[2];

	switch (kind) {
	case FD_BAD:
		return -1;
	case FD_CLOSED:
		return st->fd_closed;
	case FD_RO:
		return st->fd_ro;
	case FD_PIPE_RD:
		return st->pipe_rd;
	case FD_PIPE_WR:
		return st->pipe_wr;
	case FD_NULL:
		return st->fd_null;
	case FD_SHARED:
		return st->fd_shared;
	case FD_SOCK:
		if (SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				   sv)))
			return -1;
		*sk = sv[1];
		*tmp = sv[0];
		return sv[0];
	case FD_EVENT:
		*tmp = SYS(eventfd(0, EFD_NONBLOCK));
		return *tmp;
	}
	snprintf(path, sizeof(path), "%s/rnd", st->dir);
	*tmp = SYS(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
	unlink(path);
	return *tmp;
}

/* May @e come from cp_range with this fd and arguments? */
static bool cp_err_ok(int e, int kind, bool bad_args, bool forget,
		      bool too_big)
{
	if (forget)		/* no fd, no file: EINVAL or ENOENT only */
		return e == EINVAL ? bad_args : e == ENOENT || e == EINTR;
	switch (e) {
	case E2BIG:
		return too_big;
	case EINTR:
	case ENOMEM:
		return true;
	case EBADF:
		return kind <= FD_PIPE_RD;
	case EINVAL:
		return bad_args || kind == FD_EVENT;
	case EAGAIN:
	case EPIPE:
		return kind == FD_PIPE_WR || kind == FD_SOCK;
	case ENOSPC:
	case EFBIG:
	case EIO:
		return kind == FD_FILE || kind == FD_SHARED;
	}
	return false;
}

static void op_cp_random(struct fuzz_state *s)
{
	static const unsigned int fl[] = { 0, CP_INCREMENTAL, CP_FORGET,
					   1u << 31, ~0u, CP_INCREMENTAL | 4,
					   CP_INCREMENTAL | CP_FORGET };
	unsigned long start, end, len, rounded;
	unsigned int flags = one_in(st, 2) ? fl[rnd(st, 7)] : rnd64(&st->rng);
	int kind = rnd(st, NR_FDS), tmp = -1, sk = -1, fd;
	bool bad_args, maybe_bad, forget, too_big;
	char drain[4096];
	long r;

	if (one_in(st, 2))
		flags &= CP_INCREMENTAL;
	cp_rnd_range(&start, &end);
	len = end - start;		/* wraps for a reversed range */
	if (one_in(st, 4))
		len += rnd(st, PAGE);	/* the kernel rounds it up */
	rounded = (len + PAGE - 1) & ~(PAGE - 1);
	end = start + rounded;
	forget = flags & CP_FORGET;
	fd = cp_rnd_fd(kind, &tmp, &sk);
	bad_args = start % PAGE || !rounded || end < start ||
		   (flags & ~(CP_INCREMENTAL | CP_FORGET)) ||
		   (forget && (flags != CP_FORGET || fd != -1));
	maybe_bad = end > TASK_TOP;	/* 5-level paging would take it */
	too_big = (flags & CP_INCREMENTAL) && rounded > (1UL << 40);
	describe("cp_range %#lx +%#lx fd %s flags %#x", start, len,
		 fd_names[kind], flags);
	r = cpr(start, len, fd, flags);
	if (r < 0 && !cp_err_ok(errno, kind, bad_args || maybe_bad, forget,
				too_big))
		fail("cp_range = %s: not documented for these arguments",
		     errname(errno));
	if (r >= 0 && (bad_args || too_big ||
		       (!forget && (kind <= FD_PIPE_RD || kind == FD_EVENT))))
		fail("cp_range = %ld, expected an error (fd %s)", r,
		     fd_names[kind]);
	if (r > 0 && forget)
		fail("cp_range(CP_FORGET) = %ld, not 0", r);
	note("= %ld%s%s", r, r < 0 ? " " : "", r < 0 ? errname(errno) : "");
	if (start == st->cs && end == st->ce)
		st->chain_broken = true;	/* it may have rebased it */
	while (read(st->pipe_rd, drain, sizeof(drain)) > 0)
		;
	if (tmp >= 0)
		close(tmp);
	if (sk >= 0)
		close(sk);
}

/* --- sfork: a region shared with a child, each side writing or not ---- */

#define SF_MAX_PAGES	64

static void sf_fill(char *p, size_t len, uint32_t seed)
{
	uint32_t *w = (uint32_t *)p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

/* Does [p, p + len) hold sf_fill(@seed), or zeros for @seed 0? */
static bool sf_holds(const char *p, size_t len, uint32_t seed)
{
	const uint32_t *w = (const uint32_t *)p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		if (w[i] != (seed ? (uint32_t)(i * 2654435761u) ^ seed : 0))
			return false;
	return true;
}

/*
 * The side of @who, which may not write the region [p, p + len), tries
 * one way, in its half [p + mine, p + mine + len / 2), which nobody writes.
 */
static void sf_try_write(char *p, size_t len, size_t mine, const char *who)
{
	unsigned char buf[64], before[64];
	unsigned long off = mine + rnd(st, len / 2 - sizeof(buf));
	struct iovec l = { buf, sizeof(buf) };
	struct iovec r = { p + off, sizeof(buf) };
	const char *how;
	long ret;

	memcpy(before, p + off, sizeof(before));
	memset(buf, 0xa5, sizeof(buf));
	switch (rnd(st, 5)) {
	case 0:
		how = "a store";
		ret = probe_copy(p + off, (char *)buf, 1) ? 0 : -1;
		break;
	case 1: {
		/* Its own: st->self_mem is the seed process's, in a child. */
		int fd = SYS(open("/proc/self/mem", O_RDWR));

		how = "/proc/self/mem";
		if (fd < 0)
			fail("open /proc/self/mem: %s", strerror(errno));
		ret = SYS(pwrite(fd, buf, sizeof(buf),
				 (off_t)(uintptr_t)(p + off)));
		close(fd);
		break;
	}
	case 2:
		how = "process_vm_writev()";
		ret = SYS(process_vm_writev(getpid(), &l, 1, &r, 1, 0));
		break;
	case 3:
		how = "mprotect(PROT_WRITE)";
		ret = SYS(mprotect(p, len, PROT_READ | PROT_WRITE));
		break;
	default:
		how = "MADV_POPULATE_WRITE";
		ret = SYS(madvise(p, len, MADV_POPULATE_WRITE));
	}
	if (ret >= 0)
		fail("sfork: %s wrote the %s's read-only side", how, who);
	if (memcmp(before, p + off, sizeof(before)))
		fail("sfork: %s changed the %s's read-only side", how, who);
}

/* Arguments sfork(2) refuses: no child, nothing mapped. */
static void sf_bad_args(void)
{
	static const struct {
		size_t len;
		unsigned int flags;
		int err;
	} bad[] = {
		{ PAGE, 0, EINVAL },
		{ PAGE, SFORK_POPULATE, EINVAL },
		{ PAGE, SFORK_CHILD_WRITE | 0x8, EINVAL },
		{ PAGE, SFORK_PARENT_WRITE | 0x80000000u, EINVAL },
		{ 0, SFORK_CHILD_WRITE, EINVAL },
		{ (size_t)-1, SFORK_PARENT_WRITE, EINVAL },
		{ PAGE, SFORK_CHILD_WRITE, EFAULT },
	};
	unsigned int i = rnd(st, sizeof(bad) / sizeof(bad[0]));
	void *addr, **where = bad[i].err == EFAULT ? (void **)8 : &addr;
	long r;

	describe("sfork(%zu, %#x), must fail with %s", bad[i].len,
		 bad[i].flags, errname(bad[i].err));
	count(true);
	r = syscall(__NR_sfork, bad[i].len, bad[i].flags, where);
	if (r == 0)
		_exit(0);
	if (r != -1 || errno != bad[i].err)
		fail("sfork(%zu, %#x) = %ld (%s), expected %s", bad[i].len,
		     bad[i].flags, r, r < 0 ? errname(errno) : "a child",
		     errname(bad[i].err));
}

/*
 * Each side fills its half of the region if it may write, or tries to
 * write it some way if not; each then checks the other's half.  The
 * parent may also churn its own mapping meanwhile: mprotect(),
 * MADV_DONTNEED, a fork whose child exits.
 */
static void op_sfork(struct fuzz_state *s)
{
	unsigned int flags = (1 + rnd(st, 3)) |
			     (one_in(st, 3) ? SFORK_POPULATE : 0);
	size_t pages = 2 + rnd(st, SF_MAX_PAGES - 1);
	size_t len = pages * PAGE - rnd(st, PAGE);
	uint32_t seed = (uint32_t)rnd64(&st->rng) | 1;
	bool cw = flags & SFORK_CHILD_WRITE, pw = flags & SFORK_PARENT_WRITE;
	bool churn = one_in(st, 2);
	int up[2], down[2];
	char *p = NULL, c = 0;
	size_t half;
	pid_t pid;

	if (one_in(st, 6)) {
		sf_bad_args();
		return;
	}
	describe("sfork %zu bytes%s%s%s%s", len, cw ? ", child writes" : "",
		 pw ? ", parent writes" : "",
		 flags & SFORK_POPULATE ? ", populated" : "",
		 churn ? ", churn" : "");
	if (pipe(up) || pipe(down))
		fail("pipe: %s", strerror(errno));
	count(true);
	pid = syscall(__NR_sfork, len, flags, &p);
	if (pid < 0) {
		if (errno != ENOMEM && errno != EAGAIN)
			fail("sfork: %s", errname(errno));
		note("= %s", errname(errno));
		goto out;
	}
	if (!p)
		fail("sfork stored no address");
	len = pages * PAGE;
	half = len / 2;
	/* A side that dies makes the other's read() fail, not hang. */
	close(pid ? up[1] : up[0]);
	close(pid ? down[0] : down[1]);
	up[pid ? 1 : 0] = down[pid ? 0 : 1] = -1;
	if (pid == 0) {
		if (cw)
			sf_fill(p, half, seed);
		else
			sf_try_write(p, len, 0, "child");
		/* The parent failed if it closed the pipe: it says why. */
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(0);
		if (!sf_holds(p + half, len - half, pw ? seed + 1 : 0))
			fail("sfork child: the parent's half is wrong");
		_exit(0);
	}
	if (pw)
		sf_fill(p + half, len - half, seed + 1);
	else
		sf_try_write(p, len, half, "parent");
	if (churn) {
		int prot = PROT_READ | (pw ? PROT_WRITE : 0);
		pid_t kid;

		SYS(mprotect(p, len, PROT_NONE));
		SYS(mprotect(p, half, PROT_READ));
		if (SYS(mprotect(p, len, prot)))
			fail("sfork: mprotect back: %s", strerror(errno));
		SYS(madvise(p, len, MADV_DONTNEED));
		kid = SYS(fork());
		if (kid == 0)
			_exit(sf_holds(p + half, len - half, pw ? seed + 1 : 0) ?
			      0 : 1);
		if (kid > 0)
			child_done(kid, "sfork grandchild", false);
	}
	if (read(up[0], &c, 1) != 1) {
		child_done(pid, "sfork", false);	/* its failure, if any */
		fail("sfork: the child exited early");
	}
	if (!sf_holds(p, half, cw ? seed : 0))
		fail("sfork parent: the child's half is wrong");
	if (write(down[1], &c, 1) != 1)
		fail("sfork: pipe");
	child_done(pid, "sfork", false);
	SYS(munmap(p, len));
out:
	for (pid = 0; pid < 2; pid++) {
		if (up[pid] >= 0)
			close(up[pid]);
		if (down[pid] >= 0)
			close(down[pid]);
	}
}

/* --- ipc: a forked child sends an arena slice, the seed receives ------ */

#define IPC_MAX		(256 * 1024)
#define COW_MIN		"/proc/sys/kernel/ipc_cow_min"

/*
 * The op's own buffers: mmap(), not malloc(), which may move the break
 * that op_brk() and the mmcontext model keep track of.
 */
static unsigned char *ipc_buf(size_t len)
{
	void *p = mmap(NULL, len + 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	return p;
}

static void ipc_pattern(unsigned char *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 2654435761u) >> 13 ^ seed);
}

/*
 * The child sends [so, so + n) of its copy of the arena and checks the
 * reply; then it sends an empty message, so the seed always has one to
 * end on, even when the first failed the child (a sender buffer that
 * faults fails only the sender: the receiver never sees it).
 */
static void ipc_child(pid_t to, const char *src, size_t n, bool src_ok,
		      size_t rlen, size_t reply_len, uint32_t seed,
		      unsigned int flags)
{
	unsigned char *r = ipc_buf(rlen), *want = ipc_buf(reply_len);
	long ret;

	memset(r, 0xee, rlen + 1);
	ret = syscall(__NR_ipc_send, to, src, n, r, rlen, flags);
	if (!src_ok) {
		if (ret != -1 || errno != EFAULT)
			fail("ipc_send from a slice that faults = %ld (%s)",
			     ret, ret < 0 ? errname(errno) : "success");
	} else if (ret != (long)reply_len) {
		fail("ipc_send = %ld (%s), expected %zu", ret,
		     ret < 0 ? errname(errno) : "", reply_len);
	} else {
		ipc_pattern(want, reply_len, seed);
		if (memcmp(r, want, reply_len < rlen ? reply_len : rlen))
			fail("ipc_send: the reply differs");
		if (reply_len < rlen && r[reply_len] != 0xee)
			fail("ipc_send: stored past the reply's end");
		if (r[rlen] != 0xee)
			fail("ipc_send: stored past rlen");
	}
	if (syscall(__NR_ipc_send, to, NULL, 0, NULL, 0, 0))
		fail("ipc_send of nothing: %s", errname(errno));
	_exit(0);
}

/*
 * Receive the child's next message into @buf, or into @spare if @buf
 * faults (the message then stays queued); say where it went.
 */
static pid_t ipc_take(pid_t child, char *buf, size_t cap, unsigned char *spare,
		      size_t scap, size_t *len, char **where, size_t *wcap)
{
	pid_t from;

	*len = ~(size_t)0;
	*where = buf;
	*wcap = cap;
	from = syscall(__NR_ipc_recv, buf, cap, len, 0);
	if (from < 0 && errno == EFAULT) {
		*where = (char *)spare;
		*wcap = scap;
		from = syscall(__NR_ipc_recv, spare, scap, len, 0);
	}
	if (from != child)
		fail("ipc_recv = %d (%s), expected the child %d", from,
		     from < 0 ? errname(errno) : "", child);
	return from;
}

static void op_ipc(struct fuzz_state *s)
{
	size_t n = one_in(st, 2) ? rnd(st, IPC_MAX) : 1 + rnd(st, 2 * PAGE);
	unsigned long so = rnd(st, ARENA_SIZE - n), ro = rnd(st, ARENA_SIZE);
	size_t rcap = rnd(st, ARENA_SIZE - ro), rlen = rnd(st, 2 * PAGE);
	size_t reply_len = rnd(st, 2 * PAGE), got, len, cap, i;
	unsigned int flags = one_in(st, 4) ? IPC_SEND_COPY : 0;
	uint32_t seed = (uint32_t)rnd64(&st->rng);
	unsigned char *want, *reply, *spare;
	struct iovec l, r;
	pid_t pid, from;
	char *buf;

	/* Page-aligned the same on both sides 3 times in 4: shared pages. */
	if (!one_in(st, 4))
		ro = (ro & ~(PAGE - 1)) | (so & (PAGE - 1));
	if (ro + rcap > ARENA_SIZE)
		rcap = ARENA_SIZE - ro;
	/*
	 * Not where the child reads: in a MAP_SHARED part of the arena that
	 * would change the message while it is copied.
	 */
	if (ro < so + n && so < ro + rcap) {
		if (ro < so) {
			rcap = so - ro;
		} else {
			ro = so + n;
			if (rcap > ARENA_SIZE - ro)
				rcap = ARENA_SIZE - ro;
		}
	}
	describe("ipc %zu bytes +%#lx -> +%#lx (room %zu), reply %zu/%zu%s",
		 n, so, ro, rcap, reply_len, rlen, flags ? ", copy" : "");
	want = ipc_buf(n);
	reply = ipc_buf(reply_len);
	spare = ipc_buf(n);
	/* What the child will send: the arena now, as far as it reads. */
	l = (struct iovec){ want, n };
	r = (struct iovec){ st->arena + so, n };
	got = n ? (size_t)process_vm_readv(getpid(), &l, 1, &r, 1, 0) : 0;
	if (got == (size_t)-1)
		got = 0;
	ipc_pattern(reply, reply_len, seed);

	count(true);
	pid = SYS(fork());
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid)
		ipc_child(getppid(), st->arena + so, n, got == n, rlen,
			  reply_len, seed, flags);

	from = ipc_take(pid, (char *)st->arena + ro, rcap, spare, n, &len,
			&buf, &cap);
	if (len == n && got == n) {
		i = n < cap ? n : cap;
		if (memcmp(buf, want, i))
			fail("ipc_recv: the message differs");
		if (syscall(__NR_ipc_reply, from, reply, reply_len, 0))
			fail("ipc_reply: %s", errname(errno));
		from = ipc_take(pid, (char *)spare, n, spare, n, &len, &buf,
				&cap);
	}
	if (len)
		fail("ipc_recv: msg_len %zu, sent %zu%s", len, n,
		     got == n ? "" : " from a slice that faults");
	if (syscall(__NR_ipc_reply, from, NULL, 0, 0))
		fail("ipc_reply to the empty message: %s", errname(errno));
	child_done(pid, "ipc", false);
	munmap(want, n + 1);
	munmap(reply, reply_len + 1);
	munmap(spare, n + 1);
}

/*
 * ipc between two children, so that no snapshot stops the copy-on-write:
 * the first sends a slice of its copy of the arena, the second receives
 * it into a buffer of its own at the same offset in a page, checks it,
 * writes some of its pages and replies.  The sender's slice must still
 * read as it did: the receiver's writes stay the receiver's.
 */
static void ipc_peer(size_t n, unsigned long off, const unsigned char *want,
		     uint32_t seed)
{
	unsigned char *b = ipc_buf(n + PAGE) + off;
	size_t len, i;
	pid_t from;

	from = syscall(__NR_ipc_recv, b, n, &len, 0);
	if (from < 0)
		fail("ipc peers: ipc_recv: %s", errname(errno));
	if (len != n || memcmp(b, want, n))
		fail("ipc peers: the message differs");
	for (i = seed % 3 * PAGE; i < n; i += (1 + seed % 4) * PAGE)
		b[i] ^= 0xff;
	if (syscall(__NR_ipc_reply, from, NULL, 0, 0))
		fail("ipc peers: ipc_reply: %s", errname(errno));
	_exit(0);
}

static void op_ipc_peers(struct fuzz_state *s)
{
	size_t n = PAGE + rnd(st, IPC_MAX);
	unsigned long so = rnd(st, ARENA_SIZE - n);
	uint32_t seed = (uint32_t)rnd64(&st->rng);
	unsigned char *want = ipc_buf(n);
	struct iovec l = { want, n }, r = { st->arena + so, n };
	pid_t peer, pid;
	long ret;

	describe("ipc peers %zu bytes +%#lx", n, so);
	/* Only a slice that reads whole: the other case is op_ipc's. */
	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != (ssize_t)n) {
		munmap(want, n + 1);
		return;
	}
	count(true);
	peer = SYS(fork());
	if (peer < 0)
		fail("fork: %s", strerror(errno));
	if (!peer)
		ipc_peer(n, so & (PAGE - 1), want, seed);
	count(true);
	pid = SYS(fork());
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid) {
		ret = syscall(__NR_ipc_send, peer, st->arena + so, n, NULL, 0,
			      0);
		if (ret)
			fail("ipc peers: ipc_send = %ld (%s)", ret,
			     ret < 0 ? errname(errno) : "");
		if (memcmp(st->arena + so, want, n))
			fail("ipc peers: the sender sees the receiver's "
			     "writes");
		_exit(0);
	}
	/* The receiver first: if it fails, its sender fails after it. */
	child_done(peer, "ipc receiver", false);
	child_done(pid, "ipc sender", false);
	munmap(want, n + 1);
}

/* --- the table ------------------------------------------------------- */

static const struct fuzz_call calls[] = {
	{ "mmap",		op_mmap,		10 },
	{ "munmap",		op_munmap,		3 },
	{ "mprotect",		op_mprotect,		5 },
	{ "mremap",		op_mremap,		4 },
	{ "madvise",		op_madvise,		7 },
	{ "truncate",		op_truncate,		2 },
	{ "write",		op_write,		14 },
	{ "procmem",		op_procmem,		5 },
	{ "pvwritev",		op_pvwritev,		2 },
	{ "fork",		op_fork,		2 },
	{ "threads",		op_threads,		2 },
	{ "signal",		op_signal,		2 },
	{ "uffd_missing",	op_uffd_missing,	3 },
	{ "uffd_wp",		op_uffd_wp,		2 },
	{ "brk",		op_brk,			3 },
	{ "mmcontext",		op_mmcontext,		14 },
	{ "cp_range",		op_cp_chain,		7 },
	{ "cp_range_args",	op_cp_random,		5 },
	{ "sfork",		op_sfork,		3 },
	{ "ipc",		op_ipc,			4 },
	{ "ipc_peers",		op_ipc_peers,		3 },
};

#define NR_CALLS	(sizeof(calls) / sizeof(calls[0]))

static const struct fuzz_call *pick_call(void)
{
	static int total;
	unsigned int i;
	int w;

	if (!total)
		for (i = 0; i < NR_CALLS; i++)
			total += calls[i].weight;
	w = rnd(st, total);
	for (i = 0; w >= calls[i].weight; i++)
		w -= calls[i].weight;
	return &calls[i];
}

/* --- one seed ----------------------------------------------------------- */

static int open_file(const char *name, int flags)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", st->dir, name);
	fd = open(path, flags | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	return fd;
}

/* A file of FILE_SIZE with a few pages of pattern. */
static void shape_file(int fd)
{
	unsigned char buf[PAGE];
	int i;

	if (ftruncate(fd, FILE_SIZE))
		fail("ftruncate: %s", strerror(errno));
	for (i = 0; i < 64; i++) {
		rnd_fill(buf, PAGE);
		if (pwrite(fd, buf, PAGE, rnd(st, FILE_SIZE / PAGE) * PAGE) < 0)
			fail("pwrite: %s", strerror(errno));
	}
}

static void file_inos(void)
{
	struct stat sb;
	int k;

	for (k = 0; k < 4; k++) {
		if (fstat(file_fd(k), &sb))
			fail("fstat: %s", strerror(errno));
		st->ino[k] = sb.st_ino ^ ((uint64_t)major(sb.st_dev) << 48 |
					  (uint64_t)minor(sb.st_dev) << 32);
	}
}

static void seed_setup(void)
{
	struct sigaction sa = { .sa_sigaction = probe_handler,
				.sa_flags = SA_SIGINFO | SA_NODEFER };
	char path[96];
	int pfd[2], fd;

	st->parent = getpid();
	st->rng = splitmix64(st->seed) | 1;
	st->uffd_wp = -1;
	st->arena = mmap((void *)ARENA_HINT, ARENA_SIZE, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE, -1, 0);
	if (st->arena == MAP_FAILED)
		fail("arena at %#lx: %s", ARENA_HINT, strerror(errno));
	st->self_mem = open("/proc/self/mem", O_RDWR);
	st->pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (st->self_mem < 0 || st->pagemap < 0)
		fail("/proc/self/mem or pagemap: %s", strerror(errno));
	st->fd_priv = open_file("priv", O_RDWR);
	shape_file(st->fd_priv);
	snprintf(path, sizeof(path), "%s/priv", st->dir);
	st->fd_ro = open(path, O_RDONLY);
	if (st->fd_ro < 0)
		fail("open %s: %s", path, strerror(errno));
	st->fd_shared = open_file("shared", O_RDWR);
	shape_file(st->fd_shared);
	st->memfd_priv = memfd_create("ctxfuzz-priv", MFD_CLOEXEC);
	st->memfd_shared = memfd_create("ctxfuzz-shared", MFD_CLOEXEC);
	if (st->memfd_priv < 0 || st->memfd_shared < 0)
		fail("memfd_create: %s", strerror(errno));
	shape_file(st->memfd_priv);
	shape_file(st->memfd_shared);
	file_inos();
	st->fd_secret = syscall(SYS_memfd_secret, O_CLOEXEC);
	if (st->fd_secret >= 0 && ftruncate(st->fd_secret, 80 * PAGE)) {
		close(st->fd_secret);
		st->fd_secret = -1;
	}
	st->fd_null = open("/dev/null", O_WRONLY);
	if (st->fd_null < 0 || pipe2(pfd, O_NONBLOCK))
		fail("/dev/null or pipe: %s", strerror(errno));
	st->pipe_rd = pfd[0];
	st->pipe_wr = pfd[1];
	fd = dup(0);
	st->fd_closed = fd >= 0 ? fd + 100 : 900;	/* never opened */
	if (fd >= 0)
		close(fd);

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sa.sa_handler = counting_handler;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	st->brk_base = st->brk_cur = (unsigned long)sbrk(0);
}

static void seed_teardown(void)
{
	char path[96];

	chain_reset();
	snprintf(path, sizeof(path), "%s/priv", st->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/shared", st->dir);
	unlink(path);
}

/* The seed's process: run the sequence, or stop at the deadline. */
static void __attribute__((noreturn)) run_seed(void)
{
	seed_setup();
	for (st->op = 0; st->op < st->nr_ops; st->op++) {
		if (st->deadline_ns && now_ns() > st->deadline_ns)
			break;
		pick_call()->run(st);
	}
	st->desc[0] = 0;
	seed_teardown();
	_exit(0);
}

/* --- the driver --------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: ctxfuzz -d SECS [-s FIRST_SEED] [-n OPS] "
		"[-v]\n       ctxfuzz -r SEED [-n OPS]\n");
	exit(2);
}

static void clean_dir(void)
{
	struct dirent *de;
	char path[384];
	DIR *d = opendir(st->dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", st->dir,
				 de->d_name);
			unlink(path);
		}
	closedir(d);
}

/* 0: passed; 1: failed; 2: hung, and could not be killed. */
static int run_one(uint64_t seed, const char *extra)
{
	uint64_t beat = 0, since = now_ns();
	int status;
	pid_t pid;
	char why[MSG_LEN + 64];

	memset(&st->rng, 0, sizeof(*st) - offsetof(struct fuzz_state, rng));
	st->msg[0] = st->desc[0] = 0;
	st->seed = seed;
	if (st->progress)	/* a seed that panics prints nothing else */
		printf("ctxfuzz: seed %llu\n", (unsigned long long)seed);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ctxfuzz: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (!pid)
		run_seed();
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (st->stats.beat != beat) {
			beat = st->stats.beat;
			since = now_ns();
		} else if (now_ns() - since > HANG_SECS * 1000000000ULL) {
			kill(pid, SIGKILL);
			usleep(2000000);
			if (waitpid(pid, &status, WNOHANG) != pid) {
				printf("ctxfuzz: seed %llu hung at op %u (%s) "
				       "and cannot be killed: replay with: "
				       "ctxfuzz -r %llu%s\n",
				       (unsigned long long)seed, st->op,
				       st->desc, (unsigned long long)seed,
				       extra);
				return 2;
			}
			snprintf(st->msg, sizeof(st->msg), "no syscall for "
				 "%d s, killed", HANG_SECS);
			status = FAIL_EXIT << 8;
			break;
		}
		usleep(20000);
	}
	clean_dir();
	st->stats.seeds++;
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == FAIL_EXIT)
		snprintf(why, sizeof(why), "%s", st->msg);
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, sizeof(why), "exited with %d",
			 WEXITSTATUS(status));
	printf("ctxfuzz: seed %llu failed at op %u (%s: %s): replay with: "
	       "ctxfuzz -r %llu%s\n", (unsigned long long)seed, st->op,
	       st->desc, why, (unsigned long long)seed, extra);
	fflush(stdout);
	return 1;
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "ctxfuzz: mmap %zu: %s\n", len,
			strerror(errno));
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	uint64_t first = 1, seed, start;
	long secs = -1, replay = -1;
	unsigned int ops = DEF_OPS;
	unsigned int cow_min_was = 0;
	bool verbose = false;
	char extra[64] = "";
	FILE *cow_min;
	double el;
	int c, rc = 0, fails = 0;

	while ((c = getopt(argc, argv, "d:s:r:n:vh")) != -1) {
		switch (c) {
		case 'd':
			secs = strtol(optarg, NULL, 0);
			break;
		case 's':
			first = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			replay = strtoll(optarg, NULL, 0);
			break;
		case 'n':
			ops = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage();
		}
	}
	if ((secs < 0 && replay < 0) || optind != argc || !ops)
		usage();
	if (ops != DEF_OPS)
		snprintf(extra, sizeof(extra), " -n %u", ops);
	if (syscall(__NR_mmcontext, ~0u, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "ctxfuzz: this kernel has no mmcontext "
			"(syscall %d: %s)\n", __NR_mmcontext, strerror(errno));
		return 1;
	}

	/* no heap growth or mmap()ed chunks between saves and rollbacks */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
	free(malloc(1));
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	st = shared_alloc(sizeof(*st) + 2 * ARENA_SIZE + BRK_PAGES * PAGE);
	st->saved = (unsigned char *)(st + 1);
	st->expect = st->saved + ARENA_SIZE;
	st->brk_copy = st->expect + ARENA_SIZE;
	st->nr_ops = ops;
	snprintf(st->dir, sizeof(st->dir), "/tmp/ctxfuzz.%d", getpid());
	if (mkdir(st->dir, 0700)) {
		fprintf(stderr, "ctxfuzz: mkdir %s: %s\n", st->dir,
			strerror(errno));
		return 1;
	}

	/* Every whole page of a message shared, where it can be. */
	cow_min = fopen(COW_MIN, "r+");
	if (cow_min && fscanf(cow_min, "%u", &cow_min_was) == 1) {
		rewind(cow_min);
		fprintf(cow_min, "4096\n");
		fflush(cow_min);
	}

	start = now_ns();
	if (replay >= 0) {
		st->verbose = true;
		rc = run_one(replay, extra);
		fails = rc != 0;
	} else {
		st->progress = verbose;
		st->deadline_ns = start + secs * 1000000000ULL;
		for (seed = first; now_ns() < st->deadline_ns; seed++) {
			rc = run_one(seed, extra);
			fails += rc != 0;
			if (rc == 2)
				break;
		}
	}
	el = (now_ns() - start) / 1e9;
	rmdir(st->dir);
	if (cow_min && cow_min_was) {
		rewind(cow_min);
		fprintf(cow_min, "%u\n", cow_min_was);
		fclose(cow_min);
	}
	printf("ctxfuzz: %llu seeds, %llu syscalls (%llu ctxkit), %.0f "
	       "syscalls/s, %d failures", (unsigned long long)st->stats.seeds,
	       (unsigned long long)st->stats.syscalls,
	       (unsigned long long)st->stats.ctx_calls,
	       el > 0 ? st->stats.syscalls / el : 0.0, fails);
	printf("\n");
	return fails ? 1 : 0;
}
