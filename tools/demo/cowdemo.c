// SPDX-License-Identifier: GPL-2.0
/*
 * cowdemo - a fork/write workload with a known copy-on-write count.
 *
 * The parent fills PAGES private pages and forks CHILDREN children; child i
 * writes to the first (i + 1) * PAGES / CHILDREN pages, so each child
 * should show exactly that many copies.
 *
 * USAGE: cowdemo [PAGES [CHILDREN]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long pages = argc > 1 ? atol(argv[1]) : 1024;
	long children = argc > 2 ? atol(argv[2]) : 4;
	long ps = sysconf(_SC_PAGESIZE), i, j;
	char *p;

	if (pages < 1 || children < 1 || children > pages) {
		fprintf(stderr, "usage: cowdemo [PAGES [CHILDREN]] (1 <= CHILDREN <= PAGES)\n");
		return 2;
	}
	p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "cowdemo: mmap: %s\n", strerror(errno));
		return 1;
	}
	madvise(p, pages * ps, MADV_NOHUGEPAGE);
	memset(p, 0x5a, pages * ps);

	printf("cowdemo %d: filled %ld pages, forking %ld children\n",
	       getpid(), pages, children);
	fflush(stdout);
	for (i = 0; i < children; i++) {
		long n = (i + 1) * pages / children;
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "cowdemo: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			for (j = 0; j < n; j++)
				p[j * ps] = (char)j;
			printf("cowdemo %d: child %ld wrote %ld pages\n",
			       getpid(), i, n);
			fflush(stdout);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	return 0;
}
