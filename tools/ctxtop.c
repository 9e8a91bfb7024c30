// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ctxtop - a top for memory events: page faults and their latency,
 * copy-on-write copies, first-touch allocations, stack growth, brk and
 * shared file faults, per process.
 *
 * USAGE: ctxtop [-b] [-p PID] [-c CGROUP] [-s COLUMN] [-r ROWS] [-v]
 *               [interval] [count]
 */
#include <argp.h>
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
	pid_t pid;
	const char *cgroup;
	const char *sort;
	const char *view;
	const char *name_filter;
	double interval;
	long times;
	int rows;
	bool batch;
	bool verbose;
} env = {
	.interval = 1.0,
	.times = LONG_MAX,
	.view = "faults",
};

static volatile sig_atomic_t exiting;

const char *argp_program_version = "ctxtop 0.1";
const char argp_program_doc[] =
"Show page faults, fault latency and other memory events per process.\n"
"\n"
"USAGE: ctxtop [-b] [-p PID] [-c CGROUP] [-V VIEW] [-s COLUMN] [-r ROWS]\n"
"              [-v] [interval] [count]\n"
"\n"
"View 'faults' (the default): FLT/s faults/s, P50 and P99 fault latency,\n"
"COW/s copy-on-write copies/s, 1ST/s first-touch anonymous allocations/s,\n"
"STACK stack pages grown, BRK+ and BRK- brk() grows and shrinks, SHF/s\n"
"faults/s on shared file mappings.\n"
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
"Counts are per interval.  A column whose kernel hook is missing shows\n"
"'-', and the header says why.\n"
"\n"
"Keys: < > sort column, v next view, / filter by name, p pause, q quit.\n"
"\n"
"EXAMPLES:\n"
"    ctxtop              # interactive, 1 second updates\n"
"    ctxtop -b 2 5       # batch mode: 5 updates, 2 seconds apart\n"
"    ctxtop -p 185       # only process 185\n"
"    ctxtop -c /sys/fs/cgroup/app -s COW/s\n";

static const struct argp_option opts[] = {
	{ "batch", 'b', NULL, 0, "Batch mode: plain text, no terminal control", 0 },
	{ "pid", 'p', "PID", 0, "Only this process", 0 },
	{ "cgroup", 'c', "CGROUP", 0, "Only this cgroup v2 (path)", 0 },
	{ "view", 'V', "VIEW", 0, "Columns to show: faults (default), snap, share, ipc", 0 },
	{ "sort", 's', "COLUMN", 0, "Sort by this column (default: the view's own)", 0 },
	{ "rows", 'r', "ROWS", 0, "At most ROWS processes (default: fit)", 0 },
	{ "verbose", 'v', NULL, 0, "Verbose libbpf output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

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
		if (parse_long(arg, 1, INT_MAX, &val))
			argp_error(state, "invalid PID: %s", arg);
		env.pid = val;
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
			argp_error(state, "invalid row count: %s", arg);
		env.rows = val;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0) {
			errno = 0;
			env.interval = strtod(arg, &end);
			if (errno || *end || !(env.interval >= 0.1) ||
			    env.interval > 86400)
				argp_error(state, "invalid interval: %s", arg);
		} else if (state->arg_num == 1) {
			if (parse_long(arg, 1, LONG_MAX, &env.times))
				argp_error(state, "invalid count: %s", arg);
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
enum view { V_FAULTS = 1, V_SNAP = 2, V_SHARE = 4, V_IPC = 8, V_ALL = 15 };
static const char *const view_names[] = { "faults", "snap", "share", "ipc" };
static const char *const view_sort[] = { "FLT/s", "DIRTY/s", "INST/s",
					 "SEND/s" };
#define NR_VIEWS	4
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
	{ "FLT/s",	7,  COL_RATE,  CTR_FAULTS,	 F_FAULTS,    V_FAULTS },
	{ "P50",	6,  COL_LAT,   50,		 F_LATENCY,   V_FAULTS },
	{ "P99",	6,  COL_LAT,   99,		 F_LATENCY,   V_FAULTS },
	{ "COW/s",	6,  COL_RATE,  CTR_COW,		 F_COW,	      V_FAULTS },
	{ "1ST/s",	6,  COL_RATE,  CTR_ANON,	 F_ANON,      V_FAULTS },
	{ "STACK",	5,  COL_COUNT, CTR_STACK_PAGES,	 F_STACK,     V_FAULTS },
	{ "BRK+",	4,  COL_COUNT, CTR_BRK_GROW,	 F_BRK,	      V_FAULTS },
	{ "BRK-",	4,  COL_COUNT, CTR_BRK_SHRINK,	 F_BRK,	      V_FAULTS },
	{ "SHF/s",	6,  COL_RATE,  CTR_FILE_SHARED,	 F_FILE,      V_FAULTS },
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

static void fmt_num(char *buf, size_t len, double v)
{
	if (v < 9999.5)
		snprintf(buf, len, "%.0f", v);
	else if (v < 999950)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.1fM", v / 1e6);
}

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (isnan(ns))
		snprintf(buf, len, "-");
	else if (ns < 999.5)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 9950)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 999500)
		snprintf(buf, len, "%.0fus", ns / 1e3);
	else if (ns < 9950000)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else if (ns < 999500000)
		snprintf(buf, len, "%.0fms", ns / 1e6);
	else
		snprintf(buf, len, "%.1fs", ns / 1e9);
}

