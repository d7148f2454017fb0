/*
 * digest.h - streaming message digests for the JWS algorithms.
 */
#ifndef HSMFS_CRYPTO_DIGEST_H
#define HSMFS_CRYPTO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "alg.h"

#define DIGEST_MAX 64

struct digest;

/* Start a digest for alg's hash.  Returns NULL on allocation failure or
 * when alg is NULL or has no hash (alg->md == NULL).  Free with
 * digest_free(). */
struct digest *digest_new(const struct alg_info *alg);
/* Hash len more bytes of data.  Returns 0, or -EIO if OpenSSL fails. */
int digest_update(struct digest *d, const void *data, size_t len);
/* Finish into out (DIGEST_MAX bytes); returns the length, or -errno.
 * The object may then be freed or reset with digest_reset(). */
int digest_final(struct digest *d, uint8_t out[DIGEST_MAX]);
/* Start over with the same hash, discarding any input.  0 or -EIO. */
int digest_reset(struct digest *d);
/* Free; NULL is a no-op. */
void digest_free(struct digest *d);

/* One-shot convenience. Returns the length, -EINVAL when alg has no hash,
 * or -EIO. */
int digest_oneshot(const struct alg_info *alg, const void *data, size_t len,
		   uint8_t out[DIGEST_MAX]);

#endif
