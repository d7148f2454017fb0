/*
 * render.h - the metadata files of a key version (DESIGN.md §3.2):
 * info, algs, public.pem, public.der (jwk.json and meta.json are the
 * client's strings as received).
 *
 * Pure: no I/O.  Returned strings and buffers are malloc()ed and owned
 * by the caller (free()).  Failures return -errno and leave outputs NULL.
 */
#ifndef HSMFS_FS_RENDER_H
#define HSMFS_FS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsm_client.h"
#include "opname.h"

/* The facts about k that shape its directory. */
void render_keyshape(const struct hsm_key *k, struct keyshape *out);

/*
 * The "info" text: one "field: value" line each for name, version, kty,
 * size or curve, key_ops, enabled, exportable, created, updated, nbf,
 * exp, recoverable_days, recovery_level, tags and the default algorithm
 * of each supported operation.  Times are RFC 3339 UTC; absent ones
 * "none".  -ENOMEM on failure.
 */
int render_info(const struct hsm_key *k, char **out, size_t *len);

/*
 * The public key of an RSA or EC key version as an EVP_PKEY (caller
 * frees with EVP_PKEY_free()) and its SubjectPublicKeyInfo in PEM and
 * DER.  -EOPNOTSUPP for oct keys (they have no public part), -EINVAL for
 * malformed components.
 */
int render_public(const struct hsm_key *k, EVP_PKEY **pk, char **pem,
		  size_t *pem_len, uint8_t **der, size_t *der_len);

/* RFC 3339 UTC ("2027-01-31T00:00:00Z"), or "none" for 0. */
void fmt_utc(char *buf, size_t len, int64_t t);

#endif
