// SPDX-License-Identifier: GPL-2.0
/*
 * ipc_send()/ipc_recv()/ipc_reply(): synchronous messages between
 * processes (ipc/ipc_msg.c).
 *
 * Every case runs real processes and threads against each other and
 * checks what arrived byte for byte with memcmp(), against patterns the
 * other side wrote.  Where a case needs "the peer is now blocked in the
 * call", it reads that from /proc/TID/syscall, not from a sleep.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <linux/ipc_msg.h>
#include <linux/userfaultfd.h>

#include "mm_util.h"

static void need_ipc(void)
{
	errno = 0;
	if (syscall(__NR_ipc_reply, 0, NULL, 0, ~0U) == -1 && errno == ENOSYS)
		SKIP("this kernel has no ipc_send (syscall %d)",
		     __NR_ipc_send);
}

static long ipc_send(pid_t pid, const void *sbuf, size_t slen, void *rbuf,
		     size_t rlen, unsigned int flags)
{
	return syscall(__NR_ipc_send, pid, sbuf, slen, rbuf, rlen, flags);
}

static pid_t ipc_recv(void *buf, size_t len, size_t *msg_len,
		      unsigned int flags)
{
	return syscall(__NR_ipc_recv, buf, len, msg_len, flags);
}

static long ipc_reply(pid_t tid, const void *buf, size_t len,
		      unsigned int flags)
{
	return syscall(__NR_ipc_reply, tid, buf, len, flags);
}

static pid_t gettid_(void)
{
	return syscall(SYS_gettid);
}

/* The call must fail with @err. */
#define ASSERT_ERR(call, err) do {					\
		long __r = (call);					\
		if (__r != -1 || errno != (err))			\
			FAIL("%s = %ld (%s), expected %s", #call, __r,	\
			     __r == -1 ? strerror(errno) : "success", #err); \
	} while (0)

/*
 * Wait until thread @tid of process @pid is asleep in system call @nr,
 * as /proc/PID/task/TID/syscall tells.
 */
static void wait_in_syscall(pid_t pid, pid_t tid, int nr)
{
	char path[64], line[256];
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	for (i = 0; i < 20000; i++) {
		FILE *f = fopen(path, "r");
		int got = -1;

		if (f) {
			if (fgets(line, sizeof(line), f))
				got = atoi(line);
			fclose(f);
		}
		if (got == nr)
			return;
		usleep(1000);
	}
	FAIL("%d/%d never blocked in syscall %d", pid, tid, nr);
}

/* A child that runs @fn(@arg) and exits 0, or with the case's status. */
static pid_t spawn(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(arg);
		_exit(0);
	}
	return pid;
}

static volatile sig_atomic_t signals;

static void count_signal(int sig)
{
	signals++;
}

/* A handler without SA_RESTART, so a blocked call sees the signal. */
static void catch(int sig)
{
	struct sigaction sa = { .sa_handler = count_signal };

	ASSERT_OK(sigaction(sig, &sa, NULL));
}

TEST(every_errno)
{
	char buf[64];
	size_t len;
	pid_t dead;
	int status;

	need_ipc();
	/* Unknown flags come first, before any other argument is looked at. */
	ASSERT_ERR(ipc_send(-1, (void *)-4096L, 1, NULL, 0, 2), EINVAL);
	ASSERT_ERR(ipc_send(getppid(), buf, 1, buf, 1, ~IPC_SEND_FLAGS), EINVAL);
	ASSERT_ERR(ipc_recv((void *)-4096L, 1, NULL, 2), EINVAL);
	ASSERT_ERR(ipc_reply(-1, (void *)-4096L, 1, 1), EINVAL);
	/* No such target, or none that can receive. */
	ASSERT_ERR(ipc_send(0, buf, 1, buf, 1, 0), EINVAL);
	ASSERT_ERR(ipc_send(-5, buf, 1, buf, 1, 0), EINVAL);
	dead = fork();
	ASSERT_GE(dead, 0);
	if (!dead)
		_exit(0);
	ASSERT_EQ(waitpid(dead, &status, 0), dead);
	ASSERT_ERR(ipc_send(dead, buf, 1, buf, 1, 0), ESRCH);
	/* Only this thread could receive it. */
	ASSERT_ERR(ipc_send(getpid(), buf, 1, buf, 1, 0), EDEADLK);
	/* Pointers the kernel would not touch on anyone's behalf. */
	ASSERT_ERR(ipc_send(getppid(), (void *)-4096L, 1, buf, 1, 0), EFAULT);
	ASSERT_ERR(ipc_send(getppid(), buf, 1, (void *)-4096L, 1, 0), EFAULT);
	ASSERT_ERR(ipc_recv((void *)-4096L, 1, NULL, IPC_RECV_NONBLOCK), EFAULT);
	ASSERT_ERR(ipc_reply(getppid(), (void *)-4096L, 1, 0), EFAULT);
	/* Lengths read(2) would refuse. */
	ASSERT_ERR(ipc_send(getppid(), buf, SIZE_MAX, buf, 1, 0), EINVAL);
	ASSERT_ERR(ipc_recv(buf, SIZE_MAX / 2, NULL, 0), EINVAL);
	/* Nothing queued, nobody to answer. */
	ASSERT_ERR(ipc_recv(buf, sizeof(buf), &len, IPC_RECV_NONBLOCK), EAGAIN);
	ASSERT_ERR(ipc_reply(getppid(), buf, 1, 0), ESRCH);
	ASSERT_ERR(ipc_reply(0, buf, 1, 0), ESRCH);
	ASSERT_ERR(ipc_reply(dead, buf, 1, 0), ESRCH);
}

/*
 * The seed's StuBS test: four pairs; in each, the child sends a letter
 * and the parent replies "REPLY: " and that letter twice.
 */
static void stubs_child(void *arg)
{
	char letter = *(char *)arg, reply[32] = "";
	long n;

	n = ipc_send(getppid(), &letter, 1, reply, sizeof(reply) - 1, 0);
	if (n != 9)
		FAIL("%c: ipc_send = %ld (%s)", letter, n, strerror(errno));
	if (reply[7] != letter || reply[8] != letter ||
	    memcmp(reply, "REPLY: ", 7))
		FAIL("%c: got \"%s\"", letter, reply);
}

static void stubs_pair(void *arg)
{
	char reply[10], msg = 0;
	size_t len = 0;
	pid_t child, from;

	child = spawn(stubs_child, arg);
	from = ipc_recv(&msg, 1, &len, 0);
	ASSERT_EQ(from, child);
	ASSERT_EQ(len, 1);
	ASSERT_EQ(msg, *(char *)arg);
	snprintf(reply, sizeof(reply), "REPLY: %c%c", msg, msg);
	ASSERT_EQ(ipc_reply(from, reply, 9, 0), 0);
	reap(child);
}

TEST(seed_four_pairs_reply_two_equal_letters)
{
	static char letters[4] = { 'A', 'B', 'C', 'D' };
	pid_t pairs[4];
	int i;

	need_ipc();
	for (i = 0; i < 4; i++)
		pairs[i] = spawn(stubs_pair, &letters[i]);
	for (i = 0; i < 4; i++)
		reap(pairs[i]);
}

/* Lengths: both sides get the full length, and only what fits is stored. */
static void lengths_child(void *arg)
{
	char msg[100], reply[64];

	fill(msg, sizeof(msg), 1);
	memset(reply, 0x5a, sizeof(reply));
	ASSERT_EQ(ipc_send(getppid(), msg, sizeof(msg), reply, 20, 0), 50);
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(reply[i], (char)(i + 1));
	for (int i = 20; i < 64; i++)
		ASSERT_EQ(reply[i], 0x5a);
	/* A message of nothing, and a reply of nothing. */
	ASSERT_EQ(ipc_send(getppid(), NULL, 0, NULL, 0, 0), 0);
}

