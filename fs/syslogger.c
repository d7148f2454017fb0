/*
 * syslogger.c - messages to the local syslog socket that never hold the
 * daemon up for long.
 *
 * glibc's syslog() sends on a blocking datagram socket: when the reader
 * of /dev/log stops reading (a stalled journald, a syslog daemon being
 * restarted, anyone who bound /dev/log and went away), the socket's queue
 * fills and every thread that logs or audits blocks for as long as the
 * reader sleeps -- a filesystem request holds its FUSE worker meanwhile,
 * so one stalled reader hangs the mount for every user.  Here the socket
 * is non-blocking: a full queue is waited on for at most
 * SYSLOGGER_WAIT_MS, once per stall (while messages are being dropped no
 * one waits again until a send succeeds), and what cannot be sent is
 * counted, for status and metrics, instead of blocking.
 *
 * Where there is no reader at all (no /dev/log, as in many containers),
 * a failed connect is not retried for SYSLOGGER_RETRY_MS: glibc's
 * syslog() tried socket + connect + close for every message, three
 * system calls per operation under its global lock.  Messages are
 * formatted before the lock is taken; only the send is serialised.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "syslogger.h"

#define SYSLOGGER_PATH "/dev/log"
#define SYSLOGGER_WAIT_MS 200
#define SYSLOGGER_MSG_MAX 2048
#define SYSLOGGER_RETRY_MS 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;
static bool stalled;		/* the last send was dropped: do not wait */
static int64_t retry_at;	/* no connect before (monotonic ms) */
static uint64_t dropped;	/* atomic */

void syslogger_close(void)
{
	pthread_mutex_lock(&lock);
	if (sock >= 0)
		close(sock);
	sock = -1;
	pthread_mutex_unlock(&lock);
}

uint64_t syslogger_dropped(void)
{
	return __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}

/* Under lock. */
static int connect_locked(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec ts;
	int64_t now;

	if (sock >= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now < retry_at)
		return -ENOTCONN;
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	memcpy(sa.sun_path, SYSLOGGER_PATH, sizeof(SYSLOGGER_PATH));
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = -errno;

		close(sock);
		sock = -1;
		retry_at = now + SYSLOGGER_RETRY_MS;
		return err;
	}
	return 0;
}

/* Under lock: one attempt, then (unless stalled) one bounded wait for
 * room and a second attempt.  A reader that went away (ECONNREFUSED,
 * ENOTCONN) is reconnected once. */
static bool send_locked(const char *msg, size_t len)
{
	struct pollfd p;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (connect_locked() != 0)
			return false;
		if (send(sock, msg, len, MSG_NOSIGNAL) == (ssize_t)len)
			return true;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			if (stalled)
				return false;
			p = (struct pollfd){ .fd = sock, .events = POLLOUT };
			if (poll(&p, 1, SYSLOGGER_WAIT_MS) <= 0)
				return false;
			continue;
		}
		/* The reader is gone or was replaced: a fresh socket. */
		close(sock);
		sock = -1;
	}
	return false;
}

void syslogger_vsend(int pri, const char *fmt, va_list ap)
{
	char msg[SYSLOGGER_MSG_MAX], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int n, m;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	/* RFC 3164, as glibc writes it: <PRI>TIMESTAMP IDENT[PID]: MSG */
	n = snprintf(msg, sizeof(msg), "<%d>%s hsmfs[%d]: ", pri, stamp,
		     (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	m = vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	n = (size_t)(n + m) >= sizeof(msg) ? (int)sizeof(msg) - 1 : n + m;
	pthread_mutex_lock(&lock);
	if (send_locked(msg, (size_t)n)) {
		stalled = false;
	} else {
		stalled = true;
		__atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&lock);
}

void syslogger_send(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	syslogger_vsend(pri, fmt, ap);
	va_end(ap);
}
