/* SPDX-License-Identifier: GPL-2.0 */
/* mm_util.h - what the selftests of the memory features share. */
#ifndef __CTXKIT_MM_UTIL_H
#define __CTXKIT_MM_UTIL_H

#include <stdint.h>
#include <sys/mman.h>

#include "../harness.h"

#define PAGE		4096UL
#define HPAGE		(2UL << 20)

/* Fill len bytes with a pattern that depends on seed and position. */
static inline void fill(void *p, size_t len, unsigned int seed)
{
	uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

/* Private anonymous memory of 4 KiB pages: page counts stay exact. */
static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap %zu: %s", len, strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

#endif /* __CTXKIT_MM_UTIL_H */
