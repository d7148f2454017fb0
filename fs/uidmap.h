/*
 * uidmap.h - a small hash map of per-uid records, for the per-uid
 * accounting of DESIGN.md §3.4 (fs/fairuse.c, fs/reqstore.c).  A record
 * is any struct whose first member is a struct uid_node.  Not locked:
 * the owner's lock covers it.
 */
#ifndef HSMFS_FS_UIDMAP_H
#define HSMFS_FS_UIDMAP_H

#include <stddef.h>
#include <sys/types.h>

#define UIDMAP_BUCKETS 256

struct uid_node {
	struct uid_node *next;
	uid_t uid;
};

struct uidmap {
	struct uid_node *tab[UIDMAP_BUCKETS];
};

/* uid's record; when there is none, a new zeroed one of size bytes
 * (size 0: none made).  NULL when none (or out of memory). */
struct uid_node *uidmap_get(struct uidmap *m, uid_t uid, size_t size);

/* Unlink n and free it. */
void uidmap_del(struct uidmap *m, struct uid_node *n);

/* Free every record. */
void uidmap_clear(struct uidmap *m);

#endif
