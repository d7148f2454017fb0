/*
 * material_i.h - key material of the emulator's keys: wrapping, generating
 * and reference counting it.
 */
#ifndef HSMFS_EMU_MATERIAL_I_H
#define HSMFS_EMU_MATERIAL_I_H

#include <stddef.h>
#include <stdint.h>

#include "keys_types.h"

/* Wrap pkey (reference taken over) or AES bytes into new material with one
 * reference.  Returns NULL when out of memory or the key is unusable;
 * pkey is freed in that case. */
struct key_mat *mat_from_pkey(EVP_PKEY *pkey);
struct key_mat *mat_from_oct(const uint8_t *k, size_t len);
struct key_mat *mat_get(struct key_mat *m);
void mat_put(struct key_mat *m);	/* NULL-safe; the last put frees */

/* Generate key material (bits: RSA modulus or AES size; crv: EC curve;
 * exponent: RSA public exponent); used by create, rotate and demo.
 * Returns 0 and new material with one reference in *out, or -errno. */
int mat_generate(enum key_type kty, unsigned bits, enum curve crv,
		 unsigned long exponent, struct key_mat **out);
/* New material like old: the same type, size, curve and RSA public
 * exponent (rotation).  0 or -errno, as mat_generate(). */
int mat_regenerate(const struct key_mat *old, struct key_mat **out);
/* The service's key_ops for a new key of type kty (enum key_op bits). */
unsigned mat_default_ops(enum key_type kty);

#endif
