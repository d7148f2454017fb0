/*
 * sealview.c - sealed/'s names and attributes; see sealview.h.
 *
 * Failures a caller can see go through fs_fail(), except "no such name"
 * on lookups, as in ops.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dekcache.h"
#include "log.h"
#include "sealdir.h"
#include "sealread.h"
#include "sealview.h"
#include "sealwrite.h"

#define SEALED "/sealed"

const char *sv_rel(const struct fs_state *fs, const char *path)
{
	size_t n = strlen(SEALED);

	if (fs->opts->sealed_dir == NULL || path == NULL ||
	    strncmp(path, SEALED, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return "";
	return path[n] == '/' ? path + n + 1 : NULL;
}

int sv_open_dir(struct fs_state *fs, char *err, size_t errlen)
{
	const char *dir = fs->opts->sealed_dir;
	struct stat st;

	if (dir == NULL)
		return 0;
	/* Opened once: every path of the view is walked beneath this
	 * descriptor, whatever happens to the path DIR later. */
	fs->sealed_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->sealed_fd < 0 || fstat(fs->sealed_fd, &st) != 0) {
		snprintf(err, errlen, "sealed_dir=%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int sv_start(struct fs_state *fs)
{
	if (fs->opts->sealed_dir == NULL)
		return 0;
	fs->deks = dekcache_new((int64_t)fs->opts->dek_ttl * 1000,
				SV_DEKS_MAX, true);
	if (fs->deks == NULL)
		return -ENOMEM;
	if (!dekcache_locked(fs->deks))
		log_warn("sealed/: the data keys' memory cannot be locked "
			 "(RLIMIT_MEMLOCK): they could reach swap");
	return 0;
}

void sv_stop(struct fs_state *fs)
{
	dekcache_free(fs->deks);
	fs->deks = NULL;
	if (fs->sealed_fd >= 0)
		close(fs->sealed_fd);
	fs->sealed_fd = -1;
}

/* Quiet "no such name" (the kernel looks names up all the time), every
 * other failure reported. */
static int sv_err(struct fs_state *fs, const char *path, int err)
{
	if (err == 0 || err == -ENOENT)
		return err;
	return fs_fail_errno(fs, path, err, NULL);
}

int sv_getattr(struct fs_state *fs, const char *path, const char *rel,
	       struct stat *st)
{
	uint64_t sealed, plain = 0;
	int err, fd;

	err = sealdir_stat(fs->sealed_fd, rel, st);
	/* A new file being written is not in DIR yet, but it is there for
	 * its writer (libfuse stats after create, fchmod, futimens).  Not
	 * shown as written any more: its commit may have moved it into DIR
	 * since the first look. */
	if (err == -ENOENT) {
		if (sv_wstat(path, st) == 0)
			return 0;
		err = sealdir_stat(fs->sealed_fd, rel, st);
	}
	if (err || !S_ISREG(st->st_mode))
		return sv_err(fs, path, err);
	/* The plaintext's size, exact: programs read st_size bytes.  A
	 * file that is not a blob shows 0 and fails to open (EBADMSG). */
	fd = sealdir_open(fs->sealed_fd, rel, O_RDONLY);
	if (fd >= 0) {
		if (sv_blob_size(fd, NULL, &sealed, &plain) != 0)
			plain = 0;
		close(fd);
	}
	st->st_size = (off_t)plain;
	st->st_blocks = (blkcnt_t)((plain + 511) / 512);
	return 0;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t fill;
	char **writing;		/* sorted: listed apart */
	size_t nwriting;
};

static int fill_one(void *arg, const char *name, bool is_dir)
{
	struct fill_ctx *c = arg;

	(void)is_dir;
	if (sv_wnames_has(c->writing, c->nwriting, name))
		return 0;
	return c->fill(c->buf, name, NULL, 0, 0);
}

/* DIR's entries, and the files being written there, which stat shows
 * (a new one is in DIR only once its close saved it); each name once,
 * as a commit may move one into DIR during the listing. */
int sv_readdir(struct fs_state *fs, const char *path, const char *rel,
	       void *buf, fuse_fill_dir_t fill)
{
	struct fill_ctx c = { buf, fill, NULL, 0 };
	size_t i;
	int err;

	if ((err = sv_wnames(path, &c.writing, &c.nwriting)) != 0)
		return sv_err(fs, path, err);
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	err = sealdir_list(fs->sealed_fd, rel, fill_one, &c);
	for (i = 0; err == 0 && i < c.nwriting; i++)
		if (fill(buf, c.writing[i], NULL, 0, 0))
			break;
	sv_wnames_free(c.writing, c.nwriting);
	return sv_err(fs, path, err);
}

/* With allow_other, what a caller makes is the caller's, as on any
 * filesystem; the daemon (root) can give it away.  Without, everything
 * is the mounting user's anyway. */
static bool caller_owns(const struct fs_state *fs)
{
	return fs->opts->allow_other && geteuid() == 0;
}

int sv_mkdir(struct fs_state *fs, const char *path, const char *rel,
	     mode_t mode)
{
	struct fuse_context *ctx = fuse_get_context();

	return sv_err(fs, path, sealdir_mkdir(fs->sealed_fd, rel, mode,
					      caller_owns(fs), ctx->uid,
					      ctx->gid));
}

int sv_remove(struct fs_state *fs, const char *path, const char *rel,
	      bool dir)
{
	return sv_err(fs, path, sealdir_remove(fs->sealed_fd, rel, dir));
}

int sv_rename(struct fs_state *fs, const char *from, const char *to,
	      unsigned flags)
{
	const char *a = sv_rel(fs, from), *b = sv_rel(fs, to);

	if (a == NULL || b == NULL)
		return fs_fail_errno(fs, from, -EXDEV, "sealed/ is a tree of "
				     "its own: copy across it (cp), do not "
				     "move");
	return sv_err(fs, from, sealdir_rename(fs->sealed_fd, a, b, flags));
}

/* A change of attributes goes to DIR's file and to the rewrites of it in
 * progress (a new file is only the latter). */
static int set_attr(struct fs_state *fs, const char *path, const char *rel,
		    const struct sv_attr *a)
{
	int n, err;

	if ((n = sv_wattr(fs, path, a)) < 0)
		return n;
	if (a->op == SV_CHMOD)
		err = sealdir_chmod(fs->sealed_fd, rel, a->mode);
	else if (a->op == SV_CHOWN)
		err = sealdir_chown(fs->sealed_fd, rel, a->uid, a->gid);
	else
		err = sealdir_utimens(fs->sealed_fd, rel, a->tv);
	return err == -ENOENT && n > 0 ? 0 : sv_err(fs, path, err);
}

int sv_chmod(struct fs_state *fs, const char *path, const char *rel,
	     mode_t mode)
{
	return set_attr(fs, path, rel, &(struct sv_attr){ .op = SV_CHMOD,
			.mode = mode });
}

int sv_chown(struct fs_state *fs, const char *path, const char *rel,
	     uid_t uid, gid_t gid)
{
	return set_attr(fs, path, rel, &(struct sv_attr){ .op = SV_CHOWN,
			.uid = uid, .gid = gid });
}

int sv_utimens(struct fs_state *fs, const char *path, const char *rel,
	       const struct timespec tv[2])
{
	return set_attr(fs, path, rel, &(struct sv_attr){ .op = SV_UTIMENS,
			.tv = tv });
}

int sv_truncate(struct fs_state *fs, const char *path, off_t size,
		struct handle *h)
{
	if (h != NULL && h->kind == H_SEALED)
		return sv_ftruncate(fs, h, size);
	return fs_fail_errno(fs, path, -EOPNOTSUPP, "a sealed file is "
			     "rewritten whole: open it with O_TRUNC and write "
			     "(e.g. cp, or > in a shell)");
}
