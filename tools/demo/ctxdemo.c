// SPDX-License-Identifier: GPL-2.0
/*
 * ctxdemo - a workload that does every memory behaviour ctxtop shows, at a
 * steady rate, for SECONDS seconds:
 *
 *  - forks children that write pages the parent filled (COW), first-touch
 *    fresh pages, and recurse deep enough to grow their stack;
 *  - moves brk up and down;
 *  - shares a file mapping with a peer process, both writing it, and drops
 *    the page tables each round so the faults recur;
 *  - in a third process, takes an mmcontext snapshot and rolls back to it
 *    round after round, having written some of its pages and populated
 *    others, and checkpoints them with cp_range (each skipped on a kernel
 *    without it);
 *  - in a fourth, sforks round after round: a lazy region whose pages its
 *    first touches map in the child, and a small populated one (skipped
 *    on a kernel without sfork);
 *  - in a fifth, receives and answers the ipc_send() messages of a child
 *    of its own (nothing, on a kernel without ipc_send).
 *
 * USAGE: ctxdemo [SECONDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <asm/unistd.h>
#include <linux/mmcontext.h>
#include <linux/sfork.h>

#define COW_PAGES	128
#define FRESH_PAGES	64
#define SHARED_PAGES	64
#define STACK_FRAMES	64	/* pages of stack each child grows */
#define SNAP_PAGES	64	/* half present at the snapshot, half not */
#define SHARE_PAGES	64	/* of each lazy sfork region */
#define IPC_BYTES	3000	/* of each ipc_send() message */

static long ps;

/* Stopped by the demo script: a normal end, for it and for the shell. */
static void on_term(int sig)
{
	_exit(0);
}

static void die(const char *what)
{
	fprintf(stderr, "ctxdemo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *map(long pages, int flags, int fd)
{
	char *p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, flags, fd, 0);

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, pages * ps, MADV_NOHUGEPAGE);
	return p;
}

static void touch(char *p, long pages, char v)
{
	long i;

	for (i = 0; i < pages; i++)
		p[i * ps] = v;
}

static __attribute__((noinline)) long recurse(int depth)
{
	volatile char frame[4096];

	frame[0] = (char)depth;
	return depth > 1 ? recurse(depth - 1) + frame[0] : frame[0];
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write the shared mapping, then drop its PTEs so the next round faults. */
/*
 * Snapshot rounds until @end: write 8 saved pages, populate 4 new ones,
 * checkpoint the lot over the last checkpoint in a memfd, roll back.
 * Everything that must survive a rollback is on the stack.
 */
static void snap_rounds(double end)
{
	char *p = map(SNAP_PAGES, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	int ckpt = memfd_create("ctxdemo-ckpt", 0);
	long round;

	touch(p, SNAP_PAGES / 2, 4);
	if (syscall(__NR_mmcontext, MMCONTEXT_SAVE, 0))
		return;
	for (round = 0; now() < end; round++) {
		touch(p + round % 4 * 8 * ps, 8, 5);
		touch(p + (SNAP_PAGES / 2 + round % 8 * 4) * ps, 4, 6);
		lseek(ckpt, 0, SEEK_SET);
		syscall(__NR_cp_range, p, SNAP_PAGES * ps, ckpt, 0);
		syscall(__NR_mmcontext, MMCONTEXT_ROLLBACK, 0);
		usleep(20000);
	}
}

/*
 * sfork rounds until @end: the process writes every page of a lazy region
 * while its child waits, then the child reads them all (each was mapped
 * in it by the write); and a populated region of 4 pages.
 */
static void share_rounds(double end)
{
	volatile char sum = 0;
	int go[2];
	pid_t pid;
	char *p;
	long i;

	while (now() < end) {
		if (pipe(go))
			die("pipe");
		pid = syscall(__NR_sfork, SHARE_PAGES * ps, SFORK_PARENT_WRITE, &p);
		if (pid < 0)
			return;
		if (pid == 0) {
			char c;

			prctl(PR_SET_NAME, "ctxdemo-rdr");
			close(go[1]);
			if (read(go[0], &c, 1) == 1)
				for (i = 0; i < SHARE_PAGES; i++)
					sum += p[i * ps];
			_exit(0);
		}
		close(go[0]);
		touch(p, SHARE_PAGES, 7);
		if (write(go[1], "", 1) != 1)
			die("write");
		close(go[1]);
		waitpid(pid, NULL, 0);
		munmap(p, SHARE_PAGES * ps);

		pid = syscall(__NR_sfork, 4 * ps,
			      SFORK_CHILD_WRITE | SFORK_POPULATE, &p);
		if (pid == 0)
			_exit(0);
		if (pid > 0) {
			waitpid(pid, NULL, 0);
			munmap(p, 4 * ps);
		}
		usleep(20000);
	}
}

/*
 * ipc: a client child sends IPC_BYTES messages to this process, which
 * receives and answers each, until @end; then an empty message ends it.
 */
static void ipc_rounds(double end)
{
	char msg[IPC_BYTES], reply[8];
	pid_t pid, from;
	size_t len;

	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		prctl(PR_SET_NAME, "ctxdemo-icl");
		memset(msg, 5, sizeof(msg));
		while (now() < end) {
			if (syscall(__NR_ipc_send, getppid(), msg, sizeof(msg),
				    reply, sizeof(reply), 0) < 0)
				_exit(1);
			usleep(5000);
		}
		syscall(__NR_ipc_send, getppid(), NULL, 0, NULL, 0, 0);
		_exit(0);
	}
	do {
		from = syscall(__NR_ipc_recv, msg, sizeof(msg), &len, 0);
		if (from < 0)
			break;
		syscall(__NR_ipc_reply, from, "ok", 2, 0);
	} while (len);
	waitpid(pid, NULL, 0);
}

/* A child named @name doing @rounds until @end, gone with its parent. */
static pid_t start_rounds(const char *name, void (*rounds)(double),
			  double end)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_NAME, name);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		rounds(end);
		_exit(0);
	}
	return pid;
}

