/*
 * ops.c - the FUSE operations of hsmfs: path -> node, thin handlers.
 *
 * No lock is held across a network call except a per-handle or
 * per-request one, so a slow HSM call never blocks ls, stat or other
 * keys (the loop is multithreaded).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errmap.h"
#include "hsmfs.h"
#include "log.h"
#include "names.h"
#include "opname.h"
#include "proc.h"

#define RANDOM_MAX_PER_OPEN (1u << 20)

/* ------------------------------------------------------------ paths */

enum node_kind {
	N_ROOT, N_README, N_KEYS, N_RANDOM, N_ERROR, N_STATUS,
	N_KEY, N_VERSIONS, N_VERSION, N_KFILE,
};

struct node {
	enum node_kind kind;
	char name[128];		/* key name */
	char version[64];	/* pinned version, or "" */
	char file[128];		/* file in a key or version directory */
};

/*
 * Split the next component of *p into buf.  Returns 1 for a component, 0
 * at the end of the path, -ENOENT for a component too long for buf (no
 * such name exists: it must not look like the end of the path, or
 * "keys/k/<long>" would resolve to the key directory itself).
 */
static int next_comp(const char **p, char *buf, size_t len, size_t *n)
{
	const char *s = *p, *e;

	while (*s == '/')
		s++;
	*p = s;
	if (*s == '\0')
		return 0;
	e = strchr(s, '/');
	if (e == NULL)
		e = s + strlen(s);
	*n = (size_t)(e - s);
	if (*n >= len)
		return -ENOENT;
	memcpy(buf, s, *n);
	buf[*n] = '\0';
	*p = e;
	return 1;
}

static int parse_path(const char *path, struct node *nd)
{
	char c[128];
	size_t n;
	int r;

	memset(nd, 0, sizeof(*nd));
	if ((r = next_comp(&path, c, sizeof(c), &n)) <= 0) {
		nd->kind = N_ROOT;
		return r;
	}
	if (strcmp(c, "keys") != 0) {
		/* Top-level files have nothing below them. */
		if (next_comp(&path, c, sizeof(c), &n) != 0)
			return -ENOENT;
		if (strcmp(c, "README") == 0)
			nd->kind = N_README;
		else if (strcmp(c, "random") == 0)
			nd->kind = N_RANDOM;
		else if (strcmp(c, "error") == 0)
			nd->kind = N_ERROR;
		else if (strcmp(c, "status") == 0)
			nd->kind = N_STATUS;
		else
			return -ENOENT;
		return 0;
	}
	nd->kind = N_KEYS;
	if ((r = next_comp(&path, nd->name, sizeof(nd->name), &n)) <= 0)
		return r;
	if (!key_name_valid(nd->name, n))
		return -ENOENT;
	nd->kind = N_KEY;
	if ((r = next_comp(&path, nd->file, sizeof(nd->file), &n)) <= 0)
		return r;
	nd->kind = N_KFILE;
	if (strcmp(nd->file, "versions") == 0) {
		nd->kind = N_VERSIONS;
		nd->file[0] = '\0';
		if ((r = next_comp(&path, nd->version, sizeof(nd->version), &n)) <= 0)
			return r;
		if (!key_version_valid(nd->version, n))
			return -ENOENT;
		nd->kind = N_VERSION;
		if ((r = next_comp(&path, nd->file, sizeof(nd->file), &n)) <= 0)
			return r;
		if (strcmp(nd->file, "versions") == 0)
			return -ENOENT;
		nd->kind = N_KFILE;
	}
	return next_comp(&path, c, sizeof(c), &n) != 0 ? -ENOENT : 0;
}

/* ------------------------------------------------------------ helpers */

static struct fs_state *state(void)
{
	return fuse_get_context()->private_data;
}

static bool call_cancelled(void *arg)
{
	(void)arg;
	return fuse_interrupted() != 0;
}

