/*
 * dekcache.h - the data keys of sealed/ (DESIGN.md §3.3): one unwrap per
 * blob per dek_ttl.
 *
 * An entry is named by an id of 32 bytes, the SHA-256 of the blob's
 * whole header (key id, wrapped key and nonce prefix), so a rewritten
 * file, whose header is new, never meets the key of its former version.
 * Keys live in one region that is mlock()ed where RLIMIT_MEMLOCK allows,
 * excluded from core dumps and wiped in forks; an entry is wiped when it
 * expires (by a sweeper thread, at most dek_ttl after it was filled),
 * when the least recently used one makes room, and at free.  At most
 * `max` entries: no caller can grow it.  Thread-safe.
 *
 * A miss hands the caller a ticket: it fetches the key (the unwrap) with
 * no lock held and gives it back with dekcache_done(); meanwhile others
 * asking for the same id wait for it instead of unwrapping again.
 */
#ifndef HSMFS_FS_DEKCACHE_H
#define HSMFS_FS_DEKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEK_LEN 32
#define DEK_ID_LEN 32
#define DEKCACHE_NO_TICKET UINT64_MAX

struct dekcache;

/* A cache of at most max keys, each kept ttl_ms (CLOCK_MONOTONIC
 * milliseconds, the clock of the now arguments).  With sweeper, a thread
 * wipes expired keys on time; without, only lookups and sweeps do (unit
 * tests).  NULL when out of memory. */
struct dekcache *dekcache_new(int64_t ttl_ms, size_t max, bool sweeper);

/* Wipe every key and free. NULL is a no-op. */
void dekcache_free(struct dekcache *c);

/*
 * The key named id: 0 with the key in dek (a hit), or 1 (a miss): the
 * caller fetches the key and reports with dekcache_done(*ticket, ...).
 * *ticket is DEKCACHE_NO_TICKET when every slot is being filled: the
 * key is then fetched and not kept.
 */
int dekcache_get(struct dekcache *c, const uint8_t id[DEK_ID_LEN],
		 uint8_t dek[DEK_LEN], int64_t now, uint64_t *ticket);

/* The fetch of a miss ended: dek is the key, or NULL when it failed (the
 * next asker tries again). */
void dekcache_done(struct dekcache *c, uint64_t ticket,
		   const uint8_t dek[DEK_LEN], int64_t now);

/* Wipe the keys that expired at now. */
void dekcache_sweep(struct dekcache *c, int64_t now);

/* Keys held now; whether their memory is locked (for status and tests). */
size_t dekcache_count(struct dekcache *c);
bool dekcache_locked(const struct dekcache *c);

#endif
