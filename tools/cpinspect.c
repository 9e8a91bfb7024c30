// SPDX-License-Identifier: GPL-2.0
/*
 * cpinspect - print a cp_range(2) checkpoint file's header and runs, and
 * verify it: magic, version, run layout and the crc32c.  Needs no kernel
 * support; exits 1 with a one-line reason for a file that fails.
 *
 * USAGE: cpinspect [-q] FILE...
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cpfile.h"

static void show(const struct cpfile *f, struct cpfile *walk, int quiet)
{
	const struct cp_header *h = f->hdr;
	struct cprun r;

	printf("%s: checkpoint %#llx, seq %llu, %s%#llx\n", f->path,
	       (unsigned long long)h->id, (unsigned long long)h->seq,
	       h->base_id ? "incremental on " : "full",
	       (unsigned long long)h->base_id);
	printf("  range %#llx-%#llx (%llu pages of %u bytes), %llu runs, "
	       "%llu data pages, crc32c %#010x ok\n",
	       (unsigned long long)h->start, (unsigned long long)h->end,
	       (unsigned long long)((h->end - h->start) / h->page_size),
	       h->page_size, (unsigned long long)f->tr->nr_runs,
	       (unsigned long long)f->tr->nr_data_pages, f->tr->crc32c);
	if (quiet)
		return;
	while (cpfile_next(walk, &r))
		printf("  %#014llx-%#014llx %8u %s\n",
		       (unsigned long long)r.run->addr,
		       (unsigned long long)(r.run->addr +
					    (uint64_t)r.run->nr_pages *
					    h->page_size),
		       r.run->nr_pages, cp_kind_name(r.run->kind));
}

int main(int argc, char **argv)
{
	int opt, quiet = 0, rc = 0;
	char err[256];

	while ((opt = getopt(argc, argv, "qh")) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: cpinspect [-q] FILE...\n"
				"  print and verify cp_range checkpoint files; "
				"-q: headers only\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "cpinspect: no file (see -h)\n");
		return 2;
	}
	for (; optind < argc; optind++) {
		struct cpfile f;

		if (cpfile_open(&f, argv[optind], err, sizeof(err))) {
			fprintf(stderr, "cpinspect: %s\n", err);
			rc = 1;
			continue;
		}
		show(&f, &f, quiet);
		cpfile_close(&f);
	}
	return rc;
}
