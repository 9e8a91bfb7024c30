/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ctxfuzz.h - the fuzzer's state, its PRNG and its table of calls.
 *
 * Everything that must outlive an mmcontext(2) rollback lives in one
 * MAP_SHARED mapping (struct fuzz_state and the buffers after it): a
 * rollback rewinds private memory (.data, .bss, the heap), so a PRNG or a
 * counter kept there would go back in time with it.  Locals of the main
 * thread survive too, its stack is not covered.
 */
#ifndef __CTXFUZZ_H
#define __CTXFUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PAGE		4096UL
#define ARENA_PAGES	2048			/* 8 MiB */
#define ARENA_SIZE	(ARENA_PAGES * PAGE)
#define ARENA_HINT	0x200000000000UL	/* far below mmap_base */
#define FILE_SIZE	(2 * ARENA_SIZE)	/* room for moved mappings */
#define CHAIN_MAX	6			/* files before a full one */
#define MSG_LEN		320

/* Per arena page, what the snapshot saw (pg_save) and what must follow. */
enum {
	PG_MAPPED	= 1 << 0,	/* mapped at save */
	PG_COVERED	= 1 << 1,	/* private writable at save */
	PG_EXP_MAPPED	= 1 << 2,	/* must be mapped after a rollback */
	PG_EXP_UNMAPPED	= 1 << 3,	/* must be gone after a rollback */
	PG_NOREAD	= 1 << 4,	/* covered, unreadable (past EOF) */
	PG_FILEPG	= 1 << 5,	/* covered, the file's own page at save */
	PG_FILECHG	= 1 << 6,	/* and the file changed under it since */
};

/* One arena page as /proc/self/maps shows it. */
struct pginfo {
	uint8_t mapped;
	uint8_t prot;			/* PROT_* */
	uint8_t shared;
	uint64_t ino;			/* 0: anonymous */
	uint64_t pgoff;			/* file page index, files only */
};

struct fuzz_stats {
	uint64_t seeds;
	uint64_t ctx_calls;		/* mmcontext + cp_range */
	uint64_t syscalls;		/* all of them, ctxkit included */
	uint64_t beat;			/* the oracles' own calls too */
	uint64_t failures;
};

struct fuzz_state {
	/* set by the driver */
	uint64_t seed;
	unsigned int nr_ops;
	bool verbose;			/* -r: log every op */
	bool progress;			/* -v: name every seed */
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0: none */
	struct fuzz_stats stats;
	char dir[64];			/* checkpoint files */
	unsigned char *saved;		/* arena copy at save */
	unsigned char *brk_copy;	/* [brk_base, brk_saved) at save */
	unsigned char *expect;		/* the cp_range range at the last one */

	/* the rest is cleared for each seed */

	/* the seed's run: written by the seed's process and its children */
	uint64_t rng;
	unsigned int op;
	char desc[MSG_LEN];		/* the op running */
	char msg[MSG_LEN];		/* why it failed */
	pid_t parent;			/* the seed's process */

	char *arena;
	int self_mem;			/* /proc/self/mem, O_RDWR */
	int pagemap;			/* /proc/self/pagemap */
	int fd_priv, fd_shared;		/* tmpfs files for file mappings */
	int memfd_priv, memfd_shared;
	int fd_secret;			/* memfd_secret(2), or -1 */
	uint64_t ino[4];		/* of the four above, as pginfo has it */
	int fd_ro, fd_null, pipe_rd, pipe_wr, fd_closed;
	int uffd_wp;			/* WP_ASYNC userfaultfd, or -1 */
	unsigned long brk_base, brk_cur;	/* brk moves in [base, +64p) */

	/* mmcontext model */
	bool have_snap;
	bool stale;			/* a covered page was unmapped/moved */
	bool stale_maybe;		/* ESTALE or not: a truncate, see there */
	char stale_why[MSG_LEN / 2];	/* by which op */
	char maybe_why[MSG_LEN / 2];
	unsigned long brk_saved;
	uint8_t pg[ARENA_PAGES];
	struct pginfo pg_save[ARENA_PAGES];
	struct pginfo pg_pre[ARENA_PAGES];	/* just before a rollback */

	/* cp_range model: a chain of checkpoint files of [cs, ce) */
	unsigned long cs, ce;
	int nchain;
	bool chain_broken;		/* next one must be full */
	unsigned int file_seq;
	char chain[CHAIN_MAX][80];
	uint8_t cp_mapped[ARENA_PAGES];	/* at the last increment */
};

/*
 * One entry per kind of call.  A new syscall (sfork, an IPC) is one more
 * entry and its run function; weight is its share of the ops.
 */
struct fuzz_call {
	const char *name;
	void (*run)(struct fuzz_state *st);
	int weight;
};

/* splitmix64: a seed becomes a well-mixed state. */
static inline uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* xorshift64*: the stream. */
static inline uint64_t rnd64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static inline unsigned long rnd(struct fuzz_state *st, unsigned long n)
{
	return n ? rnd64(&st->rng) % n : 0;
}

/* True with probability 1/n. */
static inline bool one_in(struct fuzz_state *st, unsigned long n)
{
	return rnd(st, n) == 0;
}

#endif /* __CTXFUZZ_H */
