/*
 * pkey.h - asymmetric keys: JWK components <-> EVP_PKEY, export, generation.
 *
 * JWK big integers are unsigned big-endian byte strings.  Exported RSA
 * moduli have leading zero bytes stripped; EC coordinates are always the
 * full field width (curve_coord_len()), as the service sends them.
 *
 * All functions return 0 or -errno (-EINVAL for malformed input such as a
 * point not on the curve) and clear OpenSSL's error queue on failure.
 * Outputs are written only on success.  Returned EVP_PKEYs are owned by the
 * caller (EVP_PKEY_free()); returned struct bytes by the caller
 * (bytes_free()).
 *
 * Accepted keys: RSA with a 512..16384-bit odd modulus and an odd public
 * exponent > 1; EC on P-256, P-256K, P-384, P-521.  EC coordinates and d
 * shorter than the field width are left-padded; longer ones are -EINVAL.
 */
#ifndef HSMFS_CRYPTO_PKEY_H
#define HSMFS_CRYPTO_PKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"
#include "secret.h"

struct bytes {
	uint8_t *p;	/* malloc()ed */
	size_t len;
};

void bytes_free(struct bytes *b);	/* frees p, resets; wipes it first */

/* Public keys from JWK members (n, e; or crv, x, y). */
int pkey_from_rsa(const struct bytes *n, const struct bytes *e, EVP_PKEY **out);
int pkey_from_ec(enum curve crv, const struct bytes *x, const struct bytes *y,
		 EVP_PKEY **out);

/* Private keys from JWK members (import).  For RSA, p, q, dp, dq, qi may
 * have len 0 when only d is known (all five or none).  The parts are
 * checked to belong together (-EINVAL otherwise): with CRT members by
 * n = pq and the CRT identities, with d only by a test exponentiation.
 * Primality is not tested.  For EC,
 * d must be in [1, order-1] and x, y, when given, must equal d*G. */
struct rsa_private {
	struct bytes n, e, d, p, q, dp, dq, qi;
};
int pkey_from_rsa_private(const struct rsa_private *k, EVP_PKEY **out);
int pkey_from_ec_private(enum curve crv, const struct bytes *d,
			 const struct bytes *x, const struct bytes *y,
			 EVP_PKEY **out);	/* x, y may be NULL: derived from d */

/* Generate a new key pair.  RSA: bits 1024..16384, exponent odd >= 3
 * (0 means 65537); -EINVAL otherwise, -EIO if OpenSSL fails. */
int pkey_generate_rsa(unsigned bits, unsigned long exponent, EVP_PKEY **out);
int pkey_generate_ec(enum curve crv, EVP_PKEY **out);

/* JWK members of a key (public parts): -EINVAL when k is not of that type. */
int pkey_rsa_public(EVP_PKEY *k, struct bytes *n, struct bytes *e);
int pkey_ec_public(EVP_PKEY *k, enum curve *crv, struct bytes *x, struct bytes *y);
/* Modulus size in bits (RSA) or the curve's size in bits (EC: 256, 256,
 * 384, 521); 0 for NULL. */
unsigned pkey_bits(EVP_PKEY *k);
/* The key's curve; CRV_NONE for non-EC keys and curves not in alg.h. */
enum curve pkey_curve(EVP_PKEY *k);
/* True when k is an RSA key. */
bool pkey_is_rsa(EVP_PKEY *k);

/* SubjectPublicKeyInfo as DER / PEM (PEM is NUL-terminated, *len excludes
 * the NUL).  Output malloc()ed, caller frees. */
int pkey_public_der(EVP_PKEY *k, uint8_t **der, size_t *len);
int pkey_public_pem(EVP_PKEY *k, char **pem, size_t *len);
/* Parse a DER SubjectPublicKeyInfo (RSA or one of our curves); -EINVAL for
 * anything else, including trailing bytes. */
int pkey_from_public_der(const uint8_t *der, size_t len, EVP_PKEY **out);

/* Private key as PKCS#8 DER (PrivateKeyInfo) and back (the emulator's
 * storage format).  *der is malloc()ed key material: release it with
 * secret_wipe_free(*der, *len).  Parsing rejects trailing bytes and key
 * types other than RSA and our curves (-EINVAL). */
int pkey_private_der(EVP_PKEY *k, uint8_t **der, size_t *len);
int pkey_from_private_der(const uint8_t *der, size_t len, EVP_PKEY **out);

#endif
