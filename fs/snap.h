/*
 * snap.h - one text that changes over time (status, metrics), served
 * alike to stat and to the reads that follow (DESIGN.md §3.2: exact
 * sizes for the caller who asks).
 *
 * The kernel keeps a file's attributes (its size) for attr_timeout
 * (1 s), for every process.  So that a program that stats (or opens and
 * fstats) and then reads st_size bytes gets the whole text, the text
 * whose size stat reported is served to every open until SNAP_HOLD_MS
 * after the last stat that reported it; a stat always reports a text
 * that will live that long, and a text is never served longer than
 * SNAP_MAX_MS after it was made.  An open with no recent stat gets a
 * fresh text (and an fstat of that handle its size).
 */
#ifndef HSMFS_FS_SNAP_H
#define HSMFS_FS_SNAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_HOLD_MS 1500	/* > attr_timeout (fs/ops.c op_init) */
#define SNAP_MAX_MS 3000

struct fs_state;
typedef int (*snap_make_fn)(struct fs_state *fs, char **out, size_t *len);

struct snap {
	pthread_mutex_t lock;
	char *text;		/* NULL: none */
	size_t len;
	int64_t made, until;	/* monotonic ms */
};

void snap_init(struct snap *s);
void snap_cleanup(struct snap *s);

/* For stat: the size of the text the next opens get.  0 or -errno. */
int snap_size(struct snap *s, int64_t now, snap_make_fn make,
	      struct fs_state *fs, size_t *len);

/* For open: a copy of the live text, or a fresh one (malloc()ed). */
int snap_take(struct snap *s, int64_t now, snap_make_fn make,
	      struct fs_state *fs, char **out, size_t *len);

#endif
