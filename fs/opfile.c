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

int call_slot(struct fs_state *fs, struct fs_fail *f)
{
	int err = fu_call_begin(fs->fair, fuse_get_context()->uid);

	if (err == -EAGAIN)
		fail_local(f, err, "max_calls: this user has that many HSM calls "
			   "in flight already; try again when one has ended");
	else if (err)
		fail_local(f, err, "out of memory");
	return err;
}

void call_slot_end(struct fs_state *fs)
{
	fu_call_end(fs->fair, fuse_get_context()->uid);
}

/* What a write past max_pending_bytes is told. */
static const char too_much_input[] =
	"max_pending_bytes: this user's requests and read-write handles hold "
	"that much input already; read or close them first";

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
		.version = opx_version(x),
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
	struct fs_fail busy;
	int64_t t0;
	int err;

	h->u.get.ref = reqstore_get(fs->requests, sc, h->path, mono_ms());
	if (h->u.get.ref == NULL)
		return no_request(fs, sc, h->path, nd);
	r = rs_ref_val(h->u.get.ref);
	pthread_mutex_lock(&r->lock);
	if (!r->ran && call_slot(fs, &busy) != 0) {
		/* not run: the request stays for a later try */
		pthread_mutex_unlock(&r->lock);
		return fs_fail(fs, sc, h->path, &busy);
	}
	if (!r->ran) {
		call_init(&call);
		t0 = mono_us();
		err = op_run(fs, &r->x, &call, &r->out, &r->fail);
		call_slot_end(fs);
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
	int err;

	switch (h->kind) {
	case H_GET:
		caller_scope(fs, &sc);
		return answer_request(fs, h, &sc, nd);
	case H_PUT:
		caller_scope(fs, &h->u.put.sc);
		h->u.put.req = request_new(&nd->on, nd->name, version, nd->kv);
		if (h->u.put.req == NULL)
			return -ENOMEM;
		h->u.put.req->hold.fu = fs->fair;
		h->u.put.req->hold.uid = h->u.put.sc.uid;
		h->u.put.req->x.spool.fu = fs->spool_fair;
		h->u.put.req->x.spool.uid = h->u.put.sc.uid;
		return 0;
	default:
		h->u.run.hold.fu = fs->fair;
		h->u.run.hold.uid = fuse_get_context()->uid;
		/* The one-handle mode needs the scope only for the error
		 * file, so the /proc walk is left to the (rare) failure. */
		err = opx_init(&h->u.run.x, &nd->on, nd->name, version,
			       nd->kv);
		h->u.run.x.spool.fu = fs->spool_fair;
		h->u.run.x.spool.uid = h->u.run.hold.uid;
		return err;
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
static int sealop_failed(struct fs_state *fs, struct handle *h,
			 const struct fs_fail *f)
{
	if (h->kind == H_RUN) {
		h->u.run.fail = *f;
		return fs_fail(fs, NULL, h->path, &h->u.run.fail);
	}
	return fs_fail(fs, NULL, h->path, (struct fs_fail *)f);
}

static int read_sealop(struct fs_state *fs, struct handle *h,
		       const struct sealop *so, struct sealread *rd,
		       char *buf, size_t size)
{
	struct fs_fail f;
	int n;

	/* An output that is gone (the operation was reset meanwhile) is an
	 * error for this reader, never a crash of the daemon. */
	if (so == NULL)
		return fs_fail_errno(fs, h->path, -EIO, "the operation's output "
				     "is gone: run the operation again");
	n = sealop_read(so, rd, buf, size, &f);
	return n >= 0 ? n : sealop_failed(fs, h, &f);
}

/* H_RUN: the first read ends the input and runs the operation. */
static int read_run(struct fs_state *fs, struct handle *h, char *buf,
		    size_t size)
{
	struct fs_fail busy;
	struct hsm_call call;
	int64_t t0;
	int err;

	if (h->u.run.fail.err)		/* until a write starts anew */
		return fs_fail(fs, NULL, h->path, &h->u.run.fail);
	if (h->u.run.out == NULL) {
		if (call_slot(fs, &busy) != 0)	/* not run: input kept */
			return fs_fail(fs, NULL, h->path, &busy);
		call_init(&call);
		t0 = mono_us();
		err = op_run(fs, &h->u.run.x, &call, &h->u.run.out,
			     &h->u.run.fail);
		call_slot_end(fs);
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

ssize_t opfile_splice(struct fs_state *fs, struct handle *h, int pipe_fd,
		      size_t size)
{
	const struct request *r;
	const struct opx *x;
	struct sealread *rd;
	struct fs_fail f;
	ssize_t n;

	switch (h->kind) {
	case H_RUN:	/* ran, and no failure to report */
		if (h->u.run.fail.err || h->u.run.out == NULL)
			return 0;
		x = &h->u.run.x;
		rd = &h->u.run.rd;
		break;
	case H_GET:
		r = rs_ref_val(h->u.get.ref);
		x = &r->x;
		rd = &h->u.get.rd;
		break;
	default:
		return 0;
	}
	if (!opx_streams(x) || x->so == NULL)
		return 0;
	n = sealop_splice(x->so, rd, pipe_fd, size, &f);
	return n >= 0 ? n : sealop_failed(fs, h, &f);
}

/* The detail of a failed write, taken under the owner's lock: the
 * operation's own (seal's wrapKey, a spool error), else none. */
static void write_detail(const struct opx *x, int err, struct fs_fail *f)
{
	if (err && x->in_fail.err == err)
		*f = x->in_fail;
}

/* Input to x; the write that makes seal's data key with a wrapKey takes
 * the caller's call slot for it (EAGAIN past max_calls, input not taken). */
static int write_op(struct fs_state *fs, struct opx *x, const char *buf,
		    size_t size, struct hsm_call *call, struct fs_fail *f)
{
	bool calls = opx_write_calls(x, &fs->env);
	int err;

	if (calls && (err = call_slot(fs, f)) != 0)
		return err;
	err = opx_write(x, &fs->env, call, buf, size);
	if (calls)
		call_slot_end(fs);
	write_detail(x, err, f);
	return err;
}

/* H_PUT: input goes to the handle's request, which may already be in the
 * store (a child that shared the fd closed it); writes then keep adding
 * to it, unless a reader already ran it, which starts a new one. */
static int write_put(struct fs_state *fs, struct handle *h, const char *buf,
		     size_t size, struct hsm_call *call, struct fs_fail *f)
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
	err = opx_buffers(&r->x) ? fu_hold_add(&r->hold, size) : 0;
	if (err == 0)
		err = write_op(fs, &r->x, buf, size, call, f);
	pthread_mutex_unlock(&r->lock);
	h->u.put.dirty = true;
	return err;
}

/* H_RUN: a write after the output (or a failure) starts a new operation. */
static int write_run(struct fs_state *fs, struct handle *h, const char *buf,
		     size_t size, struct hsm_call *call, struct fs_fail *f)
{
	if (h->u.run.out != NULL || h->u.run.fail.err) {
		secret_free(h->u.run.out);
		h->u.run.out = NULL;
		h->u.run.fail.err = 0;
		h->u.run.pos = 0;
		sealread_reset(&h->u.run.rd);
		opx_reset(&h->u.run.x);
		fu_hold_release(&h->u.run.hold);
	}
	if (opx_buffers(&h->u.run.x) &&
	    fu_hold_add(&h->u.run.hold, size) != 0)
		return -EAGAIN;
	return write_op(fs, &h->u.run.x, buf, size, call, f);
}

int opfile_write(struct fs_state *fs, struct handle *h, const char *buf,
		 size_t size)
{
	struct fs_fail f = {0};
	struct hsm_call call;
	int err;

	call_init(&call);
	switch (h->kind) {
	case H_PUT:
		err = write_put(fs, h, buf, size, &call, &f);
		break;
	case H_RUN:
		err = write_run(fs, h, buf, size, &call, &f);
		break;
	default:
		err = -EBADF;
		break;
	}
	if (err && f.err)
		return fs_fail(fs, NULL, h->path, &f);
	if (err)
		return fs_fail_errno(fs, h->path, err,
				     err == -EAGAIN ? too_much_input : NULL);
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
