/*
 * sealread.h - what a handle of sealed/FILE holds, and reading it
 * (DESIGN.md §3.3; see sealview.h).  sealwrite.c is the writing half.
 */
#ifndef HSMFS_FS_SEALFILE_H
#define HSMFS_FS_SEALFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dekcache.h"
#include "seal.h"
#include "handle.h"
#include "hsmfs.h"

struct sealfile {
	int fd;			/* read: the blob; write: the temporary */
	bool writing;
	struct seal_header h;	/* read: the blob's; write: the new one's */
	uint64_t sealed, plain;	/* read */
	uint8_t id[DEK_ID_LEN];	/* read: the data key's name in the cache */
	int parent;		/* write: the target's directory */
	char name[NAME_MAX + 1];
	struct sealer *s;
	uint64_t written;	/* plaintext bytes so far */
	bool armed;		/* O_TRUNC, create or ftruncate(0) seen */
	bool done;		/* committed or abandoned */
	bool sealing;		/* write: the commit is under way, and the
				 * name still shows this file (not in DIR
				 * yet if new) */
	int err;		/* sticky write error, or 0 */
	const char *why;	/* its message (static), or NULL */
	struct stat st;		/* write: the attributes the file gets */
	struct sealfile *next;	/* write: the rewrites in progress */
	const char *path;	/* write: the handle's path */
	bool times_set;		/* write: futimens(times) at the commit */
	struct timespec times[2];
	bool was_new;		/* write: no file at the name at open */
	dev_t was_dev;		/* write: else the one being replaced */
	ino_t was_ino;
	struct secret *dek;	/* read: the data key for the handle's life
				 * (locked, wiped at release), so a long
				 * read outlives dek_ttl without an unwrap */
};

struct sealfile *sf_of(const struct handle *h);
/* A zeroed sealfile with no descriptors, or NULL. */
struct sealfile *sf_new(bool writing);
/* Close and free (NULL: no-op); the temporary of a writer vanishes. */
void sf_free(struct sealfile *sf);
/* fi gets a new H_SEALED handle of path for sf; 0, or -ENOMEM reported
 * (sf freed). */
int sf_handle(struct fs_state *fs, const char *path, struct sealfile *sf,
	      struct fuse_file_info *fi);

/* Open sealed/FILE for reading; rel is its path in DIR. */
int sv_open_read(struct fs_state *fs, const char *path, const char *rel,
		 struct fuse_file_info *fi);
/* The caller holds h->lock. */
int sv_read(struct fs_state *fs, struct handle *h, char *buf, size_t size,
	    off_t off);
/* stat through a handle of either kind. */
int sv_fgetattr(struct fs_state *fs, struct handle *h, struct stat *st);
/* The size of the plaintext of the blob open as fd (-EBADMSG when it is
 * not a valid blob); h (may be NULL) receives its header. */
int sv_blob_size(int fd, struct seal_header *h, uint64_t *sealed,
		 uint64_t *plain);

#endif
