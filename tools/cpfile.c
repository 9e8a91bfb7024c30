// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cpfile - read cp_range(2) checkpoint files without the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "cpfile.h"

uint32_t crc32c(const void *p, size_t len)
{
	static uint32_t table[256];
	const unsigned char *b = p;
	uint32_t crc = ~0U;
	size_t i;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			uint32_t c = i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
			table[i] = c;
		}
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

const char *cp_kind_name(unsigned int kind)
{
	switch (kind) {
	case CP_RUN_DATA:
		return "data";
	case CP_RUN_ZERO:
		return "zero";
	case CP_RUN_UNMAPPED:
		return "unmapped";
	}
	return "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_all(struct cpfile *f, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd;

	fd = open(f->path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return fail(err, errlen, "%s: %s", f->path, strerror(errno));
	f->len = st.st_size;
	f->buf = malloc(f->len ? f->len : 1);
	if (!f->buf) {
		close(fd);
		return fail(err, errlen, "%s: out of memory", f->path);
	}
	while (got < f->len) {
		ssize_t n = read(fd, f->buf + got, f->len - got);

		if (n <= 0) {
			close(fd);
			return fail(err, errlen, "%s: read: %s", f->path,
				    n ? strerror(errno) : "short file");
		}
		got += n;
	}
	close(fd);
	return 0;
}

/* Walk the runs once: in order, inside the range, sizes add up. */
static int check_runs(struct cpfile *f, char *err, size_t errlen)
{
	const struct cp_header *h = f->hdr;
	size_t pos = sizeof(*h), end = f->len - sizeof(*f->tr);
	uint64_t next = h->start, runs = 0, data = 0;

	while (pos < end) {
		const struct cp_run *r = (const void *)(f->buf + pos);
		uint64_t bytes;

		if (end - pos < sizeof(*r))
			return fail(err, errlen, "%s: run %llu truncated",
				    f->path, (unsigned long long)runs);
		bytes = (uint64_t)r->nr_pages * h->page_size;
		if (r->kind < CP_RUN_DATA || r->kind > CP_RUN_UNMAPPED ||
		    !r->nr_pages || r->addr < next || r->addr % h->page_size ||
		    r->addr + bytes > h->end || r->addr + bytes < r->addr)
			return fail(err, errlen,
				    "%s: run %llu at 0x%llx is malformed",
				    f->path, (unsigned long long)runs,
				    (unsigned long long)r->addr);
		pos += sizeof(*r);
		if (r->kind == CP_RUN_DATA) {
			if (end - pos < bytes)
				return fail(err, errlen, "%s: run %llu data "
					    "truncated", f->path,
					    (unsigned long long)runs);
			pos += bytes;
			data += r->nr_pages;
		}
		next = r->addr + bytes;
		runs++;
	}
	if (runs != f->tr->nr_runs || data != f->tr->nr_data_pages)
		return fail(err, errlen, "%s: trailer says %llu runs and %llu "
			    "pages, file has %llu and %llu", f->path,
			    (unsigned long long)f->tr->nr_runs,
			    (unsigned long long)f->tr->nr_data_pages,
			    (unsigned long long)runs,
			    (unsigned long long)data);
	return 0;
}

int cpfile_open(struct cpfile *f, const char *path, char *err, size_t errlen)
{
	const struct cp_header *h;
	uint32_t crc;

	memset(f, 0, sizeof(*f));
	f->path = path;
	if (read_all(f, err, errlen))
		goto bad;
	if (f->len < sizeof(*h) + sizeof(*f->tr)) {
		fail(err, errlen, "%s: too short for a checkpoint", path);
		goto bad;
	}
	h = f->hdr = (const void *)f->buf;
	f->tr = (const void *)(f->buf + f->len - sizeof(*f->tr));
	if (h->magic != CP_MAGIC || f->tr->magic != CP_TRAILER_MAGIC) {
		fail(err, errlen, "%s: not a cp_range checkpoint (bad magic)",
		     path);
		goto bad;
	}
	if (h->version != CP_VERSION || h->header_size != sizeof(*h)) {
		fail(err, errlen, "%s: version %u, header %u bytes: not "
		     "version %u", path, h->version, h->header_size,
		     CP_VERSION);
		goto bad;
	}
	crc = crc32c(f->buf, f->len - sizeof(*f->tr));
	if (crc != f->tr->crc32c) {
		fail(err, errlen, "%s: checksum mismatch (crc32c 0x%08x, "
		     "trailer says 0x%08x)", path, crc, f->tr->crc32c);
		goto bad;
	}
	if (!h->page_size || h->page_size & (h->page_size - 1) ||
	    h->start % h->page_size || h->end % h->page_size ||
	    h->end <= h->start) {
		fail(err, errlen, "%s: bad page size or range", path);
		goto bad;
	}
	if (check_runs(f, err, errlen))
		goto bad;
	f->pos = sizeof(*h);
	return 0;
bad:
	cpfile_close(f);
	return -1;
}

int cpfile_next(struct cpfile *f, struct cprun *r)
{
	if (f->pos >= f->len - sizeof(*f->tr))
		return 0;
	r->run = (const void *)(f->buf + f->pos);
	f->pos += sizeof(*r->run);
	r->data = NULL;
	if (r->run->kind == CP_RUN_DATA) {
		r->data = f->buf + f->pos;
		f->pos += (size_t)r->run->nr_pages * f->hdr->page_size;
	}
	return 1;
}

void cpfile_close(struct cpfile *f)
{
	free(f->buf);
	f->buf = NULL;
}

int cpfile_check_chain(struct cpfile *files, int n, char *err, size_t errlen)
{
	int i;

	if (n < 1)
		return fail(err, errlen, "no checkpoint");
	if (files[0].hdr->base_id)
		return fail(err, errlen, "%s: incremental on %#llx, but it "
			    "comes first: the chain must start with a full "
			    "checkpoint", files[0].path,
			    (unsigned long long)files[0].hdr->base_id);
	for (i = 1; i < n; i++) {
		const struct cp_header *prev = files[i - 1].hdr;
		const struct cp_header *h = files[i].hdr;

		if (h->start != prev->start || h->end != prev->end ||
		    h->page_size != prev->page_size)
			return fail(err, errlen, "%s: range or page size "
				    "differs from %s", files[i].path,
				    files[i - 1].path);
		if (!h->base_id)
			return fail(err, errlen, "%s: a full checkpoint in "
				    "the middle of the chain", files[i].path);
		if (h->base_id != prev->id)
			return fail(err, errlen, "%s: applies on %#llx, but "
				    "%s is %#llx: a link is missing or out of "
				    "order", files[i].path,
				    (unsigned long long)h->base_id,
				    files[i - 1].path,
				    (unsigned long long)prev->id);
		if (h->seq != prev->seq + 1)
			return fail(err, errlen, "%s: number %llu after %s's "
				    "%llu: a link is missing", files[i].path,
				    (unsigned long long)h->seq,
				    files[i - 1].path,
				    (unsigned long long)prev->seq);
	}
	return 0;
}

/* Is any page of [p, p + len) mapped?  mincore() fails on holes. */
static int any_mapped(char *p, size_t len, size_t ps)
{
	unsigned char v;
	size_t off;

	for (off = 0; off < len; off += ps)
		if (!mincore(p + off, ps, &v))
			return 1;
	return 0;
}

/* Make [p, p + len) mapped, anonymous where nothing was. */
static int ensure_mapped(char *p, size_t len, size_t ps)
{
	unsigned char v;
	size_t off;

	for (off = 0; off < len; off += ps) {
		if (!mincore(p + off, ps, &v))
			continue;
		if (mmap(p + off, ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0) == MAP_FAILED)
			return -1;
	}
	return 0;
}

int cpfile_apply(struct cpfile *files, int n, char *err, size_t errlen)
{
	const struct cp_header *h = files[0].hdr;
	int i;

	if (cpfile_check_chain(files, n, err, errlen))
		return -1;
	if (h->page_size != (uint32_t)sysconf(_SC_PAGESIZE))
		return fail(err, errlen, "%s: page size %u, this system's is "
			    "%ld", files[0].path, h->page_size,
			    sysconf(_SC_PAGESIZE));
	for (i = 0; i < n; i++) {
		struct cpfile *f = &files[i];
		struct cprun r;

		f->pos = sizeof(*f->hdr);
		while (cpfile_next(f, &r)) {
			char *p = (char *)(uintptr_t)r.run->addr;
			size_t len = (size_t)r.run->nr_pages * h->page_size;

			if (r.run->kind == CP_RUN_UNMAPPED) {
				if (any_mapped(p, len, h->page_size) &&
				    munmap(p, len))
					return fail(err, errlen, "munmap %p: %s",
						    p, strerror(errno));
				continue;
			}
			if (ensure_mapped(p, len, h->page_size))
				return fail(err, errlen, "mmap %p: %s", p,
					    strerror(errno));
			if (r.run->kind == CP_RUN_DATA)
				memcpy(p, r.data, len);
			else
				memset(p, 0, len);
		}
	}
	return 0;
}
