/*
 * opfile.c - operation files: one-handle runs and two-command requests.
 *
 * No lock is held across a network call except the handle's or the
 * request's own, so a slow HSM call never blocks another file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "opfile.h"

static bool call_cancelled(void *arg)
{
	(void)arg;
	return fuse_interrupted() != 0;
}

void call_init(struct hsm_call *call)
{
	memset(call, 0, sizeof(*call));
	call->cancelled = call_cancelled;
}

/*
 * The one completion point of an operation, in both modes (§4.1, §4.2):
 * count it for status, record it (metrics, audit), and report a failure
 * (f->err != 0) through fs_fail().  x: the operation (its opx, or one
 * made from the node when no request was found); rid: the service's
 * request id of a success; t0: mono_us() at its start.
 */
static int op_end(struct fs_state *fs, const struct scope *sc,
		  const char *path, const struct opx *x, const char *rid,
		  int64_t t0, const struct fs_fail *f)
{
	struct audit_ev ev = {
		.key = x->name,
		.version = x->version ? x->version :
			   x->kv ? x->kv->key.version : NULL,
		.op = fs_op_name(x->on.op),
		.alg = x->on.alg ? x->on.alg->name : NULL,
		.err = f->err,
		.request_id = f->err ? f->request_id : rid,
		.latency_us = (uint64_t)(mono_us() - t0),
	};

	__atomic_add_fetch(f->err ? &fs->ops_failed : &fs->ops_ok, 1,
			   __ATOMIC_RELAXED);
	fs_record(fs, &ev);
	return f->err ? fs_fail(fs, sc, path, f) : 0;
}

/* Did the run end because the caller was interrupted? */
static bool interrupted(int err, const struct fs_fail *f)
{
	return err == -EINTR || (err && f->err == -EINTR);
}

/*
 * After an interrupted run: the interrupted read itself is EINTR, but a
 * later read must not be (callers retry EINTR at once, forever), nor may
 * it run the operation again on input the run consumed.  ECANCELED, and
 * the `error` file says what to do.
 */
static void cancelled(struct fs_fail *f)
{
	fail_local(f, -ECANCELED, "the operation was interrupted before the "
		   "service answered and its input is gone: write it again");
}

/* Run x, counting it as a call in flight. */
static int op_run(struct fs_state *fs, struct opx *x, struct hsm_call *call,
		  struct secret **out, struct fs_fail *f)
{
	int err;

	metrics_calls_add(fs->metrics, 1);
	err = opx_run(x, &fs->env, call, out, f);
	metrics_calls_add(fs->metrics, -1);
	if (err && f->err == 0)		/* every failure carries its detail */
		fail_local(f, err, strerrordesc_np(-err));
	return err;
}

/* H_GET: a read with no request in scope is an operation that failed. */
static int no_request(struct fs_state *fs, const struct scope *sc,
		      const char *path, const struct node *nd)
{
	struct opx x = {
		.on = nd->on,
		.name = (char *)nd->name,
		.version = nd->version[0] ? (char *)nd->version : NULL,
		.kv = nd->kv,
	};
	struct fs_fail f;

	fail_local(&f, -ENODATA,
		   "no request in this scope: write the input first, "
		   "from the same shell");
	return op_end(fs, sc, path, &x, NULL, mono_us(), &f);
}

/* H_GET: find the scope's request and run it if no reader did (once). */
static int answer_request(struct fs_state *fs, struct handle *h,
			  const struct scope *sc, const struct node *nd)
{
	struct request *r;
	struct hsm_call call;
	int64_t t0;
	int err;

	h->u.get.ref = reqstore_get(fs->requests, sc, h->path, mono_ms());
	if (h->u.get.ref == NULL)
		return no_request(fs, sc, h->path, nd);
	r = rs_ref_val(h->u.get.ref);
	pthread_mutex_lock(&r->lock);
	if (!r->ran) {
		call_init(&call);
		t0 = mono_us();
		err = op_run(fs, &r->x, &call, &r->out, &r->fail);
		if (interrupted(err, &r->fail)) {
			/* The caller asked to stop.  The run consumed the
			 * input, so a later reader must not run it again
			 * (it would sign the empty message): the request
			 * ends here, and re-reads say so. */
			r->ran = true;
			op_end(fs, sc, h->path, &r->x, NULL, t0, &r->fail);
			cancelled(&r->fail);
			pthread_mutex_unlock(&r->lock);
			return -EINTR;
		}
		r->ran = true;
		op_end(fs, sc, h->path, &r->x, call.err.request_id, t0,
		       &r->fail);
		rs_ref_touch(fs->requests, h->u.get.ref, mono_ms());
	} else if (r->fail.err) {
		/* A re-read of a failed result fails again, visibly. */
		fs_fail(fs, sc, h->path, &r->fail);
	}
	err = r->fail.err;
	pthread_mutex_unlock(&r->lock);
	return err;
}

