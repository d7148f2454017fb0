/*
 * ops.c - the FUSE callbacks of hsmfs: resolve the path (or take the
 * handle), then one small handler per kind of node or handle.
 *
 * Conventions: every callback returns 0, a count or a negative errno;
 * every failure a caller can see goes through fs_fail() (fail.c), with
 * one exception: lookups answer "no such name" quietly.  With nullpath_ok, libfuse
 * passes path NULL to every callback called through an open handle, so
 * those take the path from the handle (path_of()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handle.h"
#include "hsmfs.h"
#include "lifecycle.h"
#include "opfile.h"
#include "resolve.h"
#include "secret.h"
#include "sealread.h"
#include "sealview.h"
#include "sealwrite.h"

#define RANDOM_MAX_PER_OPEN (1u << 20)
/* At most 32 HSM calls (of 128 bytes) per read: a read holds a worker
 * thread for its whole length, and one user's many readers must not
 * hold them all (DESIGN.md §3.4).  A short read of a stream is legal;
 * every reader loops. */
#define RANDOM_MAX_PER_READ 4096u

/* The entries of /, in readdir's order: a new root file is a line here. */
static const struct root_entry root_entries[] = {
	{ "README", N_TEXT, readme_text, TX_FIXED, 0444 },
	{ "keys", N_KEYS, NULL, TX_NONE, 0555 },
	{ "deleted", N_DELETED, NULL, TX_NONE, 0555 },
	{ "restore", N_RESTORE, NULL, TX_NONE, 0660 },
	/* A remote call per 128 bytes: a use of the HSM, so the owner's
	 * and the group's like the operation files (read-only). */
	{ "random", N_RANDOM, NULL, TX_NONE, 0440 },
	{ "ctl", N_CTL, NULL, TX_NONE, 0660 },
	/* Private per uid and scope whatever the mode (§4.3). */
	{ "error", N_TEXT, error_text, TX_SCOPED, 0444 },
	/* Client id, endpoint, counters: not everyone's business. */
	{ "status", N_TEXT, status_text, TX_SNAPSHOT, 0440 },
	{ "metrics", N_TEXT, metrics_text, TX_SNAPSHOT, 0440 },
	/* With sealed_dir only; its files have their backing files'
	 * owners and modes. */
	{ "sealed", N_SEALED, NULL, TX_NONE, 0555 },
	{ NULL, N_ROOT, NULL, TX_NONE, 0 },
};

_Static_assert(sizeof(root_entries) / sizeof(root_entries[0]) <= ROOT_MAX,
	       "fs_state.snaps[] has a slot per root entry");

/*
 * What the service does not offer is not in the tree (DESIGN.md §5): a
 * Key Vault vault has no random bytes, so its root has no `random`.  The
 * client tells which service it is (by the URL's host, else the
 * challenge's resource, asked once); when it cannot tell, the tree is a
 * Managed HSM's.
 */
/* Root entries that this mount does not have: sealed/ without
 * sealed_dir (sv_rel() takes the path when it is set), random on a Key
 * Vault vault (which has no getRandomBytes). */
static bool entry_absent(struct fs_state *fs, enum node_kind kind)
{
	if (kind == N_SEALED)
		return fs->opts->sealed_dir == NULL;
	return kind == N_RANDOM &&
	       hsm_service(fs->client, NULL) == HSM_SERVICE_VAULT;
}

/* The held text of a TX_SNAPSHOT root file (one per entry). */
static struct snap *snap_of(struct fs_state *fs, const struct root_entry *e)
{
	return &fs->snaps[e - root_entries];
}

static struct fs_state *state(void)
{
	return fuse_get_context()->private_data;
}

/* The path of a callback: its own, else (nullpath_ok) its handle's. */
static const char *path_of(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	if (path != NULL)
		return path;
	return h != NULL ? h->path : NULL;
}

/*
 * path -> node.  A name that does not exist is an answer, not a failure:
 * the kernel looks up such names all the time (shells, ls, completion),
 * so lookups (quiet) return -ENOENT without a trace.  Every other failure
 * (the service refused, could not be reached) goes through fs_fail().
 */