static void fmt_cell(char *buf, size_t len, const struct column *c,
		     const struct row *r)
{
	if (hooks.why[c->needs]) {
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
		fmt_num(buf, len, col_value(c, r));
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
	return columns[c].views & view;
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

/* ---- reading the maps ------------------------------------------------ */

struct sample {
	struct ctx_stat total;
	__u64 bpf_run_ns;
	__u64 bpf_run_cnt;
	struct timespec ts;
};

static int ncpus;

/* Take this interval's per-process counts, leaving the map empty. */
static int collect_procs(int fd)
{
	static __u32 keys[MAX_PROCS];
	__u32 key, *prev = NULL;
	int i, n = 0;

	while (n < MAX_PROCS && !bpf_map_get_next_key(fd, prev, &key)) {
		keys[n++] = key;
		prev = &keys[n - 1];
	}
	nr_rows = 0;
	for (i = 0; i < n; i++) {
		struct row *r = &rows[nr_rows];

		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], &r->st)) {
			/* before 5.14: not atomic, a few events may be lost */
			if (bpf_map_lookup_elem(fd, &keys[i], &r->st))
				continue;
			bpf_map_delete_elem(fd, &keys[i]);
		}
		r->tgid = keys[i];
		nr_rows++;
	}
	return 0;
}

static int read_totals(int fd, struct ctx_stat *sum)
{
	struct ctx_stat *percpu;
	__u32 zero = 0;
	int cpu, i;

	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, percpu)) {
		free(percpu);
		return -errno;
	}
	memset(sum, 0, sizeof(*sum));
	for (cpu = 0; cpu < ncpus; cpu++) {
		for (i = 0; i < NR_CTRS; i++)
			sum->ctr[i] += percpu[cpu].ctr[i];
		for (i = 0; i < MAX_SLOTS; i++) {
			sum->lat[i] += percpu[cpu].lat[i];
			sum->rtt[i] += percpu[cpu].rtt[i];
		}
	}
	free(percpu);
	return 0;
}