static void call_init(struct hsm_call *call)
{
	memset(call, 0, sizeof(*call));
	call->cancelled = call_cancelled;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void caller_scope(struct fs_state *fs, struct scope *sc)
{
	struct fuse_context *ctx = fuse_get_context();

	proc_scope("/proc", ctx->pid, ctx->uid, fs->shells, sc);
}

enum kfile { KF_NONE, KF_OP, KF_PEM, KF_DER, KF_JWK, KF_META, KF_INFO, KF_ALGS };

static enum kfile kfile_kind(const char *file, const struct kver *kv,
			     struct opname *on)
{
	bool pub = kv->pk != NULL;

	if (strcmp(file, "public.pem") == 0)
		return pub ? KF_PEM : KF_NONE;
	if (strcmp(file, "public.der") == 0)
		return pub ? KF_DER : KF_NONE;
	if (strcmp(file, "jwk.json") == 0)
		return kv->key.jwk_json ? KF_JWK : KF_NONE;
	if (strcmp(file, "meta.json") == 0)
		return kv->key.bundle_json ? KF_META : KF_NONE;
	if (strcmp(file, "info") == 0)
		return KF_INFO;
	if (strcmp(file, "algs") == 0)
		return KF_ALGS;
	if (opname_parse(file, &kv->shape, on) == 0)
		return KF_OP;
	return KF_NONE;
}

static const void *kfile_data(const struct kver *kv, enum kfile k, size_t *len)
{
	switch (k) {
	case KF_PEM:	*len = kv->pem_len; return kv->pem;
	case KF_DER:	*len = kv->der_len; return kv->der;
	case KF_JWK:	*len = kv->jwk_len; return kv->key.jwk_json;
	case KF_META:	*len = kv->meta_len; return kv->key.bundle_json;
	case KF_INFO:	*len = kv->info_len; return kv->info;
	case KF_ALGS:	*len = kv->algs_len; return kv->algs;
	default:	*len = 0; return NULL;
	}
}

static enum hsm_status get_kv(struct fs_state *fs, const struct node *nd,
			      struct kver **kv)
{
	struct hsm_call call;

	call_init(&call);
	return kc_get(fs->kc, &call, nd->name,
		      nd->version[0] ? nd->version : NULL, kv);
}

static void fill_dir(struct fs_state *fs, struct stat *st, int64_t mtime)
{
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime =
		(time_t)(mtime ? mtime : fs->mounted_at);
}

static void fill_file(struct fs_state *fs, struct stat *st, mode_t mode,
		      size_t size, int64_t mtime)
{
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_mtime = st->st_ctime = st->st_atime =
		(time_t)(mtime ? mtime : fs->mounted_at);
}

struct fh;
static struct fh *fh_of(struct fuse_file_info *fi);
static const char *fh_path(struct fuse_file_info *fi);

/* ------------------------------------------------------------ getattr */

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct hsm_call call;
	struct node nd;
	struct kver *kv = NULL;
	struct opname on;
	enum hsm_status hst;
	enum kfile kf;
	int64_t created = 0, updated = 0;
	size_t len = 0;
	int err;

	memset(st, 0, sizeof(*st));
	if (path == NULL && fi != NULL)		/* nullpath_ok: fstat */
		path = fh_path(fi);
	if (path == NULL)
		return -ENOENT;
	err = parse_path(path, &nd);
	if (err)
		return err;
	switch (nd.kind) {
	case N_ROOT:
	case N_KEYS:
		fill_dir(fs, st, 0);
		return 0;
	case N_README:
		fill_file(fs, st, 0444, strlen(hsmfs_readme), 0);
		return 0;
	case N_RANDOM:
	case N_ERROR:
	case N_STATUS:
		/* Generated at each open; served with direct_io, so size 0
		 * makes readers read to EOF. */
		fill_file(fs, st, 0444, 0, 0);
		return 0;
	case N_KEY:
	case N_VERSIONS:
		call_init(&call);
		hst = kc_key_exists(fs->kc, &call, nd.name, &created, &updated);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		fill_dir(fs, st, updated ? updated : created);
		return 0;
	case N_VERSION:
		hst = get_kv(fs, &nd, &kv);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		fill_dir(fs, st, kv->key.attrs.updated);
		kver_put(kv);
		return 0;
	case N_KFILE:
		hst = get_kv(fs, &nd, &kv);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		kf = kfile_kind(nd.file, kv, &on);
		if (kf == KF_NONE) {
			kver_put(kv);
			return -ENOENT;
		}
		if (kf == KF_OP) {
			fill_file(fs, st, 0666, 0, kv->key.attrs.updated);
		} else {
			kfile_data(kv, kf, &len);
			fill_file(fs, st, 0444, len, kv->key.attrs.updated);
		}
		kver_put(kv);
		return 0;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------ readdir */

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	static const char *const meta_files[] = {
		"public.pem", "public.der", "jwk.json", "meta.json", "info",
		"algs",
	};
	struct fs_state *fs = state();
	struct hsm_call call;
	struct node nd;
	struct kver *kv = NULL;
	struct opname on;
	enum hsm_status hst;
	char **names = NULL;
	size_t n = 0, i;
	int err, op;

	(void)off;
	(void)flags;
	if (path == NULL)	/* nullpath_ok: the path kept by opendir */
		path = (const char *)(uintptr_t)fi->fh;
	err = parse_path(path, &nd);
	if (err)
		return err;
	switch (nd.kind) {
	case N_ROOT:
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		fill(buf, "README", NULL, 0, 0);
		fill(buf, "keys", NULL, 0, 0);
		fill(buf, "random", NULL, 0, 0);
		fill(buf, "error", NULL, 0, 0);
		fill(buf, "status", NULL, 0, 0);
		return 0;
	case N_KEYS:
	case N_VERSIONS:
		call_init(&call);
		if (nd.kind == N_KEYS)
			hst = kc_list(fs->kc, &call, &names, &n);
		else
			hst = kc_versions(fs->kc, &call, nd.name, &names, &n);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		for (i = 0; i < n; i++)
			if (fill(buf, names[i], NULL, 0, 0))
				break;
		kc_names_free(names, n);
		return 0;
	case N_KEY:
	case N_VERSION:
		hst = get_kv(fs, &nd, &kv);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		for (op = 0; op < FOP__COUNT; op++)
			if (op_supported(&kv->shape, (enum fs_op)op))
				fill(buf, fs_op_name((enum fs_op)op), NULL, 0, 0);
		for (i = 0; i < sizeof(meta_files) / sizeof(meta_files[0]); i++)
			if (kfile_kind(meta_files[i], kv, &on) != KF_NONE)
				fill(buf, meta_files[i], NULL, 0, 0);
		if (nd.kind == N_KEY)
			fill(buf, "versions", NULL, 0, 0);
		kver_put(kv);
		return 0;
	default:
		return -ENOTDIR;
	}
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	char *p = strdup(path);

	if (p == NULL)
		return -ENOMEM;
	fi->fh = (uint64_t)(uintptr_t)p;
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	free((char *)(uintptr_t)fi->fh);
	return 0;
}

/* ------------------------------------------------------------ handles */

enum fh_kind { FH_TEXT, FH_META, FH_RANDOM, FH_OP };

/* A two-command request, kept in fs->requests. */
struct request {
	pthread_mutex_t lock;		/* input vs. the run */
	unsigned refs;			/* atomic: the store's and handles' */
	struct opx x;
	bool ran;
	int err;		/* positive errno of the run */
	struct opx_fail fail;
	struct secret *out;
};

static struct request *request_new(const struct opname *on, const char *name,
				   const char *version, struct kver *kv)
{
	struct request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (opx_init(&r->x, on, name, version, kv) != 0) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 1;
	return r;
}

static struct request *request_get(struct request *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

/* Drop a reference; the last one wipes input and output. */
static void request_put(void *p)
{
	struct request *r = p;

	if (r == NULL || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	opx_cleanup(&r->x);
	secret_free(r->out);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The error text kept per scope. */
static void text_free(void *p)
{
	free(p);
}

struct fh {
	enum fh_kind kind;
	pthread_mutex_t lock;		/* serialises threads sharing the fd */
	char *path;
	/* FH_TEXT */
	char *text;
	size_t text_len;
	/* FH_META */
	struct kver *kv;
	const uint8_t *data;
	size_t len;
	/* FH_RANDOM */
	size_t served;
	/* FH_OP */
	int acc;			/* O_RDONLY, O_WRONLY or O_RDWR */
	struct scope sc;
	bool have_sc;			/* sc computed */
	struct opname on;
	struct opx x;
	bool x_live;			/* x holds an initialised operation */
	struct request *wreq;		/* WRONLY: the request being written */
	bool dirty;			/* WRONLY: written since last left */
	bool left;			/* WRONLY: wreq is in the store */
	char name[128];			/* key name */
	char version[64];		/* pinned version, or "" */
	struct secret *out;		/* RDWR: the output being read */
	size_t pos;
	int run_err;			/* RDWR: the failed run's errno */
	bool at_eof;
	struct rs_ref *req;		/* RDONLY: the answered request */
};

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

static const char *fh_path(struct fuse_file_info *fi)
{
	return fh_of(fi)->path;
}

static void fh_free(struct fs_state *fs, struct fh *h)
{
	if (h == NULL)
		return;
	if (h->x_live)
		opx_cleanup(&h->x);
	secret_free(h->out);
	request_put(h->wreq);
	rs_ref_put(fs->requests, h->req);
	kver_put(h->kv);
	free(h->text);
	free(h->path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static struct fh *fh_new(enum fh_kind kind, const char *path)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->path = strdup(path);
	if (h->path == NULL) {
		free(h);
		return NULL;
	}
	h->kind = kind;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

static void fmt_utc(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "none");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Remember a failure for the caller's `error` file, and log it. */
static void record_error(struct fs_state *fs, const struct scope *sc,
			 const char *path, const struct opx_fail *f)
{
	char when[32], *text = NULL;

	fmt_utc(when, sizeof(when), time(NULL));
	if (asprintf(&text,
		     "time: %s\nfile: %s\nerrno: %d (%s)\ncode: %s\n"
		     "message: %s\nrequest_id: %s\n",
		     when, path, f->err, strerrordesc_np(f->err),
		     f->code[0] ? f->code : "none", f->message,
		     f->request_id[0] ? f->request_id : "none") < 0)
		text = NULL;
	log_warn("%s: %s: %s (code %s, request id %s, uid %u pid %d)", path,
		 strerrordesc_np(f->err), f->message, f->code[0] ? f->code : "none",
		 f->request_id[0] ? f->request_id : "none",
		 (unsigned)sc->uid, (int)sc->self.pid);
	__atomic_add_fetch(&fs->ops_failed, 1, __ATOMIC_RELAXED);
	if (text != NULL)
		reqstore_put(fs->errors, sc, "error", text, text_free, true,
			     mono_ms());
}

static int status_text(struct fs_state *fs, char **out, size_t *len)
{
	struct hsm_stats hs;
	struct kc_stats ks;
	char exp[32];
	size_t size = 0;
	char *buf = NULL;
	FILE *f;
	int64_t now = time(NULL);

	hsm_client_stats(fs->client, &hs);
	kc_get_stats(fs->kc, &ks);
	fmt_utc(exp, sizeof(exp), (time_t)hs.token_expires);
	f = open_memstream(&buf, &size);
	if (f == NULL)
		return -ENOMEM;
	fprintf(f, "version: %s\nendpoint: %s\nidentity: %s\n"
		"token_expires: %s\n", HSMFS_VERSION, hs.endpoint,
		hs.identity[0] ? hs.identity : "none", exp);
	if (hs.token_expires)
		fprintf(f, "token_expires_in: %lld\n",
			(long long)(hs.token_expires - now));
	fprintf(f, "uptime: %lld\nrequests: %llu\nretries: %llu\n"
		"throttled: %llu\nserver_errors: %llu\ntoken_requests: %llu\n"
		"failovers: %llu\noperations_ok: %llu\noperations_failed: %llu\n"
		"cache_hits: %llu\ncache_misses: %llu\ncache_stale_served: %llu\n"
		"pending_requests: %u\n",
		(long long)(now - fs->mounted_at),
		(unsigned long long)hs.requests, (unsigned long long)hs.retries,
		(unsigned long long)hs.throttled,
		(unsigned long long)hs.server_errors,
		(unsigned long long)hs.token_requests,
		(unsigned long long)hs.failovers,
		(unsigned long long)__atomic_load_n(&fs->ops_ok, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&fs->ops_failed, __ATOMIC_RELAXED),
		(unsigned long long)ks.hits, (unsigned long long)ks.misses,
		(unsigned long long)ks.stale_served,
		reqstore_count(fs->requests));
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}

/* Run a two-command request at the reader's open (once). */
static int answer_request(struct fs_state *fs, struct fh *h)
{
	struct request *r;
	struct hsm_call call;
	int err;

	h->req = reqstore_get(fs->requests, &h->sc, h->path, mono_ms());
	if (h->req == NULL) {
		struct opx_fail f = { .err = ENODATA };

		snprintf(f.message, sizeof(f.message),
			 "no request in this scope: write the input first, "
			 "from the same shell");
		record_error(fs, &h->sc, h->path, &f);
		return -ENODATA;
	}
	r = rs_ref_val(h->req);
	pthread_mutex_lock(&r->lock);
	if (!r->ran) {
		call_init(&call);
		err = opx_run(&r->x, &fs->env, &call, &r->out, &r->fail);
		if (err == -EINTR || (err && r->fail.err == EINTR)) {
			/* Interrupted: leave the request for the next reader. */
			pthread_mutex_unlock(&r->lock);
			return -EINTR;
		}
		r->ran = true;
		r->err = err ? -err : 0;
		if (r->err)
			record_error(fs, &h->sc, h->path, &r->fail);
		else
			__atomic_add_fetch(&fs->ops_ok, 1, __ATOMIC_RELAXED);
		rs_ref_touch(fs->requests, h->req, mono_ms());
	}
	err = r->err ? -r->err : 0;
	pthread_mutex_unlock(&r->lock);
	return err;
}

static int open_op(struct fs_state *fs, const char *path, struct kver *kv,
		   const struct opname *on, const struct node *nd,
		   struct fuse_file_info *fi)
{
	struct fh *h = fh_new(FH_OP, path);
	int err = 0;

	if (h == NULL)
		return -ENOMEM;
	h->acc = fi->flags & O_ACCMODE;
	h->on = *on;
	h->kv = kver_get(kv);
	snprintf(h->name, sizeof(h->name), "%s", nd->name);
	snprintf(h->version, sizeof(h->version), "%s", nd->version);
	/* One-handle operations need the scope only for the error file, so
	 * the /proc walk is left to the (rare) failure. */
	if (h->acc != O_RDWR) {
		caller_scope(fs, &h->sc);
		h->have_sc = true;
	}
	if (h->acc == O_RDONLY) {
		err = answer_request(fs, h);
	} else if (h->acc == O_WRONLY) {
		h->wreq = request_new(on, nd->name,
				      nd->version[0] ? nd->version : NULL, kv);
		err = h->wreq ? 0 : -ENOMEM;
	} else {
		err = opx_init(&h->x, on, nd->name,
			       nd->version[0] ? nd->version : NULL, kv);
		h->x_live = err == 0;
	}
	if (err) {
		fh_free(fs, h);
		return err;
	}
	/* Operation files are streams: no page cache, no seeking.  Only a
	 * write-only handle needs FLUSH (it leaves the request at close);
	 * sparing the others that round trip makes each operation cheaper. */
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fi->noflush = h->acc != O_WRONLY;
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct node nd;
	struct kver *kv = NULL;
	struct opname on;
	struct fh *h = NULL;
	enum hsm_status hst;
	enum kfile kf;
	int err, acc = fi->flags & O_ACCMODE;

	err = parse_path(path, &nd);
	if (err)
		return err;
	if (nd.kind != N_KFILE && acc != O_RDONLY)
		return nd.kind == N_ROOT || nd.kind == N_KEYS ||
		       nd.kind == N_KEY || nd.kind == N_VERSION ||
		       nd.kind == N_VERSIONS ? -EISDIR : -EACCES;
	switch (nd.kind) {
	case N_README:
		h = fh_new(FH_TEXT, path);
		if (h == NULL)
			return -ENOMEM;
		h->text = strdup(hsmfs_readme);
		if (h->text == NULL) {
			fh_free(fs, h);
			return -ENOMEM;
		}
		h->text_len = strlen(h->text);
		break;
	case N_STATUS:
	case N_ERROR:
		h = fh_new(FH_TEXT, path);
		if (h == NULL)
			return -ENOMEM;
		if (nd.kind == N_STATUS) {
			err = status_text(fs, &h->text, &h->text_len);
		} else {
			struct scope sc;
			struct rs_ref *r;

			caller_scope(fs, &sc);
			r = reqstore_get(fs->errors, &sc, "error", mono_ms());
			h->text = strdup(r ? (const char *)rs_ref_val(r) : "");
			rs_ref_put(fs->errors, r);
			err = h->text ? 0 : -ENOMEM;
			h->text_len = h->text ? strlen(h->text) : 0;
		}
		if (err) {
			fh_free(fs, h);
			return err;
		}
		fi->direct_io = 1;
		break;
	case N_RANDOM:
		h = fh_new(FH_RANDOM, path);
		if (h == NULL)
			return -ENOMEM;
		fi->direct_io = 1;
		fi->nonseekable = 1;
		break;
	case N_KFILE:
		hst = get_kv(fs, &nd, &kv);
		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		kf = kfile_kind(nd.file, kv, &on);
		if (kf == KF_NONE) {
			err = -ENOENT;
		} else if (kf == KF_OP) {
			err = open_op(fs, path, kv, &on, &nd, fi);
		} else if (acc != O_RDONLY) {
			err = -EACCES;
		} else if ((h = fh_new(FH_META, path)) == NULL) {
			err = -ENOMEM;
		} else {
			h->kv = kver_get(kv);
			h->data = kfile_data(kv, kf, &h->len);
		}
		kver_put(kv);
		if (err)
			return err;
		if (kf == KF_OP)
			return 0;
		break;
	default:
		return -EISDIR;
	}
	fi->noflush = 1;	/* read-only: nothing to do at close */
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int read_bytes(const uint8_t *data, size_t len, char *buf, size_t size,
		      off_t off)
{
	if (off < 0 || (size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, data + off, size);
	return (int)size;
}

/* Serve output from a position that only moves forward (nonseekable). */
static int read_stream(struct secret *s, size_t *pos, char *buf, size_t size)
{
	size_t len = s ? secret_len(s) : 0;

	if (*pos >= len)
		return 0;
	if (size > len - *pos)
		size = len - *pos;
	memcpy(buf, secret_bytes(s) + *pos, size);
	*pos += size;
	return (int)size;
}

static int read_op(struct fs_state *fs, struct fh *h, char *buf, size_t size)
{
	struct hsm_call call;
	struct opx_fail fail;
	struct request *r;
	int n, err;

	if (h->acc == O_WRONLY)
		return -EBADF;
	if (h->acc == O_RDONLY) {
		r = rs_ref_val(h->req);
		return read_stream(r->out, &h->pos, buf, size);
	}
	/* O_RDWR: the first read ends the input and runs the operation. */
	if (h->run_err)
		return -h->run_err;
	if (h->out == NULL) {
		call_init(&call);
		err = opx_run(&h->x, &fs->env, &call, &h->out, &fail);
		if (err) {
			if (fail.err != EINTR)
				h->run_err = -err;
			if (!h->have_sc) {
				caller_scope(fs, &h->sc);
				h->have_sc = true;
			}
			record_error(fs, &h->sc, h->path, &fail);
			return err;
		}
		__atomic_add_fetch(&fs->ops_ok, 1, __ATOMIC_RELAXED);
		h->pos = 0;
		h->at_eof = false;
	}
	n = read_stream(h->out, &h->pos, buf, size);
	if (n == 0)
		h->at_eof = true;
	return n;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct fh *h = fh_of(fi);
	struct hsm_call call;
	enum hsm_status hst;
	int n = 0;

	(void)path;
	switch (h->kind) {
	case FH_TEXT:
		return read_bytes((const uint8_t *)h->text, h->text_len, buf,
				  size, off);
	case FH_META:
		return read_bytes(h->data, h->len, buf, size, off);
	case FH_RANDOM:
		pthread_mutex_lock(&h->lock);
		if (size > RANDOM_MAX_PER_OPEN - h->served)
			size = RANDOM_MAX_PER_OPEN - h->served;
		if (size > 0) {
			call_init(&call);
			hst = hsm_random(fs->client, &call, (uint8_t *)buf, size);
			if (hst != HSM_OK) {
				n = -hsm_status_to_errno(hst);
				log_warn("%s: %s (request id %s)", h->path,
					 hsm_strerror(hst),
					 call.err.request_id[0] ?
					 call.err.request_id : "none");
			} else {
				h->served += size;
				n = (int)size;
			}
		}
		pthread_mutex_unlock(&h->lock);
		return n;
	case FH_OP:
		pthread_mutex_lock(&h->lock);
		n = read_op(fs, h, buf, size);
		pthread_mutex_unlock(&h->lock);
		return n;
	}
	return -EIO;
}

/* Write-only: input goes to the handle's request, which may already be
 * in the store (a child that shared the fd closed it); writes then keep
 * adding to it, unless a reader already ran it, which starts a new one. */
static int write_request(struct fh *h, const char *buf, size_t size)
{
	struct request *r = h->wreq;
	int err;

	pthread_mutex_lock(&r->lock);
	if (r->ran) {
		pthread_mutex_unlock(&r->lock);
		r = request_new(&h->on, h->name,
				h->version[0] ? h->version : NULL, h->kv);
		if (r == NULL)
			return -ENOMEM;
		request_put(h->wreq);
		h->wreq = r;
		h->left = false;
		pthread_mutex_lock(&r->lock);
	}
	err = opx_write(&r->x, buf, size);
	pthread_mutex_unlock(&r->lock);
	h->dirty = true;
	return err;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int err = 0;

	(void)path;
	(void)off;
	if (h->kind != FH_OP || h->acc == O_RDONLY)
		return -EBADF;
	pthread_mutex_lock(&h->lock);
	if (h->acc == O_WRONLY) {
		err = write_request(h, buf, size);
		pthread_mutex_unlock(&h->lock);
		return err ? err : (int)size;
	}
	/* A write after the output (or a failure) starts a new operation. */
	if (h->out != NULL || h->run_err) {
		secret_free(h->out);
		h->out = NULL;
		h->run_err = 0;
		h->pos = 0;
		h->at_eof = false;
		opx_reset(&h->x);
	}
	err = opx_write(&h->x, buf, size);
	pthread_mutex_unlock(&h->lock);
	return err ? err : (int)size;
}

/* A write-only handle leaves its request in the scope at close (flush is
 * synchronous with close(2); release is not).  Every close of a shared
 * fd flushes: the same request is (re)left, so the last close wins and
 * input written between closes is kept. */
static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct fh *h = fh_of(fi);
	int err = 0;

	(void)path;
	if (h->kind != FH_OP || h->acc != O_WRONLY)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (!h->left || h->dirty) {
		err = reqstore_put(fs->requests, &h->sc, h->path,
				   request_get(h->wreq), request_put, false,
				   mono_ms());
		h->left = err == 0;
		h->dirty = false;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	fh_free(state(), fh_of(fi));
	return 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node nd;
	int err;

	/* ftruncate(2) comes through the handle, with no path (nullpath_ok). */
	if (path == NULL && fi != NULL)
		path = fh_path(fi);
	if (path == NULL)
		return -EBADF;
	err = parse_path(path, &nd);
	if (err)
		return err;
	/* `echo > sign` opens with O_TRUNC: truncating an operation file
	 * is a no-op, everything else is read-only. */
	if (nd.kind == N_KFILE && size == 0) {
		struct kver *kv = NULL;
		struct opname on;
		enum hsm_status hst = get_kv(state(), &nd, &kv);
		enum kfile kf;

		if (hst != HSM_OK)
			return -hsm_status_to_errno(hst);
		kf = kfile_kind(nd.file, kv, &on);
		kver_put(kv);
		if (kf == KF_OP)
			return 0;
		if (kf == KF_NONE)
			return -ENOENT;
	}
	return -EACCES;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct node nd;

	(void)mode;
	(void)fi;
	/* Creating files is never allowed; an invalid operation name in a
	 * key directory is simply not there. */
	if (parse_path(path, &nd) == 0 && nd.kind == N_KFILE)
		return -ENOENT;
	return -EACCES;
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	(void)rdev;
	return op_create(path, mode, NULL);
}

static int op_deny(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EPERM;
}

static int op_deny1(const char *path)
{
	(void)path;
	return -EPERM;
}

static int op_deny2(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EPERM;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EPERM;
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return -EPERM;
}

static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	(void)path;
	(void)tv;
	(void)fi;
	/* touch on an operation file is harmless; pretend it worked. */
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/*
	 * Kernel caches, chosen on purpose: names and attributes are kept
	 * 1 s, long enough that `ls -l` and repeated opens of one file
	 * within a script cost the daemon nothing, short enough that a key
	 * created or rotated elsewhere shows up about at once (the daemon's
	 * own caches, list_ttl, decide the rest).  Misses are not cached by
	 * the kernel (negative_timeout 0) because the daemon keeps them 5 s
	 * itself and a key created through ctl must appear immediately.
	 */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0.0;
	cfg->use_ino = 0;
	cfg->hard_remove = 1;
	/* Content of metadata files depends on the version shown, so the
	 * page cache is dropped at each open (kernel_cache off). */
	cfg->kernel_cache = 0;
	/* read, write, flush and release work on the handle alone: sparing
	 * libfuse the path lookup saves work on the hottest requests. */
	cfg->nullpath_ok = 1;
	return fuse_get_context()->private_data;
}

const struct fuse_operations hsmfs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.truncate = op_truncate,
	.create = op_create,
	.mknod = op_mknod,
	.mkdir = op_deny,
	.unlink = op_deny1,
	.rmdir = op_deny1,
	.rename = op_deny2,
	.chmod = op_chmod,
	.chown = op_chown,
	.utimens = op_utimens,
};
