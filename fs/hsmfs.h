/*
 * hsmfs.h - the daemon's shared state and the FUSE operation table
 * (internal to fs/).
 */
#ifndef HSMFS_FS_HSMFS_H
#define HSMFS_FS_HSMFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse.h>

#include "hsm_client.h"
#include "keycache.h"
#include "opexec.h"
#include "options.h"
#include "reqstore.h"

/* Everything the handlers need; reached via fuse_get_context(). */
struct fs_state {
	struct fs_options *opts;
	struct hsm_client *client;
	struct keycache *kc;
	struct reqstore *requests;	/* two-command requests */
	struct reqstore *errors;	/* last error per scope */
	struct opx_env env;
	const char *const *shells;
	uid_t uid;			/* owner of every file */
	gid_t gid;
	int64_t mounted_at;		/* unix seconds */
	uint64_t ops_ok, ops_failed;	/* atomic counters for status */
};

/* The FUSE operation table (fs/ops.c). */
extern const struct fuse_operations hsmfs_ops;

/* The text of /README. */
extern const char hsmfs_readme[];

#endif
