// SPDX-License-Identifier: GPL-2.0
/* exit_with - exit with the status given as the only argument. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: exit_with STATUS\n");
		return 2;
	}
	printf("exit_with: exiting with %d\n", atoi(argv[1]));
	return atoi(argv[1]);
}
