// SPDX-License-Identifier: GPL-2.0
/*
 * mmbench - what mmcontext(2) saves over what a user would do without it.
 *
 * Three scenarios, each timed both ways in this one run, reported as the
 * ratio of the per-iteration costs.  Absolute times under emulation are
 * noise; the ratios are the result.
 *
 *  seed:  SAVE, write 16 pages of a 256 KiB brk heap, RESTORE;
 *         against fork, the child writes the same pages, exit, wait.
 *  fuzz:  SAVE once, then dirty 16 random pages of an N MiB region and
 *         ROLLBACK; against a fork per iteration whose child dirties the
 *         same pages.  Also how our cost grows from the smallest size to
 *         the largest.
 *  uffd:  the same fuzz loop at 64 MiB against the userspace rollback of
 *         Linux 6.7+: userfaultfd async write-protect, PAGEMAP_SCAN for
 *         the written pages, memcpy from a pristine copy, and write-protect
 *         the copied pages again (see uffd_rollback()).
 *
 * After the table, a breakdown of a fuzz iteration at each fuzz size:
 * the DIRTY_PAGES writes right after a ROLLBACK (each a copy-on-write
 * fault), the ROLLBACK that follows, and a ROLLBACK with nothing written;
 * for uffd-wp, the writes (each a write-protect fault), the PAGEMAP_SCAN
 * and the copy with re-arm.  With a null syscall for scale.  These are
 * absolute times, to explain the ratios, not results in themselves.
 *
 * Nothing that must survive a rollback may live in the heap, .data or .bss:
 * the timed loops keep their state on the stack, and nothing is printed
 * while a snapshot is armed.
 *
 * Targets are reported, not asserted.  Exit status: 0 done, 1 memory was
 * wrong after a rollback, 2 usage or setup error, 4 no mmcontext (skip).
 *
 * USAGE: mmbench [-B | -p] [-q | -s SIZE,...] [-t SECS] [-i ITERS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <asm/unistd.h>
#include <linux/fs.h>
#include <linux/mmcontext.h>
#include <linux/userfaultfd.h>
#include "bench.h"
#include "uffd.h"

#define DIRTY_PAGES	16
#define SEED_BYTES	(256L << 10)
#define UFFD_BYTES	(64L << 20)
#define MAX_SIZES	8
#define BIG_FORK	(256L << 20)	/* fork this big: few iterations */
#define BIG_FORK_ITERS	3
#define SCAN_VEC_LEN	64
#define RNG_SEED	0x2545f4914f6cdd1dULL

static long ps;
static double opt_secs = 0.3;
static long opt_iters = 20;
static bool opt_baselines_only;
static bool opt_parts_only;
static bool opt_same;		/* the same pages every iteration */
static int met, missed;

static void usage(FILE *f)
{
	fprintf(f,
"usage: mmbench [-B | -p] [-w] [-q | -s SIZE,...] [-t SECS] [-i ITERS]\n"
"  -B          baselines only (no mmcontext calls; for stock kernels)\n"
"  -p          the breakdown only, not the table\n"
"  -w          dirty the same pages every iteration, as a fuzzing target\n"
"              rewriting its working set does (default: new random pages)\n"
"  -q          quick: fuzz sizes 8M,64M only\n"
"  -s SIZES    fuzz sizes, comma-separated, K/M/G suffix (default 8M,64M,1G)\n"
"  -t SECS     minimum time per measurement (default 0.3)\n"
"  -i ITERS    minimum iterations per measurement (default 20; forks of\n"
"              %ld MiB or more use %d)\n"
"  -h          this help\n", BIG_FORK >> 20, BIG_FORK_ITERS);
}

/*
 * flags is 0, and the unused argument registers are zeroed: on a kernel
 * newer than 6.12 without our patches, 463 is setxattrat(), which must
 * see NULLs.
 */
static long mmctx(unsigned int op)
{
	return syscall(__NR_mmcontext, op, 0, 0, 0, 0, 0);
}

static void fmt_size(long bytes, char *buf, size_t len)
{
	if (bytes >= 1L << 30 && !(bytes & ((1L << 30) - 1)))
		snprintf(buf, len, "%ldG", bytes >> 30);
	else if (bytes >= 1L << 20 && !(bytes & ((1L << 20) - 1)))
		snprintf(buf, len, "%ldM", bytes >> 20);
	else
		snprintf(buf, len, "%ldK", bytes >> 10);
}

