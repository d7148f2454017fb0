/*
 * alg.h - the JOSE / Managed HSM algorithm table.
 *
 * One row per algorithm name the service knows.  Every module that needs
 * to know "which digest does PS384 use" or "what key does A192KW need" asks
 * this table, so the facts live in one place.
 */
#ifndef HSMFS_CRYPTO_ALG_H
#define HSMFS_CRYPTO_ALG_H

#include <stdbool.h>
#include <stddef.h>

enum alg_family {
	ALG_RSA_PKCS1,		/* RS256/384/512: RSASSA-PKCS1-v1_5 */
	ALG_RSA_PSS,		/* PS256/384/512: salt length = hash length */
	ALG_ECDSA,		/* ES256/ES256K/ES384/ES512 */
	ALG_RSA_ENC_PKCS1,	/* RSA1_5 */
	ALG_RSA_ENC_OAEP,	/* RSA-OAEP (SHA-1), RSA-OAEP-256 */
	ALG_AES_GCM,		/* AnnnGCM */
	ALG_AES_CBC,		/* AnnnCBC: the service zero-pads to the block */
	ALG_AES_CBCPAD,		/* AnnnCBCPAD: PKCS#7 */
	ALG_AES_KW,		/* AnnnKW, CKM_AES_KEY_WRAP: RFC 3394 */
};

enum key_type { KEY_EC, KEY_RSA, KEY_OCT };

/* Bits in a key's operation set (key_ops). */
enum key_op {
	KOP_ENCRYPT	= 1u << 0,
	KOP_DECRYPT	= 1u << 1,
	KOP_SIGN	= 1u << 2,
	KOP_VERIFY	= 1u << 3,
	KOP_WRAP	= 1u << 4,
	KOP_UNWRAP	= 1u << 5,
	KOP_IMPORT	= 1u << 6,
	KOP_EXPORT	= 1u << 7,
	KOP_DERIVE	= 1u << 8,
};

/* Names as on the wire: "encrypt", "wrapKey", "deriveKey", ... */
const char *key_op_name(enum key_op op);
/* Case-insensitive; returns 0 for an unknown name. */
unsigned key_op_from_name(const char *name);

enum curve { CRV_NONE = 0, CRV_P256, CRV_P256K, CRV_P384, CRV_P521 };

const char *curve_name(enum curve c);		/* "P-256", ... */
enum curve curve_from_name(const char *name);	/* CRV_NONE if unknown */
int curve_nid(enum curve c);			/* OpenSSL NID */
size_t curve_coord_len(enum curve c);		/* 32, 32, 48, 66 */

struct alg_info {
	const char *name;	/* "RS256", "RSA-OAEP-256", "A128KW", ... */
	enum alg_family family;
	enum key_type kty;	/* the key type it needs */
	const char *md;		/* OpenSSL digest name, or NULL */
	size_t digest_len;	/* sign/verify input length, 0 if n/a */
	enum curve crv;		/* ECDSA: the curve it needs */
	unsigned aes_bits;	/* AES: 128/192/256 the key must have */
};

/* Look an algorithm up by its exact (case-sensitive) name; NULL if unknown. */
const struct alg_info *alg_by_name(const char *name);

/* Iterate: returns the i-th row, NULL past the end. */
const struct alg_info *alg_at(size_t i);

#endif
