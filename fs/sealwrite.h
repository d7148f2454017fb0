/*
 * sealwrite.h - opening sealed/FILE, and writing it (DESIGN.md §3.3;
 * see sealview.h).  The caller holds h->lock for write, flush, ftruncate
 * and release.
 */
#ifndef HSMFS_FS_SEALWRITE_H
#define HSMFS_FS_SEALWRITE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fuse.h>

#include "handle.h"
#include "hsmfs.h"

/* Open for reading (sealread.h) or for a rewrite; create a new file. */
int sv_open(struct fs_state *fs, const char *path, const char *rel,
	    struct fuse_file_info *fi);
int sv_create(struct fs_state *fs, const char *path, const char *rel,
	      mode_t mode, struct fuse_file_info *fi);
int sv_write(struct fs_state *fs, struct handle *h, const char *buf,
	     size_t size, off_t off);
int sv_flush(struct fs_state *fs, struct handle *h);
/* Arm a write handle for an empty rewrite (ftruncate to 0). */
int sv_ftruncate(struct fs_state *fs, struct handle *h, off_t size);
/* chmod, chown or utimens of path, which handles may be rewriting: the
 * kernel sends fchmod and futimens (cp -p, install -m) by path, and they
 * are meant for the new version.  op is one of them. */
enum sv_attr_op { SV_CHMOD, SV_CHOWN, SV_UTIMENS };
struct sv_attr {
	enum sv_attr_op op;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	const struct timespec *tv;
};
/* Apply a to every write of path in progress (its commit included)
 * whose target the kernel checked it against (the name still holds what
 * it held at the open; a new file's owner is the caller); returns how
 * many, or a negative errno (reported). */
int sv_wattr(struct fs_state *fs, const char *path, const struct sv_attr *a);
/* The attributes of a file being written at path (a new one is not in
 * DIR until its commit ends): 0, or -ENOENT when there is none. */
int sv_wstat(const char *path, struct stat *st);
/* The names of the files being written in the view's directory dir
 * (a new one is not in DIR until its commit ends), for a listing: a
 * sorted malloc()ed array of malloc()ed names, no repeats, *n of them
 * (sv_wnames_free()).  0 or -ENOMEM. */
int sv_wnames(const char *dir, char ***names, size_t *n);
/* Is name one of them? */
bool sv_wnames_has(char *const *names, size_t n, const char *name);
void sv_wnames_free(char **names, size_t n);
/* Commit a rewrite not committed yet, free the handle's state. */
void sv_release(struct fs_state *fs, struct handle *h);
/* At exit, a handle whose release never came: freed, nothing committed
 * (an unfinished rewrite leaves the former version, as a killed daemon
 * does). */
void sv_drop(struct handle *h);

#endif