/* The per-mode part of opening: the handle's state for its kind. */
static int open_mode(struct fs_state *fs, struct handle *h,
		     const struct node *nd)
{
	const char *version = nd->version[0] ? nd->version : NULL;
	struct scope sc;

	switch (h->kind) {
	case H_GET:
		caller_scope(fs, &sc);
		return answer_request(fs, h, &sc, nd);
	case H_PUT:
		caller_scope(fs, &h->u.put.sc);
		h->u.put.req = request_new(&nd->on, nd->name, version, nd->kv);
		return h->u.put.req ? 0 : -ENOMEM;
	default:
		/* The one-handle mode needs the scope only for the error
		 * file, so the /proc walk is left to the (rare) failure. */
		return opx_init(&h->u.run.x, &nd->on, nd->name, version,
				nd->kv);
	}
}

int opfile_open(struct fs_state *fs, const char *path, const struct node *nd,
		struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	enum handle_kind kind = acc == O_RDONLY ? H_GET :
				acc == O_WRONLY ? H_PUT : H_RUN;
	struct handle *h = handle_new(kind, path);
	int err;

	if (h == NULL)
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	err = open_mode(fs, h, nd);
	if (err) {
		handle_free(h, fs->requests);
		/* answer_request() reported its own failures */
		return kind == H_GET ? err : fs_fail_errno(fs, path, err, NULL);
	}
	/* Operation files are streams: no page cache, no seeking.  Only a
	 * write-only handle needs FLUSH (it leaves the request at close);
	 * sparing the others that round trip makes each operation cheaper. */
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fi->noflush = kind != H_PUT;
	handle_set(fi, h);
	return 0;
}

/*
 * seal/unseal output, read as the reads ask.  A chunk that does not
 * authenticate fails this read (and, on a read-write handle, every later
 * one until a write starts anew: the output must not go on past a gap).
 */
static int read_sealop(struct fs_state *fs, struct handle *h,
		       const struct sealop *so, struct sealread *rd,
		       char *buf, size_t size)
{
	struct fs_fail f;
	int n = sealop_read(so, rd, buf, size, &f);

	if (n >= 0)
		return n;
	if (h->kind == H_RUN) {
		h->u.run.fail = f;
		return fs_fail(fs, NULL, h->path, &h->u.run.fail);
	}
	return fs_fail(fs, NULL, h->path, &f);
}

/* H_RUN: the first read ends the input and runs the operation. */
static int read_run(struct fs_state *fs, struct handle *h, char *buf,
		    size_t size)
{
	struct hsm_call call;
	int64_t t0;
	int err;

	if (h->u.run.fail.err)		/* until a write starts anew */
		return fs_fail(fs, NULL, h->path, &h->u.run.fail);
	if (h->u.run.out == NULL) {
		call_init(&call);
		t0 = mono_us();
		err = op_run(fs, &h->u.run.x, &call, &h->u.run.out,
			     &h->u.run.fail);
		op_end(fs, NULL, h->path, &h->u.run.x, call.err.request_id,
		       t0, &h->u.run.fail);
		if (interrupted(err, &h->u.run.fail)) {
			/* The input is consumed: later reads fail until a
			 * write starts a new operation. */
			cancelled(&h->u.run.fail);
			return -EINTR;
		}
		if (err)
			return err;
		h->u.run.pos = 0;
	}
	if (opx_streams(&h->u.run.x))
		return read_sealop(fs, h, h->u.run.x.so, &h->u.run.rd, buf,
				   size);
	return handle_read_stream(h->u.run.out, &h->u.run.pos, buf, size);
}

