// SPDX-License-Identifier: GPL-2.0
/*
 * asuser - run a program as another user, for the tests of what the tools
 * say to a user without privileges (busybox's setpriv has no --reuid).
 *
 * USAGE: asuser UID PROG [ARG...]
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long uid;

	if (argc < 3) {
		fprintf(stderr, "usage: asuser UID PROG [ARG...]\n");
		return 2;
	}
	uid = strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || uid < 0) {
		fprintf(stderr, "asuser: invalid UID: %s\n", argv[1]);
		return 2;
	}
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
		perror("asuser");
		return 1;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "asuser: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