static int resolve(struct fs_state *fs, const char *path,
		   enum resolve_depth depth, bool quiet, struct node *nd)
{
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	int err;

	err = resolve_parse(path, root_entries, nd);
	if (err == 0 && entry_absent(fs, nd->kind))
		err = -ENOENT;
	if (err == 0) {
		call_init(&call);
		err = resolve_key(fs->kc, &call, nd, depth, &f);
		if (err == 0)
			err = lc_deleted_resolve(fs, &call, nd, &f);
	}
	if (err == 0 || (quiet && err == -ENOENT))
		return err;
	if (f.err == 0 || err != f.err)
		return fs_fail_errno(fs, path, err, NULL);
	return fs_fail(fs, NULL, path, &f);
}

/* ------------------------------------------------------------ getattr */

/* type: S_IFDIR or S_IFREG; owner, group and mode by fs_node_access(). */
static void fill_stat(struct fs_state *fs, struct stat *st,
		      const struct node *nd, mode_t type, size_t size,
		      int64_t mtime)
{
	mode_t mode;

	fs_node_access(fs, nd, &mode, &st->st_uid, &st->st_gid);
	mode |= type;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_size = S_ISDIR(mode) ? 0 : (off_t)size;
	st->st_blocks = S_ISDIR(mode) ? 0 : (blkcnt_t)((size + 511) / 512);
	st->st_mtime = st->st_ctime = st->st_atime =
		(time_t)(mtime ? mtime : fs->mounted_at);
}

/*
 * Root files are made at each open, and stat tells the exact size of
 * what the caller will read: through an open handle, its text's; a text
 * that changes over time, the size of the snapshot the next opens get
 * (fs/snap.h); the others, the text made now for the caller.
 */
static int root_file_size(struct fs_state *fs, const struct node *nd,
			  const struct handle *h, size_t *size)
{
	char *text = NULL;
	int err = 0;

	*size = 0;
	if (nd->kind != N_TEXT)
		return 0;
	if (h != NULL && h->kind == H_TEXT) {
		*size = h->len;
	} else if (nd->root->size == TX_SNAPSHOT) {
		err = snap_size(snap_of(fs, nd->root), mono_ms(),
				nd->root->text, fs, size);
	} else {
		err = nd->root->text(fs, &text, size);
		free(text);
	}
	return err;
}

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	const char *rel;
	struct node nd;
	size_t len = 0;
	int err;

	memset(st, 0, sizeof(*st));
	if (handle_of(fi) != NULL && handle_of(fi)->kind == H_SEALED)
		return sv_fgetattr(fs, handle_of(fi), st);
	if ((path = path_of(path, fi)) == NULL)
		return -EBADF;
	if ((rel = sv_rel(fs, path)) != NULL)
		return sv_getattr(fs, path, rel, st);
	err = resolve(fs, path, RS_ATTR, true, &nd);
	if (err == 0 && node_is_dir(&nd)) {
		fill_stat(fs, st, &nd, S_IFDIR, 0, nd.mtime);
	} else if (err == 0 && nd.kind == N_DELFILE) {
		fill_stat(fs, st, &nd, S_IFREG, nd.text_len, nd.mtime);
	} else if (err == 0 && nd.kind != N_TEXT && nd.kind != N_META &&
		   nd.kind != N_RANDOM) {
		/* service files: made at open, read to EOF */
		fill_stat(fs, st, &nd, S_IFREG, 0, nd.mtime);
	} else if (err == 0 && nd.kind == N_META) {
		meta_data(nd.kv, nd.meta, &len);
		fill_stat(fs, st, &nd, S_IFREG, len, nd.mtime);
	} else if (err == 0) {
		err = root_file_size(fs, &nd, handle_of(fi), &len);
		if (err)
			err = fs_fail_errno(fs, path, err, NULL);
		else
			fill_stat(fs, st, &nd, S_IFREG, len, 0);
	}
	node_release(&nd);
	return err;
}