/* "8M" -> 8 MiB; a whole number of pages, at least DIRTY_PAGES of them. */
static int parse_size(const char *s, long *bytes)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v <= 0 || end == s)
		return -1;
	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	}
	if (*end || v % ps || v / ps < DIRTY_PAGES || v > 64L << 30)
		return -1;
	*bytes = v;
	return 0;
}

static int parse_sizes(char *list, long *sizes)
{
	char *tok, *save = NULL;
	int n = 0;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_SIZES || parse_size(tok, &sizes[n]))
			return -1;
		n++;
	}
	return n ? n : -1;
}

/* ---- the table ---- */

static void print_header(void)
{
	printf("mmbench: mmcontext against fork and userfaultfd-wp, timed in "
	       "this run\n"
	       "  ours:   us per iteration with mmcontext\n"
	       "  base:   us per iteration with the alternative (fork, or "
	       "uffd-wp+PAGEMAP_SCAN)\n"
	       "  ratio:  base/ours; in the scale row, ours at the largest "
	       "size over ours at\n"
	       "          the smallest (the base column then holds the "
	       "smallest)\n"
	       "  each measurement: at least %ld iterations and %.2f s; %d "
	       "dirty pages per\n"
	       "  iteration, %s\n", opt_iters, opt_secs, DIRTY_PAGES,
	       opt_same ? "the same pages every time (-w)" :
			  "new random pages every time");
	printf("%-12s %6s %10s %11s %8s %7s  %s\n", "scenario", "size",
	       "ours us", "base us", "ratio", "target", "status");
	fflush(stdout);
}

/*
 * One row.  @want > 0: met when ratio >= want; @want < 0: met when
 * ratio <= -want; 0: no target.  A negative time was not measured.
 */
static void print_row(const char *name, const char *size, double ours,
		      double base, double ratio, double want, double stretch)
{
	char o[24] = "-", b[24] = "-", r[24] = "-", t[24] = "-";
	const char *status = "-";

	if (ours >= 0)
		snprintf(o, sizeof(o), "%.2f", ours);
	if (base >= 0)
		snprintf(b, sizeof(b), "%.2f", base);
	if (want)
		snprintf(t, sizeof(t), "%s%g", want > 0 ? ">=" : "<=",
			 want > 0 ? want : -want);
	if (ours >= 0 && base >= 0) {
		bool ok = want > 0 ? ratio >= want : ratio <= -want;

		snprintf(r, sizeof(r), ratio < 10 ? "%.2f" : "%.1f", ratio);
		if (want && ok) {
			met++;
			status = stretch && ratio >= stretch ?
				 "ok, stretch met" : "ok";
		} else if (want) {
			missed++;
			status = "MISS";
		}
	}
	printf("%-12s %6s %10s %11s %8s %7s  %s\n", name, size, o, b, r, t,
	       status);
	fflush(stdout);
}

static void print_na(const char *name, const char *size, double ours,
		     const char *why)
{
	char o[24] = "-";

	if (ours >= 0)
		snprintf(o, sizeof(o), "%.2f", ours);
	printf("%-12s %6s %10s %11s %8s %7s  n/a\n  (%s)\n", name, size, o,
	       "n/a", "-", "-", why);
	fflush(stdout);
}

/* ---- timing ---- */

typedef int (*step_fn)(void *ctx);

/*
 * Run @step until it has run @min_iters times and opt_secs have passed;
 * store the mean cost in *@us.  Returns 0, or the first step's -errno.
 * The clock is read once per batch; batches grow toward the estimate of
 * what is still needed, at most doubling.
 */
static int measure(step_fn step, void *ctx, long min_iters, double *us)
{
	long done = 0, batch = 1, i;
	double t0, el, want;
	int err;

	t0 = now();
	for (;;) {
		for (i = 0; i < batch; i++) {
			err = step(ctx);
			if (err)
				return err;
		}
		done += batch;
		el = now() - t0;
		if (done >= min_iters && el >= opt_secs)
			break;
		want = el > 0 ? (opt_secs - el) / (el / done) + 1 : done;
		if (want < min_iters - done)
			want = min_iters - done;
		batch = want < done ? want : done;
		if (batch < 1)
			batch = 1;
	}
	*us = el / done * 1e6;
	return 0;
}

