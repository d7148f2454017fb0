/*
 * syslogger.h - the daemon's log and the audit log to the local syslog
 * socket, with a bounded wait when its reader is not reading (the
 * message is then dropped and counted; see syslogger.c).
 */
#ifndef HSMFS_FS_SYSLOGGER_H
#define HSMFS_FS_SYSLOGGER_H

#include <stdarg.h>
#include <stdint.h>
#include <syslog.h>

void syslogger_close(void);

/* pri: facility | level, as syslog(3). */
void syslogger_send(int pri, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void syslogger_vsend(int pri, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Messages dropped because the socket stayed full or had no reader. */
uint64_t syslogger_dropped(void);

#endif