TEST(lengths_truncate_and_report_the_full_size)
{
	char want[100], buf[64], reply[50];
	size_t len;
	pid_t child;

	need_ipc();
	child = spawn(lengths_child, NULL);
	fill(want, sizeof(want), 1);
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(ipc_recv(buf, 10, &len, 0), child);
	ASSERT_EQ(len, 100);
	ASSERT_EQ(memcmp(buf, want, 10), 0);
	ASSERT_EQ(buf[10], 0);
	for (int i = 0; i < 50; i++)
		reply[i] = i + 1;
	ASSERT_EQ(ipc_reply(child, reply, sizeof(reply), 0), 0);
	/* Not twice. */
	ASSERT_ERR(ipc_reply(child, reply, sizeof(reply), 0), ESRCH);
	/* msg_len may be NULL. */
	ASSERT_EQ(ipc_recv(buf, sizeof(buf), NULL, 0), child);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	reap(child);
}

/* Big and unaligned, both ways, byte for byte. */
#define BIG	(8UL << 20)

static void big_child(void *arg)
{
	size_t off = (size_t)arg;
	char *s = map_anon(BIG + PAGE), *r = map_anon(BIG + PAGE);

	fill(s, BIG + PAGE, 7);
	ASSERT_EQ(ipc_send(getppid(), s + off, BIG - 3, r + 5, BIG, 0),
		  (long)BIG - 1);
	fill(s, BIG + PAGE, 8);
	if (memcmp(r + 5, s + 3, BIG - 1))
		FAIL("the reply differs");
}

TEST(big_unaligned_messages_arrive_byte_for_byte)
{
	char *buf = map_anon(BIG + PAGE), *want = map_anon(BIG + PAGE);
	size_t offs[] = { 0, 1, PAGE - 1, 123 }, len;
	unsigned int i;
	pid_t child;

	need_ipc();
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		child = spawn(big_child, (void *)offs[i]);
		memset(buf, 0, BIG + PAGE);
		ASSERT_EQ(ipc_recv(buf + 11, BIG, &len, 0), child);
		ASSERT_EQ(len, BIG - 3);
		fill(want, BIG + PAGE, 7);
		if (memcmp(buf + 11, want + offs[i], BIG - 3))
			FAIL("offset %zu: the message differs", offs[i]);
		fill(want, BIG + PAGE, 8);
		ASSERT_EQ(ipc_reply(child, want + 3, BIG - 1, 0), 0);
		reap(child);
	}
}

/*
 * A pool of receiving threads in one process, and clients whose every
 * thread sends: each reply must reach the exact thread that sent.
 */
#define POOL		4
#define CLIENTS		3
#define CTHREADS	3
#define ROUNDS		200

static void *pool_thread(void *arg)
{
	long *served = arg;
	pid_t tid[2];
	size_t len;
	pid_t from;

	for (;;) {
		from = ipc_recv(tid, sizeof(tid), &len, 0);
		if (from < 0)
			FAIL("ipc_recv: %s", strerror(errno));
		if (len != sizeof(tid) || tid[0] != from)
			FAIL("from %d: a message from %d", from, tid[0]);
		tid[1] = tid[0] ^ 0x5a5a;
		/* Counted before the sender can return. */
		__atomic_add_fetch(served, 1, __ATOMIC_RELAXED);
		if (ipc_reply(from, tid, sizeof(tid), 0))
			FAIL("ipc_reply %d: %s", from, strerror(errno));
	}
	return NULL;
}

static void *client_thread(void *arg)
{
	pid_t server = (pid_t)(long)arg, msg[2], reply[2];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		msg[0] = gettid_();
		msg[1] = i;
		if (ipc_send(server, msg, sizeof(msg), reply, sizeof(reply),
			     0) != sizeof(reply))
			FAIL("ipc_send: %s", strerror(errno));
		if (reply[0] != msg[0] || reply[1] != (msg[0] ^ 0x5a5a))
			FAIL("thread %d got the reply for %d", msg[0],
			     reply[0]);
	}
	return NULL;
}

static void client(void *arg)
{
	pthread_t t[CTHREADS];
	int i;

	for (i = 0; i < CTHREADS; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, client_thread, arg));
	for (i = 0; i < CTHREADS; i++)
		ASSERT_OK(pthread_join(t[i], NULL));
}

TEST(a_thread_pool_serves_threaded_clients)
{
	pthread_t t[POOL];
	pid_t c[CLIENTS];
	long served = 0;
	int i;

	need_ipc();
	for (i = 0; i < POOL; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, pool_thread, &served));
	for (i = 0; i < CLIENTS; i++)
		c[i] = spawn(client, (void *)(long)getpid());
	for (i = 0; i < CLIENTS; i++)
		reap(c[i]);
	ASSERT_EQ(served, CLIENTS * CTHREADS * ROUNDS);
}

/* A thread may send to its own process if another thread receives. */
static void *echo_once(void *arg)
{
	char buf[16];
	pid_t from;

	from = ipc_recv(buf, sizeof(buf), NULL, 0);
	ASSERT_EQ(from, *(pid_t *)arg);
	ASSERT_EQ(ipc_reply(from, buf, 5, 0), 0);
	return NULL;
}

TEST(a_thread_sends_to_its_own_process)
{
	char reply[16] = "";
	pid_t me = gettid_();
	pthread_t t;

	need_ipc();
	ASSERT_OK(pthread_create(&t, NULL, echo_once, &me));
	ASSERT_EQ(ipc_send(getpid(), "hello", 5, reply, sizeof(reply), 0), 5);
	ASSERT_EQ(memcmp(reply, "hello", 5), 0);
	ASSERT_OK(pthread_join(t, NULL));
}

/*
 * A signal while the message waits in the queue withdraws it: -EINTR,
 * and the receiver never sees it.
 */
static void sends_until_signalled(void *arg)
{
	int *withdrawn = arg;
	char reply[8];

	catch(SIGUSR1);
	ASSERT_ERR(ipc_send(getppid(), "lost", 4, reply, sizeof(reply), 0),
		   EINTR);
	ASSERT_EQ(signals, 1);
	ASSERT_EQ(write(withdrawn[1], "", 1), 1);
	/* Then a message that does arrive. */
	ASSERT_EQ(ipc_send(getppid(), "kept", 4, reply, sizeof(reply), 0), 2);
}

TEST(a_signal_withdraws_a_queued_message)
{
	int withdrawn[2];
	char buf[8] = "";
	pid_t child;
	size_t len;

	need_ipc();
	ASSERT_OK(pipe(withdrawn));
	child = spawn(sends_until_signalled, withdrawn);
	wait_in_syscall(child, child, __NR_ipc_send);
	ASSERT_OK(kill(child, SIGUSR1));
	/* Not before: a receive may take the message before the signal. */
	ASSERT_EQ(read(withdrawn[0], buf, 1), 1);
	ASSERT_EQ(ipc_recv(buf, sizeof(buf), &len, 0), child);
	ASSERT_EQ(memcmp(buf, "kept", 4), 0);
	ASSERT_EQ(ipc_reply(child, "ok", 2, 0), 0);
	reap(child);
	ASSERT_ERR(ipc_recv(buf, sizeof(buf), &len, IPC_RECV_NONBLOCK), EAGAIN);
}

/*
 * A signal racing with the receive: either the message is withdrawn
 * (the send fails with -EINTR and no receive ever sees it), or it was
 * received, and then the send waits for the reply, which must find it.
 * Never both, never neither.  The child ends each round with a message
 * that is not interrupted, so every round has one to receive.
 */
#define RACE_ROUNDS	300