/* ---- memory ---- */

static uint64_t page_tag(long idx)
{
	return (uint64_t)idx * 0x9e3779b97f4a7c15ULL + 1;
}

/* xorshift64*: the same sequence for every method of a scenario. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* The userfaultfd method's files and its pristine copy. */
struct uffd_wp {
	int uffd;
	int pagemap;
	const char *pristine;
	bool rearm_by_scan;	/* else one UFFDIO_WRITEPROTECT per range */
};

/* A fuzz iteration's state; on the stack so that rollback leaves it be. */
struct fuzz {
	char *p;
	long npages;
	uint64_t rng;
	uint64_t seq;
	long idx[DIRTY_PAGES];
	struct uffd_wp *u;
};

static void fuzz_pick(struct fuzz *f)
{
	int i;

	if (f->seq++ && opt_same)
		return;
	for (i = 0; i < DIRTY_PAGES; i++)
		f->idx[i] = rng_next(&f->rng) % f->npages;
}

/* Two words per page, both different from the pristine pattern. */
static void fuzz_dirty(const struct fuzz *f)
{
	int i;

	for (i = 0; i < DIRTY_PAGES; i++) {
		char *pg = f->p + f->idx[i] * ps;
		long off = 8 + f->seq * 37 % (ps / 8 - 1) * 8;

		*(uint64_t *)pg = ~page_tag(f->idx[i]);
		*(uint64_t *)(pg + off) = f->seq | 1;
	}
}

/* Anonymous private, 4 KiB pages, every page written with its tag. */
static char *region_map(long bytes)
{
	char *p;
	long i;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, bytes, MADV_NOHUGEPAGE);
	for (i = 0; i < bytes / ps; i++)
		*(uint64_t *)(p + i * ps) = page_tag(i);
	return p;
}

/*
 * Whether the region equals its pristine image: memcmp page by page
 * against the expected page, rather than against a copy that a 1 GiB
 * region has no room for.
 */
static bool region_pristine(const char *p, long bytes, char *expect)
{
	long i;

	memset(expect, 0, ps);
	for (i = 0; i < bytes / ps; i++) {
		*(uint64_t *)expect = page_tag(i);
		if (memcmp(p + i * ps, expect, ps)) {
			printf("mmbench: FAIL: page %ld of %ld differs from "
			       "its pristine content\n", i, bytes / ps);
			return false;
		}
	}
	return true;
}

/* ---- steps ---- */

/* Fork; the child runs @dirty on @ctx and exits; wait for it. */
static int fork_dirty(void (*dirty)(const void *), const void *ctx)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dirty(ctx);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -ECHILD;
}

struct seed {
	char *heap;
	uint64_t seq;
};

static void seed_dirty(const void *arg)
{
	const struct seed *s = arg;
	long i;

	for (i = 0; i < DIRTY_PAGES; i++)
		memset(s->heap + i * (SEED_BYTES / DIRTY_PAGES), s->seq | 1,
		       64);
}

static int seed_ours(void *arg)
{
	struct seed *s = arg;

	s->seq++;
	if (mmctx(MMCONTEXT_SAVE))
		return -errno;
	seed_dirty(s);
	if (mmctx(MMCONTEXT_RESTORE))
		return -errno;
	return 0;
}

static int seed_fork(void *arg)
{
	struct seed *s = arg;

	s->seq++;
	return fork_dirty(seed_dirty, s);
}

static void fuzz_dirty_v(const void *arg)
{
	fuzz_dirty(arg);
}

static int fuzz_ours(void *arg)
{
	struct fuzz *f = arg;

	fuzz_pick(f);
	fuzz_dirty(f);
	return mmctx(MMCONTEXT_ROLLBACK) ? -errno : 0;
}

static int fuzz_fork(void *arg)
{
	struct fuzz *f = arg;

	fuzz_pick(f);
	return fork_dirty(fuzz_dirty_v, f);
}

/* ---- userfaultfd-wp + PAGEMAP_SCAN ---- */

