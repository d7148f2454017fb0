/*
 * fail.c - the one failure path of the callbacks (DESIGN.md §4.3): log
 * the failure, keep its detail for the caller's `error` file, return the
 * errno.  And the other side: the `error` file's text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsmfs.h"
#include "log.h"
#include "render.h"

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void caller_scope(struct fs_state *fs, struct scope *sc)
{
	struct fuse_context *ctx = fuse_get_context();

	proc_scope("/proc", ctx->pid, ctx->uid, fs->shells, sc);
}

/* The error text kept per scope. */
static void text_free(void *p)
{
	free(p);
}

static const char *or_none(const char *s)
{
	return s[0] ? s : "none";
}

int fs_fail(struct fs_state *fs, const struct scope *sc, const char *path,
	    const struct fs_fail *f)
{
	struct scope own;
	char when[32], *text = NULL;
	int e = -f->err;

	if (sc == NULL) {
		/* The /proc walk is left to failures, which are rare. */
		caller_scope(fs, &own);
		sc = &own;
	}
	fmt_utc(when, sizeof(when), time(NULL));
	if (asprintf(&text,
		     "time: %s\nfile: %s\nerrno: %d (%s)\ncode: %s\n"
		     "message: %s\nrequest_id: %s\n",
		     when, path, e, strerrordesc_np(e), or_none(f->code),
		     f->message, or_none(f->request_id)) < 0)
		text = NULL;
	log_warn("%s: %s: %s (code %s, request id %s, uid %u pid %d)", path,
		 strerrordesc_np(e), f->message, or_none(f->code),
		 or_none(f->request_id), (unsigned)sc->uid, (int)sc->self.pid);
	if (text != NULL)
		reqstore_put(fs->errors, sc, "error", text, text_free, true,
			     mono_ms());
	return f->err;
}

int fs_fail_errno(struct fs_state *fs, const char *path, int err,
		  const char *msg)
{
	struct fs_fail f;

	fail_local(&f, err, msg ? msg : strerrordesc_np(-err));
	return fs_fail(fs, NULL, path, &f);
}

int error_text(struct fs_state *fs, char **out, size_t *len)
{
	struct scope sc;
	struct rs_ref *r;

	caller_scope(fs, &sc);
	r = reqstore_get(fs->errors, &sc, "error", mono_ms());
	*out = strdup(r ? (const char *)rs_ref_val(r) : "");
	rs_ref_put(fs->errors, r);
	if (*out == NULL)
		return -ENOMEM;
	*len = strlen(*out);
	return 0;
}
