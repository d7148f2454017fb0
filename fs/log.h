/*
 * log.h - the daemon's log: stderr in the foreground, syslog once
 * daemonised.  libfuse's own messages come here too (fuse_set_log_func).
 * Messages never carry tokens or key material; operation failures carry
 * the service's request id.
 */
#ifndef HSMFS_FS_LOG_H
#define HSMFS_FS_LOG_H

#include <stdbool.h>

#include "hsm_client.h"

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_threshold;

/* Choose the sink: stderr (foreground) or syslog; install it in libfuse. */
void log_open(bool foreground, enum log_level threshold);
void log_close(void);

/* Make a message safe for a log: control bytes, C1 controls and invalid
 * UTF-8 become '?' (in place). */
void log_defang(char *s);

/* Write one line (no trailing newline needed). */
void log_write(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The client's log hook (struct hsm_config.log); arg is unused. */
void log_client_sink(void *arg, enum hsm_log_level lvl, const char *msg);

#define log_at(lvl, ...) do {				\
		if ((lvl) <= log_threshold)		\
			log_write(lvl, __VA_ARGS__);	\
	} while (0)
#define log_err(...)	log_at(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