#define SCAN_COPY	1	/* copy reported ranges back from the pristine */
#define SCAN_REARM	2	/* ... and write-protect each one again */
#define SCAN_WP		4	/* write-protect what the scan reports */

/*
 * One PAGEMAP_SCAN pass over [p, p + bytes) for the pages written since
 * they were last write-protected, doing @how to each reported range.
 */
static int uffd_scan(const struct uffd_wp *u, char *p, long bytes,
		     unsigned int how)
{
	struct page_region vec[SCAN_VEC_LEN];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + bytes,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_VEC_LEN,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	struct uffdio_writeprotect wp = {
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	long n, i;

	if (how & SCAN_WP)
		arg.flags |= PM_SCAN_WP_MATCHING;
	while (arg.start < arg.end) {
		n = ioctl(u->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -errno;
		for (i = 0; i < n && how & SCAN_COPY; i++) {
			long off = vec[i].start - (uintptr_t)p;

			wp.range.start = vec[i].start;
			wp.range.len = vec[i].end - vec[i].start;
			memcpy(p + off, u->pristine + off, wp.range.len);
			if (how & SCAN_REARM &&
			    ioctl(u->uffd, UFFDIO_WRITEPROTECT, &wp))
				return -errno;
		}
		arg.start = arg.walk_end;
	}
	return 0;
}

/*
 * Copy back every page written since the last call and write-protect it
 * again.  Re-arming in the scan that finds the pages (PM_SCAN_WP_MATCHING)
 * does not work here: the copy writes them once more, so every page ever
 * dirtied would be reported, and copied, on every later call.  So the
 * pages are re-armed after the copy, one UFFDIO_WRITEPROTECT per range or
 * by a second scan with PM_SCAN_WP_MATCHING; both are timed and the faster
 * is the baseline.
 */
static int uffd_rollback(const struct uffd_wp *u, char *p, long bytes)
{
	if (!u->rearm_by_scan)
		return uffd_scan(u, p, bytes, SCAN_COPY | SCAN_REARM);
	return uffd_scan(u, p, bytes, SCAN_COPY) ?:
	       uffd_scan(u, p, bytes, SCAN_WP);
}

static int fuzz_uffd(void *arg)
{
	struct fuzz *f = arg;

	fuzz_pick(f);
	fuzz_dirty(f);
	return uffd_rollback(f->u, f->p, f->npages * ps);
}

/* ---- the breakdown ---- */

#define NR_PARTS	3

/* What a fuzz iteration's time goes to at one size; see print_parts(). */
struct part_row {
	long bytes;
	long iters;		/* 0: not measured */
	double us[NR_PARTS];
};

/* Sums in seconds; on the stack, as struct fuzz and for the same reason. */
struct parts {
	struct fuzz f;
	long n;
	double sum[NR_PARTS];
	struct page_region vec[SCAN_VEC_LEN];
};

static void parts_add(struct parts *pt, const double *t)
{
	int i;

	for (i = 0; i < NR_PARTS; i++)
		pt->sum[i] += t[i + 1] - t[i];
	pt->n++;
}

/*
 * The writes (copy-on-write faults) and the ROLLBACK.  The ROLLBACK of
 * nothing is timed in a loop of its own (rollback_only()): between two
 * writing periods it would end the reuse of kept copies that -w shows.
 */
static int parts_ours(void *arg)
{
	struct parts *pt = arg;
	double t[NR_PARTS + 1];

	fuzz_pick(&pt->f);
	t[0] = now();
	fuzz_dirty(&pt->f);
	t[1] = now();
	if (mmctx(MMCONTEXT_ROLLBACK))
		return -errno;
	t[2] = now();
	t[3] = t[2];
	parts_add(pt, t);
	return 0;
}

static int rollback_only(void *arg)
{
	return mmctx(MMCONTEXT_ROLLBACK) ? -errno : 0;
}

/*
 * The writes (write-protect faults), the PAGEMAP_SCAN that finds them,
 * and the copy back with one UFFDIO_WRITEPROTECT per range: what
 * uffd_rollback() does without rearm_by_scan, with the scan apart.
 */
static int parts_uffd(void *arg)
{
	struct parts *pt = arg;
	struct fuzz *f = &pt->f;
	struct pm_scan_arg scan = {
		.size = sizeof(scan),
		.flags = PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)f->p,
		.end = (uintptr_t)f->p + f->npages * ps,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	struct uffdio_writeprotect wp = {
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	double t[NR_PARTS + 1];
	long n, nr = 0, i;

	fuzz_pick(f);
	t[0] = now();
	fuzz_dirty(f);
	t[1] = now();
	/* at most DIRTY_PAGES ranges, so the vector does not fill */
	while (scan.start < scan.end && nr < SCAN_VEC_LEN) {
		scan.vec = (uintptr_t)(pt->vec + nr);
		scan.vec_len = SCAN_VEC_LEN - nr;
		n = ioctl(f->u->pagemap, PAGEMAP_SCAN, &scan);
		if (n < 0)
			return -errno;
		nr += n;
		scan.start = scan.walk_end;
	}
	t[2] = now();
	for (i = 0; i < nr; i++) {
		long off = pt->vec[i].start - (uintptr_t)f->p;

		wp.range.start = pt->vec[i].start;
		wp.range.len = pt->vec[i].end - pt->vec[i].start;
		memcpy(f->p + off, f->u->pristine + off, wp.range.len);
		if (ioctl(f->u->uffd, UFFDIO_WRITEPROTECT, &wp))
			return -errno;
	}
	t[3] = now();
	parts_add(pt, t);
	return 0;
}

/* Time @step's phases over @f's region into @row; 0 or -errno. */
static int parts_measure(step_fn step, const struct fuzz *f,
			 struct part_row *row)
{
	struct parts pt = { .f = *f };
	double us;
	int err, i;

	err = measure(step, &pt, opt_iters, &us);
	if (err)
		return err;
	row->iters = pt.n;
	for (i = 0; i < NR_PARTS; i++)
		row->us[i] = pt.sum[i] / pt.n * 1e6;
	return 0;
}

static int null_syscall(void *arg)
{
	syscall(__NR_getpid);
	return 0;
}

static int clock_read(void *arg)
{
	*(double *)arg += now();
	return 0;
}

static void print_part_row(const char *name, const struct part_row *row)
{
	char size[24];

	fmt_size(row->bytes, size, sizeof(size));
	printf("%-12s %6s %9.1f %9.1f %15.1f %7ld\n", name, size,
	       row->us[0], row->us[1], row->us[2], row->iters);
}

static void print_parts(const struct part_row *rows, int n,
			const struct part_row *uffd, const char *uffd_why)
{
	double null_us = -1, clock_us = -1, sink = 0;
	char size[24];
	int i;

	printf("%sbreakdown: us per iteration, each phase timed apart, %d "
	       "pages written per\n"
	       "iteration\n"
	       "  fault:          the writes right after a ROLLBACK, each a "
	       "copy-on-write fault\n"
	       "  rollback:       the ROLLBACK that follows them\n"
	       "  empty rollback: a ROLLBACK with nothing written since the "
	       "last\n"
	       "  wp fault:       the writes, each a userfaultfd write-protect "
	       "fault\n"
	       "  scan:           the PAGEMAP_SCAN that finds them\n"
	       "  copy+re-arm:    memcpy from the pristine copy, one "
	       "UFFDIO_WRITEPROTECT per\n"
	       "                  range\n", opt_parts_only ? "" : "\n",
	       DIRTY_PAGES);
	printf("%-12s %6s %9s %9s %15s %7s\n", "scenario", "size", "fault",
	       "rollback", "empty rollback", "iters");
	for (i = 0; i < n; i++)
		if (rows[i].iters)
			print_part_row("fuzz", &rows[i]);
	printf("%-12s %6s %9s %9s %15s %7s\n", "scenario", "size",
	       "wp fault", "scan", "copy+re-arm", "iters");
	if (uffd->iters) {
		print_part_row("uffd-wp", uffd);
	} else {
		fmt_size(uffd->bytes, size, sizeof(size));
		printf("%-12s %6s %9s %9s %15s %7s  n/a\n  (%s)\n",
		       "uffd-wp", size, "-", "-", "-", "-", uffd_why);
	}
	fflush(stdout);
	measure(null_syscall, NULL, opt_iters, &null_us);
	measure(clock_read, &sink, opt_iters, &clock_us);
	printf("null syscall (getpid): %.1f us; clock read: %.1f us, "
	       "counted once in each phase\n", null_us, clock_us);
	fflush(stdout);
}

static void uffd_close(struct uffd_wp *u)
{
	if (u->pagemap >= 0)
		close(u->pagemap);
	if (u->uffd >= 0)
		close(u->uffd);
}

/*
 * Async write-protect [p, p + bytes) and open pagemap.  Returns 0, or -1
 * with the reason in @why (not available here, not a failure).
 */
static int uffd_open(struct uffd_wp *u, char *p, long bytes, char *why,
		     size_t len)
{
	const char *what;

	u->pagemap = -1;
	u->uffd = uffd_wp_async(p, bytes, &what);
	if (u->uffd < 0)
		goto fail;
	what = "/proc/self/pagemap";
	u->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (u->pagemap < 0)
		goto fail;
	what = "PAGEMAP_SCAN";
	if (uffd_scan(u, p, bytes, 0))	/* nothing written yet: a probe */
		goto fail;
	return 0;
fail:
	snprintf(why, len, "%s: %s", what, strerror(errno));
	uffd_close(u);
	return -1;
}

/* ---- scenarios ---- */

static int setup_error(const char *what, int err)
{
	printf("mmbench: %s: %s\n", what, strerror(-err));
	return 2;
}

/*
 * The snapshot covers .data, .bss and the heap, so SAVE and RESTORE cost
 * what a small static program's do.  Run first, before any big region.
 */
static int scenario_seed(void)
{
	double ours = -1, base = -1;
	struct seed s = { 0 };
	char *copy, size[24];
	void *brk0;
	long i;
	int err;

	/* from brk, as a seed's heap would be, not a malloc mmap */
	mallopt(M_MMAP_THRESHOLD, 4 * SEED_BYTES);
	s.heap = malloc(SEED_BYTES);
	copy = malloc(SEED_BYTES);
	if (!s.heap || !copy)
		return setup_error("malloc", -ENOMEM);
	for (i = 0; i < SEED_BYTES; i++)
		s.heap[i] = i * 7 + 3;
	memcpy(copy, s.heap, SEED_BYTES);
	brk0 = sbrk(0);

	fflush(stdout);
	if (!opt_baselines_only) {
		err = measure(seed_ours, &s, opt_iters, &ours);
		if (err)
			return setup_error("seed: mmcontext", err);
		if (memcmp(s.heap, copy, SEED_BYTES) || sbrk(0) != brk0) {
			printf("mmbench: FAIL: seed: heap not back after "
			       "RESTORE\n");
			return 1;
		}
	}
	err = measure(seed_fork, &s, opt_iters, &base);
	if (err)
		return setup_error("seed: fork", err);

	fmt_size(SEED_BYTES, size, sizeof(size));
	print_row("seed", size, ours, base, base / ours, 12.3, 25);
	free(copy);
	free(s.heap);
	return 0;
}

static double fuzz_target(long bytes)
{
	if (bytes >= 1L << 30)
		return 1000;
	if (bytes >= 64L << 20)
		return 100;
	return 0;
}

/*
 * Our side of a fuzz loop over @p: SAVE, the timed ROLLBACK loop unless
 * @us is NULL, the breakdown into @row unless that is NULL, DROP, then
 * check the region.  Returns 0, 1 (wrong memory) or 2 (error).
 */
static int fuzz_measure_ours(char *p, long bytes, const char *name,
			     double *us, struct part_row *row)
{
	struct fuzz f = { .p = p, .npages = bytes / ps, .rng = RNG_SEED };
	char *expect = NULL;
	int err;

	fflush(stdout);
	if (mmctx(MMCONTEXT_SAVE))
		return setup_error("mmcontext SAVE", -errno);
	err = us ? measure(fuzz_ours, &f, opt_iters, us) : 0;
	/* so that the breakdown's first writes follow a ROLLBACK too */
	if (!err && row && mmctx(MMCONTEXT_ROLLBACK))
		err = -errno;
	if (!err && row)
		err = parts_measure(parts_ours, &f, row);
	if (!err && row)
		err = measure(rollback_only, NULL, opt_iters, &row->us[2]);
	if (mmctx(MMCONTEXT_DROP) && !err)
		err = -errno;
	if (err)
		return setup_error(name, err);
	expect = malloc(ps);
	if (!expect)
		return setup_error("malloc", -ENOMEM);
	err = region_pristine(p, bytes, expect) ? 0 : 1;
	if (err)
		printf("mmbench: FAIL: %s: memory wrong after ROLLBACK\n",
		       name);
	free(expect);
	return err;
}

/*
 * Our and fork's per-iteration cost at @bytes, ours into *@ours_us, and
 * our breakdown into @row; with -p only the breakdown.
 */
static int scenario_fuzz(long bytes, double *ours_us, struct part_row *row)
{
	struct fuzz f = { .npages = bytes / ps, .rng = RNG_SEED };
	long iters = opt_iters;
	double base = -1;
	char size[24];
	int err;

	*ours_us = -1;
	f.p = region_map(bytes);
	if (!f.p)
		return setup_error("mmap", -errno);
	if (!opt_baselines_only) {
		err = fuzz_measure_ours(f.p, bytes, "fuzz",
					opt_parts_only ? NULL : ours_us, row);
		if (err)
			return err;
	}
	if (opt_parts_only) {
		munmap(f.p, bytes);
		return 0;
	}
	if (bytes >= BIG_FORK && iters > BIG_FORK_ITERS)
		iters = BIG_FORK_ITERS;
	err = measure(fuzz_fork, &f, iters, &base);
	if (err)
		return setup_error("fuzz: fork", err);
	munmap(f.p, bytes);

	fmt_size(bytes, size, sizeof(size));
	print_row("fuzz", size, *ours_us, base, base / *ours_us,
		  fuzz_target(bytes), 0);
	return 0;
}

/* Time one way of re-arming, then check the region against @u's copy. */
static int uffd_measure(struct uffd_wp *u, char *p, bool by_scan, double *us)
{
	struct fuzz f = {
		.p = p, .npages = UFFD_BYTES / ps, .rng = RNG_SEED, .u = u,
	};
	int err;

	u->rearm_by_scan = by_scan;
	err = measure(fuzz_uffd, &f, opt_iters, us);
	if (err)
		return setup_error("uffd-wp: PAGEMAP_SCAN", err);
	if (memcmp(p, u->pristine, UFFD_BYTES)) {
		printf("mmbench: FAIL: uffd-wp: memory differs from the "
		       "pristine copy\n");
		return 1;
	}
	return 0;
}

/* The uffd-wp breakdown into @row, then check the region. */
static int uffd_parts(struct uffd_wp *u, char *p, struct part_row *row)
{
	struct fuzz f = {
		.p = p, .npages = UFFD_BYTES / ps, .rng = RNG_SEED, .u = u,
	};
	int err;

	err = parts_measure(parts_uffd, &f, row);
	if (err)
		return setup_error("uffd-wp: breakdown", err);
	if (memcmp(p, u->pristine, UFFD_BYTES)) {
		printf("mmbench: FAIL: uffd-wp: breakdown: memory differs "
		       "from the pristine copy\n");
		return 1;
	}
	return 0;
}

/*
 * The pristine copy is made read-only before SAVE, so our snapshot covers
 * the same 64 MiB as the userfaultfd method tracks.  The breakdown goes
 * into @row, or why there is none into @why.
 */
static int scenario_uffd(struct part_row *row, char *why, size_t len)
{
	double ours = -1, each = -1, scan = -1;
	struct uffd_wp u;
	char size[24];
	char *p, *copy;
	int err;

	fmt_size(UFFD_BYTES, size, sizeof(size));
	p = region_map(UFFD_BYTES);
	copy = mmap(NULL, UFFD_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p || copy == MAP_FAILED)
		return setup_error("mmap", -errno);
	memcpy(copy, p, UFFD_BYTES);
	mprotect(copy, UFFD_BYTES, PROT_READ);
	u.pristine = copy;
	if (!opt_baselines_only && !opt_parts_only) {
		err = fuzz_measure_ours(p, UFFD_BYTES, "uffd-wp", &ours, NULL);
		if (err)
			return err;
	}

	if (uffd_open(&u, p, UFFD_BYTES, why, len)) {
		if (!opt_parts_only)
			print_na("uffd-wp", size, ours, why);
		goto out;
	}
	err = 0;
	if (!opt_parts_only)
		err = uffd_measure(&u, p, false, &each) ?:
		      uffd_measure(&u, p, true, &scan);
	if (!err && !opt_baselines_only)
		err = uffd_parts(&u, p, row);
	uffd_close(&u);
	if (err)
		return err;
	if (opt_parts_only)
		goto out;
	print_row("uffd-wp", size, ours, each < scan ? each : scan,
		  (each < scan ? each : scan) / ours, 3, 0);
	printf("  (uffd-wp re-arm: per range %.2f us, by 2nd scan %.2f us; "
	       "base = faster)\n", each, scan);
out:
	munmap(copy, UFFD_BYTES);
	munmap(p, UFFD_BYTES);
	return 0;
}

/* Ours at the largest size over ours at the smallest. */
static void print_scale(const long *sizes, const double *us, int n)
{
	char a[24], b[24], size[56];
	int lo = 0, hi = 0, i;

	for (i = 1; i < n; i++) {
		if (sizes[i] < sizes[lo])
			lo = i;
		if (sizes[i] > sizes[hi])
			hi = i;
	}
	if (sizes[lo] == sizes[hi] || us[lo] < 0)
		return;
	fmt_size(sizes[hi], a, sizeof(a));
	fmt_size(sizes[lo], b, sizeof(b));
	snprintf(size, sizeof(size), "%s/%s", a, b);
	print_row("fuzz scale", size, us[hi], us[lo], us[hi] / us[lo], -1.5,
		  0);
}

static int run(const long *sizes, int nsizes)
{
	struct part_row parts[MAX_SIZES] = { 0 };
	struct part_row uparts = { .bytes = UFFD_BYTES };
	double us[MAX_SIZES];
	char why[128] = "";
	int i, err = 0;

	if (!opt_parts_only) {
		print_header();
		err = scenario_seed();
	}
	for (i = 0; i < nsizes && !err; i++) {
		parts[i].bytes = sizes[i];
		err = scenario_fuzz(sizes[i], &us[i], &parts[i]);
	}
	if (!err && !opt_parts_only)
		print_scale(sizes, us, nsizes);
	if (!err)
		err = scenario_uffd(&uparts, why, sizeof(why));
	if (err)
		return err;
	if (!opt_parts_only)
		printf("mmbench: %d targets met, %d missed%s\n", met, missed,
		       opt_baselines_only ? " (baselines only)" : "");
	if (!opt_baselines_only)
		print_parts(parts, nsizes, &uparts, why);
	return 0;
}

int main(int argc, char **argv)
{
	long sizes[MAX_SIZES] = { 8L << 20, 64L << 20, 1L << 30 };
	int nsizes = 3, opt;
	cpu_set_t cpus;
	char *end;

	ps = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "Bpwqs:t:i:h")) != -1) {
		switch (opt) {
		case 'w':
			opt_same = true;
			break;
		case 'B':
			opt_baselines_only = true;
			break;
		case 'p':
			opt_parts_only = true;
			break;
		case 'q':
			sizes[0] = 8L << 20;
			sizes[1] = 64L << 20;
			nsizes = 2;
			break;
		case 's':
			nsizes = parse_sizes(optarg, sizes);
			if (nsizes < 0)
				goto bad;
			break;
		case 't':
			opt_secs = strtod(optarg, &end);
			if (*end || !(opt_secs >= 0 && opt_secs <= 3600))
				goto bad;
			break;
		case 'i':
			opt_iters = strtol(optarg, &end, 10);
			if (*end || opt_iters < 1 || opt_iters > 1L << 30)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || (opt_baselines_only && opt_parts_only))
		goto bad;

	/* with no snapshot, only mmcontext answers DROP with ENOENT */
	errno = 0;
	if (!opt_baselines_only &&
	    (mmctx(MMCONTEXT_DROP) != -1 || errno != ENOENT)) {
		printf("mmbench: this kernel lacks mmcontext (syscall %d: %s); "
		       "skipping\n", __NR_mmcontext, strerror(errno));
		return 4;
	}
	/* one CPU, children too: under TCG the vCPUs share a host thread */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		return setup_error("sched_setaffinity", -errno);
	return run(sizes, nsizes);
bad:
	usage(stderr);
	return 2;
}
