// SPDX-License-Identifier: GPL-2.0
/*
 * stubs - the StuBS IPC test on Linux, and its page-frame accounting.
 *
 * Four pairs of processes: in each, the child sends a letter with
 * ipc_send(), the parent receives it, computes the reply from it and
 * answers with ipc_reply(); the child prints "REPLY: XY", where the two
 * letters must be equal.  Then the free page frames (nr_free_pages in
 * /proc/vmstat, and what the per-CPU lists hold) before and after
 * forking a process with a large heap, after the child writes all of it,
 * and the same for a large message, mapped copy-on-write and copied.
 *
 * USAGE: stubs [MiB]   (the heap and the message; 32 by default)
 *
 * Exits 0 only if every reply had two equal letters.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/ipc_msg.h>

#define PAGE	4096UL

/*
 * The free page frames: nr_free_pages, which counts the buddy allocator's
 * lists only, plus the frames the per-CPU lists hold, from the "count:"
 * of each zone's pagesets in /proc/zoneinfo.  A frame freed goes to its
 * CPU's list first, and the next allocation there takes it back, so
 * nr_free_pages alone may not move at all.
 */
static long free_frames(void)
{
	char name[64], line[256];
	long val = -1, v;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2)
		if (!strcmp(name, "nr_free_pages"))
			val = v;
	fclose(f);
	f = fopen("/proc/zoneinfo", "r");
	if (!f)
		return val;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			val += v;
	fclose(f);
	return val;
}

static void frames(const char *when, long base)
{
	long now = free_frames();

	printf("allocator: %ld free page frames %-44s (%+ld)\n", now, when,
	       now - base);
}

static void die(const char *what)
{
	fprintf(stderr, "stubs: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A child sends its letter; the parent answers "REPLY: " and two letters. */
static int pair(char letter)
{
	char reply[16] = "", msg;
	size_t len;
	pid_t child, from;
	int status;

	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		if (syscall(__NR_ipc_send, getppid(), &letter, 1, reply,
			    sizeof(reply) - 1, 0) < 0)
			die("ipc_send");
		printf("%s\n", reply);
		fflush(stdout);
		_exit(reply[7] && reply[7] == reply[8] ? 0 : 1);
	}
	from = syscall(__NR_ipc_recv, &msg, 1, &len, 0);
	if (from != child)
		die("ipc_recv");
	snprintf(reply, sizeof(reply), "REPLY: %c%c", toupper(msg),
		 toupper(msg));
	if (syscall(__NR_ipc_reply, from, reply, strlen(reply), 0))
		die("ipc_reply");
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : 1;
}

static char *heap(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void fork_frames(size_t len)
{
	char *p = heap(len);
	int go[2], done[2];
	long base;
	pid_t pid;
	char c;

	memset(p, 1, len);
	if (pipe(go) || pipe(done))
		die("pipe");
	printf("== fork with a %zu MiB heap\n", len >> 20);
	base = free_frames();
	frames("before fork", base);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		if (write(done[1], "", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		memset(p, 2, len);
		if (write(done[1], "", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(done[0], &c, 1) != 1)
		die("read");
	frames("after fork (shared copy-on-write)", base);
	if (write(go[1], "", 1) != 1 || read(done[0], &c, 1) != 1)
		die("pipe");
	frames("after the child wrote its heap", base);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap(p, len);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

/*
 * A message of @len bytes, page-aligned on both sides: the sender fills
 * its buffer, then the receiver takes it and writes all of it.  With
 * @flags 0 its pages are mapped copy-on-write, and frames go only when
 * the receiver writes; with IPC_SEND_COPY they go at the receive.
 */
static void message_frames(size_t len, unsigned int flags)
{
	char *s = heap(len), *r = heap(len), c;
	int filled[2];
	long base;
	pid_t pid;
	size_t got;

	if (pipe(filled))
		die("pipe");
	printf("== a %zu MiB message, page-aligned on both sides, %s\n",
	       len >> 20, flags & IPC_SEND_COPY ? "with IPC_SEND_COPY" :
	       "mapped copy-on-write");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		memset(s, 3, len);
		if (write(filled[1], "", 1) != 1)
			_exit(1);
		syscall(__NR_ipc_send, getppid(), s, len, NULL, 0, flags);
		pause();
		_exit(0);
	}
	if (read(filled[0], &c, 1) != 1)
		die("pipe");
	base = free_frames();
	frames("with the sender's buffer filled", base);
	if (syscall(__NR_ipc_recv, r, len, &got, 0) != pid || got != len)
		die("ipc_recv");
	frames("after ipc_recv", base);
	memset(r, 4, len);
	frames("after the receiver wrote the message", base);
	syscall(__NR_ipc_reply, pid, NULL, 0, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap(s, len);
	munmap(r, len);
	close(filled[0]);
	close(filled[1]);
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 32) << 20;
	int i, bad = 0;
	pid_t pid[4];

	if (!len) {
		fprintf(stderr, "usage: stubs [MiB]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			die("fork");
		if (!pid[i])
			_exit(pair('a' + i));
	}
	for (i = 0; i < 4; i++) {
		int status;

		if (waitpid(pid[i], &status, 0) != pid[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	printf("stubs: %d pairs, %d with unequal letters or an error\n", 4,
	       bad);
	fork_frames(len);
	message_frames(len, 0);
	message_frames(len, IPC_SEND_COPY);
	return bad ? 1 : 0;
}