int opfile_read(struct fs_state *fs, struct handle *h, char *buf, size_t size)
{
	struct request *r;

	switch (h->kind) {
	case H_RUN:
		return read_run(fs, h, buf, size);
	case H_GET:
		r = rs_ref_val(h->u.get.ref);
		if (opx_streams(&r->x))	/* x.so is done: it no longer changes */
			return read_sealop(fs, h, r->x.so, &h->u.get.rd, buf,
					   size);
		return handle_read_stream(r->out, &h->u.get.pos, buf, size);
	default:
		return fs_fail_errno(fs, h->path, -EBADF, NULL);
	}
}

/* H_PUT: input goes to the handle's request, which may already be in the
 * store (a child that shared the fd closed it); writes then keep adding
 * to it, unless a reader already ran it, which starts a new one. */
static int write_put(struct fs_state *fs, struct handle *h, const char *buf,
		     size_t size, struct hsm_call *call)
{
	struct request *r = h->u.put.req;
	int err;

	pthread_mutex_lock(&r->lock);
	if (r->ran) {
		pthread_mutex_unlock(&r->lock);
		r = request_again(h->u.put.req);
		if (r == NULL)
			return -ENOMEM;
		request_put(h->u.put.req);
		h->u.put.req = r;
		h->u.put.left = false;
		pthread_mutex_lock(&r->lock);
	}
	err = opx_write(&r->x, &fs->env, call, buf, size);
	pthread_mutex_unlock(&r->lock);
	h->u.put.dirty = true;
	return err;
}

/* H_RUN: a write after the output (or a failure) starts a new operation. */
static int write_run(struct fs_state *fs, struct handle *h, const char *buf,
		     size_t size, struct hsm_call *call)
{
	if (h->u.run.out != NULL || h->u.run.fail.err) {
		secret_free(h->u.run.out);
		h->u.run.out = NULL;
		h->u.run.fail.err = 0;
		h->u.run.pos = 0;
		sealread_reset(&h->u.run.rd);
		opx_reset(&h->u.run.x);
	}
	return opx_write(&h->u.run.x, &fs->env, call, buf, size);
}

/* The detail of a failed write: the operation's own (seal's wrapKey,
 * a spool error), else the errno's text. */
static int write_failed(struct fs_state *fs, struct handle *h, int err)
{
	const struct opx *x = h->kind == H_RUN ? &h->u.run.x :
			      h->kind == H_PUT ? &h->u.put.req->x : NULL;

	if (x != NULL && x->in_fail.err == err)
		return fs_fail(fs, NULL, h->path, &x->in_fail);
	return fs_fail_errno(fs, h->path, err, NULL);
}

int opfile_write(struct fs_state *fs, struct handle *h, const char *buf,
		 size_t size)
{
	struct hsm_call call;
	int err;

	call_init(&call);
	switch (h->kind) {
	case H_PUT:
		err = write_put(fs, h, buf, size, &call);
		break;
	case H_RUN:
		err = write_run(fs, h, buf, size, &call);
		break;
	default:
		err = -EBADF;
		break;
	}
	if (err)
		return write_failed(fs, h, err);
	return (int)size;
}

/* Every close of a shared fd flushes: the same request is (re)left, so
 * the last close wins and input written between closes is kept. */
int opfile_flush(struct fs_state *fs, struct handle *h)
{
	int err = 0;

	if (h->u.put.left && !h->u.put.dirty)
		return 0;
	err = reqstore_put(fs->requests, &h->u.put.sc, h->path,
			   request_get(h->u.put.req), request_put, false,
			   mono_ms());
	h->u.put.left = err == 0;
	h->u.put.dirty = false;
	if (err)
		return fs_fail(fs, &h->u.put.sc, h->path,
			       &(struct fs_fail){ .err = err,
						  .message = "out of memory" });
	return 0;
}
