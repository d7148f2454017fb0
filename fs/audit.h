/*
 * audit.h - the audit log (DESIGN.md §5 "The process"): one line per
 * operation on a key and per change of a key's life, saying who (uid,
 * pid, command name), what (key, version, operation, algorithm), how it
 * ended (errno name or ok) and the service's request id.  Never data:
 * no input, output, token or key material is ever an argument here.
 *
 * Sinks (-o audit=): "syslog" (the default; facility authpriv), a PATH
 * (JSON lines, appended; the file is opened O_APPEND|O_CLOEXEC, mode
 * 0600, and opened again on SIGHUP for log rotation) or "off".
 */
#ifndef HSMFS_FS_AUDIT_H
#define HSMFS_FS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One event.  Strings may be NULL or "" when they do not apply. */
struct audit_ev {
	const char *key;
	const char *version;
	const char *op;			/* "sign", "create", "rotate", ... */
	const char *alg;
	int err;			/* 0 or -errno */
	const char *request_id;		/* the service's x-ms-request-id */
	uint64_t latency_us;		/* for the metrics */
	/* Who: filled from the FUSE context by fs_record(). */
	uid_t uid;
	pid_t pid;
	const char *comm;
	int64_t time_ms;		/* unix milliseconds; 0: now */
};

struct audit;

/*
 * spec: "syslog" (or NULL), "off", or an absolute PATH.  Returns 0, or
 * -1 with a one-line reason in errbuf (the file cannot be opened).
 */
int audit_open(struct audit **out, const char *spec, char *errbuf,
	       size_t errlen);
void audit_close(struct audit *a);

/* Is anything written?  (Spares the caller the identity look-up.) */
int audit_enabled(const struct audit *a);

/* Write one line; never fails visibly (a lost line is logged once). */
void audit_event(struct audit *a, const struct audit_ev *ev);

/* Open the file again (after a rotation).  Async-signal-safe. */
void audit_reopen(struct audit *a);

/* Reopen a's file on SIGHUP from now on (a: the one audit of the
 * process).  Returns 0 or -errno. */
int audit_catch_sighup(struct audit *a);

/* How many SIGHUPs the handler has seen: the one signal path, so that
 * other files reread on SIGHUP (the policy) notice it in their own
 * time, outside the handler. */
unsigned audit_hup_count(void);

/* The line of ev, without a newline: JSON for the file, key=value for
 * syslog.  Returns the length (truncated lines end cut, never with
 * broken escapes) or -1.  Pure; exposed for the unit test. */
int audit_format_json(const struct audit_ev *ev, char *buf, size_t len);
int audit_format_kv(const struct audit_ev *ev, char *buf, size_t len);

#endif
