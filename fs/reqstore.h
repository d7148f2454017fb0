/*
 * reqstore.h - requests and errors kept per scope (DESIGN.md §4.2, §4.3).
 *
 * A store maps (uid, anchor, file path) to values, remembering which
 * process wrote each one.  A lookup returns the caller's own value first
 * (written by the same process running the same program, not before an
 * execve), else the newest value of its scope; nothing is ever returned
 * to another uid or anchor.  Values expire ttl milliseconds after they
 * were last touched.  Each uid holds at most a fixed number of values: a
 * put past it drops that uid's own oldest, never another uid's
 * (DESIGN.md §3.4).  Puts and lookups cost the entries of the uid and
 * path alone, not the store's size.  Thread-safe: one mutex, never held
 * while a value is used.
 */
#ifndef HSMFS_FS_REQSTORE_H
#define HSMFS_FS_REQSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "proc.h"

struct reqstore;
struct rs_ref;

/* Values are released with val_free when the last reference goes. */
typedef void (*rs_free_fn)(void *val);

/*
 * Create a store.  proc_root ("/proc") is used to drop entries whose
 * writer has exited; per_uid bounds the number of entries of each uid
 * (its oldest go first).  Returns NULL when out of memory.
 */
struct reqstore *reqstore_new(int64_t ttl_ms, const char *proc_root,
			      unsigned per_uid);
void reqstore_free(struct reqstore *rs);

/*
 * Store val for (sc, path), written by sc->self.  It replaces the value
 * the same writer left for that scope and path, and (replace_scope) every
 * other value of the scope and path, or else those whose writer has
 * exited.  The store takes ownership of val (freed with val_free even on
 * failure).  Returns 0 or -ENOMEM.
 */
int reqstore_put(struct reqstore *rs, const struct scope *sc, const char *path,
		 void *val, rs_free_fn val_free, bool replace_scope,
		 int64_t now_ms);

/*
 * Find the value for (sc, path): the one sc->self wrote (same pid, start
 * time and image), else the newest of the scope.  Returns a reference (release with rs_ref_put()) or NULL
 * when there is none or it expired.
 */
struct rs_ref *reqstore_get(struct reqstore *rs, const struct scope *sc,
			    const char *path, int64_t now_ms);

/* The value behind a reference; valid until rs_ref_put(). */
void *rs_ref_val(struct rs_ref *r);

/* Restart the expiry clock of a value (its result was just produced). */
void rs_ref_touch(struct reqstore *rs, struct rs_ref *r, int64_t now_ms);

/* Drop a reference; the value is freed when the store let go too. */
void rs_ref_put(struct reqstore *rs, struct rs_ref *r);

/* Number of live entries (tests, status); of one uid. */
unsigned reqstore_count(struct reqstore *rs);
unsigned reqstore_uid_count(struct reqstore *rs, uid_t uid);

#endif
