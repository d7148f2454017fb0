/*
 * log.c - stderr or syslog (through syslogger.c, which never blocks for
 * long when the syslog socket's reader stalls).
 */
#include <stdarg.h>
#include <stdio.h>

#include <fuse.h>

#include "log.h"
#include "syslogger.h"

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

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	/* One fprintf per line keeps lines whole across threads. */
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	defang(line);
	if (use_syslog)
		syslogger_send(LOG_DAEMON | to_syslog(lvl), "%s", line);
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
		syslogger_send(LOG_DAEMON | to_syslog(l), "%s", line);
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
	if (use_syslog)
		syslogger_close();
}

void log_client_sink(void *arg, enum hsm_log_level lvl, const char *msg)
{
	enum log_level l = lvl == HSM_LOG_ERR ? LOG_LVL_ERR :
			   lvl == HSM_LOG_WARN ? LOG_LVL_WARN :
			   lvl == HSM_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	log_at(l, "client: %s", msg);
}
