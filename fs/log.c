/*
 * log.c - stderr or syslog (through syslogger.c, which never blocks for
 * long when the syslog socket's reader stalls).
 */
#include <stdarg.h>
#include <stddef.h>
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

/* The length of the valid UTF-8 sequence at s that is not a C1 control
 * (U+0080..U+009F, which 8-bit terminals also obey), else 0. */
static size_t utf8_printable(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xc2)
		lo = 0xa0;		/* C1 controls */
	else if (c == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (c == 0xed)
		hi = 0x9f;		/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;		/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;		/* past U+10FFFF */
	for (i = 1; i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/*
 * Messages carry what users chose (file names, ctl commands): a newline
 * there would start a line that looks like the daemon's, an escape
 * sequence (7-bit, or a lone 8-bit CSI 0x9b) would act on the terminal
 * that shows the log.  Every control byte, C1 control and byte that is
 * not valid UTF-8 becomes '?'; printable UTF-8 (names in any script)
 * stays.
 */
void log_defang(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x7f) {
			p++;
		} else if (*p >= 0x80 && (n = utf8_printable(p)) > 0) {
			p += n;
		} else {
			*p++ = '?';
		}
	}
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	/* One fprintf per line keeps lines whole across threads. */
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	log_defang(line);
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
		log_defang(line);
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
