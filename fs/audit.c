/*
 * audit.c - the audit log's sinks and line formats.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"

#define AUDIT_LINE_MAX 2048
#define AUDIT_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)

enum audit_sink { AUDIT_SYSLOG, AUDIT_FILE, AUDIT_OFF };

struct audit {
	enum audit_sink sink;
	char *path;
	int fd;			/* AUDIT_FILE: replaced in place by dup2 */
	int warned;		/* a failed write was logged (atomic) */
};

/* The one audit of the process, for the SIGHUP handler. */
static struct audit *hup_audit;

int audit_open(struct audit **out, const char *spec, char *errbuf,
	       size_t errlen)
{
	struct audit *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (a == NULL)
		goto nomem;
	a->fd = -1;
	if (spec == NULL || strcmp(spec, "syslog") == 0) {
		a->sink = AUDIT_SYSLOG;
	} else if (strcmp(spec, "off") == 0) {
		a->sink = AUDIT_OFF;
	} else {
		a->sink = AUDIT_FILE;
		a->path = strdup(spec);
		if (a->path == NULL)
			goto nomem;
		a->fd = open(a->path, AUDIT_FLAGS, 0600);
		if (a->fd < 0) {
			snprintf(errbuf, errlen, "audit=%s: %s", spec,
				 strerror(errno));
			audit_close(a);
			return -1;
		}
	}
	*out = a;
	return 0;
nomem:
	free(a);
	snprintf(errbuf, errlen, "out of memory");
	return -1;
}

void audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (hup_audit == a) {
		/* No more reopens: a SIGHUP from now on must not reach a
		 * that is about to be freed (libfuse restores only the
		 * handlers it set itself). */
		signal(SIGHUP, SIG_IGN);
		hup_audit = NULL;
	}
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a);
}

int audit_enabled(const struct audit *a)
{
	return a != NULL && a->sink != AUDIT_OFF;
}

void audit_reopen(struct audit *a)
{
	int saved = errno, fd;

	if (a == NULL || a->sink != AUDIT_FILE)
		return;
	/* dup2 swaps the file under the same descriptor at once: a writer
	 * in another thread writes to the old file or the new, never to a
	 * closed descriptor.  open, dup2 and close are async-signal-safe. */
	fd = open(a->path, AUDIT_FLAGS, 0600);
	if (fd >= 0) {
		dup2(fd, a->fd);
		close(fd);
	}
	errno = saved;
}

static void on_sighup(int sig)
{
	(void)sig;
	audit_reopen(hup_audit);
}

int audit_catch_sighup(struct audit *a)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sighup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	hup_audit = a;
	return sigaction(SIGHUP, &sa, NULL) == 0 ? 0 : -errno;
}

/* ------------------------------------------------------------ formats */

/* A line being built; full: nothing more fits. */
struct line {
	char *buf;
	size_t len, pos;
	bool full;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	if (l->full || n >= l->len - l->pos) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->pos, s, n);
	l->pos += n;
	l->buf[l->pos] = '\0';
}

static void put(struct line *l, const char *s)
{
	put_raw(l, s, strlen(s));
}

/* s as a JSON string body: every byte that is not printable ASCII is
 * \u00XX, so the line is valid JSON (and one line) whatever s holds. */
static void put_escaped(struct line *l, const char *s)
{
	char esc[8];

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put_raw(l, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put_raw(l, esc, 6);
		} else {
			put_raw(l, (const char *)&c, 1);
		}
	}
}

static void put_str(struct line *l, const char *name, const char *v,
		    bool json)
{
	put(l, name);
	if (v == NULL || v[0] == '\0') {
		put(l, json ? "null" : "-");
		return;
	}
	put(l, "\"");
	put_escaped(l, v);
	put(l, "\"");
}

static void put_time(struct line *l, int64_t ms)
{
	struct timespec ts;
	struct tm tm;
	time_t t;
	char when[40];

	if (ms == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	put(l, when);
	snprintf(when, sizeof(when), ".%03dZ", (int)(ms % 1000));
	put(l, when);
}

/* The fields, in one order for both formats. */
static int format(const struct audit_ev *ev, char *buf, size_t len,
		  bool json)
{
	struct line l = { .buf = buf, .len = len };
	char ids[64];

	if (len == 0)
		return -1;
	buf[0] = '\0';
	put(&l, json ? "{\"time\":\"" : "time=");
	put_time(&l, ev->time_ms);
	snprintf(ids, sizeof(ids), json ? "\",\"uid\":%u,\"pid\":%d" :
		 " uid=%u pid=%d", (unsigned)ev->uid, (int)ev->pid);
	put(&l, ids);
	put_str(&l, json ? ",\"comm\":" : " comm=", ev->comm, json);
	put_str(&l, json ? ",\"key\":" : " key=", ev->key, json);
	put_str(&l, json ? ",\"version\":" : " version=", ev->version, json);
	put_str(&l, json ? ",\"op\":" : " op=", ev->op, json);
	put_str(&l, json ? ",\"alg\":" : " alg=", ev->alg, json);
	put_str(&l, json ? ",\"result\":" : " result=",
		metrics_result(ev->err), json);
	put_str(&l, json ? ",\"request_id\":" : " request_id=",
		ev->request_id, json);
	if (json)
		put(&l, "}");
	return l.full ? -1 : (int)l.pos;
}

int audit_format_json(const struct audit_ev *ev, char *buf, size_t len)
{
	return format(ev, buf, len, true);
}

int audit_format_kv(const struct audit_ev *ev, char *buf, size_t len)
{
	return format(ev, buf, len, false);
}

void audit_event(struct audit *a, const struct audit_ev *ev)
{
	char line[AUDIT_LINE_MAX];
	int n;

	if (!audit_enabled(a))
		return;
	n = a->sink == AUDIT_FILE ?
		audit_format_json(ev, line, sizeof(line) - 1) :
		audit_format_kv(ev, line, sizeof(line));
	if (n < 0)
		return;		/* cannot happen: the fields are bounded */
	if (a->sink == AUDIT_SYSLOG) {
		log_syslog(LOG_AUTHPRIV | LOG_NOTICE, "audit: ", line);
		return;
	}
	line[n++] = '\n';
	/* One write per line: O_APPEND keeps lines whole and in order. */
	if (write(a->fd, line, (size_t)n) != n &&
	    !__atomic_exchange_n(&a->warned, 1, __ATOMIC_RELAXED))
		log_err("audit: cannot write to %s: %s", a->path,
			strerror(errno));
}
