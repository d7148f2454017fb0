/*
 * lifecycle.h - the changes of a key's life made through the tree
 * (DESIGN.md §3.2): create, rotate, enable, disable, set, tag, untag,
 * rotation policy, delete, recover, purge, restore, flush.
 *
 * Every such change, done or failed, ends in lifecycle_done(): the one
 * place that makes it visible at once to the caller (hsmfs's key cache
 * and the kernel's caches are dropped for what changed) and the one place
 * where the audit log and the metrics see it.
 */
#ifndef HSMFS_FS_LIFECYCLE_H
#define HSMFS_FS_LIFECYCLE_H

#include "errmap.h"
#include "handle.h"
#include "hsmfs.h"
#include "resolve.h"

/* What a change names, for the caches and the audit log. */
struct lc_change {
	const char *what;		/* "rotate", "create", ... */
	const char *key;		/* key name, or NULL (flush) */
	const char *version;		/* the version made or changed, or NULL */
	const char *request_id;		/* the service's, or NULL */
	int64_t t0_us;			/* mono_us() at the start, for the
					 * latency in the metrics */
};

/*
 * End a change made through path.  f NULL (or f->err 0): it was done;
 * else it failed and goes through fs_fail().  Caches are dropped either
 * way (a change that timed out may still have been made).  Returns 0 or
 * f->err.
 */
int lifecycle_done(struct fs_state *fs, const char *path,
		   const struct lc_change *ch, const struct fs_fail *f);

/*
 * fs/ctlrun.c.  One write to a ctl file: key is the key of keys/KEY/ctl,
 * "" for the root's.  Returns size or a negative errno.
 */
int lc_ctl_write(struct fs_state *fs, const char *path, const char *key,
		 const char *buf, size_t size);

/*
 * Create key name (ctl create, mkdir): EEXIST when a key or a deleted
 * key has the name (the message says what to do).  0 with *out the new
 * key, or f->err.
 */
int lc_create(struct fs_state *fs, struct hsm_call *call, const char *name,
	      const struct hsm_create *p, struct hsm_key *out,
	      struct fs_fail *f);

/*
 * fs/lcfiles.c.  The write-only inputs: a write to ctl runs its command
 * at once; restore and rotation.json collect what is written and run it
 * at close (lc_input_flush()).  Return a count, 0 or a negative errno.
 */
int lc_input_write(struct fs_state *fs, struct handle *h, const char *buf,
		   size_t size);
int lc_input_flush(struct fs_state *fs, struct handle *h);

/* The text of rotation.json or backup (nd N_KSVC), fetched now. */
int lc_svc_text(struct fs_state *fs, const struct node *nd, char **out,
		size_t *len, struct fs_fail *f);

/* deleted/NAME[/FILE]: the key exists as deleted; a file's text. */
int lc_deleted_resolve(struct fs_state *fs, struct hsm_call *call,
		       struct node *nd, struct fs_fail *f);
/* The names under deleted/; free with kc_names_free(). */
enum hsm_status lc_deleted_list(struct fs_state *fs, struct hsm_call *call,
				char ***names, size_t *n);

/* mkdir keys/NAME, rmdir keys/NAME or deleted/NAME, mv deleted/NAME
 * keys/: through fs_fail() when they fail. */
int lc_mkdir(struct fs_state *fs, const char *path, const struct node *nd);
int lc_rmdir(struct fs_state *fs, const char *path, const struct node *nd);
int lc_recover(struct fs_state *fs, const char *path, const struct node *from,
	       const struct node *to);

#endif
