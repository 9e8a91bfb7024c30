// SPDX-License-Identifier: GPL-2.0
/*
 * cprestore - rebuild an address range from a chain of cp_range(2)
 * checkpoints: a full one, then its increments, in order.
 *
 * The chain is read and checked first (every checksum, every link); a
 * broken chain is refused with a one-line reason and nothing happens.
 * Then this fresh process maps the range at its original addresses,
 * applies the chain with cpfile_apply() (the library function other
 * programs link to restore into themselves), and writes the range's
 * bytes to IMAGE: a flat file whose offset 0 is the range's start, with
 * holes where nothing is mapped.
 *
 * USAGE: cprestore -o IMAGE CHECKPOINT...
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "cpfile.h"

static int write_image(const struct cp_header *h, const char *out)
{
	size_t ps = h->page_size, len = h->end - h->start, off;
	char *base = (char *)(uintptr_t)h->start;
	unsigned char v;
	int fd;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, len)) {
		fprintf(stderr, "cprestore: %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (off = 0; off < len; off += ps) {
		if (mincore(base + off, ps, &v))
			continue;	/* not mapped: a hole */
		if (pwrite(fd, base + off, ps, off) != (ssize_t)ps) {
			fprintf(stderr, "cprestore: %s: %s\n", out,
				strerror(errno));
			close(fd);
			return 1;
		}
	}
	return close(fd) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	struct cpfile *files;
	char err[256];
	int opt, i, n;

	while ((opt = getopt(argc, argv, "o:h")) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: cprestore -o IMAGE CHECKPOINT...\n"
				"  rebuild a range from a full checkpoint and "
				"its increments, in order\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	n = argc - optind;
	if (!out || n < 1) {
		fprintf(stderr, "cprestore: need -o IMAGE and a checkpoint "
			"(see -h)\n");
		return 2;
	}
	files = calloc(n, sizeof(*files));
	if (!files)
		return 1;
	for (i = 0; i < n; i++) {
		if (cpfile_open(&files[i], argv[optind + i], err,
				sizeof(err))) {
			fprintf(stderr, "cprestore: %s\n", err);
			return 1;
		}
	}
	if (cpfile_check_chain(files, n, err, sizeof(err))) {
		fprintf(stderr, "cprestore: %s\n", err);
		return 1;
	}
	{
		const struct cp_header *h = files[0].hdr;
		unsigned char v;
		size_t off;

		for (off = 0; off < h->end - h->start; off += h->page_size)
			if (!mincore((char *)(uintptr_t)h->start + off,
				     h->page_size, &v)) {
				fprintf(stderr, "cprestore: range %#llx-%#llx "
					"overlaps cprestore's own memory\n",
					(unsigned long long)h->start,
					(unsigned long long)h->end);
				return 1;
			}
	}
	if (cpfile_apply(files, n, err, sizeof(err))) {
		fprintf(stderr, "cprestore: %s\n", err);
		return 1;
	}
	return write_image(files[0].hdr, out);
}