/* ------------------------------------------------------------ readdir */

static void fill_dots(void *buf, fuse_fill_dir_t fill)
{
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
}

/* keys/, deleted/ and keys/NAME/versions/: names the service lists. */
static int list_names(struct fs_state *fs, const char *path,
		      const struct node *nd, void *buf, fuse_fill_dir_t fill)
{
	struct hsm_call call;
	struct fs_fail f;
	enum hsm_status st;
	char **names = NULL;
	size_t n = 0, i;

	call_init(&call);
	if (nd->kind == N_KEYS)
		st = kc_list(fs->kc, &call, &names, &n);
	else if (nd->kind == N_DELETED)
		st = lc_deleted_list(fs, &call, &names, &n);
	else
		st = kc_versions(fs->kc, &call, nd->name, &names, &n);
	if (st != HSM_OK) {
		fail_status(&f, st, &call);
		return f.err == -ENOENT ? f.err : fs_fail(fs, NULL, path, &f);
	}
	fill_dots(buf, fill);
	for (i = 0; i < n; i++)
		if (fill(buf, names[i], NULL, 0, 0))
			break;
	kc_names_free(names, n);
	return 0;
}

/* A key or version directory: its operations and metadata files. */
static void list_key_files(const struct node *nd, void *buf,
			   fuse_fill_dir_t fill)
{
	size_t len;
	int i;

	fill_dots(buf, fill);
	for (i = 0; i < FOP__COUNT; i++)
		if (op_supported(&nd->kv->shape, (enum fs_op)i))
			fill(buf, fs_op_name((enum fs_op)i), NULL, 0, 0);
	for (i = 0; i < M__COUNT; i++)
		if (meta_data(nd->kv, (enum meta_file)i, &len) != NULL)
			fill(buf, meta_name((enum meta_file)i), NULL, 0, 0);
	if (nd->kind != N_KEY)
		return;
	fill(buf, "versions", NULL, 0, 0);
	fill(buf, "ctl", NULL, 0, 0);
	fill(buf, "rotation.json", NULL, 0, 0);
	fill(buf, "backup", NULL, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct fs_state *fs = state();
	const struct root_entry *e;
	const char *rel;
	struct node nd;
	int err;

	(void)off;
	(void)flags;
	if ((path = path_of(path, fi)) == NULL)
		return -EBADF;
	if ((rel = sv_rel(fs, path)) != NULL)
		return sv_readdir(fs, path, rel, buf, fill);
	err = resolve(fs, path, RS_LIST, true, &nd);
	if (err)
		goto out;
	switch (nd.kind) {
	case N_ROOT:
		fill_dots(buf, fill);
		for (e = root_entries; e->name != NULL; e++)
			if (!entry_absent(fs, e->kind))
				fill(buf, e->name, NULL, 0, 0);
		break;
	case N_KEYS:
	case N_VERSIONS:
	case N_DELETED:
		err = list_names(fs, path, &nd, buf, fill);
		break;
	case N_DELKEY:
		fill_dots(buf, fill);
		fill(buf, "info", NULL, 0, 0);
		fill(buf, "meta.json", NULL, 0, 0);
		break;
	case N_KEY:
	case N_VERSION:
		list_key_files(&nd, buf, fill);
		break;
	default:
		err = -ENOTDIR;
		break;
	}
out:
	node_release(&nd);
	return err;
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_DIR, path);

	if (h == NULL)
		return fs_fail_errno(state(), path, -ENOMEM, NULL);
	handle_set(fi, h);
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	handle_free(handle_of(fi), state()->requests);
	return 0;
}

/* ------------------------------------------------------------ open */

/* README, status, error, metrics: the text is made (or the snapshot
 * stat reported taken) now, read from the handle. */