static void races_signals(void *arg)
{
	int *ready = arg;
	char reply[4];
	long ret;
	int i;

	catch(SIGUSR1);
	for (i = 0; i < RACE_ROUNDS; i++) {
		ASSERT_EQ(write(ready[1], "", 1), 1);
		ret = ipc_send(getppid(), "race", 4, reply, sizeof(reply), 0);
		if (ret != 4 && !(ret == -1 && errno == EINTR))
			FAIL("round %d: ipc_send = %ld (%s)", i, ret,
			     strerror(errno));
		/* The round's end: an empty message. */
		sigset_t set, old;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, &old);
		ASSERT_EQ(ipc_send(getppid(), NULL, 0, NULL, 0, 0), 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
}

TEST(a_signal_racing_the_receive_withdraws_or_delivers)
{
	int ready[2], i, withdrawn = 0;
	char buf[8], c;
	pid_t child;
	size_t len;

	need_ipc();
	ASSERT_OK(pipe(ready));
	child = spawn(races_signals, ready);
	for (i = 0; i < RACE_ROUNDS; i++) {
		ASSERT_EQ(read(ready[0], &c, 1), 1);
		/* Roughly as it queues or sleeps. */
		if (i % 3)
			usleep(i % 7 * 50);
		ASSERT_OK(kill(child, SIGUSR1));
		ASSERT_EQ(ipc_recv(buf, sizeof(buf), &len, 0), child);
		if (len == 4) {
			/* Received: the sender must be waiting for this. */
			ASSERT_EQ(ipc_reply(child, "ok!!", 4, 0), 0);
			ASSERT_EQ(ipc_recv(buf, sizeof(buf), &len, 0), child);
		} else {
			withdrawn++;
		}
		ASSERT_EQ(len, 0);
		ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	}
	reap(child);
	diag("%d of %d rounds withdrawn by the signal", withdrawn,
	     RACE_ROUNDS);
}

/*
 * Once a message was received, a signal that is not fatal does not end
 * the wait (the message was delivered, so -EINTR would be a lie); a
 * fatal one does, and the reply then finds nobody.
 */
static void sends_through_a_signal(void *arg)
{
	char reply[8] = "";

	catch(SIGUSR1);
	ASSERT_EQ(ipc_send(getppid(), "m", 1, reply, sizeof(reply), 0), 3);
	ASSERT_EQ(memcmp(reply, "yes", 3), 0);
	ASSERT_EQ(signals, 1);
}

static void sends_forever(void *arg)
{
	char reply[8];

	ipc_send(getppid(), "m", 1, reply, sizeof(reply), 0);
	_exit(3);
}

TEST(after_receipt_only_a_fatal_signal_ends_the_wait)
{
	char buf[8];
	pid_t child;
	int status;

	need_ipc();
	child = spawn(sends_through_a_signal, NULL);
	ASSERT_EQ(ipc_recv(buf, sizeof(buf), NULL, 0), child);
	ASSERT_OK(kill(child, SIGUSR1));
	usleep(100000);
	wait_in_syscall(child, child, __NR_ipc_send);
	ASSERT_EQ(ipc_reply(child, "yes", 3, 0), 0);
	reap(child);

	/* Killed while queued: gone, and never received. */
	child = spawn(sends_forever, NULL);
	wait_in_syscall(child, child, __NR_ipc_send);
	ASSERT_OK(kill(child, SIGKILL));
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ASSERT_ERR(ipc_recv(buf, sizeof(buf), NULL, IPC_RECV_NONBLOCK), EAGAIN);

	/* Killed once received: the reply finds nobody. */
	child = spawn(sends_forever, NULL);
	ASSERT_EQ(ipc_recv(buf, sizeof(buf), NULL, 0), child);
	ASSERT_OK(kill(child, SIGKILL));
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ASSERT_ERR(ipc_reply(child, "late", 4, 0), ESRCH);
}

/*
 * A receiver that exits wakes its senders: -ESRCH if the message was
 * never taken, -ECONNRESET if it was taken and not answered.
 */
struct exit_case {
	pid_t server;
	int err;
};

static void sends_to_a_dying_server(void *arg)
{
	struct exit_case *c = arg;
	char reply[8];

	ASSERT_ERR(ipc_send(c->server, "m", 1, reply, sizeof(reply), 0),
		   c->err);
}

static void serves_once_then_exits(void *arg)
{
	char buf[8];

	if (*(int *)arg == ECONNRESET)
		ASSERT_GE(ipc_recv(buf, sizeof(buf), NULL, 0), 0);
	else
		pause();
}

TEST(a_receiver_that_exits_wakes_its_senders)
{
	int errs[] = { ESRCH, ECONNRESET };
	struct exit_case c;
	unsigned int i;
	pid_t sender;

	need_ipc();
	for (i = 0; i < 2; i++) {
		c.err = errs[i];
		c.server = spawn(serves_once_then_exits, &errs[i]);
		sender = spawn(sends_to_a_dying_server, &c);
		if (c.err == ECONNRESET) {
			reap(c.server);
		} else {
			/* Queued, before the server dies. */
			wait_in_syscall(sender, sender, __NR_ipc_send);
			ASSERT_OK(kill(c.server, SIGKILL));
			waitpid(c.server, NULL, 0);
		}
		reap(sender);
	}
}

/*
 * A receive buffer that faults fails the receiver with -EFAULT and leaves
 * the message queued, whole, for the next receive.  A send buffer that
 * faults fails only its sender, and the receiver gets the next message.
 */
static void sends_bad_then_good(void *arg)
{
	char *hole = map_anon(2 * PAGE), good[PAGE + 10], reply[4];

	ASSERT_OK(munmap(hole + PAGE, PAGE));
	ASSERT_ERR(ipc_send(getppid(), hole, 2 * PAGE, reply, 4, 0), EFAULT);
	fill(good, sizeof(good), 3);
	ASSERT_EQ(ipc_send(getppid(), good, sizeof(good), reply, 4, 0), 0);
	/* A reply buffer that faults fails the sender, not the replier. */
	ASSERT_ERR(ipc_send(getppid(), good, 1, hole + PAGE, 4, 0), EFAULT);
}

TEST(a_faulting_buffer_fails_only_its_owner)
{
	char *hole = map_anon(2 * PAGE), want[PAGE + 10];
	pid_t child;
	size_t len;

	need_ipc();
	ASSERT_OK(munmap(hole + PAGE, PAGE));
	child = spawn(sends_bad_then_good, NULL);
	/* The first message fails its sender as the receiver copies it... */
	wait_in_syscall(child, child, __NR_ipc_send);
	memset(hole, 0, PAGE);
	len = 0;
	ASSERT_ERR(ipc_recv(hole, 2 * PAGE, &len, 0), EFAULT);
	/* ...this one fails the receiver, and stays queued. */
	fill(want, sizeof(want), 3);
	ASSERT_EQ(len, sizeof(want));
	ASSERT_EQ(ipc_recv(want, sizeof(want), &len, 0), child);
	fill(hole, PAGE, 3);
	ASSERT_EQ(memcmp(want, hole, PAGE), 0);
	/* A reply from a buffer that faults can be tried again. */
	ASSERT_ERR(ipc_reply(child, hole + PAGE - 2, 4, 0), EFAULT);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	ASSERT_EQ(ipc_recv(want, 1, &len, 0), child);
	ASSERT_EQ(ipc_reply(child, "abcd", 4, 0), 0);
	reap(child);
}

/* Sending needs what kill() needs. */
static void sends_as_nobody(void *arg)
{
	char reply[4];
	pid_t root = *(pid_t *)arg;

	ASSERT_OK(setresuid(65534, 65534, 65534));
	ASSERT_ERR(ipc_send(root, "m", 1, reply, 4, 0), EPERM);
	ASSERT_ERR(kill(root, 0), EPERM);
	ASSERT_EQ(ipc_send(getppid(), "m", 1, reply, 4, 0), 0);
}

static void nobody_server(void *arg)
{
	char buf[4];
	pid_t root = getppid(), from, child;

	ASSERT_OK(setresuid(65534, 65534, 65534));
	child = spawn(sends_as_nobody, &root);
	from = ipc_recv(buf, sizeof(buf), NULL, 0);
	ASSERT_EQ(from, child);
	ASSERT_EQ(ipc_reply(from, NULL, 0, 0), 0);
	reap(child);
}

TEST(sending_needs_the_rights_of_kill)
{
	need_ipc();
	if (geteuid())
		SKIP("needs root to change uid");
	reap(spawn(nobody_server, NULL));
}

/*
 * pids are the caller's: a receiver that could not name the sender, in
 * a PID namespace that does not hold it, is refused with -EXDEV; one in
 * an outer namespace gets the sender's id there.
 */
static void inner_sender(void *arg)
{
	char reply[4];

	ASSERT_EQ(getpid(), 2);
	/* The outer receiver's pid is not visible here; use the inner one. */
	ASSERT_EQ(ipc_send(1, "in", 2, reply, 4, 0), 0);
}

struct ns_case {
	pid_t outer;
	int done[2];	/* a pipe: inner_init has checked its side */
};

static void inner_init(void *arg)
{
	struct ns_case *c = arg;
	char buf[4];
	pid_t child;

	ASSERT_EQ(getpid(), 1);
	/* The outer process is nobody here. */
	ASSERT_ERR(ipc_send(c->outer, "x", 1, buf, 4, 0), ESRCH);
	child = spawn(inner_sender, NULL);
	ASSERT_EQ(ipc_recv(buf, sizeof(buf), NULL, 0), 2);
	ASSERT_EQ(ipc_reply(2, NULL, 0, 0), 0);
	reap(child);
	ASSERT_EQ(write(c->done[1], "", 1), 1);
	pause();
}

TEST(pids_are_in_the_callers_namespace)
{
	struct ns_case c = { .outer = getpid() };
	char reply[4];
	pid_t child;
	int status;

	need_ipc();
	ASSERT_OK(pipe(c.done));
	if (unshare(CLONE_NEWPID))
		SKIP("unshare(CLONE_NEWPID): %s", strerror(errno));
	child = spawn(inner_init, &c);
	ASSERT_EQ(read(c.done[0], reply, 1), 1);
	/* inner_init could not name this process: refused before queueing. */
	ASSERT_ERR(ipc_send(child, "x", 1, reply, 4, 0), EXDEV);
	ASSERT_OK(kill(child, SIGKILL));
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFSIGNALED(status));
}

