/*
 * opfile.h - operation files through their handles (DESIGN.md §4.1,
 * §4.2): a read-write handle runs one operation at a time (H_RUN); a
 * write-only one fills a request and leaves it in the caller's scope at
 * close (H_PUT); a read-only one answers the scope's request at open and
 * reads its result (H_GET).
 *
 * Every failure goes through fs_fail(); the functions return 0, a byte
 * count or a negative errno.  Callers hold h->lock around read, write
 * and flush.
 */
#ifndef HSMFS_FS_OPFILE_H
#define HSMFS_FS_OPFILE_H

#include <fuse.h>

#include "handle.h"
#include "hsmfs.h"
#include "resolve.h"

/* Open the operation file nd (N_OP) for fi's access mode; sets fi. */
int opfile_open(struct fs_state *fs, const char *path, const struct node *nd,
		struct fuse_file_info *fi);

int opfile_read(struct fs_state *fs, struct handle *h, char *buf,
		size_t size);
/* seal's output moved into pipe_fd by splice(2) instead of read into a
 * buffer: the count, 0 when the read must take opfile_read() (not seal,
 * not run yet, a failure to report, the end), or -errno (reported). */
ssize_t opfile_splice(struct fs_state *fs, struct handle *h, int pipe_fd,
		      size_t size);
int opfile_write(struct fs_state *fs, struct handle *h, const char *buf,
		 size_t size);

/* H_PUT: leave the request in the scope (close). */
int opfile_flush(struct fs_state *fs, struct handle *h);

/* A cancellable call for the calling FUSE request. */
void call_init(struct hsm_call *call);

/*
 * One of the calling uid's max_calls slots for an HSM call (DESIGN.md
 * §3.4): 0, or -EAGAIN (-ENOMEM) with the reason in *f, the call not
 * made.  Give it back with call_slot_end() once the call is over.
 */
int call_slot(struct fs_state *fs, struct fs_fail *f);
void call_slot_end(struct fs_state *fs);

#endif
