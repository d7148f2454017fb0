/*
 * pkop.h - asymmetric operations with an EVP_PKEY.
 *
 * Signatures are in the service's format: RSA modulus-sized octets, ECDSA
 * raw r||s.  Inputs to sign/verify are digests whose length must equal
 * alg->digest_len (-EINVAL otherwise).  The key must suit the algorithm
 * (-EINVAL otherwise: RSA algorithms need an RSA key, ESnnn the matching
 * curve).  Outputs are malloc()ed and owned by the caller, written only on
 * success; OpenSSL's error queue is cleared on failure.
 *
 * RSA1_5 is PKCS#1 v1.5; RSA-OAEP uses SHA-1 for OAEP and MGF1, RSA-OAEP-256
 * SHA-256 for both; no label.  PSnnn uses MGF1 with the same hash and a salt
 * of the hash length, for signing and (strictly) for verifying.
 */
#ifndef HSMFS_CRYPTO_PKOP_H
#define HSMFS_CRYPTO_PKOP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"
#include "secret.h"

/* Returns 0 when the signature verifies, -EKEYREJECTED when it does not,
 * -EINVAL for malformed input (wrong digest or signature length). */
int pk_verify(EVP_PKEY *k, const struct alg_info *alg,
	      const uint8_t *digest, size_t dlen,
	      const uint8_t *sig, size_t sig_len);

/* RSA encryption (RSA1_5, RSA-OAEP, RSA-OAEP-256); also used for wrap.
 * -EMSGSIZE when the input is too long for the key and padding. */
int pk_encrypt(EVP_PKEY *k, const struct alg_info *alg,
	       const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/* Private-key operations (the emulator's HSM side).  pk_sign fails with
 * -EIO when k has no private part.  pk_decrypt: the ciphertext must be
 * exactly the modulus size (-EINVAL otherwise). */
int pk_sign(EVP_PKEY *k, const struct alg_info *alg,
	    const uint8_t *digest, size_t dlen, uint8_t **sig, size_t *sig_len);
/* -EBADMSG when the ciphertext does not decrypt. */
int pk_decrypt(EVP_PKEY *k, const struct alg_info *alg,
	       const uint8_t *in, size_t len, struct secret **out);

/* Largest plaintext pk_encrypt() accepts for this key and algorithm:
 * k - 11 (RSA1_5), k - 2*hLen - 2 (OAEP) for a k-byte modulus; 0 when the
 * key does not suit the algorithm. */
size_t pk_encrypt_max(EVP_PKEY *k, const struct alg_info *alg);

#endif
