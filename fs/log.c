/*
 * log.c - stderr or syslog.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fuse.h>

#include "log.h"

enum log_level log_threshold = LOG_LVL_INFO;
static bool use_syslog;

static int to_syslog(enum log_level l)
{
	switch (l) {
	case LOG_LVL_ERR:	return LOG_ERR;
	case LOG_LVL_WARN:	return LOG_WARNING;
	case LOG_LVL_INFO:	return LOG_INFO;
	default:		return LOG_DEBUG;
	}
}

/*
 * Messages carry what users chose (file names, ctl commands): a newline
 * there would start a line that looks like the daemon's, an escape
 * sequence would act on the terminal that shows the log.  Every control
 * byte becomes '?'.
 */
static void defang(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/*
 * syslog(3) sends with a blocking send(): when the reader of /dev/log
 * falls behind (a stalled journald, a stand-in that reads only now and
 * then), every thread that logs or audits waits, and with them the
 * operations of every user.  So: our own non-blocking datagram socket;
 * a message the reader has no room for is dropped, never waited for.
 */
static pthread_mutex_t slog_lock = PTHREAD_MUTEX_INITIALIZER;
static int slog_fd = -1;

static int slog_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX,
				  .sun_path = "/dev/log" };
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void log_syslog(int prio, const char *prefix, const char *msg)
{
	char buf[2400], ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int n, i;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%b %e %T", &tm);
	n = snprintf(buf, sizeof(buf), "<%d>%s hsmfs[%d]: %s%s", prio, ts,
		     (int)getpid(), prefix, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	pthread_mutex_lock(&slog_lock);
	/* A reader that went away (restarted) gets one reconnection. */
	for (i = 0; i < 2; i++) {
		if (slog_fd < 0 && (slog_fd = slog_connect()) < 0)
			break;
		if (send(slog_fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 ||
		    errno == EAGAIN || errno == EWOULDBLOCK)
			break;		/* sent, or no room: dropped */
		close(slog_fd);
		slog_fd = -1;
	}
	pthread_mutex_unlock(&slog_lock);
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	/* One fprintf per line keeps lines whole across threads. */
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	defang(line);
	if (use_syslog)
		log_syslog(LOG_DAEMON | to_syslog(lvl), "", line);
	else
		fprintf(stderr, "hsmfs: %s\n", line);
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

static void fuse_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	enum log_level l = level <= FUSE_LOG_ERR ? LOG_LVL_ERR :
			   level <= FUSE_LOG_WARNING ? LOG_LVL_WARN :
			   level <= FUSE_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	if (l > log_threshold)
		return;
	if (use_syslog) {
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		defang(line);
		log_syslog(LOG_DAEMON | to_syslog(l), "", line);
		return;
	}
	/* libfuse's messages carry their own newline. */
	vfprintf(stderr, fmt, ap);
}

void log_open(bool foreground, enum log_level threshold)
{
	log_threshold = threshold;
	use_syslog = !foreground;
	fuse_set_log_func(fuse_sink);
}

void log_close(void)
{
	pthread_mutex_lock(&slog_lock);
	if (slog_fd >= 0)
		close(slog_fd);
	slog_fd = -1;
	pthread_mutex_unlock(&slog_lock);
}

void log_client_sink(void *arg, enum hsm_log_level lvl, const char *msg)
{
	enum log_level l = lvl == HSM_LOG_ERR ? LOG_LVL_ERR :
			   lvl == HSM_LOG_WARN ? LOG_LVL_WARN :
			   lvl == HSM_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	log_at(l, "client: %s", msg);
}