/*
 * Buffers of every kind, on both sides and both ways: private anonymous
 * memory, a THP, a memfd and MAP_SHARED anonymous memory (shmem), a file
 * mapped privately, hugetlb, and memfd_secret.  The kernel reads the
 * other side's pages through GUP, which refuses secretmem: a secret send
 * buffer or reply buffer fails its sender with -EFAULT, and nothing else.
 */
enum kind { K_ANON, K_THP, K_MEMFD, K_SHMEM, K_FILE, K_HUGETLB, K_SECRET,
	    NR_KINDS };
static const char *const kind_name[NR_KINDS] = {
	"anon", "thp", "memfd", "shmem", "private file", "hugetlb", "secret",
};

#define KLEN	(2 * HPAGE)
#define MLEN	(2 * PAGE + 500)	/* a message, at offset 100 */

/* A KLEN buffer of @k, NULL if this machine has none. */
static char *kind_buf(enum kind k)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS, fd = -1;
	char path[] = "/tmp/ipc_msg.XXXXXX", *p;

	switch (k) {
	case K_ANON:
	case K_THP:
		break;
	case K_MEMFD:
		fd = memfd_create("ipc_msg", 0);
		flags = MAP_SHARED;
		break;
	case K_SHMEM:
		flags = MAP_SHARED | MAP_ANONYMOUS;
		break;
	case K_FILE:
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
		flags = MAP_PRIVATE;
		break;
	case K_HUGETLB:
		flags |= MAP_HUGETLB;
		break;
	case K_SECRET:
		fd = syscall(__NR_memfd_secret, 0);
		flags = MAP_SHARED;
		break;
	case NR_KINDS:
		break;
	}
	if (flags & MAP_ANONYMOUS ? fd != -1 : fd < 0)
		return NULL;
	if (fd >= 0 && ftruncate(fd, KLEN))
		return NULL;
	p = mmap(NULL, KLEN, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (k == K_THP) {
		/* A THP, if the machine gives one, at a 2 MiB boundary. */
		munmap(p, KLEN);
		p = mmap(NULL, 2 * KLEN, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		p = (char *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
		madvise(p, HPAGE, MADV_HUGEPAGE);
	} else if (k == K_ANON) {
		madvise(p, KLEN, MADV_NOHUGEPAGE);
	}
	memset(p, 0, KLEN);
	return p;
}

struct kinds {
	enum kind src, dst;
};

static void kinds_sender(void *arg)
{
	struct kinds *k = arg;
	char *s = kind_buf(k->src), want[MLEN];
	long ret;

	if (!s)
		_exit(KSFT_SKIP);
	fill(s + 100, MLEN, 11);
	ret = ipc_send(getppid(), s + 100, MLEN, s + 200, MLEN, 0);
	if (k->src == K_SECRET) {
		if (ret != -1 || errno != EFAULT)
			FAIL("secret send buffer: %ld (%s)", ret,
			     strerror(errno));
	} else if (ret != MLEN) {
		FAIL("%s -> %s: ipc_send = %ld (%s)", kind_name[k->src],
		     kind_name[k->dst], ret, strerror(errno));
	} else {
		fill(want, MLEN, 12);
		if (memcmp(s + 200, want, MLEN))
			FAIL("%s <- %s: the reply differs", kind_name[k->src],
			     kind_name[k->dst]);
	}
	/* The end of the pair, whatever came before. */
	ASSERT_EQ(ipc_send(getppid(), NULL, 0, NULL, 0, 0), 0);
}

TEST(buffers_of_every_kind_both_ways)
{
	char want[MLEN];
	struct kinds k;
	size_t len;
	pid_t child;
	int status, pairs = 0;
	char *d, val[32];
	long hp;

	need_ipc();
	/* Room for a hugetlb buffer on each side, given back at the end. */
	hp = cg_read("/proc/sys/vm", "nr_hugepages", NULL);
	if (hp >= 0) {
		snprintf(val, sizeof(val), "%ld", hp + 2 * KLEN / HPAGE);
		write_file("/proc/sys/vm/nr_hugepages", val);
	}
	fill(want, MLEN, 11);
	for (k.src = 0; k.src < NR_KINDS; k.src++) {
		for (k.dst = 0; k.dst < NR_KINDS; k.dst++) {
			d = kind_buf(k.src);
			if (!d)
				continue;	/* the sender would have none */
			munmap(d, KLEN);
			d = kind_buf(k.dst);
			if (!d)
				continue;
			child = spawn(kinds_sender, &k);
			ASSERT_EQ(ipc_recv(d + 100, MLEN, &len, 0), child);
			if (len) {
				if (memcmp(d + 100, want, MLEN))
					FAIL("%s -> %s: the message differs",
					     kind_name[k.src],
					     kind_name[k.dst]);
				fill(d + 300, MLEN, 12);
				ASSERT_EQ(ipc_reply(child, d + 300, MLEN, 0),
					  0);
				ASSERT_EQ(ipc_recv(d, 1, &len, 0), child);
			}
			ASSERT_EQ(len, 0);
			ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
			ASSERT_EQ(waitpid(child, &status, 0), child);
			munmap(d, KLEN);
			if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				FAIL("%s -> %s: the sender failed",
				     kind_name[k.src], kind_name[k.dst]);
			pairs++;
		}
	}
	if (hp >= 0) {
		snprintf(val, sizeof(val), "%ld", hp);
		write_file("/proc/sys/vm/nr_hugepages", val);
	}
	diag("%d pairs of buffer kinds", pairs);
	ASSERT_GE(pairs, 25);
}

/*
 * userfaultfd on both sides: the send buffer and the receive buffer are
 * registered for missing pages, and each process's own thread resolves
 * its faults with UFFDIO_COPY.  The receiver's GUP of the sender's pages
 * waits for the sender's resolver, as the sender's own access would.
 */
struct resolver {
	int uffd;
	unsigned int seed;
	volatile bool stop;
};

static void *resolve(void *arg)
{
	struct resolver *r = arg;
	static char page[PAGE] __attribute__((aligned(PAGE)));
	struct uffd_msg msg;
	struct pollfd pfd = { .fd = r->uffd, .events = POLLIN };

	while (!r->stop) {
		struct uffdio_copy copy;
		unsigned long addr;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(r->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = msg.arg.pagefault.address & ~(PAGE - 1);
		fill(page, PAGE, r->seed + (unsigned int)(addr / PAGE));
		copy = (struct uffdio_copy){ .dst = addr, .src = (uintptr_t)page,
					     .len = PAGE };
		ioctl(r->uffd, UFFDIO_COPY, &copy);
	}
	return NULL;
}

/* A userfaultfd with [@p, @p + @len) registered for missing pages. */
static int uffd_missing(void *p, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)p, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		SKIP("userfaultfd: %s", strerror(errno));
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		SKIP("UFFDIO_REGISTER: %s", strerror(errno));
	return uffd;
}

/* @len bytes whose missing pages @r's thread, started in @t, fills. */
static char *uffd_buf(struct resolver *r, size_t len, pthread_t *t)
{
	char *p = map_anon(len);

	r->uffd = uffd_missing(p, len);
	ASSERT_OK(pthread_create(t, NULL, resolve, r));
	return p;
}

static void uffd_sender(void *arg)
{
	struct resolver r = { .seed = 21 };
	char reply[8];
	pthread_t t;
	char *s = uffd_buf(&r, 8 * PAGE, &t);

	/* Never touched here: every page comes from the resolver. */
	ASSERT_EQ(ipc_send(getppid(), s, 8 * PAGE, reply, sizeof(reply), 0), 2);
	r.stop = true;
	pthread_join(t, NULL);
}

TEST(userfaultfd_on_both_sides)
{
	struct resolver r = { .seed = 5 };
	char want[PAGE];
	pthread_t t;
	pid_t child;
	size_t len;
	char *d = uffd_buf(&r, 16 * PAGE, &t);
	uint32_t first;
	int i;

	need_ipc();
	child = spawn(uffd_sender, NULL);
	/* The first half of d is never touched before the copy lands. */
	ASSERT_EQ(ipc_recv(d, 8 * PAGE, &len, 0), child);
	ASSERT_EQ(len, 8 * PAGE);
	ASSERT_EQ(ipc_reply(child, "ok", 2, 0), 0);
	reap(child);
	r.stop = true;
	pthread_join(t, NULL);
	/*
	 * The sender's pages were its resolver's: page k of the message is
	 * fill(21 + its address / PAGE), so the seeds run on by one.
	 */
	first = ((uint32_t *)d)[0];
	for (i = 0; i < 8; i++) {
		fill(want, PAGE, first + i);
		if (memcmp(d + i * PAGE, want, PAGE))
			FAIL("page %d is not the one the sender's resolver "
			     "made (seed %u)", i, first + i);
	}
}

/*
 * A sender killed while its message is being copied leaves at once.  Its
 * send buffer is registered with userfaultfd and nobody resolves the
 * faults, so the receiver's copy waits in the sender's fault handler;
 * the killed sender must still exit (its uffd then goes away, and the
 * copy fails), and the receiver must go on to the next message.
 */
static void sends_from_a_stalled_uffd(void *arg)
{
	char *s = map_anon(4 * PAGE), reply[4];

	/* Kept open, and never read: SKIP() exits KSFT_SKIP. */
	uffd_missing(s, 4 * PAGE);
	ipc_send(getppid(), s, 4 * PAGE, reply, sizeof(reply), 0);
	_exit(3);
}

static void sends_good(void *arg)
{
	char m[PAGE], reply[4];

	fill(m, PAGE, 9);
	ASSERT_EQ(ipc_send(getppid(), m, PAGE, reply, sizeof(reply), 0), 0);
}

struct receiver {
	char *buf;
	pid_t from;
	size_t len;
	int err;
	volatile bool done;
};

static void *receive_one(void *arg)
{
	struct receiver *r = arg;

	r->from = ipc_recv(r->buf, 4 * PAGE, &r->len, 0);
	r->err = errno;
	r->done = true;
	return NULL;
}

TEST(a_sender_killed_mid_copy_leaves_at_once)
{
	struct receiver r = { .buf = map_anon(4 * PAGE) };
	char want[PAGE];
	pid_t stalled, good;
	pthread_t t;
	int status, i;

	need_ipc();
	stalled = spawn(sends_from_a_stalled_uffd, NULL);
	wait_in_syscall(stalled, stalled, __NR_ipc_send);
	ASSERT_OK(pthread_create(&t, NULL, receive_one, &r));
	/* Give the receiver time to take it and stall in the copy. */
	sleep(2);
	ASSERT_TRUE(!r.done);
	ASSERT_OK(kill(stalled, SIGKILL));
	for (i = 0; i < 200 && waitpid(stalled, &status, WNOHANG) == 0; i++)
		usleep(50000);
	if (i == 200)
		FAIL("the killed sender did not exit within 10 s");
	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP)
		SKIP("no userfaultfd");
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The receiver dropped that message and takes the next one. */
	good = spawn(sends_good, NULL);
	ASSERT_OK(pthread_join(t, NULL));
	ASSERT_EQ(r.from, good);
	ASSERT_EQ(r.len, PAGE);
	fill(want, PAGE, 9);
	ASSERT_EQ(memcmp(r.buf, want, PAGE), 0);
	ASSERT_EQ(ipc_reply(good, NULL, 0, 0), 0);
	reap(good);
}

/* ---- copy-on-write transfer ------------------------------------------- */

#define CLEN		(64 * PAGE)	/* 8 times kernel.ipc_cow_min */
#define COW_MIN		"/proc/sys/kernel/ipc_cow_min"

/* ipc_recv() from @child; fails (or skips) if it exits before it sends. */
static pid_t recv_from(pid_t child, void *buf, size_t len, size_t *msg_len)
{
	for (;;) {
		pid_t from = ipc_recv(buf, len, msg_len, IPC_RECV_NONBLOCK);
		int status;

		if (from >= 0 || errno != EAGAIN)
			return from;
		if (waitpid(child, &status, WNOHANG) == child) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP)
				SKIP("the sender skipped");
			FAIL("the sender ended (status %#x) before it sent",
			     status);
		}
		usleep(1000);
	}
}

