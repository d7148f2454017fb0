/*
 * pkey.h - asymmetric keys: JWK components <-> EVP_PKEY, export, generation.
 *
 * JWK big integers are unsigned big-endian byte strings.  Exported RSA
 * moduli have leading zero bytes stripped; EC coordinates are always the
 * full field width (curve_coord_len()), as the service sends them.
 *
 * All functions return 0 or -errno (-EINVAL for malformed input such as a
 * point not on the curve) and clear OpenSSL's error queue on failure.
 * Returned EVP_PKEYs are owned by the caller (EVP_PKEY_free()).
 */
#ifndef HSMFS_CRYPTO_PKEY_H
#define HSMFS_CRYPTO_PKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"

struct bytes {
	uint8_t *p;	/* malloc()ed */
	size_t len;
};

void bytes_free(struct bytes *b);	/* frees p, resets; wipes it first */

/* Public keys from JWK members. */
int pkey_from_rsa(const struct bytes *n, const struct bytes *e, EVP_PKEY **out);
int pkey_from_ec(enum curve crv, const struct bytes *x, const struct bytes *y,
		 EVP_PKEY **out);

/* Private keys from JWK members (import).  For RSA, p, q, dp, dq, qi may
 * have len 0 when only d is known. */
struct rsa_private {
	struct bytes n, e, d, p, q, dp, dq, qi;
};
int pkey_from_rsa_private(const struct rsa_private *k, EVP_PKEY **out);
int pkey_from_ec_private(enum curve crv, const struct bytes *d,
			 const struct bytes *x, const struct bytes *y,
			 EVP_PKEY **out);	/* x, y may be NULL: derived from d */

/* Generate a new key pair. */
int pkey_generate_rsa(unsigned bits, unsigned long exponent, EVP_PKEY **out);
int pkey_generate_ec(enum curve crv, EVP_PKEY **out);

/* JWK members of a key (public parts). */
int pkey_rsa_public(EVP_PKEY *k, struct bytes *n, struct bytes *e);
int pkey_ec_public(EVP_PKEY *k, enum curve *crv, struct bytes *x, struct bytes *y);
/* Modulus size in bits (RSA) or curve (EC). */
unsigned pkey_bits(EVP_PKEY *k);
enum curve pkey_curve(EVP_PKEY *k);	/* CRV_NONE for non-EC keys */

/* SubjectPublicKeyInfo as DER / PEM (PEM is NUL-terminated). */
int pkey_public_der(EVP_PKEY *k, uint8_t **der, size_t *len);
int pkey_public_pem(EVP_PKEY *k, char **pem, size_t *len);

/* Private key as PKCS#8 DER and back (the emulator's storage format). */
int pkey_private_der(EVP_PKEY *k, uint8_t **der, size_t *len);
int pkey_from_private_der(const uint8_t *der, size_t len, EVP_PKEY **out);

#endif
