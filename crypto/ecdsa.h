/*
 * ecdsa.h - ECDSA signature formats: raw r||s (JWS, what the service
 * speaks) <-> DER ECDSA-Sig-Value (what OpenSSL's tools speak).
 */
#ifndef HSMFS_CRYPTO_ECDSA_H
#define HSMFS_CRYPTO_ECDSA_H

#include <stddef.h>
#include <stdint.h>

/* raw_len must be even; each half is one coordinate.  Returns 0 and a
 * malloc()ed DER in *der, or -EINVAL / -ENOMEM. */
int ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len,
		     uint8_t **der, size_t *der_len);

/* coord_len is the curve's coordinate size (curve_coord_len()).  Rejects
 * trailing garbage and integers wider than coord_len with -EINVAL. */
int ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t coord_len,
		     uint8_t **raw, size_t *raw_len);

/* The length of the DER SEQUENCE at the start of buf (tag, length and
 * contents), for splitting "signature || message" input; -EINVAL if buf
 * does not start with a well-formed SEQUENCE header, -EAGAIN if more bytes
 * are needed to tell. */
long ecdsa_der_prefix_len(const uint8_t *buf, size_t len);

#endif
