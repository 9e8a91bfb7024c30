// SPDX-License-Identifier: GPL-2.0
/*
 * ipcbench - ipc_send()/ipc_recv()/ipc_reply() against what a user
 * would otherwise pick, in one run:
 *
 *  - round trip of an 8-byte message and its 8-byte reply: a pipe
 *    ping-pong and a futex ping-pong on shared memory;
 *  - one way throughput at 4 KiB to 16 MiB, the receiver reading a byte
 *    of every page it got, each message acknowledged: ipc (whole pages
 *    mapped copy-on-write), ipc with IPC_SEND_COPY, pipe write/read,
 *    vmsplice() into a pipe and read(), and process_vm_writev() into the
 *    receiver followed by a pipe notification;
 *  - the cost of the copy-on-write breaks: the receiver writes 1%, 10% or
 *    100% of the pages of each message, and the sender rewrites its
 *    buffer before each one, against the same with IPC_SEND_COPY;
 *  - kernel.ipc_cow_min: copy-on-write against copy from 1 to 64 pages,
 *    with the threshold at a page for the run (root only).
 *
 * Every figure is the median of REPS runs, and every ratio is against
 * the same run's ipc figure: above 1, ipc is faster.
 *
 * USAGE: ipcbench [REPS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/ipc_msg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

#define PAGE	4096UL

static void die(const char *what)
{
	fprintf(stderr, "ipcbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *map(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 1, len);
	return p;
}

static void reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("a child failed");
}

static void xread(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n <= 0)
			die("read");
		p += n;
		len -= n;
	}
}

static void xwrite(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n <= 0)
			die("write");
		p += n;
		len -= n;
	}
}

/* ---- round trips ------------------------------------------------------ */

enum rt_way { RT_IPC, RT_PIPE, RT_FUTEX, NR_RT };
static const char *const rt_name[NR_RT] = { "ipc", "pipe", "futex" };

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/* Wait until *@w is @want, then set it to @next and wake the other. */
static void futex_turn(uint32_t *w, uint32_t want, uint32_t next)
{
	uint32_t v;

	while ((v = __atomic_load_n(w, __ATOMIC_ACQUIRE)) != want)
		futex(w, FUTEX_WAIT, v);
	__atomic_store_n(w, next, __ATOMIC_RELEASE);
	futex(w, FUTEX_WAKE, 1);
}

/* Seconds per round trip, over @n of them. */
static double round_trips(enum rt_way w, long n)
{
	uint32_t *word = (uint32_t *)map(PAGE, MAP_SHARED);
	char msg[8] = "ping", reply[8];
	int up[2], down[2];
	double t0, t;
	pid_t pid;
	long i;

	*word = 0;
	if (pipe(up) || pipe(down))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		pid_t from;

		for (i = 0; i < n; i++) {
			switch (w) {
			case RT_IPC:
				from = syscall(__NR_ipc_recv, msg, 8, NULL, 0);
				if (from < 0 ||
				    syscall(__NR_ipc_reply, from, "pong", 8, 0))
					_exit(1);
				break;
			case RT_PIPE:
				xread(up[0], msg, 8);
				xwrite(down[1], "pong", 8);
				break;
			case RT_FUTEX:
				futex_turn(word, 1, 2);
				break;
			case NR_RT:
				break;
			}
		}
		_exit(0);
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		switch (w) {
		case RT_IPC:
			if (syscall(__NR_ipc_send, pid, msg, 8, reply, 8, 0) != 8)
				die("ipc_send");
			break;
		case RT_PIPE:
			xwrite(up[1], msg, 8);
			xread(down[0], reply, 8);
			break;
		case RT_FUTEX:
			futex_turn(word, 0, 1);
			futex_turn(word, 2, 0);
			break;
		case NR_RT:
			break;
		}
	}
	t = (now() - t0) / n;
	reap(pid);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	munmap(word, PAGE);
	return t;
}

/* ---- throughput ------------------------------------------------------- */

enum tp_way { TP_IPC, TP_IPC_COPY, TP_PIPE, TP_VMSPLICE, TP_PVW, NR_TP };
static const char *const tp_name[NR_TP] = {
	"ipc", "ipc-copy", "pipe", "vmsplice", "process_vm_writev",
};

