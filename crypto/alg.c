/*
 * alg.c - see alg.h.
 *
 * The facts come from the Managed HSM REST spec (JsonWebKeySignatureAlgorithm
 * and JsonWebKeyEncryptionAlgorithm) and RFC 7518.
 */
#include <string.h>
#include <strings.h>

#include <openssl/obj_mac.h>

#include "alg.h"

static const struct alg_info algs[] = {
	/* name            family             kty      md        dlen crv       aes */
	{ "RS256",         ALG_RSA_PKCS1,     KEY_RSA, "SHA256", 32, CRV_NONE,  0 },
	{ "RS384",         ALG_RSA_PKCS1,     KEY_RSA, "SHA384", 48, CRV_NONE,  0 },
	{ "RS512",         ALG_RSA_PKCS1,     KEY_RSA, "SHA512", 64, CRV_NONE,  0 },
	{ "PS256",         ALG_RSA_PSS,       KEY_RSA, "SHA256", 32, CRV_NONE,  0 },
	{ "PS384",         ALG_RSA_PSS,       KEY_RSA, "SHA384", 48, CRV_NONE,  0 },
	{ "PS512",         ALG_RSA_PSS,       KEY_RSA, "SHA512", 64, CRV_NONE,  0 },
	{ "ES256",         ALG_ECDSA,         KEY_EC,  "SHA256", 32, CRV_P256,  0 },
	{ "ES256K",        ALG_ECDSA,         KEY_EC,  "SHA256", 32, CRV_P256K, 0 },
	{ "ES384",         ALG_ECDSA,         KEY_EC,  "SHA384", 48, CRV_P384,  0 },
	{ "ES512",         ALG_ECDSA,         KEY_EC,  "SHA512", 64, CRV_P521,  0 },
	/* For OAEP, md is the OAEP and MGF1 hash. */
	{ "RSA1_5",        ALG_RSA_ENC_PKCS1, KEY_RSA, NULL,      0, CRV_NONE,  0 },
	{ "RSA-OAEP",      ALG_RSA_ENC_OAEP,  KEY_RSA, "SHA1",    0, CRV_NONE,  0 },
	{ "RSA-OAEP-256",  ALG_RSA_ENC_OAEP,  KEY_RSA, "SHA256",  0, CRV_NONE,  0 },
	{ "A128GCM",       ALG_AES_GCM,       KEY_OCT, NULL,      0, CRV_NONE, 128 },
	{ "A192GCM",       ALG_AES_GCM,       KEY_OCT, NULL,      0, CRV_NONE, 192 },
	{ "A256GCM",       ALG_AES_GCM,       KEY_OCT, NULL,      0, CRV_NONE, 256 },
	{ "A128CBC",       ALG_AES_CBC,       KEY_OCT, NULL,      0, CRV_NONE, 128 },
	{ "A192CBC",       ALG_AES_CBC,       KEY_OCT, NULL,      0, CRV_NONE, 192 },
	{ "A256CBC",       ALG_AES_CBC,       KEY_OCT, NULL,      0, CRV_NONE, 256 },
	{ "A128CBCPAD",    ALG_AES_CBCPAD,    KEY_OCT, NULL,      0, CRV_NONE, 128 },
	{ "A192CBCPAD",    ALG_AES_CBCPAD,    KEY_OCT, NULL,      0, CRV_NONE, 192 },
	{ "A256CBCPAD",    ALG_AES_CBCPAD,    KEY_OCT, NULL,      0, CRV_NONE, 256 },
	{ "A128KW",        ALG_AES_KW,        KEY_OCT, NULL,      0, CRV_NONE, 128 },
	{ "A192KW",        ALG_AES_KW,        KEY_OCT, NULL,      0, CRV_NONE, 192 },
	{ "A256KW",        ALG_AES_KW,        KEY_OCT, NULL,      0, CRV_NONE, 256 },
	/* PKCS#11 naming: RFC 3394 with a key of any AES size. */
	{ "CKM_AES_KEY_WRAP", ALG_AES_KW,     KEY_OCT, NULL,      0, CRV_NONE,  0 },
};