static struct handle *open_text(struct fs_state *fs, const char *path,
				const struct node *nd, struct fuse_file_info *fi,
				int *err)
{
	struct handle *h = handle_new(H_TEXT, path);

	if (h == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	if (nd->root->size == TX_SNAPSHOT)
		*err = snap_take(snap_of(fs, nd->root), mono_ms(),
				 nd->root->text, fs, &h->u.text.bytes, &h->len);
	else
		*err = nd->root->text(fs, &h->u.text.bytes, &h->len);
	if (*err) {
		handle_free(h, fs->requests);
		return NULL;
	}
	h->data = (const uint8_t *)h->u.text.bytes;
	/* A text that may differ from one open to the next is read to its
	 * end whatever size the kernel has kept: no page cache. */
	fi->direct_io = nd->root->size != TX_FIXED;
	return h;
}

static struct handle *open_meta(const char *path, const struct node *nd,
				int *err)
{
	struct handle *h = handle_new(H_META, path);

	if (h == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	h->u.meta.kv = kver_get(nd->kv);
	h->data = meta_data(nd->kv, nd->meta, &h->len);
	return h;
}

/* rotation.json, backup (the service's answer now) and deleted/NAME's
 * files (fetched by the lookup): texts whose size stat does not know. */
static struct handle *open_fetched(struct fs_state *fs, const char *path,
				   struct node *nd, struct fuse_file_info *fi,
				   int *err)
{
	struct handle *h = handle_new(H_TEXT, path);
	struct fs_fail f = { .err = 0 };

	*err = -ENOMEM;
	if (h == NULL)
		return NULL;
	if (nd->kind == N_DELFILE) {
		h->u.text.bytes = nd->text;	/* moves */
		h->len = nd->text_len;
		nd->text = NULL;
		*err = 0;
	} else if ((*err = lc_svc_text(fs, nd, &h->u.text.bytes, &h->len,
				       &f)) != 0) {
		handle_free(h, fs->requests);
		*err = fs_fail(fs, NULL, path, &f);
		return NULL;
	}
	h->data = (const uint8_t *)h->u.text.bytes;
	fi->direct_io = nd->kind != N_DELFILE;
	return h;
}

/* ctl, restore, rotation.json opened for writing. */
static int open_input(struct fs_state *fs, const char *path,
		      const struct node *nd, struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_INPUT, path);

	if (h == NULL)
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	h->u.input.target = nd->kind;
	snprintf(h->u.input.key, sizeof(h->u.input.key), "%s", nd->name);
	fi->direct_io = 1;
	fi->nonseekable = 1;
	handle_set(fi, h);
	return 0;
}

/* The read-only files: text, metadata, random. */
static int open_read_only(struct fs_state *fs, const char *path,
			  struct node *nd, struct fuse_file_info *fi)
{
	struct handle *h = NULL;
	int err = -ENOMEM;

	switch (nd->kind) {
	case N_TEXT:
		h = open_text(fs, path, nd, fi, &err);
		break;
	case N_META:
		h = open_meta(path, nd, &err);
		break;
	case N_RANDOM:
		h = handle_new(H_RANDOM, path);
		fi->direct_io = 1;
		fi->nonseekable = 1;
		break;
	case N_KSVC:
	case N_DELFILE:
		h = open_fetched(fs, path, nd, fi, &err);
		if (h == NULL && nd->kind == N_KSVC)
			return err;	/* reported */
		break;
	case N_CTL:
	case N_RESTORE:
		err = -EACCES;
		return fs_fail_errno(fs, path, err, "the file is write-only");
	default:
		err = -EISDIR;
		break;
	}
	if (h == NULL)
		return fs_fail_errno(fs, path, err, NULL);
	fi->noflush = 1;	/* read-only: nothing to do at close */
	handle_set(fi, h);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	const char *rel = sv_rel(fs, path);
	struct node nd;
	int err, acc = fi->flags & O_ACCMODE;

	if (rel != NULL)
		return sv_open(fs, path, rel, fi);
	err = resolve(fs, path, RS_ATTR, false, &nd);
	if (err)
		goto out;
	if (node_is_dir(&nd))
		err = fs_fail_errno(fs, path, -EISDIR, NULL);
	else if (nd.kind == N_OP)
		err = opfile_open(fs, path, &nd, fi);
	else if (node_is_input(&nd) && acc != O_RDONLY)
		err = open_input(fs, path, &nd, fi);
	else if (acc != O_RDONLY || (fi->flags & O_TRUNC))
		/* O_TRUNC too: the kernel takes an open that accepted it as
		 * the file emptied, and readers elsewhere then get EOF (or
		 * SIGBUS in a mapping) until its size is asked again. */
		err = fs_fail_errno(fs, path, -EACCES, "the file is read-only");
	else
		err = open_read_only(fs, path, &nd, fi);
out:
	node_release(&nd);
	return err;
}

/* ------------------------------------------------------------ I/O */

/* random: as many bytes as asked up to RANDOM_MAX_PER_READ, and
 * RANDOM_MAX_PER_OPEN per open; a call slot of the caller's uid. */
static int read_random(struct fs_state *fs, struct handle *h, char *buf,
		       size_t size)
{
	struct hsm_call call;
	struct fs_fail f;
	enum hsm_status st;
	int64_t t0;

	if (size > RANDOM_MAX_PER_OPEN - h->u.random.served)
		size = RANDOM_MAX_PER_OPEN - h->u.random.served;
	if (size > RANDOM_MAX_PER_READ)
		size = RANDOM_MAX_PER_READ;
	if (size == 0)
		return 0;
	if (call_slot(fs, &f) != 0)
		return fs_fail(fs, NULL, h->path, &f);
	call_init(&call);
	t0 = mono_us();
	metrics_calls_add(fs->metrics, 1);
	st = hsm_random(fs->client, &call, (uint8_t *)buf, size);
	metrics_calls_add(fs->metrics, -1);
	call_slot_end(fs);
	/* Not an operation on a key: counted, not audited. */
	metrics_op_done(fs->metrics, NULL, "random", hsm_status_err(st),
			(uint64_t)(mono_us() - t0));
	if (st != HSM_OK) {
		fail_status(&f, st, &call);
		return fs_fail(fs, NULL, h->path, &f);
	}
	h->u.random.served += size;
	return (int)size;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct handle *h = handle_of(fi);
	int n;

	(void)path;
	switch (h->kind) {
	case H_TEXT:
	case H_META:
		return handle_read_at(h, buf, size, off);
	case H_DIR:
		return fs_fail_errno(fs, h->path, -EISDIR, NULL);
	case H_RANDOM:
		pthread_mutex_lock(&h->lock);
		n = read_random(fs, h, buf, size);
		pthread_mutex_unlock(&h->lock);
		return n;
	case H_SEALED:
		pthread_mutex_lock(&h->lock);
		n = sv_read(fs, h, buf, size, off);
		pthread_mutex_unlock(&h->lock);
		return n;
	default:
		pthread_mutex_lock(&h->lock);
		n = opfile_read(fs, h, buf, size);
		pthread_mutex_unlock(&h->lock);
		return n;
	}
}

/* ------------------------------------------------------------ splice */

/* Reads this big or bigger of seal's output are spliced; smaller ones are
 * copied (libfuse copies anything under two pages anyway). */
#define SPLICE_MIN ((size_t)16 << 10)
#define SPLICE_PIPE ((size_t)1 << 20)
/* libfuse moves a spliced reply through its own pipe with the header
 * in front: its pipe (at most pipe-max-size, 1 MiB, for a daemon that is
 * not root) must hold the data and about three pages more. */
#define SPLICE_SLACK ((size_t)4 << 12)

/*
 * Each worker thread's pipe for spliced reads: seal's output goes from
 * the spool's page cache into it by reference and libfuse moves it on to
 * /dev/fuse, so its bytes are copied once (into the reader) instead of
 * twice (pread, then the reply).  libfuse drains the pipe after
 * op_read_buf() has returned and the handle's lock is released; a pipe
 * of the thread's own, unlike the spool's fd, cannot be closed and its
 * number reused by another handle meanwhile.
 */
struct rpipe {
	int fd[2];
	size_t cap;
};

static pthread_key_t rpipe_key;
static pthread_once_t rpipe_once = PTHREAD_ONCE_INIT;
static bool rpipe_ok;

static void rpipe_free(void *p)
{
	struct rpipe *rp = p;

	close(rp->fd[0]);
	close(rp->fd[1]);
	free(rp);
}

static void rpipe_key_init(void)
{
	rpipe_ok = pthread_key_create(&rpipe_key, rpipe_free) == 0;
}

/* This thread's pipe, empty; NULL: read by copying. */
static struct rpipe *rpipe_get(void)
{
	struct rpipe *rp;
	int n = 0;

	pthread_once(&rpipe_once, rpipe_key_init);
	if (!rpipe_ok)
		return NULL;
	rp = pthread_getspecific(rpipe_key);
	/* Bytes left by a reply that failed must never reach the next
	 * reader: such a pipe is replaced. */
	if (rp != NULL && ioctl(rp->fd[0], FIONREAD, &n) == 0 && n == 0)
		return rp;
	if (rp != NULL) {
		pthread_setspecific(rpipe_key, NULL);
		rpipe_free(rp);
	}
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return NULL;
	if (pipe2(rp->fd, O_CLOEXEC) != 0) {
		free(rp);
		return NULL;
	}
	n = fcntl(rp->fd[0], F_SETPIPE_SZ, (int)SPLICE_PIPE);
	n = n > 0 ? n : fcntl(rp->fd[0], F_GETPIPE_SZ);
	rp->cap = n > (int)(SPLICE_MIN + SPLICE_SLACK) ?
		  (size_t)n - SPLICE_SLACK : 0;
	if (rp->cap == 0 || pthread_setspecific(rpipe_key, rp) != 0) {
		rpipe_free(rp);
		return NULL;
	}
	return rp;
}

/* seal's output by splice into a fuse_bufvec naming the pipe: the count
 * (maybe short: a stream), 0 to read by copying, or -errno. */
static ssize_t read_spliced(struct handle *h, size_t size,
			    struct fuse_bufvec *bv)
{
	struct rpipe *rp;
	ssize_t n;

	if (size < SPLICE_MIN || (h->kind != H_RUN && h->kind != H_GET) ||
	    (rp = rpipe_get()) == NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	n = opfile_splice(state(), h, rp->fd[1],
			  size < rp->cap ? size : rp->cap);
	pthread_mutex_unlock(&h->lock);
	if (n > 0) {
		*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT((size_t)n);
		bv->buf[0].flags = FUSE_BUF_IS_FD;
		bv->buf[0].fd = rp->fd[0];
	}
	return n;
}

static int op_read_buf(const char *path, struct fuse_bufvec **bufp,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec *bv = malloc(sizeof(*bv));
	ssize_t n;

	if (bv == NULL)
		return fs_fail_errno(state(), handle_of(fi)->path, -ENOMEM,
				     NULL);
	n = read_spliced(handle_of(fi), size, bv);
	if (n == 0) {
		*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
		bv->buf[0].mem = malloc(size > 0 ? size : 1);
		n = bv->buf[0].mem == NULL ? fs_fail_errno(state(),
			handle_of(fi)->path, -ENOMEM, NULL) :
			op_read(path, bv->buf[0].mem, size, off, fi);
		if (n >= 0)
			bv->buf[0].size = (size_t)n;
		else
			free(bv->buf[0].mem);
	}
	if (n < 0) {
		free(bv);
		return (int)n;
	}
	*bufp = bv;
	return 0;
}

/*
 * A WRITE's data sits in the receive buffer of the worker that took it,
 * which libfuse allocates at 1 MiB + 4 KiB per worker and keeps for the
 * worker's life, and the kernel hands requests to the idle workers in
 * turn: a stream of 1 MiB writes (seal, the sealed view) would leave
 * every kept worker's whole buffer resident (64 workers: 64 MiB) and
 * holding the last plaintext it carried.  Once the handler has taken the
 * data, its whole pages go back to the kernel (MADV_DONTNEED: the
 * mapping stays, the next request faults in zero pages) and what is left
 * is wiped.  Small writes, the common case (a digest to sign), are only
 * wiped: a madvise costs a TLB flush on every CPU running one of our
 * threads.  libfuse does not read the data again after the handler.
 */
#define WRITE_RELEASE_MIN (64 * 1024)

static void write_data_release(const char *buf, size_t size)
{
	static size_t page;
	uintptr_t b = (uintptr_t)buf, start, end;

	if (page == 0)
		page = (size_t)sysconf(_SC_PAGESIZE);
	start = (b + page - 1) & ~(uintptr_t)(page - 1);
	end = (b + size) & ~(uintptr_t)(page - 1);
	if (size < WRITE_RELEASE_MIN || end <= start ||
	    madvise((void *)start, end - start, MADV_DONTNEED) != 0) {
		secret_wipe((char *)buf, size);
		return;
	}
	secret_wipe((char *)buf, start - b);
	secret_wipe((char *)end, b + size - end);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct handle *h = handle_of(fi);
	int n;

	(void)path;
	pthread_mutex_lock(&h->lock);
	if (h->kind == H_SEALED)
		n = sv_write(fs, h, buf, size, off);
	else if (h->kind == H_INPUT)
		n = lc_input_write(fs, h, buf, size);
	else
		n = opfile_write(fs, h, buf, size);
	pthread_mutex_unlock(&h->lock);
	write_data_release(buf, size);
	return n;
}

/* A write-only handle leaves its request in the scope at close (flush is
 * synchronous with close(2); release is not). */
static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct handle *h = handle_of(fi);
	int err;

	(void)path;
	if (h->kind != H_PUT && h->kind != H_INPUT && h->kind != H_SEALED)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (h->kind == H_SEALED)
		err = sv_flush(fs, h);
	else if (h->kind == H_INPUT)
		err = lc_input_flush(fs, h);
	else
		err = opfile_flush(fs, h);
	pthread_mutex_unlock(&h->lock);
	return err;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)path;
	if (h->kind == H_SEALED) {
		pthread_mutex_lock(&h->lock);
		sv_release(state(), h);
		pthread_mutex_unlock(&h->lock);
	}
	handle_free(h, state()->requests);
	return 0;
}

