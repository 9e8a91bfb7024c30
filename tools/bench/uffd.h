/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uffd.h - the userspace baseline the ctxkit benchmarks measure against.
 * Needs the 6.7+ uapi headers (UFFD_FEATURE_WP_ASYNC, PAGEMAP_SCAN).
 */
#ifndef __CTXKIT_UFFD_H
#define __CTXKIT_UFFD_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

/*
 * The userspace way to track writes (6.7+): register [p, p + bytes) for
 * async userfaultfd write-protect and protect all of it, so PAGEMAP_SCAN
 * reports PAGE_IS_WRITTEN for what is written from now on.  Returns the
 * userfaultfd, or -1 with errno and the step that failed in @what.
 */
static inline int uffd_wp_async(void *p, long bytes, const char **what)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC,
	};
	struct uffdio_register reg = {
		.range = { (uintptr_t)p, bytes },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { (uintptr_t)p, bytes },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int uffd, err;

	*what = "userfaultfd";
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0 && errno == EINVAL)	/* before 5.11 */
		uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		return -1;
	*what = "UFFDIO_API with UFFD_FEATURE_WP_ASYNC";
	if (ioctl(uffd, UFFDIO_API, &api))
		goto fail;
	*what = "UFFDIO_REGISTER_MODE_WP";
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		goto fail;
	*what = "UFFDIO_WRITEPROTECT";
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		goto fail;
	return uffd;
fail:
	err = errno;
	close(uffd);
	errno = err;
	return -1;
}

#endif /* __CTXKIT_UFFD_H */