/* What each side does to the data besides moving it. */
struct load {
	unsigned int stride;	/* the receiver writes every stride-th page */
	bool rewrite;		/* the sender writes all before each message */
};

static unsigned long read_pages(const char *p, size_t len)
{
	unsigned long sum = 0;
	size_t i;

	for (i = 0; i < len; i += PAGE)
		sum += ((const volatile char *)p)[i];
	return sum;
}

static void write_pages(char *p, size_t len, unsigned int stride)
{
	size_t i;

	for (i = 0; stride && i < len; i += stride * PAGE)
		p[i]++;
}

/* Bytes per second moved, @n messages of @len bytes. */
static double throughput(enum tp_way w, size_t len, long n, struct load ld)
{
	char *src = map(len, MAP_PRIVATE), *dst = map(len, MAP_PRIVATE);
	int data[2], ack[2], addr[2];
	double t0, t;
	pid_t pid;
	char c = 0;
	long i;

	if (pipe(data) || pipe(ack) || pipe(addr))
		die("pipe");
	fcntl(data[1], F_SETPIPE_SZ, 1 << 20);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		/* The receiver: its buffer is dst. */
		xwrite(addr[1], &dst, sizeof(dst));
		for (i = 0; i < n; i++) {
			size_t got;
			pid_t from;

			switch (w) {
			case TP_IPC:
			case TP_IPC_COPY:
				from = syscall(__NR_ipc_recv, dst, len, &got, 0);
				if (from < 0 || got != len)
					_exit(1);
				read_pages(dst, len);
				write_pages(dst, len, ld.stride);
				if (syscall(__NR_ipc_reply, from, NULL, 0, 0))
					_exit(1);
				break;
			case TP_PIPE:
			case TP_VMSPLICE:
				xread(data[0], dst, len);
				read_pages(dst, len);
				xwrite(ack[1], &c, 1);
				break;
			case TP_PVW:
				xread(data[0], &c, 1);
				read_pages(dst, len);
				xwrite(ack[1], &c, 1);
				break;
			case NR_TP:
				break;
			}
		}
		_exit(0);
	}
	xread(addr[0], &dst, sizeof(dst));
	t0 = now();
	for (i = 0; i < n; i++) {
		struct iovec l = { src, len }, r = { dst, len };
		size_t off;

		if (ld.rewrite)
			write_pages(src, len, 1);
		switch (w) {
		case TP_IPC:
		case TP_IPC_COPY:
			if (syscall(__NR_ipc_send, pid, src, len, NULL, 0,
				    w == TP_IPC_COPY ? IPC_SEND_COPY : 0))
				die("ipc_send");
			break;
		case TP_PIPE:
			xwrite(data[1], src, len);
			xread(ack[0], &c, 1);
			break;
		case TP_VMSPLICE:
			for (off = 0; off < len;) {
				struct iovec v = { src + off, len - off };
				ssize_t k = vmsplice(data[1], &v, 1, 0);

				if (k <= 0)
					die("vmsplice");
				off += k;
			}
			xread(ack[0], &c, 1);
			break;
		case TP_PVW:
			if (process_vm_writev(pid, &l, 1, &r, 1, 0) != (ssize_t)len)
				die("process_vm_writev");
			xwrite(data[1], &c, 1);
			xread(ack[0], &c, 1);
			break;
		case NR_TP:
			break;
		}
	}
	t = now() - t0;
	reap(pid);
	close(data[0]);
	close(data[1]);
	close(ack[0]);
	close(ack[1]);
	close(addr[0]);
	close(addr[1]);
	munmap(src, len);
	munmap(dst, len);
	return (double)len * n / t;
}

/* Messages per run: about the same bytes whatever the size. */
static long msgs(size_t len)
{
	return len >= (16 << 20) ? 8 : len >= (1 << 20) ? 32 : 2000;
}

#define COW_MIN	"/proc/sys/kernel/ipc_cow_min"

/*
 * Copy-on-write against copy for messages of 1 to 64 pages, with
 * kernel.ipc_cow_min at a page meanwhile: where the ratio passes 1 is
 * what the default should be.
 */
