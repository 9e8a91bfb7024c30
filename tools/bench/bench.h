/* SPDX-License-Identifier: GPL-2.0 */
/* bench.h - what every ctxkit benchmark times with. */
#ifndef __CTXKIT_BENCH_H
#define __CTXKIT_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Monotonic time in seconds. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of @n values; sorts them. */
static inline double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* __CTXKIT_BENCH_H */