/* ------------------------------------------------------------ changes */

/*
 * `echo > sign` opens with O_TRUNC: truncating an operation file to 0 is
 * a no-op, everything else is read-only.  ftruncate(2) comes through the
 * handle (path NULL), and only operation files open for writing.
 */
static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_state *fs = state();
	struct handle *h = handle_of(fi);
	struct node nd;
	int err;

	if ((h != NULL && h->kind == H_SEALED) || sv_rel(fs, path) != NULL)
		return sv_truncate(fs, path_of(path, fi), size, h);
	if (h != NULL) {
		if (size == 0 && (h->kind == H_RUN || h->kind == H_PUT ||
				  h->kind == H_INPUT))
			return 0;
		return fs_fail_errno(fs, h->path, -EACCES, "the file is read-only");
	}
	err = resolve_parse(path, root_entries, &nd);
	if (err == 0 && size == 0 && (nd.kind == N_KFILE ||
				      node_is_input(&nd))) {
		err = resolve(fs, path, RS_ATTR, false, &nd);
		node_release(&nd);
		if (err || nd.kind == N_OP || node_is_input(&nd))
			return err;
	}
	return fs_fail_errno(fs, path, err ? err : -EACCES,
			     err ? NULL : "the file is read-only");
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	const char *rel = sv_rel(state(), path);
	struct node nd;
	int err = -EACCES;

	if (rel != NULL && fi != NULL)
		return sv_create(state(), path, rel, mode, fi);
	/* Creating files is never allowed; an invalid operation name in a
	 * key directory is simply not there. */
	if (resolve_parse(path, root_entries, &nd) == 0 && nd.kind == N_KFILE)
		err = -ENOENT;
	return fs_fail_errno(state(), path, err, NULL);
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	(void)rdev;
	return op_create(path, mode, NULL);
}

