/* SPDX-License-Identifier: GPL-2.0 */
/*
 * harness.h - ctxkit's small selftest harness.
 *
 * A test file lists its cases with TEST() and ends with TEST_MAIN().  Each
 * case runs in a child of its own, so a crash fails that case only.  Output
 * is TAP: one "ok"/"not ok" line per case, diagnostics as "# " lines, and a
 * closing "# N passed, N failed, N skipped" comment.  Case numbers are left
 * to the runner that collects several binaries (selftests/run.sh); a
 * binary run alone numbers its own.
 *
 *	TEST(cow_private_pages)
 *	{
 *		ASSERT_EQ(count, N);
 *	}
 *	TEST_MAIN()
 */
#ifndef __CTXKIT_HARNESS_H
#define __CTXKIT_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define MAX_TESTS	64
static struct test_case __tests[MAX_TESTS];
static int __ntests;

#define TEST(name)							\
	static void test_##name(void);					\
	static void __attribute__((constructor)) __register_##name(void) \
	{								\
		if (__ntests < MAX_TESTS)				\
			__tests[__ntests++] = (struct test_case){	\
				#name, test_##name };			\
	}								\
	static void test_##name(void)

static inline void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* End the current case.  Only valid inside a TEST() body. */
#define SKIP(fmt, ...) do {						\
		printf("# SKIP " fmt "\n", ##__VA_ARGS__);		\
		fflush(stdout);						\
		_exit(KSFT_SKIP);					\
	} while (0)

#define FAIL(fmt, ...) do {						\
		diag("%s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__);	\
		_exit(KSFT_FAIL);					\
	} while (0)

#define ASSERT_TRUE(cond) do {						\
		if (!(cond))						\
			FAIL("%s is false", #cond);			\
	} while (0)

#define __ASSERT_CMP(a, op, b) do {					\
		long long __a = (long long)(a), __b = (long long)(b);	\
		if (!(__a op __b))					\
			FAIL("expected %s %s %s, got %lld vs %lld",	\
			     #a, #op, #b, __a, __b);			\
	} while (0)

#define ASSERT_EQ(a, b)	__ASSERT_CMP(a, ==, b)
#define ASSERT_NE(a, b)	__ASSERT_CMP(a, !=, b)
#define ASSERT_GE(a, b)	__ASSERT_CMP(a, >=, b)
#define ASSERT_LE(a, b)	__ASSERT_CMP(a, <=, b)

#define ASSERT_STR_EQ(a, b) do {					\
		const char *__a = (a), *__b = (b);			\
		if (strcmp(__a, __b))					\
			FAIL("expected %s == \"%s\", got \"%s\"",	\
			     #a, __b, __a);				\
	} while (0)

/* A libc call that must succeed: 0 or a value, never -1. */
#define ASSERT_OK(expr) do {						\
		if ((long)(expr) < 0)					\
			FAIL("%s: %s", #expr, strerror(errno));		\
	} while (0)

static inline int __run_case(const struct test_case *t)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		return KSFT_FAIL;
	}
	if (pid == 0) {
		t->fn();
		_exit(KSFT_PASS);
	}
	if (waitpid(pid, &status, 0) < 0) {
		diag("waitpid: %s", strerror(errno));
		return KSFT_FAIL;
	}
	if (WIFSIGNALED(status)) {
		diag("%s: killed by signal %d (%s)", t->name,
		     WTERMSIG(status), strsignal(WTERMSIG(status)));
		return KSFT_FAIL;
	}
	if (WEXITSTATUS(status) == KSFT_PASS || WEXITSTATUS(status) == KSFT_SKIP)
		return WEXITSTATUS(status);
	return KSFT_FAIL;
}

/* Is case @name one of @names (all when there are none)? */
static inline bool __selected(const char *name, int n, char **names)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return true;
	return !n;
}

/*
 * Run the cases named in @names, or all when @n is 0.
 * CTXKIT_TAP_NONUM=1: the runner numbers the cases across binaries.
 */
static inline int __run_all(int n, char **names)
{
	int i, pass = 0, fail = 0, skip = 0, planned = 0;
	bool number = !getenv("CTXKIT_TAP_NONUM");

	for (i = 0; i < __ntests; i++)
		planned += __selected(__tests[i].name, n, names);
	if (!planned) {
		fprintf(stderr, "no such test case: %s\n", names[0]);
		return KSFT_FAIL;
	}
	if (number)
		printf("TAP version 13\n1..%d\n", planned);
	for (i = 0; i < __ntests; i++) {
		int rc;
		char num[16] = "";

		if (!__selected(__tests[i].name, n, names))
			continue;
		rc = __run_case(&__tests[i]);

		if (number)
			snprintf(num, sizeof(num), " %d",
				 pass + fail + skip + 1);
		switch (rc) {
		case KSFT_PASS:
			printf("ok%s - %s\n", num, __tests[i].name);
			pass++;
			break;
		case KSFT_SKIP:
			printf("ok%s - %s # SKIP\n", num, __tests[i].name);
			skip++;
			break;
		default:
			printf("not ok%s - %s\n", num, __tests[i].name);
			fail++;
		}
		fflush(stdout);
	}
	printf("# %d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail ? KSFT_FAIL : KSFT_PASS;
}

/* A test program runs every case, or those named on its command line. */
#define TEST_MAIN()							\
	int main(int argc, char **argv)					\
	{								\
		setvbuf(stdout, NULL, _IOLBF, 0);			\
		return __run_all(argc - 1, argv + 1);			\
	}

#endif /* __CTXKIT_HARNESS_H */