static int take_sample(struct ctxtop_bpf *obj, struct sample *s)
{
	int err;

	clock_gettime(CLOCK_MONOTONIC, &s->ts);
	err = read_totals(bpf_map__fd(obj->maps.totals), &s->total);
	if (err)
		return err;
	/* ctxtop's own cost */
	prog_stats_sum(obj->obj, &s->bpf_run_cnt, &s->bpf_run_ns);
	return collect_procs(bpf_map__fd(obj->maps.procs));
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

static int draw_header(const struct out *o, const struct sample *a,
		       const struct sample *b, bool paused)
{
	char flt[16], cow[16], anon[16], shf[16], p50[16], p99[16], ev[16];
	char dirty[16], rst[16];
	char clock[16], unavail[128] = "";
	struct ctx_stat d;
	time_t now = time(NULL);
	double cpu;
	int i, y = 0;

	for (i = 0; i < MAX_SLOTS; i++) {
		d.lat[i] = b->total.lat[i] - a->total.lat[i];
		d.rtt[i] = b->total.rtt[i] - a->total.rtt[i];
	}
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	fmt_num(flt, sizeof(flt), rate(a, b, CTR_FAULTS));
	fmt_num(cow, sizeof(cow), rate(a, b, CTR_COW));
	fmt_num(anon, sizeof(anon), rate(a, b, CTR_ANON));
	fmt_num(shf, sizeof(shf), rate(a, b, CTR_FILE_SHARED));
	fmt_ns(p50, sizeof(p50), hist_percentile(d.lat, 50));
	fmt_ns(p99, sizeof(p99), hist_percentile(d.lat, 99));
	fmt_num(ev, sizeof(ev), elapsed > 0 ?
		(b->bpf_run_cnt - a->bpf_run_cnt) / elapsed : 0);
	cpu = elapsed > 0 ? (b->bpf_run_ns - a->bpf_run_ns) / (elapsed * 1e7) : 0;

	o->line(y++, "ctxtop - %s  %.1fs  %d procs  faults via %s  sort %s%s",
		clock, elapsed, nr_rows, hooks.fault_hook, columns[sort_col].name,
		paused ? "  [paused]" : "");
	o->line(y++, "faults %s/s  p50 %s  p99 %s  cow %s/s  first-touch %s/s",
		flt, p50, p99, cow, anon);
	o->line(y++, "stack +%llu pages  brk +%llu/-%llu  shared-file %s/s  "
		"bpf %s ev/s %.2f%% cpu",
		delta(a, b, CTR_STACK_PAGES),
		delta(a, b, CTR_BRK_GROW),
		delta(a, b, CTR_BRK_SHRINK),
		shf, ev, cpu);
	if (view == V_SNAP) {
		fmt_num(dirty, sizeof(dirty), rate(a, b, CTR_MMC_DIRTY));
		fmt_num(rst, sizeof(rst), rate(a, b, CTR_MMC_RESTORED));
		o->line(y++, "mmcontext: saves %llu  rollbacks %llu  dirty %s/s  "
			"restored %s/s",
			delta(a, b, CTR_MMC_SAVE),
			delta(a, b, CTR_MMC_ROLLBACK),
			dirty, rst);
	} else if (view == V_SHARE) {
		fmt_num(dirty, sizeof(dirty), rate(a, b, CTR_SF_SHARE));
		fmt_num(rst, sizeof(rst), rate(a, b, CTR_SF_INSTALLED));
		o->line(y++, "sfork: regions %llu  populated %llu pages  "
			"first touches %s/s  installed %s/s",
			delta(a, b, CTR_SF_CREATE),
			delta(a, b, CTR_SF_POPULATED),
			dirty, rst);
	} else if (view == V_IPC) {
		fmt_ns(p50, sizeof(p50), hist_percentile(d.rtt, 50));
		fmt_ns(p99, sizeof(p99), hist_percentile(d.rtt, 99));
		fmt_num(dirty, sizeof(dirty), rate(a, b, CTR_IPC_COPIED));
		fmt_num(rst, sizeof(rst), rate(a, b, CTR_IPC_COW));
		o->line(y++, "ipc: sent %llu replied %llu  rtt p50 %s p99 %s  "
			"copy %sB/s  cow %s pg/s",
			delta(a, b, CTR_IPC_SEND),
			delta(a, b, CTR_IPC_REPLY),
			p50, p99, dirty, rst);
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
			set_view(view == 1 << (NR_VIEWS - 1) ? 1 : view << 1);
			return true;
		case '/':
			prompt_filter();
			return true;
		}
	}
}

