// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ctxtop - a top for memory events: page faults and their latency,
 * copy-on-write copies, first-touch allocations, stack growth, brk and
 * shared file faults, per process.
 *
 * USAGE: ctxtop [-b] [-l] [-p PID[,PID...]] [-c CGROUP] [-n NAME] [-V VIEW]
 *               [-s COLUMN] [-r ROWS] [-v] [interval] [count]
 */
#include <argp.h>
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ctxtop.h"
#include "ctxtop.skel.h"
#include "ctxtop_hooks.h"
#include "trace_helpers.h"

/* The init PID namespace's inode (PROC_PID_INIT_INO). */
#define PROC_PID_INIT_INO	0xEFFFFFFCU

static struct env {
	pid_t pids[MAX_PIDS];
	int nr_pids;
	const char *cgroup;
	const char *sort;
	const char *view;
	const char *name_filter;
	double interval;
	long times;
	int rows;
	const char *btf_path;
	enum fault_tier tier;
	bool any_tier;
	bool batch;
	bool latency;
	bool self_stats;
	bool verbose;
} env = {
	.interval = 1.0,
	.times = LONG_MAX,
	.view = "faults",
	.any_tier = true,
};

/* long options without a short one */
enum { OPT_SELF_STATS = 256, OPT_HOOK, OPT_BTF };

static volatile sig_atomic_t exiting;

const char *argp_program_version = "ctxtop 0.1";
const char argp_program_doc[] =
"Show page faults, fault latency and other memory events per process.\n"
"\n"
"USAGE: ctxtop [-b] [-l] [-p PID[,PID...]] [-c CGROUP] [-n NAME] [-V VIEW]\n"
"              [-s COLUMN] [-r ROWS] [-v] [interval] [count]\n"
"\n"
"View 'faults' (the default): FLT/s page faults/s, as getrusage() counts\n"
"them (min_flt + maj_flt: get_user_pages() faults too), MAJ/s major ones,\n"
"P50 and P99 fault latency (with -l), COW/s copy-on-write copies/s, 1ST/s\n"
"first-touch anonymous allocations/s, STACK stack pages grown, BRK+ and\n"
"BRK- brk() grows and shrinks, SHF/s faults/s on shared file mappings.\n"
"View 'snap' (mmcontext, cp_range): SAVE snapshots taken, ARMED pages they\n"
"armed, DIRTY/s pages changed since a snapshot, RBK rollbacks, RST/s pages\n"
"put back, EMP/s pages emptied by rollbacks, CKPT checkpoints written,\n"
"CKPG/s pages of data they wrote.\n"
"View 'share' (sfork): SFORK regions created, SFPOP pages they populated,\n"
"SHR/s first touches of lazy regions' pages, INST/s pages those touches\n"
"mapped in the other sharers.\n"
"View 'ipc' (ipc_send): SEND/s messages sent/s, RTT50 and RTT99 round trip\n"
"from a send to its reply, RECV/s messages received/s, RPLY/s replies/s,\n"
"CPYB/s bytes of messages copied/s, COWPG/s pages mapped copy-on-write/s.\n"
"View 'hist': the interval's fault latency as a log2 histogram (implies -l).\n"
"Columns ending in /s are per second; the others are counts over the\n"
"interval.  A column whose kernel hook is missing shows '-', and the header\n"
"says why.  With faults seen through the fault tracepoint (the last resort),\n"
"FLT/s counts user fault exceptions instead, MAJ/s and latency are missing.\n"
"\n"
"Keys: < > sort column, v next view, / filter by name, p pause, q quit.\n"
"Without a terminal on stdout, ctxtop prints in batch mode.\n"
"\n"
"EXIT STATUS: 0 done, 1 a runtime error, 2 a usage error.\n"
"\n"
"EXAMPLES:\n"
"    ctxtop              # interactive, 1 second updates\n"
"    ctxtop -b 2 5       # batch mode: 5 updates, 2 seconds apart\n"
"    ctxtop -p 185,186   # only processes 185 and 186, until both exit\n"
"    ctxtop -l -V hist   # fault latency histograms\n"
"    ctxtop -c /sys/fs/cgroup/app -s COW/s\n";

