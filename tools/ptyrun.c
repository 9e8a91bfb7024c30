// SPDX-License-Identifier: GPL-2.0
/*
 * ptyrun - run a program on a pseudo-terminal of a given size, type keys
 * into it, and copy what it draws to stdout: the tests drive ctxtop's
 * interactive mode with it, as a user at a terminal would.
 *
 * USAGE: ptyrun ROWS COLS WAIT_MS KEYS -- PROGRAM [ARG...]
 *
 * WAIT_MS after the start, and again after each key, the next key of KEYS
 * is typed.  After the last key, the program has WAIT_MS * 10 to exit, or
 * it is killed.  Exits with the program's status (128 + N for signal N),
 * or 2 on a usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct winsize ws = { 0 };
	const char *keys;
	double next, wait_ms, deadline = 0;
	int fd, status;
	size_t k = 0;
	pid_t pid;

	if (argc < 7 || strcmp(argv[5], "--")) {
		fprintf(stderr, "usage: ptyrun ROWS COLS WAIT_MS KEYS -- PROGRAM [ARG...]\n");
		return 2;
	}
	ws.ws_row = atoi(argv[1]);
	ws.ws_col = atoi(argv[2]);
	wait_ms = atof(argv[3]);
	keys = argv[4];
	if (!ws.ws_row || !ws.ws_col || wait_ms <= 0) {
		fprintf(stderr, "ptyrun: bad size or wait\n");
		return 2;
	}

	pid = forkpty(&fd, NULL, NULL, &ws);
	if (pid < 0) {
		fprintf(stderr, "ptyrun: forkpty: %s\n", strerror(errno));
		return 2;
	}
	if (!pid) {
		execvp(argv[6], argv + 6);
		fprintf(stderr, "ptyrun: %s: %s\n", argv[6], strerror(errno));
		_exit(127);
	}

	next = now_ms() + wait_ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[4096];
		ssize_t n;

		if (poll(&p, 1, 50) > 0) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;		/* EIO: the program has gone */
			fwrite(buf, 1, n, stdout);
		}
		if (keys[k] && now_ms() >= next) {
			if (write(fd, &keys[k], 1) != 1)
				break;
			k++;
			next = now_ms() + wait_ms;
			if (!keys[k])
				deadline = now_ms() + 10 * wait_ms;
		}
		if (!keys[k] && !deadline)
			deadline = now_ms() + 10 * wait_ms;
		if (deadline && now_ms() >= deadline) {
			fprintf(stderr, "ptyrun: %s still running, killed\n",
				argv[6]);
			kill(pid, SIGKILL);
			break;
		}
	}
	fflush(stdout);
	if (waitpid(pid, &status, 0) != pid)
		return 2;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
