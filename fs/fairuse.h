/*
 * fairuse.h - what each uid holds of the daemon (DESIGN.md §3.4): the
 * bytes of input kept by its requests and read-write handles, and its
 * HSM calls in flight.  Past a cap the caller gets EAGAIN; no uid's use
 * is ever taken from another.  (The number of pending requests is the
 * request store's cap, fs/reqstore.h.)
 *
 * Thread-safe; pure (no FUSE, no I/O), so tests/fs/ drives it alone.
 */
#ifndef HSMFS_FS_FAIRUSE_H
#define HSMFS_FS_FAIRUSE_H

#include <stddef.h>
#include <sys/types.h>

struct fairuse;

struct fairuse *fu_new(size_t max_bytes, unsigned max_calls);
void fu_free(struct fairuse *fu);

/* Take a call slot of uid: 0, or -EAGAIN at max_calls (-ENOMEM). */
int fu_call_begin(struct fairuse *fu, uid_t uid);
void fu_call_end(struct fairuse *fu, uid_t uid);

/* What one request or handle holds, charged to its uid. */
struct fu_hold {
	struct fairuse *fu;	/* NULL: not counted */
	uid_t uid;
	size_t bytes;
};

/* Charge n more bytes: 0, or -EAGAIN past max_bytes (nothing charged). */
int fu_hold_add(struct fu_hold *h, size_t n);

/* Give back everything h holds (h stays usable, holding 0). */
void fu_hold_release(struct fu_hold *h);

/* uid's bytes held and calls in flight (tests, status). */
void fu_usage(struct fairuse *fu, uid_t uid, size_t *bytes, unsigned *calls);

#endif