/* mkdir, unlink, rmdir, rename, chmod, chown: the tree is the service's. */
static int deny(const char *path, struct fuse_file_info *fi)
{
	const char *p = path_of(path, fi);

	return fs_fail_errno(state(), p ? p : "?", -EPERM, NULL);
}

/* mkdir keys/NAME creates a key. */
static int op_mkdir(const char *path, mode_t mode)
{
	const char *rel = sv_rel(state(), path);
	struct node nd;

	if (rel != NULL)
		return sv_mkdir(state(), path, rel, mode);
	if (resolve_parse(path, root_entries, &nd) == 0 && nd.kind == N_KEY)
		return lc_mkdir(state(), path, &nd);
	return deny(path, NULL);
}

static int op_unlink(const char *path)
{
	const char *rel = sv_rel(state(), path);

	if (rel != NULL)
		return sv_remove(state(), path, rel, false);
	return deny(path, NULL);
}

/* Without it the kernel answers symlink with ENOSYS, as if the call did
 * not exist; link is EPERM, and so is this. */
static int op_symlink(const char *target, const char *path)
{
	(void)target;
	return deny(path, NULL);
}

/* rmdir keys/NAME deletes the key, rmdir deleted/NAME purges it. */
static int op_rmdir(const char *path)
{
	const char *rel = sv_rel(state(), path);
	struct node nd;

	if (rel != NULL)
		return sv_remove(state(), path, rel, true);
	if (resolve_parse(path, root_entries, &nd) == 0 &&
	    (nd.kind == N_KEY || nd.kind == N_DELKEY))
		return lc_rmdir(state(), path, &nd);
	return deny(path, NULL);
}