static int setup_filters(struct ctxtop_bpf *obj)
{
	struct stat st;

	obj->rodata->targ_tgid = env.pid;
	if (env.cgroup)
		obj->rodata->filter_cg = true;
	if (!stat("/proc/self/ns/pid", &st) && st.st_ino != PROC_PID_INIT_INO) {
		obj->rodata->pidns_dev = st.st_dev;
		obj->rodata->pidns_ino = st.st_ino;
	}
	return 0;
}

static int set_cgroup(struct ctxtop_bpf *obj)
{
	__u32 zero = 0;
	int fd, err;

	if (!env.cgroup)
		return 0;
	fd = open(env.cgroup, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "ctxtop: cgroup %s: %s\n", env.cgroup,
			strerror(errno));
		return -errno;
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
	struct sample samples[2] = {}, shown[2] = {};
	struct ctxtop_bpf *obj;
	int i, err, stats_fd = -1, cur = 0;
	bool paused = false, curses = false;
	struct out out;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return err;
	for (i = 0; i < NR_VIEWS && strcmp(env.view, view_names[i]); i++)
		;
	if (i == NR_VIEWS) {
		fprintf(stderr, "ctxtop: no view %s (faults, snap, share, ipc)\n",
			env.view);
		return 1;
	}
	set_view(1 << i);
	if (env.sort) {
		sort_col = find_column(env.sort);
		if (sort_col < 0 || !in_view(sort_col)) {
			fprintf(stderr, "ctxtop: no column %s in view %s (see --help)\n",
				env.sort, env.view);
			return 1;
		}
	}

	libbpf_set_print(libbpf_print_fn);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0) {
		fprintf(stderr, "ctxtop: cannot count CPUs: %s\n", strerror(-ncpus));
		return 1;
	}
	rows = calloc(MAX_PROCS, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "ctxtop: out of memory\n");
		return 1;
	}

	obj = ctxtop_bpf__open();
	if (!obj) {
		fprintf(stderr, "ctxtop: failed to open BPF object\n");
		err = 1;
		goto cleanup;
	}
	ctxtop_hooks__choose(obj, &hooks);
	if (!hooks.available) {
		fprintf(stderr, "ctxtop: nothing to trace on this kernel "
			"(no fault hook, no tracepoints; is tracefs mounted?)\n");
		err = 1;
		goto cleanup;
	}
	setup_filters(obj);

	err = ctxtop_bpf__load(obj);
	if (err) {
		fprintf(stderr, "ctxtop: failed to load BPF programs: %s%s\n",
			strerror(-err), err == -EPERM ? " (need root)" : "");
		goto cleanup;
	}
	err = set_cgroup(obj);
	if (err)
		goto cleanup;
	err = ctxtop_bpf__attach(obj);
	if (err) {
		fprintf(stderr, "ctxtop: failed to attach BPF programs: %s\n",
			strerror(-err));
		goto cleanup;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0 && env.verbose)
		fprintf(stderr, "ctxtop: no BPF run-time stats: %s\n",
			strerror(errno));

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

	err = take_sample(obj, &samples[cur]);
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

		if (curses)
			out.height = LINES;
		if (paused) {
			/* keep the last frame; the maps keep counting */
			draw(&out, &shown[0], &shown[1], paused);
			continue;
		}
		err = take_sample(obj, next);
		if (err)
			break;
		elapsed = ts_diff(&prev->ts, &next->ts);
		shown[0] = *prev;
		shown[1] = *next;
		draw(&out, prev, next, paused);
		cur = !cur;
		env.times--;
	}

cleanup:
	if (curses)
		endwin();
	if (stats_fd >= 0)
		close(stats_fd);
	ctxtop_bpf__destroy(obj);
	free(rows);
	return err != 0;
}
