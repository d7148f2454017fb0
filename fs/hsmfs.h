/*
 * hsmfs.h - the daemon's shared state and the FUSE operation table
 * (internal to fs/).
 */
#ifndef HSMFS_FS_HSMFS_H
#define HSMFS_FS_HSMFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <pthread.h>

#include <fuse.h>

#include "audit.h"
#include "dekcache.h"
#include "errmap.h"
#include "fairuse.h"
#include "hsm_client.h"
#include "keycache.h"
#include "metrics.h"
#include "opexec.h"
#include "options.h"
#include "policy.h"
#include "proc.h"
#include "reqstore.h"
#include "snap.h"
#include "tidy.h"

/* At most this many entries in the root (fs/ops.c root_entries[]). */
#define ROOT_MAX 16

/* Everything the handlers need; reached via fuse_get_context(). */
struct fs_state {
	struct fs_options *opts;
	struct hsm_client *client;
	struct keycache *kc;
	struct tidy *tidy;		/* the housekeeping tick */
	struct reqstore *requests;	/* two-command requests */
	struct reqstore *errors;	/* last error per scope */
	struct fairuse *fair;		/* per-uid bytes and calls */
	struct fairuse *spool_fair;	/* per-uid bytes spooled by seal/unseal */
	struct opx_env env;
	const char *const *shells;
	uid_t uid;			/* owner of the tree */
	gid_t gid;			/* its group (-o gid=) */
	pthread_mutex_t policy_lock;
	struct policy *policy;		/* policy=FILE in force, or NULL */
	unsigned policy_hup;		/* audit_hup_count() it was read at */
	int64_t mounted_at;		/* unix seconds */
	uint64_t ops_ok, ops_failed;	/* atomic counters for status */
	struct metrics *metrics;
	struct audit *audit;
	struct snap snaps[ROOT_MAX];	/* TX_SNAPSHOT root files' texts */
	const char *mountpoint;		/* absolute (libfuse's realpath) */
	int sealed_fd;			/* sealed_dir, or -1 (fs/sealview.h) */
	struct dekcache *deks;		/* sealed/'s data keys */
};

/* The FUSE operation table (fs/ops.c). */
extern const struct fuse_operations hsmfs_ops;

/* The text of /README. */
extern const char hsmfs_readme[];

/*
 * fs/fail.c.  The one way a failure a caller can see leaves a callback:
 * log it, keep its detail as the `error` file of the caller's scope sc
 * (NULL: the calling process's, worked out here), return f->err (a
 * negative errno).  fs_fail_errno() is the same for a failure with no
 * more detail than err and msg (NULL: the errno's text).
 */
int fs_fail(struct fs_state *fs, const struct scope *sc, const char *path,
	    const struct fs_fail *f);
int fs_fail_errno(struct fs_state *fs, const char *path, int err,
		  const char *msg);

/*
 * fs/access.c.  The owner, group and permission bits of nd (DESIGN.md
 * §3.4): a key's subtree by the policy (or the defaults), the root's
 * entries by their root_entry.
 */
struct node;
void fs_node_access(struct fs_state *fs, const struct node *nd, mode_t *mode,
		    uid_t *uid, gid_t *gid);

/* The scope (DESIGN.md §4.2) of the process calling the callback. */
void caller_scope(struct fs_state *fs, struct scope *sc);

/* CLOCK_MONOTONIC in milliseconds (the stores' clock), microseconds. */
int64_t mono_ms(void);
int64_t mono_us(void);

/*
 * fs/record.c.  An operation on a key, or a change of a key's life,
 * ended: count it in the metrics (op, result, latency, key) and write
 * its audit line.  The caller fills key, version, op, alg, err,
 * request_id and latency_us; who (uid, pid, comm) is taken from the
 * FUSE context unless ev->pid is set.  Never blocks on the service.
 * A lifecycle change is one call once its outcome is known, e.g.
 *
 *	fs_record(fs, &(struct audit_ev){ .key = name, .version = ver,
 *		  .op = "rotate", .err = err,
 *		  .request_id = err ? f.request_id : call.err.request_id,
 *		  .latency_us = (uint64_t)(mono_us() - t0) });
 *
 * with op one of metrics_ops[] (create, import, rotate, enable, disable,
 * set, tag, untag, rotation_policy, delete, recover, purge, backup,
 * restore, flush).
 */
void fs_record(struct fs_state *fs, const struct audit_ev *ev);

/* The root files' texts, made at each open (malloc()ed); -errno. */
int readme_text(struct fs_state *fs, char **out, size_t *len);
int status_text(struct fs_state *fs, char **out, size_t *len);
int error_text(struct fs_state *fs, char **out, size_t *len);
int metrics_text(struct fs_state *fs, char **out, size_t *len);

#endif