/* mv deleted/NAME keys/ recovers the key. */
static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct node a, b;

	if (sv_rel(state(), from) != NULL || sv_rel(state(), to) != NULL)
		return sv_rename(state(), from, to, flags);
	/* RENAME_NOREPLACE is what recovery does anyway; an exchange is
	 * not a recovery. */
	if (!(flags & RENAME_EXCHANGE) &&
	    resolve_parse(from, root_entries, &a) == 0 &&
	    a.kind == N_DELKEY && resolve_parse(to, root_entries, &b) == 0 &&
	    b.kind == N_KEY)
		return lc_recover(state(), from, &a, &b);
	return deny(from, NULL);
}

/* chmod, chown and utimens of sealed/ pass through to DIR (through a
 * handle too: the path it was opened by). */
static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	const char *p = path_of(path, fi), *rel = sv_rel(state(), p);

	if (rel != NULL)
		return sv_chmod(state(), p, rel, mode);
	return deny(path, fi);
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	const char *p = path_of(path, fi), *rel = sv_rel(state(), p);

	if (rel != NULL)
		return sv_chown(state(), p, rel, uid, gid);
	return deny(path, fi);
}

static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	const char *p = path_of(path, fi), *rel = sv_rel(state(), p);

	if (rel != NULL)
		return sv_utimens(state(), p, rel, tv);
	/* touch on an operation file is harmless; pretend it worked. */
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/*
	 * Requests are read with read(2), never spliced into a pipe: libfuse
	 * turns splice reading on because its high-level layer has a
	 * write_buf, but without a write_buf of ours it would copy every
	 * write's data out of the pipe again (two copies instead of one).
	 * It falls back to read(2) anyway where its pipe cannot grow past
	 * pipe-max-size (1 MiB) to a request plus header, as strace showed
	 * on the bench machine; this makes it so everywhere.  max_write and
	 * max_pages are already libfuse's maximum: 1 MiB requests.
	 */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	/* Replies may be spliced (op_read_buf(): seal's output). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
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
	.read_buf = op_read_buf,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.truncate = op_truncate,
	.create = op_create,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.symlink = op_symlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.utimens = op_utimens,
};