static void shared_round(char *shared, char v)
{
	touch(shared, SHARED_PAGES, v);
	madvise(shared, SHARED_PAGES * ps, MADV_DONTNEED);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5, end;
	char path[] = "/tmp/ctxdemo-XXXXXX";
	char *cow, *shared;
	unsigned long base;
	pid_t peer, snap, share, ipc;
	int fd;

	if (argc > 2 || !(secs > 0)) {
		fprintf(stderr, "usage: ctxdemo [SECONDS]\n");
		return 2;
	}
	ps = sysconf(_SC_PAGESIZE);
	prctl(PR_SET_NAME, "ctxdemo");
	signal(SIGTERM, on_term);

	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	if (ftruncate(fd, SHARED_PAGES * ps))
		die("ftruncate");
	shared = map(SHARED_PAGES, MAP_SHARED, fd);
	cow = map(COW_PAGES, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	touch(cow, COW_PAGES, 1);
	end = now() + secs;

	peer = fork();
	if (peer < 0)
		die("fork");
	if (peer == 0) {
		prctl(PR_SET_NAME, "ctxdemo-peer");
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		while (now() < end) {
			shared_round(shared, 2);
			usleep(20000);
		}
		_exit(0);
	}

	snap = start_rounds("ctxdemo-snap", snap_rounds, end);
	share = start_rounds("ctxdemo-shr", share_rounds, end);
	ipc = start_rounds("ctxdemo-ipc", ipc_rounds, end);

	printf("ctxdemo %d (peer %d, snap %d, share %d, ipc %d): fork+COW, "
	       "first touch, stack, brk, shared file, mmcontext, sfork, ipc "
	       "for %.0fs\n", getpid(), peer, snap, share, ipc, secs);
	fflush(stdout);
	base = syscall(SYS_brk, 0);
	while (now() < end) {
		pid_t child = fork();

		if (child < 0)
			die("fork");
		if (child == 0) {
			char *fresh = map(FRESH_PAGES, MAP_PRIVATE | MAP_ANONYMOUS, -1);

			prctl(PR_SET_NAME, "ctxdemo-child");
			touch(cow, COW_PAGES, 3);
			touch(fresh, FRESH_PAGES, 3);
			recurse(STACK_FRAMES);
			_exit(0);
		}
		waitpid(child, NULL, 0);

		syscall(SYS_brk, base + 16 * ps);
		syscall(SYS_brk, base);
		shared_round(shared, 1);
		usleep(20000);
	}
	waitpid(peer, NULL, 0);
	waitpid(snap, NULL, 0);
	waitpid(share, NULL, 0);
	waitpid(ipc, NULL, 0);
	return 0;
}
