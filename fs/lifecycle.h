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
#include "hsmfs.h"

/* What a change names, for the caches and the audit log. */
struct lc_change {
	const char *what;		/* "rotate", "create", ... */
	const char *key;		/* key name, or NULL (flush) */
	const char *version;		/* the version made or changed, or NULL */
	const char *request_id;		/* the service's, or NULL */
};

/*
 * End a change made through path.  f NULL (or f->err 0): it was done;
 * else it failed and goes through fs_fail().  Caches are dropped either
 * way (a change that timed out may still have been made).  Returns 0 or
 * f->err.
 */
int lifecycle_done(struct fs_state *fs, const char *path,
		   const struct lc_change *ch, const struct fs_fail *f);

#endif