#define NALGS (sizeof(algs) / sizeof(algs[0]))

const struct alg_info *alg_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NALGS; i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

const struct alg_info *alg_at(size_t i)
{
	return i < NALGS ? &algs[i] : NULL;
}

bool alg_aes_key_ok(const struct alg_info *alg, size_t key_len)
{
	if (alg == NULL || alg->kty != KEY_OCT)
		return false;
	if (alg->aes_bits == 0)
		return key_len == 16 || key_len == 24 || key_len == 32;
	return key_len * 8 == alg->aes_bits;
}

static const struct {
	enum key_op op;
	const char *name;
} key_ops[] = {
	{ KOP_ENCRYPT, "encrypt" },
	{ KOP_DECRYPT, "decrypt" },
	{ KOP_SIGN, "sign" },
	{ KOP_VERIFY, "verify" },
	{ KOP_WRAP, "wrapKey" },
	{ KOP_UNWRAP, "unwrapKey" },
	{ KOP_IMPORT, "import" },
	{ KOP_EXPORT, "export" },
	{ KOP_DERIVE, "deriveKey" },
};

#define NKEYOPS (sizeof(key_ops) / sizeof(key_ops[0]))

const char *key_op_name(enum key_op op)
{
	size_t i;

	for (i = 0; i < NKEYOPS; i++)
		if (key_ops[i].op == op)
			return key_ops[i].name;
	return NULL;
}

unsigned key_op_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; i < NKEYOPS; i++)
		if (strcasecmp(key_ops[i].name, name) == 0)
			return key_ops[i].op;
	return 0;
}

struct curve_row {
	enum curve crv;
	const char *name;	/* JWK "crv" */
	int nid;
	size_t coord_len;	/* bytes per coordinate */
};

static const struct curve_row curves[] = {
	{ CRV_P256, "P-256", NID_X9_62_prime256v1, 32 },
	{ CRV_P256K, "P-256K", NID_secp256k1, 32 },
	{ CRV_P384, "P-384", NID_secp384r1, 48 },
	{ CRV_P521, "P-521", NID_secp521r1, 66 },
};

#define NCURVES (sizeof(curves) / sizeof(curves[0]))

/* The row for c, or NULL for CRV_NONE and unknown values. */
static const struct curve_row *curve_row(enum curve c)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (curves[i].crv == c)
			return &curves[i];
	return NULL;
}

const char *curve_name(enum curve c)
{
	const struct curve_row *r = curve_row(c);

	return r ? r->name : NULL;
}

int key_type_from_name(const char *s, size_t len, enum key_type *kty,
		       bool *hsm)
{
	static const struct {
		const char *name;
		enum key_type kty;
	} names[] = { { "EC", KEY_EC }, { "RSA", KEY_RSA }, { "oct", KEY_OCT } };
	size_t n;

	for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i].name);
		if (len < n || strncmp(s, names[i].name, n) != 0)
			continue;
		if (len == n || (len == n + 4 && strncmp(s + n, "-HSM", 4) == 0)) {
			*kty = names[i].kty;
			*hsm = len != n;
			return 0;
		}
	}
	return -1;
}

enum curve curve_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return CRV_NONE;
	for (i = 0; i < NCURVES; i++)
		if (strcmp(curves[i].name, name) == 0)
			return curves[i].crv;
	return CRV_NONE;
}

int curve_nid(enum curve c)
{
	const struct curve_row *r = curve_row(c);

	return r ? r->nid : NID_undef;
}

size_t curve_coord_len(enum curve c)
{
	const struct curve_row *r = curve_row(c);

	return r ? r->coord_len : 0;
}

enum curve curve_from_nid(int nid)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (curves[i].nid == nid)
			return curves[i].crv;
	return CRV_NONE;
}
