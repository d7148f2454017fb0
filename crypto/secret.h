/*
 * secret.h - a length-prefixed byte buffer that is wiped when freed.
 *
 * Anything that is key material, a token or plaintext returned by decrypt
 * or unwrap lives in a struct secret.  Its memory is left out of core
 * dumps (MADV_DONTDUMP) and locked against swapping while RLIMIT_MEMLOCK
 * allows; never in the malloc() heap unless no mapping could be had.  The type is opaque so that passing
 * one to printf("%s") by mistake does not compile cleanly.
 */
#ifndef HSMFS_CRYPTO_SECRET_H
#define HSMFS_CRYPTO_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct secret;

/* Allocate a secret of len bytes, copied from data (zeroes when data is NULL).
 * Returns NULL on allocation failure. */
struct secret *secret_new(const void *data, size_t len);

/* Wipe and free.  NULL is a no-op. */
void secret_free(struct secret *s);

/* Borrowed pointer to the bytes; valid until secret_free(). */
uint8_t *secret_bytes(const struct secret *s);
size_t secret_len(const struct secret *s);

/* Shorten s to len bytes (len <= secret_len(s); larger is ignored), wiping
 * the bytes cut off.  For filling a worst-case-sized secret in place. */
void secret_truncate(struct secret *s, size_t len);

/* Bytes mapped for secrets now, and how many of them are locked. */
/* Unmap the slabs kept empty for reuse.  Called before a fork whose
 * child goes on (fuse_daemonize): mlock() is not inherited, so slabs the
 * child reused would hold its secrets unlocked. */
void secret_trim(void);

void secret_stats(size_t *mapped, size_t *locked);

/* Wipe len bytes at p in a way the optimiser cannot remove. */
void secret_wipe(void *p, size_t len);

/* Free p after wiping len bytes of it.  NULL is a no-op. */
void secret_wipe_free(void *p, size_t len);

#endif