/* A page of shared memory a child tells its send buffer's address in. */
static volatile uintptr_t *mailbox(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

/*
 * How many of the @pages pages at @a, ours, are the very frames of the
 * pages at @b in process @pid, by their PFNs in pagemap.
 */
static long same_frames(const char *a, pid_t pid, uintptr_t b, long pages)
{
	long i, n = 0;

	for (i = 0; i < pages; i++) {
		uint64_t x = PM_PFN(pagemap_entry(0, a + i * PAGE));
		uint64_t y = PM_PFN(pagemap_entry(pid, (char *)b + i * PAGE));

		if (!x)
			SKIP("pagemap shows no PFNs (needs CAP_SYS_ADMIN)");
		n += x == y;
	}
	return n;
}

/* Does [p, p + len) hold fill(@seed), page @skip aside (-1: none)? */
static bool holds(const char *p, size_t len, unsigned int seed, long skip)
{
	char *want = malloc(len);
	bool same = true;
	size_t i;

	ASSERT_TRUE(want != NULL);
	fill(want, len, seed);
	for (i = 0; i < len / PAGE && same; i++)
		if ((long)i != skip)
			same = !memcmp(p + i * PAGE, want + i * PAGE, PAGE);
	free(want);
	return same;
}

/* vmsplice() [p, p + len) into a new pipe: references, not pins. */
static int splice_in(const void *p, size_t len)
{
	struct iovec iov = { (void *)p, len };
	int fds[2];

	ASSERT_OK(pipe(fds));
	ASSERT_GE(fcntl(fds[1], F_SETPIPE_SZ, len), (long)len);
	ASSERT_EQ(vmsplice(fds[1], &iov, 1, 0), (long)len);
	return fds[0];
}

/*
 * After a transfer, neither side ever sees the other's writes, as
 * selftests/mm/cow.c asks of fork(): for each kind of send buffer, with
 * GUP pins or vmsplice() references on either side, taken before the
 * transfer (the sender's) or after it (the receiver's).  A page the
 * sender may have pinned must be copied, not shared: else a write
 * through the pin would reach the receiver (CVE-2020-29374).
 */
enum pin { PIN_NONE, PIN_SEND_URING, PIN_SEND_SPLICE, PIN_RECV_URING,
	   PIN_RECV_SPLICE, NR_PINS };
static const char *const pin_name[NR_PINS] = {
	"no pin", "sender io_uring", "sender vmsplice", "receiver io_uring",
	"receiver vmsplice",
};

struct cow_case {
	enum kind kind;
	enum pin pin;
	volatile uintptr_t *box;
};

static void cow_sender(void *arg)
{
	struct cow_case *c = arg;
	char *s = kind_buf(c->kind), junk[CLEN / PAGE];
	struct uring u;
	int pfd = -1;

	if (!s)
		_exit(KSFT_SKIP);
	fill(s, CLEN, 21);
	if (c->pin == PIN_SEND_URING)
		uring_init(&u, s, CLEN);
	if (c->pin == PIN_SEND_SPLICE)
		pfd = splice_in(s, CLEN);
	*c->box = (uintptr_t)s;
	ASSERT_EQ(ipc_send(getppid(), s, CLEN, NULL, 0, 0), 0);

	/* Received and answered: write every page, and through the pin. */
	fill(s, CLEN, 22);
	if (c->pin == PIN_SEND_URING)
		uring_read_fixed(&u, data_file(1, 23), s + PAGE, PAGE);
	ASSERT_EQ(ipc_send(getppid(), junk, 1, NULL, 0, 0), 0);
	/* The receiver has written its copy meanwhile, and checked it. */
	if (!holds(s, CLEN, 22, c->pin == PIN_SEND_URING ? 1 : -1) ||
	    (c->pin == PIN_SEND_URING && !holds(s + PAGE, PAGE, 23, -1)))
		FAIL("%s, %s: the sender sees the receiver's writes",
		     kind_name[c->kind], pin_name[c->pin]);
	if (pfd >= 0)
		close(pfd);
}

/* What the receiver of @c should share: every page, or none. */
static long cow_expected(struct cow_case *c)
{
	if (c->kind == K_MEMFD || c->kind == K_SHMEM ||
	    c->pin == PIN_SEND_URING)
		return 0;
	return CLEN / PAGE;
}

static void cow_case(struct cow_case *c)
{
	char *d = map_anon(CLEN), buf[1];
	long shared, want = cow_expected(c), i;
	struct uring u;
	int status, pfd = -1;
	size_t len;
	pid_t child;

	fill(d, CLEN, 20);		/* the old pages, to be freed */
	*c->box = 0;
	child = spawn(cow_sender, c);
	ASSERT_EQ(recv_from(child, d, CLEN, &len), child);
	ASSERT_EQ(len, CLEN);
	if (!holds(d, CLEN, 21, -1))
		FAIL("%s, %s: the message differs", kind_name[c->kind],
		     pin_name[c->pin]);
	shared = same_frames(d, child, *c->box, CLEN / PAGE);
	/* A THP is copied; without one, its small pages are shared. */
	if (c->kind == K_THP ? shared != 0 && shared != want : shared != want)
		FAIL("%s, %s: %ld of %ld pages shared, expected %ld",
		     kind_name[c->kind], pin_name[c->pin], shared,
		     (long)(CLEN / PAGE), want);

	if (c->pin == PIN_RECV_URING) {
		/* A long-term pin unshares: the write stays here. */
		uring_init(&u, d, CLEN);
		uring_read_fixed(&u, data_file(1, 24), d + 3 * PAGE, PAGE);
	}
	if (c->pin == PIN_RECV_SPLICE) {
		/* The pipe keeps the pages once they are unmapped. */
		pfd = splice_in(d, CLEN);
		ASSERT_OK(munmap(d, CLEN));
	}
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	if (c->pin != PIN_RECV_SPLICE)
		for (i = 0; i < (long)(CLEN / PAGE); i += 2)
			fill(d + i * PAGE, PAGE, 25);
	ASSERT_EQ(ipc_recv(buf, 1, &len, 0), child);

	/* The sender has written all of its buffer by now. */
	if (c->pin == PIN_RECV_SPLICE) {
		char *got = malloc(CLEN);

		ASSERT_EQ(read(pfd, got, CLEN), (long)CLEN);
		if (!holds(got, CLEN, 21, -1))
			FAIL("%s, %s: the pipe holds the sender's later "
			     "writes", kind_name[c->kind], pin_name[c->pin]);
		free(got);
		close(pfd);
	} else {
		char *want = malloc(CLEN);

		fill(want, CLEN, 21);
		for (i = 0; i < (long)(CLEN / PAGE); i++) {
			const char *pg = d + i * PAGE;
			bool ok;

			if (i % 2 == 0)
				ok = holds(pg, PAGE, 25, -1);
			else if (i == 3 && c->pin == PIN_RECV_URING)
				ok = holds(pg, PAGE, 24, -1);
			else
				ok = !memcmp(pg, want + i * PAGE, PAGE);
			if (!ok)
				FAIL("%s, %s: page %ld of the receiver changed",
				     kind_name[c->kind], pin_name[c->pin], i);
		}
		free(want);
	}
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("%s, %s: the sender failed", kind_name[c->kind],
		     pin_name[c->pin]);
	if (c->pin != PIN_RECV_SPLICE)
		munmap(d, CLEN);
}

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

TEST(after_a_transfer_neither_side_sees_the_others_writes)
{
	static const enum kind kinds[] = {
		K_ANON, K_THP, K_MEMFD, K_SHMEM, K_FILE,
	};
	struct cow_case c = { .box = mailbox() };
	unsigned int k;
	int runs = 0;
	char *p;

	need_ipc();
	for (k = 0; k < ARRAY_LEN(kinds); k++) {
		c.kind = kinds[k];
		p = kind_buf(c.kind);
		if (!p)
			FAIL("no %s buffer", kind_name[c.kind]);
		munmap(p, KLEN);
		for (c.pin = 0; c.pin < NR_PINS; c.pin++, runs++)
			cow_case(&c);
	}
	diag("%d cases: %zu kinds of send buffer, %d kinds of pin", runs,
	     ARRAY_LEN(kinds), NR_PINS);
}

/* When the whole pages are shared, and when they are copied instead. */
static const struct shape {
	size_t soff, doff, len;
	unsigned int flags;
	long shared;
	const char *what;
} shapes[] = {
	{ 0, 0, 7 * PAGE, 0, 0, "below kernel.ipc_cow_min" },
	{ 0, 0, 8 * PAGE, 0, 8, "at kernel.ipc_cow_min" },
	{ 0, 0, CLEN, IPC_SEND_COPY, 0, "IPC_SEND_COPY" },
	{ 0, 8, CLEN, 0, 0, "alignments that differ" },
	{ 100, 100, CLEN, 0, CLEN / PAGE - 1, "an unaligned head and tail" },
	{ 0, 0, 4 * PAGE, 0, 4, "kernel.ipc_cow_min set to a page" },
};

static void shapes_sender(void *arg)
{
	volatile uintptr_t *box = arg;
	char *s = map_anon(CLEN + PAGE);
	size_t i;

	*box = (uintptr_t)s;
	for (i = 0; i < ARRAY_LEN(shapes); i++) {
		fill(s + shapes[i].soff, shapes[i].len, 30 + i);
		ASSERT_EQ(ipc_send(getppid(), s + shapes[i].soff,
				   shapes[i].len, NULL, 0, shapes[i].flags), 0);
	}
}

TEST(whole_pages_are_shared_where_it_pays_and_copied_elsewhere)
{
	volatile uintptr_t *box = mailbox();
	char *d = map_anon(CLEN + PAGE), *want = malloc(CLEN), old[32];
	long min = cg_read("/proc/sys/kernel", "ipc_cow_min", NULL);
	size_t i, len;
	pid_t child;

	need_ipc();
	if (min < 0)
		FAIL("no " COW_MIN);
	ASSERT_EQ(min, 8 * PAGE);	/* the measured default */
	snprintf(old, sizeof(old), "%ld", min);
	child = spawn(shapes_sender, (void *)box);
	for (i = 0; i < ARRAY_LEN(shapes); i++) {
		const struct shape *sh = &shapes[i];
		long pages = (sh->doff + sh->len + PAGE - 1) / PAGE, got;

		ASSERT_EQ(recv_from(child, d + sh->doff, sh->len, &len), child);
		fill(want, sh->len, 30 + i);
		if (len != sh->len || memcmp(d + sh->doff, want, sh->len))
			FAIL("%s: the message differs", sh->what);
		got = same_frames(d, child, *box, pages);
		diag("%s: %ld of %ld pages shared", sh->what, got, pages);
		if (got != sh->shared)
			FAIL("%s: %ld pages shared, expected %ld", sh->what,
			     got, sh->shared);
		/* The last shape comes once the threshold is down. */
		if (i == ARRAY_LEN(shapes) - 2)
			ASSERT_TRUE(write_file(COW_MIN, "4096"));
		ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	}
	ASSERT_TRUE(write_file(COW_MIN, old));
	reap(child);
	free(want);
}

/*
 * The receive buffer's old pages are freed, and the shared ones are not
 * charged twice: memory.current of a cgroup that holds both processes.
 * Once both are done with the message, it all goes.
 */
#define FLEN	(4UL << 20)

static void flen_sender(void *arg)
{
	char *s = map_anon(FLEN);

	fill(s, FLEN, 40);
	ASSERT_EQ(ipc_send(getppid(), s, FLEN, NULL, 0, 0), 0);
}

TEST(the_receive_buffers_old_pages_are_freed)
{
	char cg[128], procs[160];
	long start, before, after, written, end;
	char *d = map_anon(FLEN);
	size_t len;
	pid_t child;

	need_ipc();
	cg_make(cg, sizeof(cg), "ipc_cow");
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	ASSERT_TRUE(write_file(procs, "0"));
	start = cg_read(cg, "memory.current", NULL);
	/* Forked first, so that it does not share the old pages too. */
	child = spawn(flen_sender, NULL);
	fill(d, FLEN, 39);
	wait_in_syscall(child, child, __NR_ipc_send);
	before = cg_read(cg, "memory.current", NULL);
	ASSERT_EQ(ipc_recv(d, FLEN, &len, 0), child);
	after = cg_read(cg, "memory.current", NULL);
	ASSERT_TRUE(holds(d, FLEN, 40, -1));
	memset(d, 1, FLEN);		/* every page copied now */
	written = cg_read(cg, "memory.current", NULL);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	reap(child);
	diag("memory.current: %ld kB, %ld kB after the message, %ld kB "
	     "once the receiver has written it all", before >> 10,
	     after >> 10, written >> 10);
	/* A copy would leave it the same; 1/8 slack for page tables. */
	ASSERT_LE(after, before - (long)(FLEN - FLEN / 8));
	ASSERT_GE(written, after + (long)(FLEN - FLEN / 8));
	ASSERT_OK(munmap(d, FLEN));
	end = cg_read(cg, "memory.current", NULL);
	diag("memory.current: %ld kB at the start, %ld kB at the end",
	     start >> 10, end >> 10);
	ASSERT_LE(end, start + (long)(FLEN / 8));
	ASSERT_TRUE(write_file(CG_ROOT "/cgroup.procs", "0"));
	ASSERT_OK(rmdir(cg));
}

/*
 * Received pages changed or moved by other means than a write fault:
 * /proc/self/mem (FOLL_FORCE), process_vm_writev() either way,
 * MADV_DONTNEED, mprotect(), mremap() with and without MREMAP_DONTUNMAP,
 * compaction, and a fork of the receiver.  Each keeps to its own side.
 */
static void paths_sender(void *arg)
{
	volatile uintptr_t *box = arg;
	char *s = map_anon(CLEN), *want = malloc(CLEN);

	fill(s, CLEN, 50);
	*box = (uintptr_t)s;
	ASSERT_EQ(ipc_send(getppid(), s, CLEN, NULL, 0, 0), 0);
	fill(s + 20 * PAGE, PAGE, 51);		/* after the reply */
	ASSERT_EQ(ipc_send(getppid(), NULL, 0, NULL, 0, 0), 0);

	fill(want, CLEN, 50);
	fill(want + 20 * PAGE, PAGE, 51);
	memset(want + PAGE, 'Y', 1);	/* the receiver's process_vm_writev() */
	if (memcmp(s, want, CLEN))
		FAIL("the sender's buffer shows the receiver's changes");
}

TEST(received_pages_changed_by_gup_madvise_mremap_and_fork)
{
	volatile uintptr_t *box = mailbox();
	char *d = map_anon(CLEN), *want = malloc(CLEN), *m, *n;
	struct iovec local, remote;
	int fd, status;
	size_t len;
	pid_t child, kid;

	need_ipc();
	child = spawn(paths_sender, (void *)box);
	ASSERT_EQ(recv_from(child, d, CLEN, &len), child);
	ASSERT_EQ(same_frames(d, child, *box, CLEN / PAGE), CLEN / PAGE);
	fill(want, CLEN, 50);

	fd = open("/proc/self/mem", O_RDWR);
	ASSERT_OK(fd);
	ASSERT_EQ(pwrite(fd, "X", 1, (uintptr_t)d), 1);
	close(fd);
	want[0] = 'X';
	/* Into the sender's page 1, and out of the sender into our page 3. */
	local = (struct iovec){ "Y", 1 };
	remote = (struct iovec){ (char *)*box + PAGE, 1 };
	ASSERT_EQ(process_vm_writev(child, &local, 1, &remote, 1, 0), 1);
	local = (struct iovec){ "Z", 1 };
	remote = (struct iovec){ d + 3 * PAGE, 1 };
	ASSERT_EQ(process_vm_writev(getpid(), &local, 1, &remote, 1, 0), 1);
	want[3 * PAGE] = 'Z';
	ASSERT_OK(madvise(d + 2 * PAGE, PAGE, MADV_DONTNEED));
	memset(want + 2 * PAGE, 0, PAGE);
	ASSERT_OK(mprotect(d + 16 * PAGE, 4 * PAGE, PROT_READ));
	ASSERT_OK(mprotect(d + 16 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE));
	d[16 * PAGE] = 'W';
	want[16 * PAGE] = 'W';
	write_file("/proc/sys/vm/compact_memory", "1");

	/* Pages 4-7 move; pages 8-11 move and leave empty pages behind. */
	m = mmap(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	n = mremap(d + 4 * PAGE, 4 * PAGE, 4 * PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, m);
	ASSERT_TRUE(n == m);
	ASSERT_EQ(memcmp(m, want + 4 * PAGE, 4 * PAGE), 0);
	n = mremap(d + 8 * PAGE, 4 * PAGE, 4 * PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   m + 4 * PAGE);
	ASSERT_TRUE(n == m + 4 * PAGE);
	ASSERT_EQ(memcmp(n, want + 8 * PAGE, 4 * PAGE), 0);
	memset(want + 8 * PAGE, 0, 4 * PAGE);

	/* A child of the receiver shares the pages a third time. */
	kid = fork();
	ASSERT_OK(kid);
	if (!kid) {
		d[12 * PAGE] = 'K';
		_exit(memcmp(d + 13 * PAGE, want + 13 * PAGE, PAGE) != 0);
	}
	ASSERT_EQ(waitpid(kid, &status, 0), kid);
	ASSERT_EQ(status, 0);

	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	ASSERT_EQ(recv_from(child, NULL, 0, &len), child);
	/* The sender has written page 20 by now. */
	ASSERT_EQ(memcmp(d, want, 4 * PAGE), 0);
	ASSERT_EQ(memcmp(d + 8 * PAGE, want + 8 * PAGE, CLEN - 8 * PAGE), 0);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_EQ(status, 0);
}

/*
 * TLB flushes, counted with the tlb_flush tracepoint in a tracefs
 * instance of our own: IPIs the receiving thread sent to other CPUs.
 */
#define TRACEFS		"/sys/kernel/tracing"

static char tr_dir[128];

static void tr_write(const char *file, const char *val)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/%s", tr_dir, file);
	if (!write_file(path, val))
		FAIL("write %s to %s: %s", val, path, strerror(errno));
}

static void tr_start(void)
{
	char filter[64];

	snprintf(tr_dir, sizeof(tr_dir), TRACEFS "/instances/ipc_cow-%d",
		 getpid());
	if (mkdir(tr_dir, 0755) && errno != EEXIST)
		SKIP("no tracefs instance %s: %s", tr_dir, strerror(errno));
	/* TLB_REMOTE_SEND_IPI in enum tlb_flush_reason */
	snprintf(filter, sizeof(filter), "reason == 4 && common_pid == %d",
		 getpid());
	tr_write("events/tlb/tlb_flush/filter", filter);
	tr_write("trace", "");
	tr_write("events/tlb/tlb_flush/enable", "1");
}

static long tr_stop(void)
{
	char path[192], line[512];
	long n = 0;
	FILE *f;

	tr_write("events/tlb/tlb_flush/enable", "0");
	snprintf(path, sizeof(path), "%s/trace", tr_dir);
	f = fopen(path, "r");
	ASSERT_TRUE(f != NULL);
	while (fgets(line, sizeof(line), f))
		n += line[0] != '#';
	fclose(f);
	rmdir(tr_dir);
	return n;
}

struct tlb_case {
	volatile uintptr_t *box;
	volatile int *spin;		/* a thread runs on CPU 1 meanwhile */
};

static void *spinner(void *arg)
{
	volatile int *spin = arg;

	pin_cpu(1);
	*spin = 2;
	while (*spin)
		;
	return NULL;
}

static void tlb_sender(void *arg)
{
	struct tlb_case *c = arg;
	char *s = map_anon(FLEN / 4);
	pthread_t t;

	fill(s, FLEN / 4, 60);
	if (*c->spin) {
		ASSERT_OK(pthread_create(&t, NULL, spinner, (void *)c->spin));
		while (*c->spin != 2)
			;
	}
	*c->box = (uintptr_t)s;
	ASSERT_EQ(ipc_send(getppid(), s, FLEN / 4, NULL, 0, 0), 0);
	*c->spin = 0;
}

static long tlb_ipis(bool spin)
{
	struct tlb_case c = { .box = mailbox(), .spin = (int *)mailbox() };
	char *d = map_anon(FLEN / 4);	/* untouched: nothing to flush */
	long ipis, shared;
	size_t len;
	pid_t child;

	*c.spin = spin;
	child = spawn(tlb_sender, &c);
	wait_in_syscall(child, child, __NR_ipc_send);
	tr_start();
	ASSERT_EQ(ipc_recv(d, FLEN / 4, &len, 0), child);
	ipis = tr_stop();
	shared = same_frames(d, child, *c.box, FLEN / 4 / PAGE);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	reap(child);
	ASSERT_TRUE(holds(d, FLEN / 4, 60, -1));
	ASSERT_EQ(shared, (long)(FLEN / 4 / PAGE));
	munmap(d, FLEN / 4);
	return ipis;
}

TEST(no_tlb_shootdown_unless_the_sender_runs_on_another_cpu)
{
	long idle, busy;

	need_ipc();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP("one CPU");
	/*
	 * The sender inherits this: its mm runs on CPU 0 alone, as the
	 * receiver does, unless its spinner takes it to CPU 1.
	 */
	pin_cpu(0);
	idle = tlb_ipis(false);
	busy = tlb_ipis(true);
	diag("TLB shootdown IPIs for a 1 MiB message: %ld with the sender "
	     "on no other CPU, %ld with a thread of it on CPU 1", idle, busy);
	ASSERT_EQ(idle, 0);
	/*
	 * One flush for each part of the range that lies in one page table
	 * on both sides: 256 pages cross at most one 2 MiB boundary on
	 * each, so at most 3.
	 */
	ASSERT_GE(busy, 1);
	ASSERT_LE(busy, 3);
}

/*
 * What GUP would refuse, sharing must refuse too: a send buffer that its
 * own process may not read (PROT_NONE, with its pages present) fails the
 * sender with -EFAULT, and the receiver never sees a byte of it.  A KSM
 * candidate (MADV_MERGEABLE) is copied: KSM's rmap could not find a page
 * mapped at another address in the receiver.
 */
static void unreadable_sender(void *arg)
{
	char *s = map_anon(CLEN), *k = map_anon(CLEN);

	(void)arg;
	fill(s, CLEN, 70);
	ASSERT_OK(mprotect(s, CLEN, PROT_NONE));
	ASSERT_ERR(ipc_send(getppid(), s, CLEN, NULL, 0, 0), EFAULT);
	fill(k, CLEN, 71);
	if (madvise(k, CLEN, MADV_MERGEABLE))
		_exit(KSFT_SKIP);
	*(volatile uintptr_t *)arg = (uintptr_t)k;
	ASSERT_EQ(ipc_send(getppid(), k, CLEN, NULL, 0, 0), 0);
}

TEST(sharing_refuses_what_gup_or_rmap_would)
{
	volatile uintptr_t *box = mailbox();
	char *d = map_anon(CLEN);
	size_t len;
	pid_t child;

	need_ipc();
	fill(d, CLEN, 69);
	child = spawn(unreadable_sender, (void *)box);
	ASSERT_EQ(recv_from(child, d, CLEN, &len), child);
	/* The first message failed its sender: this is the second. */
	if (!holds(d, CLEN, 71, -1))
		FAIL("the receiver got %s", holds(d, CLEN, 70, -1) ?
		     "the unreadable buffer" : "neither message");
	ASSERT_EQ(same_frames(d, child, *box, CLEN / PAGE), 0);
	ASSERT_EQ(ipc_reply(child, NULL, 0, 0), 0);
	reap(child);
}

/*
 * Nothing is left behind when either side exits at any stage of a
 * transfer: the sender killed with its message queued, or after the
 * receiver shares its pages; the receiver exiting with the pages shared
 * and the message unanswered; both exiting with the pages still shared.
 * Every process runs in a cgroup of its own, whose memory.current goes
 * back to nothing; kmemleak (on the debug kernel) has nothing new.
 */
enum stage { ST_QUEUED, ST_SENDER_KILLED, ST_RECEIVER_EXITS, ST_BOTH_EXIT,
	     NR_STAGES };

static void stage_sender(void *arg)
{
	char *s = map_anon(FLEN);

	(void)arg;
	fill(s, FLEN, 80);
	ipc_send(getppid(), s, FLEN, NULL, 0, 0);
	pause();
}

/* A receiver, in @cg, that goes as far as @st says, then exits. */
static int stage_run(enum stage st)
{
	char *d = map_anon(FLEN);
	size_t len;
	pid_t child;

	fill(d, FLEN, 79);
	child = spawn(stage_sender, NULL);
	wait_in_syscall(child, child, __NR_ipc_send);
	if (st == ST_QUEUED) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 0;
	}
	if (ipc_recv(d, FLEN, &len, 0) != child || !holds(d, FLEN, 80, -1))
		return 1;
	if (st == ST_SENDER_KILLED) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		if (!holds(d, FLEN, 80, -1))
			return 2;
		/* It is gone: the reply finds no one. */
		if (ipc_reply(child, NULL, 0, 0) != -1 || errno != ESRCH)
			return 3;
		memset(d, 1, FLEN);		/* the pages are ours alone */
		return 0;
	}
	if (st == ST_RECEIVER_EXITS)
		_exit(0);	/* the sender gets ECONNRESET, then its kill */
	return 0;		/* ST_BOTH_EXIT: the sender dies with us */
}

static int stage_main;

static int stage_work(void)
{
	return stage_run(stage_main);
}

TEST(nothing_is_left_when_either_side_exits_at_any_stage)
{
	static const char *const name[NR_STAGES] = {
		"sender killed while queued", "sender killed after sharing",
		"receiver exits holding it", "both exit sharing it",
	};
	bool kml = kmemleak_start();
	char cg[64];
	long cur;
	int i;

	need_ipc();
	cg_make(cg, sizeof(cg), "ipc_exit");
	for (stage_main = 0; stage_main < NR_STAGES; stage_main++) {
		cg_children(1, cg, stage_work, false);
		/* A sender killed by its parent's death may still be going. */
		for (i = 0; i < 500; i++) {
			if (cg_read(cg, "cgroup.events", "populated") == 0)
				break;
			usleep(10000);
		}
		cur = cg_read(cg, "memory.current", NULL);
		diag("%s: memory.current %ld kB after both", name[stage_main],
		     cur >> 10);
		/* Each side mapped 4 MiB: no more than page tables remain. */
		ASSERT_LE(cur, (long)(FLEN / 8));
	}
	ASSERT_OK(rmdir(cg));
	kmemleak_none(kml);
}

TEST_MAIN()
