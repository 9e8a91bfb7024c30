/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cpfile - read cp_range(2) checkpoint files without the kernel.
 *
 * The format is in <linux/cp_range.h>.  cpfile_open() reads a whole file
 * and checks it: magic, version, sizes, runs in order inside the range,
 * the trailer's counts and the crc32c.  A file that passes can be walked
 * run by run with cpfile_next().
 */
#ifndef __CPFILE_H
#define __CPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/cp_range.h>

struct cpfile {
	const char *path;
	unsigned char *buf;	/* the whole file */
	size_t len;
	const struct cp_header *hdr;
	const struct cp_trailer *tr;
	size_t pos;		/* of the next run, for cpfile_next() */
};

/* One run: its header and, for CP_RUN_DATA, its pages. */
struct cprun {
	const struct cp_run *run;
	const unsigned char *data;
};

/*
 * Read and check @path.  Returns 0, or -1 with a one-line reason in
 * @err (of @errlen bytes).
 */
int cpfile_open(struct cpfile *f, const char *path, char *err, size_t errlen);
/* 1 and the next run in @r, or 0 at the end. */
int cpfile_next(struct cpfile *f, struct cprun *r);
void cpfile_close(struct cpfile *f);

/*
 * Check that @n files form a chain: the first a full checkpoint, each
 * next one incremental on top of the one before (its base_id), all of the
 * same range and page size.  0, or -1 with a one-line reason in @err.
 */
int cpfile_check_chain(struct cpfile *files, int n, char *err, size_t errlen);

/*
 * Apply a checked chain to the calling process's memory at the range's
 * addresses: map what is missing, write data, zero what is zero, unmap
 * what is not mapped.  The range must be free for it (the caller's own
 * code, heap and stack must lie elsewhere).  0, or -1 with @err.
 */
int cpfile_apply(struct cpfile *files, int n, char *err, size_t errlen);

/* CRC-32C (Castagnoli), as iSCSI: initial ~0, result inverted. */
uint32_t crc32c(const void *p, size_t len);

const char *cp_kind_name(unsigned int kind);

#endif /* __CPFILE_H */