static void threshold(int reps)
{
	static const size_t pages[] = { 1, 2, 4, 8, 12, 16, 24, 32, 64 };
	FILE *f = fopen(COW_MIN, "r+");
	unsigned int was, i;
	double v[2][16], med[2];
	int r, w;

	if (!f || fscanf(f, "%u", &was) != 1) {
		printf("kernel.ipc_cow_min: cannot read %s, not measured\n",
		       COW_MIN);
		return;
	}
	rewind(f);
	if (fprintf(f, "4096\n") < 0 || fflush(f)) {
		printf("kernel.ipc_cow_min: cannot write it, not measured\n");
		fclose(f);
		return;
	}
	printf("kernel.ipc_cow_min (now %u): copy-on-write/copy, the receiver "
	       "reading, median of %d runs:\n", was, reps);
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		size_t len = pages[i] * PAGE;

		for (w = 0; w < 2; w++) {
			for (r = 0; r < reps; r++)
				v[w][r] = throughput(w ? TP_IPC_COPY : TP_IPC,
						     len, 2000,
						     (struct load){ 0, false });
			med[w] = median(v[w], reps);
		}
		printf("  %3zu pages: %.2f\n", pages[i], med[0] / med[1]);
	}
	rewind(f);
	fprintf(f, "%u\n", was);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4096, 65536, 1 << 20, 16 << 20 };
	static const struct load reads = { 0, false }, loads[] = {
		{ 100, false }, { 10, false }, { 1, false }, { 0, true },
		{ 1, true },
	};
	static const char *const load_name[] = {
		"the receiver writes 1% of the pages",
		"the receiver writes 10%",
		"the receiver writes 100%",
		"the sender rewrites it all first",
		"both: sender all first, receiver 100%",
	};
	int reps = argc > 1 ? atoi(argv[1]) : 5, r, w;
	double v[NR_TP][16], med[NR_TP];
	unsigned int s, k;

	if (reps < 1 || reps > 16) {
		fprintf(stderr, "usage: ipcbench [REPS (1-16)]\n");
		return 2;
	}
	errno = 0;
	if (syscall(__NR_ipc_reply, 0, NULL, 0, ~0U) == -1 && errno == ENOSYS) {
		fprintf(stderr, "ipcbench: this kernel has no ipc_send\n");
		return 1;
	}

	printf("round trip, 8-byte message and reply, median of %d runs:\n",
	       reps);
	for (w = 0; w < NR_RT; w++) {
		for (r = 0; r < reps; r++)
			v[w][r] = round_trips(w, 2000);
		med[w] = median(v[w], reps);
	}
	for (w = 0; w < NR_RT; w++)
		printf("  %-6s %8.2f us   %s/ipc %.2f\n", rt_name[w],
		       med[w] * 1e6, rt_name[w], med[w] / med[RT_IPC]);

	printf("one way, the receiver reads a byte a page, median of %d runs:\n",
	       reps);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		long n = msgs(sizes[s]);

		for (w = 0; w < NR_TP; w++) {
			for (r = 0; r < reps; r++)
				v[w][r] = throughput(w, sizes[s], n, reads);
			med[w] = median(v[w], reps);
		}
		printf("  %6zu KiB:", sizes[s] >> 10);
		for (w = 0; w < NR_TP; w++)
			printf("  %s %.2f GiB/s", tp_name[w],
			       med[w] / (1 << 30));
		printf("\n            ipc/");
		for (w = 1; w < NR_TP; w++)
			printf("%s %.2f%s", tp_name[w], med[TP_IPC] / med[w],
			       w + 1 < NR_TP ? ", " : "\n");
	}

	printf("copy-on-write breaks, 1 MiB and 16 MiB, median of %d runs:\n",
	       reps);
	for (s = 2; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (k = 0; k < sizeof(loads) / sizeof(loads[0]); k++) {
			for (w = TP_IPC; w <= TP_IPC_COPY; w++) {
				for (r = 0; r < reps; r++)
					v[w][r] = throughput(w, sizes[s],
							     msgs(sizes[s]),
							     loads[k]);
				med[w] = median(v[w], reps);
			}
			printf("  %6zu KiB, %-34s ipc %.2f GiB/s, ipc-copy "
			       "%.2f GiB/s, ipc/ipc-copy %.2f\n",
			       sizes[s] >> 10, load_name[k],
			       med[TP_IPC] / (1 << 30),
			       med[TP_IPC_COPY] / (1 << 30),
			       med[TP_IPC] / med[TP_IPC_COPY]);
		}
	}

	threshold(reps);
	return 0;
}