static const struct argp_option opts[] = {
	{ "batch", 'b', NULL, 0, "Batch mode: plain text, no terminal control", 0 },
	{ "pid", 'p', "PID[,PID...]", 0, "Only these processes; exit when they have", 0 },
	{ "cgroup", 'c', "CGROUP", 0, "Only this cgroup v2 (path)", 0 },
	{ "name", 'n', "NAME", 0, "Only processes whose name contains NAME", 0 },
	{ "view", 'V', "VIEW", 0, "faults (default), snap, share, ipc, hist", 0 },
	{ "sort", 's', "COLUMN", 0, "Sort by this column (default: the view's own)", 0 },
	{ "rows", 'r', "ROWS", 0, "At most ROWS processes (default: fit)", 0 },
	{ "latency", 'l', NULL, 0, "Time each fault (P50, P99, hist)", 0 },
	{ "self-stats", OPT_SELF_STATS, NULL, 0,
	  "Show ctxtop's own BPF cost (turns on the host-wide BPF_ENABLE_STATS)", 0 },
	{ "hook", OPT_HOOK, "HOOK", 0,
	  "See faults only through HOOK: fentry, kprobe or tracepoint", 0 },
	{ "btf", OPT_BTF, "FILE", 0, "Kernel BTF for CO-RE, if not /sys/kernel/btf/vmlinux", 0 },
	{ "verbose", 'v', NULL, 0, "Verbose libbpf output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

/* A usage error: one line, exit status 2 (argp_error() adds a second). */
static void __attribute__((noreturn, format(printf, 2, 3)))
usage_error(struct argp_state *state, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ctxtop: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static void parse_pids(struct argp_state *state, char *arg)
{
	char *tok, *save = NULL;
	long val;

	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (parse_long(tok, 1, INT_MAX, &val))
			usage_error(state, "invalid PID: %s", tok);
		if (env.nr_pids == MAX_PIDS)
			usage_error(state, "at most %d PIDs", MAX_PIDS);
		env.pids[env.nr_pids++] = val;
	}
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;
	long val;

	switch (key) {
	case 'h':
		argp_state_help(state, stderr, ARGP_HELP_STD_HELP);
		break;
	case 'b':
		env.batch = true;
		break;
	case 'v':
		env.verbose = true;
		break;
	case 'p':
		parse_pids(state, arg);
		break;
	case 'n':
		env.name_filter = arg;
		break;
	case 'l':
		env.latency = true;
		break;
	case OPT_SELF_STATS:
		env.self_stats = true;
		break;
	case OPT_BTF:
		env.btf_path = arg;
		break;
	case OPT_HOOK:
		for (val = 0; val < TIER_NONE && strcmp(arg, tier_names[val]); val++)
			;
		if (val == TIER_NONE)
			usage_error(state, "no hook %s (fentry, kprobe, tracepoint)", arg);
		env.tier = val;
		env.any_tier = false;
		break;
	case 'c':
		env.cgroup = arg;
		break;
	case 's':
		env.sort = arg;
		break;
	case 'V':
		env.view = arg;
		break;
	case 'r':
		if (parse_long(arg, 1, 100000, &val))
			usage_error(state, "invalid row count: %s", arg);
		env.rows = val;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0) {
			errno = 0;
			env.interval = strtod(arg, &end);
			if (errno || *end || !(env.interval >= 0.1) ||
			    env.interval > 86400)
				usage_error(state, "invalid interval: %s", arg);
		} else if (state->arg_num == 1) {
			if (parse_long(arg, 1, LONG_MAX, &env.times))
				usage_error(state, "invalid count: %s", arg);
		} else {
			argp_usage(state);
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- what this kernel lets us see ---------------------------------- */

static struct ctxtop_hooks hooks;

/* ---- columns --------------------------------------------------------- */

enum col_kind { COL_PID, COL_COMM, COL_RATE, COL_COUNT, COL_LAT, COL_RTT };

/* Views: sets of columns that each fit 80 columns. */
enum view {
	V_FAULTS = 1, V_SNAP = 2, V_SHARE = 4, V_IPC = 8, V_ALL = 15,
	V_HIST = 16,	/* no table: the latency histogram */
};
static const char *const view_names[] = { "faults", "snap", "share", "ipc",
					  "hist" };
static const char *const view_sort[] = { "FLT/s", "DIRTY/s", "INST/s",
					 "SEND/s", "FLT/s" };
#define NR_VIEWS	5
static int view = V_FAULTS;

/* A new column is one line here. */
static const struct column {
	const char *name;
	int width;
	enum col_kind kind;
	int arg;		/* counter, or percentile for COL_LAT/RTT */
	enum feature needs;
	int views;
} columns[] = {
	{ "PID",	7,  COL_PID,   0,		 F_FAULTS,    V_ALL },
	{ "COMM",	12, COL_COMM,  0,		 F_FAULTS,    V_ALL },
	{ "FLT/s",	5,  COL_RATE,  CTR_FAULTS,	 F_FAULTS,    V_FAULTS },
	{ "MAJ/s",	5,  COL_RATE,  CTR_MAJOR,	 F_MAJOR,     V_FAULTS },
	{ "P50",	5,  COL_LAT,   50,		 F_LATENCY,   V_FAULTS },
	{ "P99",	5,  COL_LAT,   99,		 F_LATENCY,   V_FAULTS },
	{ "COW/s",	5,  COL_RATE,  CTR_COW,		 F_COW,	      V_FAULTS },
	{ "1ST/s",	5,  COL_RATE,  CTR_ANON,	 F_ANON,      V_FAULTS },
	{ "STACK",	5,  COL_COUNT, CTR_STACK_PAGES,	 F_STACK,     V_FAULTS },
	{ "BRK+",	4,  COL_COUNT, CTR_BRK_GROW,	 F_BRK,	      V_FAULTS },
	{ "BRK-",	4,  COL_COUNT, CTR_BRK_SHRINK,	 F_BRK,	      V_FAULTS },
	{ "SHF/s",	5,  COL_RATE,  CTR_FILE_SHARED,	 F_FILE,      V_FAULTS },
	{ "SAVE",	5,  COL_COUNT, CTR_MMC_SAVE,	 F_MMCONTEXT, V_SNAP },
	{ "ARMED",	7,  COL_COUNT, CTR_MMC_ARMED,	 F_MMCONTEXT, V_SNAP },
	{ "DIRTY/s",	7,  COL_RATE,  CTR_MMC_DIRTY,	 F_MMCONTEXT, V_SNAP },
	{ "RBK",	6,  COL_COUNT, CTR_MMC_ROLLBACK, F_MMCONTEXT, V_SNAP },
	{ "RST/s",	7,  COL_RATE,  CTR_MMC_RESTORED, F_MMCONTEXT, V_SNAP },
	{ "EMP/s",	7,  COL_RATE,  CTR_MMC_EMPTIED,	 F_MMCONTEXT, V_SNAP },
	{ "CKPT",	5,  COL_COUNT, CTR_CP_CALLS,	 F_CP_RANGE,  V_SNAP },
	{ "CKPG/s",	7,  COL_RATE,  CTR_CP_PAGES,	 F_CP_RANGE,  V_SNAP },
	{ "SFORK",	5,  COL_COUNT, CTR_SF_CREATE,	 F_SFORK,     V_SHARE },
	{ "SFPOP",	7,  COL_COUNT, CTR_SF_POPULATED, F_SFORK,     V_SHARE },
	{ "SHR/s",	7,  COL_RATE,  CTR_SF_SHARE,	 F_SFORK,     V_SHARE },
	{ "INST/s",	7,  COL_RATE,  CTR_SF_INSTALLED, F_SFORK,     V_SHARE },
	{ "SEND/s",	7,  COL_RATE,  CTR_IPC_SEND,	 F_IPC,	      V_IPC },
	{ "RTT50",	6,  COL_RTT,   50,		 F_IPC,	      V_IPC },
	{ "RTT99",	6,  COL_RTT,   99,		 F_IPC,	      V_IPC },
	{ "RECV/s",	7,  COL_RATE,  CTR_IPC_RECV,	 F_IPC,	      V_IPC },
	{ "RPLY/s",	7,  COL_RATE,  CTR_IPC_REPLY,	 F_IPC,	      V_IPC },
	{ "CPYB/s",	7,  COL_RATE,  CTR_IPC_COPIED,	 F_IPC,	      V_IPC },
	{ "COWPG/s",	7,  COL_RATE,  CTR_IPC_COW,	 F_IPC,	      V_IPC },
};
#define NR_COLUMNS	((int)(sizeof(columns) / sizeof(columns[0])))

struct row {
	__u32 tgid;
	struct proc_stat st;
};

static struct row *rows;
static int nr_rows;
static int sort_col;
static double elapsed;		/* seconds covered by the current rows */

/* Estimate a percentile (ns) from log2 buckets, linear within a bucket. */
static double hist_percentile(const __u64 *lat, int pct)
{
	__u64 total = 0, cum = 0, target;
	int i;

	for (i = 0; i < MAX_SLOTS; i++)
		total += lat[i];
	if (!total)
		return NAN;
	target = (total * pct + 99) / 100;
	for (i = 0; i < MAX_SLOTS; i++) {
		double lo = i ? (double)(1ULL << i) : 0, hi = (double)(2ULL << i);

		if (cum + lat[i] >= target)
			return lo + (hi - lo) * (target - cum) / lat[i];
		cum += lat[i];
	}
	return NAN;
}

static double col_value(const struct column *c, const struct row *r)
{
	switch (c->kind) {
	case COL_PID:
		return r->tgid;
	case COL_COMM:
		return 0;
	case COL_RATE:
		return elapsed > 0 ? r->st.s.ctr[c->arg] / elapsed : 0;
	case COL_COUNT:
		return r->st.s.ctr[c->arg];
	case COL_LAT:
		return hist_percentile(r->st.s.lat, c->arg);
	case COL_RTT:
		return hist_percentile(r->st.s.rtt, c->arg);
	}
	return 0;
}

/*
 * @v in at most @width characters (and at least 3): a rate under 10 with
 * a decimal, else digits, else with a k/M/G/T/P/E suffix.
 */
static void fmt_num(char *buf, size_t len, double v, int width)
{
	static const char suffix[] = "kMGTPE";
	double scaled = v;
	int i;

	if (!(v > 0)) {
		snprintf(buf, len, "0");
		return;
	}
	if (v < 9.95 && v != floor(v)) {
		snprintf(buf, len, "%.1f", v);
		return;
	}
	if (snprintf(buf, len, "%.0f", v) <= width)
		return;
	for (i = 0; suffix[i]; i++) {
		scaled /= 1000;
		if (scaled < 9.95 &&
		    snprintf(buf, len, "%.1f%c", scaled, suffix[i]) <= width)
			return;
		if (snprintf(buf, len, "%.0f%c", scaled, suffix[i]) <= width)
			return;
	}
}

/* A latency in at most 5 characters. */
static void fmt_ns(char *buf, size_t len, double ns)
{
	static const struct {
		double div;
		const char *unit;
	} units[] = { { 1, "ns" }, { 1e3, "us" }, { 1e6, "ms" }, { 1e9, "s" } };
	size_t i;

	if (isnan(ns)) {
		snprintf(buf, len, "-");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		double v = ns / units[i].div;

		if (i && v < 9.95)
			snprintf(buf, len, "%.1f%s", v, units[i].unit);
		else
			snprintf(buf, len, "%.0f%s", v, units[i].unit);
		if (strlen(buf) <= 5 && (v < 999.5 || i == 3))
			return;
	}
}

static void fmt_cell(char *buf, size_t len, const struct column *c,
		     const struct row *r)
{
	if (hooks.why[c->needs] ||
	    (c->kind == COL_LAT && !hooks.latency)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (c->kind) {
	case COL_PID:
		snprintf(buf, len, "%u", r->tgid);
		break;
	case COL_COMM:
		snprintf(buf, len, "%.*s", c->width, r->st.comm);
		break;
	case COL_LAT:
	case COL_RTT:
		fmt_ns(buf, len, col_value(c, r));
		break;
	default:
		fmt_num(buf, len, col_value(c, r), c->width);
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct column *c = &columns[sort_col];
	const struct row *ra = a, *rb = b;
	double va, vb;

	if (c->kind == COL_COMM)
		return strcmp(ra->st.comm, rb->st.comm);
	if (c->kind == COL_PID)
		return ra->tgid < rb->tgid ? -1 : ra->tgid > rb->tgid;
	va = col_value(c, ra);
	vb = col_value(c, rb);
	if (isnan(va))
		va = -1;
	if (isnan(vb))
		vb = -1;
	if (va != vb)
		return va < vb ? 1 : -1;
	return ra->tgid < rb->tgid ? -1 : ra->tgid > rb->tgid;
}

static int find_column(const char *name)
{
	int i;

	for (i = 0; i < NR_COLUMNS; i++)
		if (!strcasecmp(columns[i].name, name))
			return i;
	return -1;
}

static bool in_view(int c)
{
	/* the histogram view's header names the column it sorts by */
	return columns[c].views & (view == V_HIST ? V_FAULTS : view);
}

/* The next (dir 1) or previous (dir -1) column of the view after c. */
static int step_column(int c, int dir)
{
	do
		c = (c + dir + NR_COLUMNS) % NR_COLUMNS;
	while (!in_view(c));
	return c;
}

/* Switch to view v, sorting by its busiest column. */
static void set_view(int v)
{
	view = v;
	sort_col = find_column(view_sort[__builtin_ctz(v)]);
}

/* The view after the current one, the first after the last. */
static int next_view(void)
{
	return view == 1 << (NR_VIEWS - 1) ? 1 : view << 1;
}

/* ---- reading the maps ------------------------------------------------ */

struct sample {
	struct ctx_stat total;
	__u64 rows_sum;		/* every counter of every row collected so far */
	__u64 bpf_run_ns;
	__u64 bpf_run_cnt;
	__u64 bpf_misses;	/* program runs skipped by recursion */
	struct timespec ts;
};

static void add_row(__u32 tgid, const struct proc_stat *st, __u64 *sum)
{
	struct row *r = &rows[nr_rows++];
	int i;

	r->tgid = tgid;
	r->st = *st;
	for (i = 0; i < NR_CTRS; i++)
		*sum += st->s.ctr[i];
}

/* Before 5.6 (or with -EINVAL): a key at a time; not atomic before 5.14. */
static int collect_one_by_one(int fd, __u64 *sum)
{
	static __u32 keys[MAX_PROCS];
	struct proc_stat st;
	__u32 key, *prev = NULL;
	int i, n = 0;

	while (n < MAX_PROCS && !bpf_map_get_next_key(fd, prev, &key)) {
		keys[n++] = key;
		prev = &keys[n - 1];
	}
	for (i = 0; i < n && nr_rows < MAX_PROCS; i++) {
		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], &st)) {
			if (bpf_map_lookup_elem(fd, &keys[i], &st))
				continue;
			bpf_map_delete_elem(fd, &keys[i]);
		}
		add_row(keys[i], &st, sum);
	}
	return 0;
}

/*
 * Take this interval's per-process counts, leaving the map empty: batches
 * of lookup-and-delete, a system call per CHUNK processes.
 */
static int collect_procs(int fd, __u64 *sum)
{
	enum { CHUNK = 256 };
	static struct proc_stat vals[CHUNK];
	static __u32 keys[CHUNK];
	static bool no_batch;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 batch, next, count, i;
	void *in = NULL;
	int err;

	nr_rows = 0;
	if (no_batch)
		return collect_one_by_one(fd, sum);
	for (;;) {
		count = CHUNK;
		err = bpf_map_lookup_and_delete_batch(fd, in, &next, keys, vals,
						      &count, &opts);
		if (err && errno != ENOENT) {
			if (errno == EINVAL || errno == ENOTSUP ||
			    errno == ENOSPC) {
				/* ENOSPC: a hash bucket fuller than CHUNK */
				no_batch = errno != ENOSPC;
				return collect_one_by_one(fd, sum);
			}
			return -errno;
		}
		for (i = 0; i < count && nr_rows < MAX_PROCS; i++)
			add_row(keys[i], &vals[i], sum);
		if (err)
			return 0;
		batch = next;
		in = &batch;
	}
}

/*
 * The totals first, then the rows: an event between the two reads is in
 * the rows and not yet in the totals, so totals minus rows, the events
 * whose row was lost, never counts an event in flight.
 */
static int take_sample(struct ctxtop_bpf *obj, const struct sample *prev,
		       struct sample *s)
{
	int err;

	clock_gettime(CLOCK_MONOTONIC, &s->ts);
	err = ctxtop__read_totals(obj, &s->total);
	if (err)
		return err;
	/* ctxtop's own cost */
	prog_stats_sum(obj->obj, &s->bpf_run_cnt, &s->bpf_run_ns, &s->bpf_misses);
	s->rows_sum = prev ? prev->rows_sum : 0;
	return collect_procs(bpf_map__fd(obj->maps.procs), &s->rows_sum);
}

/* ---- drawing ------------------------------------------------------------ */

struct out {
	void (*line)(int y, const char *fmt, ...);
	int height;
};

static void batch_line(int y, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void curses_line(int y, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mvprintw(y, 0, "%.*s", COLS > 0 ? COLS : 80, buf);
	clrtoeol();
}

/* How much counter @ctr grew from sample @a to @b. */
static unsigned long long delta(const struct sample *a, const struct sample *b,
				int ctr)
{
	return b->total.ctr[ctr] - a->total.ctr[ctr];
}

static double rate(const struct sample *a, const struct sample *b, int ctr)
{
	return elapsed > 0 ? delta(a, b, ctr) / elapsed : 0;
}

/* Header numbers: 5 characters at most. */
#define NUM(buf, v)	fmt_num(buf, sizeof(buf), v, 5)

/* Events counted in total whose process row was lost (LRU eviction). */
static unsigned long long lost_rows(const struct sample *b)
{
	__u64 total = 0;
	int i;

	for (i = 0; i < NR_CTRS; i++)
		total += b->total.ctr[i];
	return total > b->rows_sum ? total - b->rows_sum : 0;
}

struct hist_out {
	const struct out *o;
	int y;
};

static void hist_line(void *ctx, const char *text)
{
	struct hist_out *h = ctx;

	h->o->line(h->y++, "%s", text);
}

static int draw_header(const struct out *o, const struct sample *a,
		       const struct sample *b, bool paused)
{
	char n1[16], n2[16], n3[16], n4[16], p50[16], p99[16];
	char clock[16], unavail[128] = "", counts[64] = "";
	struct ctx_stat d;
	time_t now = time(NULL);
	int i, y = 0;

	for (i = 0; i < MAX_SLOTS; i++) {
		d.lat[i] = b->total.lat[i] - a->total.lat[i];
		d.rtt[i] = b->total.rtt[i] - a->total.rtt[i];
	}
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	o->line(y++, "ctxtop %s  %.1fs  %d procs  faults via %s%s  sort %s%s",
		clock, elapsed, nr_rows, hooks.fault_hook,
		hooks.latency ? ", timed" : "", columns[sort_col].name,
		paused ? "  [paused]" : "");
	NUM(n1, rate(a, b, CTR_FAULTS));
	NUM(n2, rate(a, b, CTR_MAJOR));
	NUM(n3, rate(a, b, CTR_COW));
	NUM(n4, rate(a, b, CTR_ANON));
	fmt_ns(p50, sizeof(p50), hist_percentile(d.lat, 50));
	fmt_ns(p99, sizeof(p99), hist_percentile(d.lat, 99));
	o->line(y++, "faults %s/s  major %s/s  p50 %s  p99 %s  cow %s/s  "
		"first-touch %s/s", n1, n2, p50, p99, n3, n4);
	NUM(n1, delta(a, b, CTR_STACK_PAGES));
	NUM(n2, delta(a, b, CTR_BRK_GROW));
	NUM(n3, delta(a, b, CTR_BRK_SHRINK));
	NUM(n4, rate(a, b, CTR_FILE_SHARED));
	if (env.self_stats) {
		char ev[16];

		NUM(ev, elapsed > 0 ?
		    (b->bpf_run_cnt - a->bpf_run_cnt) / elapsed : 0);
		o->line(y++, "stack +%s pages  brk +%s/-%s  shared-file %s/s  "
			"bpf %s runs/s %.2f%% cpu", n1, n2, n3, n4, ev,
			elapsed > 0 ? (b->bpf_run_ns - a->bpf_run_ns) /
			(elapsed * 1e7) : 0);
	} else {
		o->line(y++, "stack +%s pages  brk +%s/-%s  shared-file %s/s",
			n1, n2, n3, n4);
	}
	if (b->bpf_misses || lost_rows(b)) {
		NUM(n1, b->bpf_misses);
		NUM(n2, lost_rows(b));
		o->line(y++, "lost since start: %s runs to recursion, %s events "
			"to a full process table", n1, n2);
	}
	if (view == V_SNAP) {
		NUM(n1, delta(a, b, CTR_MMC_SAVE));
		NUM(n2, delta(a, b, CTR_MMC_ROLLBACK));
		NUM(n3, rate(a, b, CTR_MMC_DIRTY));
		NUM(n4, rate(a, b, CTR_MMC_RESTORED));
		o->line(y++, "mmcontext: saves %s  rollbacks %s  dirty %s/s  "
			"restored %s/s", n1, n2, n3, n4);
	} else if (view == V_SHARE) {
		NUM(n1, delta(a, b, CTR_SF_CREATE));
		NUM(n2, delta(a, b, CTR_SF_POPULATED));
		NUM(n3, rate(a, b, CTR_SF_SHARE));
		NUM(n4, rate(a, b, CTR_SF_INSTALLED));
		o->line(y++, "sfork: regions %s  populated %s pages  "
			"first touches %s/s  installed %s/s", n1, n2, n3, n4);
	} else if (view == V_IPC) {
		fmt_ns(p50, sizeof(p50), hist_percentile(d.rtt, 50));
		fmt_ns(p99, sizeof(p99), hist_percentile(d.rtt, 99));
		NUM(n1, delta(a, b, CTR_IPC_SEND));
		NUM(n2, delta(a, b, CTR_IPC_REPLY));
		NUM(n3, rate(a, b, CTR_IPC_COPIED));
		NUM(n4, rate(a, b, CTR_IPC_COW));
		o->line(y++, "ipc: sent %s replied %s  rtt p50 %s p99 %s  "
			"copy %sB/s  cow %s pg/s", n1, n2, p50, p99, n3, n4);
	}
	for (i = 0; i < NR_FEATURES; i++) {
		size_t len = strlen(unavail);

		if (hooks.why[i])
			snprintf(unavail + len, sizeof(unavail) - len, "%s%s",
				 len ? ", " : "", feature_names[i]);
	}
	if (*unavail) {
		o->line(y++, "unavailable: %s", unavail);
		for (i = 0; i < NR_FEATURES; i++)
			if (hooks.why[i])
				o->line(y++, "  %s: %s", feature_names[i],
					hooks.why[i]);
	}
	if (view == V_HIST) {
		struct hist_out h = { o, y + 1 };

		if (!hooks.latency) {
			o->line(h.y++, "no fault latency: %s",
				hooks.why[F_LATENCY] ? hooks.why[F_LATENCY] :
				"faults are not timed");
			return h.y;
		}
		o->line(h.y++, "fault latency over the last %.1fs:", elapsed);
		print_log2_hist(hist_line, &h, d.lat, MAX_SLOTS, "nsec");
		return h.y;
	}
	/* label the columns that are not per second */
	for (i = 0; i < NR_COLUMNS; i++) {
		size_t len = strlen(counts);

		if (in_view(i) && columns[i].kind == COL_COUNT)
			snprintf(counts + len, sizeof(counts) - len, "%s%s",
				 len ? " " : "", columns[i].name);
	}
	if (*counts)
		o->line(y++, "%s: counts over the interval; the others per "
			"second", counts);
	return y;
}

static void draw_rows(const struct out *o, int y)
{
	char line[256], cell[64];
	int i, c, len, shown = 0, max;

	max = env.rows ? env.rows : (o->height ? o->height - y - 2 : 20);
	len = 0;
	for (c = 0; c < NR_COLUMNS; c++)
		if (in_view(c))
			len += snprintf(line + len, sizeof(line) - len,
					columns[c].kind == COL_COMM ?
					"%s%-*s" : "%s%*s", c ? " " : "",
					columns[c].width, columns[c].name);
	o->line(++y, "%s", line);

	for (i = 0; i < nr_rows && shown < max; i++) {
		if (env.name_filter && !strstr(rows[i].st.comm, env.name_filter))
			continue;
		len = 0;
		for (c = 0; c < NR_COLUMNS; c++) {
			if (!in_view(c))
				continue;
			fmt_cell(cell, sizeof(cell), &columns[c], &rows[i]);
			len += snprintf(line + len, sizeof(line) - len,
					columns[c].kind == COL_COMM ?
					"%s%-*s" : "%s%*s",
					c ? " " : "", columns[c].width, cell);
		}
		o->line(++y, "%s", line);
		shown++;
	}
}

static void draw(const struct out *o, const struct sample *a,
		 const struct sample *b, bool paused)
{
	int y;

	qsort(rows, nr_rows, sizeof(rows[0]), row_cmp);
	if (!env.batch)
		erase();
	y = draw_header(o, a, b, paused);
	if (view != V_HIST)
		draw_rows(o, y);
	if (env.batch) {
		putchar('\n');
		fflush(stdout);
	} else {
		refresh();
	}
}

/* ---- main loop -------------------------------------------------------- */

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

static void sig_handler(int sig)
{
	exiting = 1;
}

static int libbpf_print_fn(enum libbpf_print_level level, const char *format,
			   va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	return vfprintf(stderr, format, args);
}

static void prompt_filter(void)
{
	static char buf[TASK_COMM_LEN];

	mvprintw(LINES - 1, 0, "filter by name (empty: none): ");
	clrtoeol();
	echo();
	nocbreak();
	cbreak();
	timeout(-1);
	getnstr(buf, sizeof(buf) - 1);
	noecho();
	env.name_filter = buf[0] ? buf : NULL;
}

/* Wait out one interval; handle keys.  false: quit. */
static bool wait_interval(bool *paused)
{
	struct timespec start, now;
	int ch;

	if (env.batch) {
		struct timespec req = {
			.tv_sec = (time_t)env.interval,
			.tv_nsec = (long)((env.interval - (time_t)env.interval) * 1e9),
		};

		nanosleep(&req, NULL);
		return !exiting;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (exiting)
			return false;
		if (ts_diff(&start, &now) >= env.interval)
			return true;
		timeout(100);
		ch = getch();
		switch (ch) {
		case 'q':
			return false;
		case 'p':
		case ' ':
			*paused = !*paused;
			return true;
		case '<':
			sort_col = step_column(sort_col, -1);
			return true;
		case '>':
			sort_col = step_column(sort_col, 1);
			return true;
		case 'v':
			set_view(next_view());
			return true;
		case '/':
			prompt_filter();
			return true;
		}
	}
}

/* ---- -p: the processes watched --------------------------------------- */

static int pidfds[MAX_PIDS];

/* Check that each -p process exists, and get a pidfd to see it exit. */
static int open_pids(void)
{
	int i;

	for (i = 0; i < env.nr_pids; i++) {
		if (kill(env.pids[i], 0) && errno == ESRCH) {
			fprintf(stderr, "ctxtop: no process %d\n", env.pids[i]);
			return -ESRCH;
		}
		pidfds[i] = syscall(SYS_pidfd_open, env.pids[i], 0);
	}
	return 0;
}

/* Have all the -p processes exited? */
static bool pids_gone(void)
{
	int i;

	if (!env.nr_pids)
		return false;
	for (i = 0; i < env.nr_pids; i++) {
		struct pollfd p = { .fd = pidfds[i], .events = POLLIN };

		if (pidfds[i] >= 0 ? poll(&p, 1, 0) == 0 :
		    !(kill(env.pids[i], 0) && errno == ESRCH))
			return false;
	}
	return true;
}

static void close_pids(void)
{
	int i;

	for (i = 0; i < env.nr_pids; i++)
		if (pidfds[i] >= 0)
			close(pidfds[i]);
}

static int before_load(struct ctxtop_bpf *obj, void *ctx)
{
	struct stat st;

	obj->rodata->filter_pid = env.nr_pids > 0;
	obj->rodata->filter_cg = env.cgroup != NULL;
	if (!stat("/proc/self/ns/pid", &st) && st.st_ino != PROC_PID_INIT_INO) {
		obj->rodata->pidns_dev = st.st_dev;
		obj->rodata->pidns_ino = st.st_ino;
	}
	return 0;
}

/* The filters, into the maps: before attach, so no event escapes them. */
static int before_attach(struct ctxtop_bpf *obj, void *ctx)
{
	__u32 zero = 0, pid;
	__u8 one = 1;
	int i, fd, err;

	for (i = 0; i < env.nr_pids; i++) {
		pid = env.pids[i];
		if (bpf_map_update_elem(bpf_map__fd(obj->maps.pids), &pid, &one,
					BPF_ANY)) {
			err = -errno;
			fprintf(stderr, "ctxtop: cannot filter PID %u: %s\n", pid,
				strerror(-err));
			return err;
		}
	}
	if (!env.cgroup)
		return 0;
	fd = open(env.cgroup, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "ctxtop: cgroup %s: %s\n", env.cgroup,
			strerror(-err));
		return err;
	}
	err = bpf_map_update_elem(bpf_map__fd(obj->maps.cgroup_map), &zero,
				  &fd, BPF_ANY);
	if (err) {
		err = -errno;
		fprintf(stderr, "ctxtop: %s is not a cgroup v2 directory: %s\n",
			env.cgroup, strerror(-err));
	}
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
	};
	struct ctxtop_start_opts start = {
		.before_load = before_load,
		.before_attach = before_attach,
		.prog = "ctxtop",
	};
	struct sample samples[2] = {}, shown[2] = {};
	struct ctxtop_bpf *obj = NULL;
	int i, err, stats_fd = -1, cur = 0;
	bool paused = false, curses = false;
	struct out out;

	/* usage errors exit with 2, as for every ctxkit tool */
	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;
	for (i = 0; i < NR_VIEWS && strcmp(env.view, view_names[i]); i++)
		;
	if (i == NR_VIEWS) {
		fprintf(stderr, "ctxtop: no view %s (faults, snap, share, ipc, hist)\n",
			env.view);
		return 2;
	}
	set_view(1 << i);
	if (view == V_HIST)
		env.latency = true;
	if (env.sort) {
		sort_col = find_column(env.sort);
		if (sort_col < 0 || !in_view(sort_col)) {
			fprintf(stderr, "ctxtop: no column %s in view %s (see --help)\n",
				env.sort, env.view);
			return 2;
		}
	}
	/* ctxtop > file: no escape codes in the file */
	if (!isatty(STDOUT_FILENO))
		env.batch = true;

	libbpf_set_print(libbpf_print_fn);
	if (!bpf_privileged()) {
		fprintf(stderr, "ctxtop: needs root, or CAP_BPF and CAP_PERFMON\n");
		return 1;
	}
	if (!env.btf_path && !vmlinux_btf_exists()) {
		fprintf(stderr, "ctxtop: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF); "
			"give one with --btf FILE\n");
		return 1;
	}
	if (env.btf_path && access(env.btf_path, R_OK)) {
		fprintf(stderr, "ctxtop: --btf %s: %s\n", env.btf_path,
			strerror(errno));
		return 1;
	}
	if (open_pids())
		return 1;
	rows = calloc(MAX_PROCS, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "ctxtop: out of memory\n");
		err = 1;
		goto cleanup;
	}

	start.tier = env.tier;
	start.any_tier = env.any_tier;
	start.latency = env.latency;
	start.btf_path = env.btf_path;
	obj = ctxtop__start(&start, &hooks);
	if (!obj) {
		err = 1;
		goto cleanup;
	}
	if (env.self_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0) {
			fprintf(stderr, "ctxtop: --self-stats: BPF_ENABLE_STATS: %s\n",
				strerror(errno));
			err = 1;
			goto cleanup;
		}
	}

	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);

	if (env.batch) {
		out = (struct out){ .line = batch_line };
	} else {
		if (!initscr()) {
			fprintf(stderr, "ctxtop: cannot drive this terminal; try -b\n");
			err = 1;
			goto cleanup;
		}
		curses = true;
		cbreak();
		noecho();
		curs_set(0);
		out = (struct out){ .line = curses_line, .height = LINES };
	}

	err = take_sample(obj, NULL, &samples[cur]);
	if (err)
		goto cleanup;
	if (!env.batch) {
		/* show the (empty) screen at once; data follows */
		elapsed = 0;
		nr_rows = 0;
		draw(&out, &samples[cur], &samples[cur], paused);
	}

	while (env.times > 0 && wait_interval(&paused)) {
		struct sample *prev = &samples[cur], *next = &samples[!cur];
		bool gone = pids_gone();

		if (curses)
			out.height = LINES;
		if (paused) {
			/* keep the last frame; the maps keep counting */
			draw(&out, &shown[0], &shown[1], paused);
			continue;
		}
		err = take_sample(obj, prev, next);
		if (err) {
			fprintf(stderr, "ctxtop: cannot read the BPF maps: %s\n",
				strerror(-err));
			break;
		}
		elapsed = ts_diff(&prev->ts, &next->ts);
		shown[0] = *prev;
		shown[1] = *next;
		draw(&out, prev, next, paused);
		cur = !cur;
		env.times--;
		/* like perf stat -p: done once what it watches is gone */
		if (gone)
			break;
	}

cleanup:
	if (curses)
		endwin();
	if (stats_fd >= 0)
		close(stats_fd);
	ctxtop_bpf__destroy(obj);
	close_pids();
	free(rows);
	return err != 0;
}
