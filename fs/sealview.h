/*
 * sealview.h - sealed/, the view of -o sealed_dir=DIR (DESIGN.md §3.3):
 * DIR's sealed blobs read and written as plaintext by programs that only
 * know files.
 *
 * fs/ops.c hands every path under /sealed here (sv_rel() says which) and
 * every H_SEALED handle (sealread.h, sealwrite.h).  sealview.c is the
 * namespace: attributes are
 * DIR's (owner, group and mode decide who reads, with default_permissions
 * the kernel enforces them), the size is the plaintext's; mkdir, rmdir,
 * unlink, rename, chmod, chown and utimens pass through to DIR, beneath
 * its descriptor (fs/sealdir.h).  sealread.c and sealwrite.c are the
 * I/O: a read handle
 * decrypts only the chunks a read covers, with the data key from
 * fs/dekcache.h; a write handle seals what is written, in order from
 * offset 0, into an unnamed temporary file put in place at close.
 */
#ifndef HSMFS_FS_SEALVIEW_H
#define HSMFS_FS_SEALVIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse.h>

#include "handle.h"
#include "hsmfs.h"

/* Data keys kept at most (dekcache.h). */
#define SV_DEKS_MAX 1024

/* The path below sealed/ ("" for sealed/ itself), or NULL when path is
 * not under sealed/ or there is no sealed view. */
const char *sv_rel(const struct fs_state *fs, const char *path);

/* Open DIR (before the mount: a failure is a message and an exit
 * status).  Returns 0 or -1 with a message in err. */
int sv_open_dir(struct fs_state *fs, char *err, size_t errlen);
/* After daemonising: the data-key cache.  0 or -ENOMEM. */
int sv_start(struct fs_state *fs);
/* At unmount: the keys are wiped. */
void sv_stop(struct fs_state *fs);

/* The namespace (sealview.c). */
int sv_getattr(struct fs_state *fs, const char *path, const char *rel,
	       struct stat *st);
int sv_readdir(struct fs_state *fs, const char *path, const char *rel,
	       void *buf, fuse_fill_dir_t fill);
int sv_mkdir(struct fs_state *fs, const char *path, const char *rel,
	     mode_t mode);
int sv_remove(struct fs_state *fs, const char *path, const char *rel,
	      bool dir);
int sv_rename(struct fs_state *fs, const char *from, const char *to,
	      unsigned flags);
int sv_chmod(struct fs_state *fs, const char *path, const char *rel,
	     mode_t mode);
int sv_chown(struct fs_state *fs, const char *path, const char *rel,
	     uid_t uid, gid_t gid);
int sv_utimens(struct fs_state *fs, const char *path, const char *rel,
	       const struct timespec tv[2]);
/* truncate(2) by path: only through a handle being written. */
int sv_truncate(struct fs_state *fs, const char *path, off_t size,
		struct handle *h);

#endif
