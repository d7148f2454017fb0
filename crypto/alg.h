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

/* JWK kty names, the first len bytes of s: "EC", "RSA", "oct", and the
 * same with "-HSM" (*hsm set: HSM-protected; a vault also has software
 * keys).  0, or -1 for anything else. */
int key_type_from_name(const char *s, size_t len, enum key_type *kty,
		       bool *hsm);

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

/* Names as on the wire: "encrypt", "decrypt", "sign", "verify", "wrapKey",
 * "unwrapKey", "import", "export", "deriveKey".  op must be a single bit;
 * returns NULL otherwise.  The string is static. */
const char *key_op_name(enum key_op op);
/* Case-insensitive; returns the KOP_ bit, or 0 for an unknown name. */
unsigned key_op_from_name(const char *name);

enum curve { CRV_NONE = 0, CRV_P256, CRV_P256K, CRV_P384, CRV_P521 };

/* JWK "crv" names: "P-256", "P-256K", "P-384", "P-521" (static strings);
 * NULL for CRV_NONE. */
const char *curve_name(enum curve c);
/* Exact (case-sensitive) JWK name; CRV_NONE if unknown. */
enum curve curve_from_name(const char *name);
/* OpenSSL NID of the curve; NID_undef (0) for CRV_NONE. */
int curve_nid(enum curve c);
/* Bytes per coordinate (and per ECDSA r or s): 32, 32, 48, 66; 0 for
 * CRV_NONE. */
size_t curve_coord_len(enum curve c);
/* The curve with OpenSSL NID nid; CRV_NONE if it is not one of ours. */
enum curve curve_from_nid(int nid);

struct alg_info {
	const char *name;	/* "RS256", "RSA-OAEP-256", "A128KW", ... */
	enum alg_family family;
	enum key_type kty;	/* the key type it needs */
	const char *md;		/* OpenSSL digest name, or NULL */
	size_t digest_len;	/* sign/verify input length, 0 if n/a */
	enum curve crv;		/* ECDSA: the curve it needs */
	unsigned aes_bits;	/* AES: 128/192/256 the key must have; 0 for
				 * CKM_AES_KEY_WRAP, which takes any AES size */
};

/*
 * The table holds RS256/384/512, PS256/384/512, ES256, ES256K, ES384, ES512,
 * RSA1_5, RSA-OAEP (md "SHA1": the OAEP and MGF1 hash), RSA-OAEP-256,
 * A{128,192,256}{GCM,CBC,CBCPAD,KW} and CKM_AES_KEY_WRAP (RFC 3394).  Not in
 * it: RSNULL, HS256/384/512, RSA-OAEP-384/512, CKM_AES_KEY_WRAP_PAD (whose
 * RFC 5649 operation is aes_kwp_wrap()/aes_kwp_unwrap() in sym.h).
 */

/* Look an algorithm up by its exact (case-sensitive) name; NULL if unknown. */
const struct alg_info *alg_by_name(const char *name);

/* Iterate: returns the i-th row, NULL past the end. */
const struct alg_info *alg_at(size_t i);

/* True when alg is an AES algorithm and key_len (bytes) is a key size it
 * accepts (the exact size for AnnnXXX, any AES size for CKM_AES_KEY_WRAP). */
bool alg_aes_key_ok(const struct alg_info *alg, size_t key_len);

#endif
