/*
 * test_alg.c - the algorithm, key-operation and curve tables of alg.c,
 * checked against facts from outside them, written the way their sources
 * say them (never a copy of alg.c's rows):
 *
 *   RFC 7518 (JWA) §3.1 the JWS "alg" values, §3.4 the ECDSA signature
 *   (R || S), §3.5 RSASSA-PSS, §4.1 the JWE "alg" values, §4.2 RSA1_5,
 *   §4.3 RSA-OAEP's parameters, §4.4 AES Key Wrap, §5.1 the "enc" values;
 *   RFC 8812 §3.2 (ES256K); FIPS 180-4 (digest sizes);
 *   managed-hsm-api.md ("mhsm"), the service's documented list: §1.4
 *   (key_ops), §3.1 (key types, curves and their OIDs), §3.2 (sign and
 *   verify: key type, digest length) and §3.3 (encrypt and wrap).
 *
 * OpenSSL is the judge of the digests (by NID) and of the curves (by OID
 * and group size).
 */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "alg.h"
#include "tap.h"

/* FIPS 180-4 §1: the hash functions and their output sizes. */
static const struct hash {
	const char *name;
	int nid;
	size_t len;
} hashes[] = {
	{ "SHA-1", NID_sha1, 20 },
	{ "SHA-256", NID_sha256, 32 },
	{ "SHA-384", NID_sha384, 48 },
	{ "SHA-512", NID_sha512, 64 },
};

/* The schemes as RFC 7518 and mhsm §3.3 name them, and alg.h's word for each. */
static const struct {
	const char *scheme;
	enum alg_family family;
} schemes[] = {
	{ "RSASSA-PKCS1-v1_5", ALG_RSA_PKCS1 },
	{ "RSASSA-PSS", ALG_RSA_PSS },
	{ "ECDSA", ALG_ECDSA },
	{ "RSAES-PKCS1-v1_5", ALG_RSA_ENC_PKCS1 },
	{ "RSAES-OAEP", ALG_RSA_ENC_OAEP },
	{ "AES GCM", ALG_AES_GCM },
	{ "AES CBC, zero padding", ALG_AES_CBC },
	{ "AES CBC, PKCS#7 padding", ALG_AES_CBCPAD },
	{ "AES Key Wrap", ALG_AES_KW },
};

/*
 * RFC 7518 §3.1: "RS256: RSASSA-PKCS1-v1_5 using SHA-256", "PS256:
 * RSASSA-PSS using SHA-256 and MGF1 with SHA-256", "ES256: ECDSA using
 * P-256 and SHA-256", ...; §3.4: the ECDSA signature is R || S of 64, 96
 * and 132 octets for ES256, ES384 and ES512; RFC 8812 §3.2: "ES256K: ECDSA
 * using secp256k1 curve and SHA-256" (the curve mhsm §3.1 calls P-256K),
 * whose R || S is 64 octets (mhsm §3.2).
 */
static const struct jws_fact {
	const char *alg, *scheme, *hash;
	const char *crv;	/* ECDSA: the JWK curve name */
	size_t sig_len;		/* ECDSA: octets of R || S */
} jws[] = {
	{ "RS256", "RSASSA-PKCS1-v1_5", "SHA-256", NULL, 0 },
	{ "RS384", "RSASSA-PKCS1-v1_5", "SHA-384", NULL, 0 },
	{ "RS512", "RSASSA-PKCS1-v1_5", "SHA-512", NULL, 0 },
	{ "PS256", "RSASSA-PSS", "SHA-256", NULL, 0 },
	{ "PS384", "RSASSA-PSS", "SHA-384", NULL, 0 },
	{ "PS512", "RSASSA-PSS", "SHA-512", NULL, 0 },
	{ "ES256", "ECDSA", "SHA-256", "P-256", 64 },
	{ "ES384", "ECDSA", "SHA-384", "P-384", 96 },
	{ "ES512", "ECDSA", "SHA-512", "P-521", 132 },
	{ "ES256K", "ECDSA", "SHA-256", "P-256K", 64 },
};

/*
 * RFC 7518 §4.1: "RSA1_5: RSAES-PKCS1-v1_5", "RSA-OAEP: RSAES OAEP using
 * default parameters" (§4.3: SHA-1 and MGF1 with SHA-1), "RSA-OAEP-256:
 * RSAES OAEP using SHA-256 and MGF1 with SHA-256", "A128KW: AES Key Wrap
 * with default initial value using 128-bit key", ...; §5.1: "A128GCM: AES
 * GCM using 128-bit key", ...  mhsm §3.3 adds AnnnCBC (zero padding to the
 * block) and AnnnCBCPAD (PKCS#7), where the AES size in the name must
 * match the key's, and CKM_AES_KEY_WRAP, PKCS#11's name for RFC 3394 key
 * wrap, which takes an AES key of any size (aes_bits 0 here).
 */
static const struct enc_fact {
	const char *alg, *scheme;
	const char *hash;	/* RSA-OAEP: the OAEP and MGF1 hash */
	unsigned aes_bits;
} jwe[] = {
	{ "RSA1_5", "RSAES-PKCS1-v1_5", NULL, 0 },
	{ "RSA-OAEP", "RSAES-OAEP", "SHA-1", 0 },
	{ "RSA-OAEP-256", "RSAES-OAEP", "SHA-256", 0 },
	{ "A128KW", "AES Key Wrap", NULL, 128 },
	{ "A192KW", "AES Key Wrap", NULL, 192 },
	{ "A256KW", "AES Key Wrap", NULL, 256 },
	{ "A128GCM", "AES GCM", NULL, 128 },
	{ "A192GCM", "AES GCM", NULL, 192 },
	{ "A256GCM", "AES GCM", NULL, 256 },
	{ "A128CBC", "AES CBC, zero padding", NULL, 128 },
	{ "A192CBC", "AES CBC, zero padding", NULL, 192 },
	{ "A256CBC", "AES CBC, zero padding", NULL, 256 },
	{ "A128CBCPAD", "AES CBC, PKCS#7 padding", NULL, 128 },
	{ "A192CBCPAD", "AES CBC, PKCS#7 padding", NULL, 192 },
	{ "A256CBCPAD", "AES CBC, PKCS#7 padding", NULL, 256 },
	{ "CKM_AES_KEY_WRAP", "AES Key Wrap", NULL, 0 },
};

/*
 * mhsm §3.2 and §3.3: every algorithm the service documents, the key type
 * its "Key" column names, the digest length sign/verify take (§3.2), and
 * whether hsmfs offers it.  Left out on purpose (alg.h): RSNULL, the HMACs,
 * RSA-OAEP-384/512 (not in the spec's enum) and CKM_AES_KEY_WRAP_PAD.
 */
static const struct svc_fact {
	const char *alg;
	enum key_type kty;
	size_t digest_len;
	bool offered;
} svc[] = {
	/* §3.2 */
	{ "RS256", KEY_RSA, 32, true }, { "RS384", KEY_RSA, 48, true },
	{ "RS512", KEY_RSA, 64, true }, { "PS256", KEY_RSA, 32, true },
	{ "PS384", KEY_RSA, 48, true }, { "PS512", KEY_RSA, 64, true },
	{ "RSNULL", KEY_RSA, 0, false },
	{ "ES256", KEY_EC, 32, true }, { "ES256K", KEY_EC, 32, true },
	{ "ES384", KEY_EC, 48, true }, { "ES512", KEY_EC, 64, true },
	{ "HS256", KEY_OCT, 0, false }, { "HS384", KEY_OCT, 0, false },
	{ "HS512", KEY_OCT, 0, false },
	/* §3.3 */
	{ "RSA1_5", KEY_RSA, 0, true }, { "RSA-OAEP", KEY_RSA, 0, true },
	{ "RSA-OAEP-256", KEY_RSA, 0, true },
	{ "RSA-OAEP-384", KEY_RSA, 0, false },
	{ "RSA-OAEP-512", KEY_RSA, 0, false },
	{ "A128GCM", KEY_OCT, 0, true }, { "A192GCM", KEY_OCT, 0, true },
	{ "A256GCM", KEY_OCT, 0, true }, { "A128CBC", KEY_OCT, 0, true },
	{ "A192CBC", KEY_OCT, 0, true }, { "A256CBC", KEY_OCT, 0, true },
	{ "A128CBCPAD", KEY_OCT, 0, true }, { "A192CBCPAD", KEY_OCT, 0, true },
	{ "A256CBCPAD", KEY_OCT, 0, true }, { "A128KW", KEY_OCT, 0, true },
	{ "A192KW", KEY_OCT, 0, true }, { "A256KW", KEY_OCT, 0, true },
	{ "CKM_AES_KEY_WRAP", KEY_OCT, 0, true },
	{ "CKM_AES_KEY_WRAP_PAD", KEY_OCT, 0, false },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct hash *hash_named(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < N(hashes); i++)
		if (strcmp(hashes[i].name, name) == 0)
			return &hashes[i];
	return NULL;
}

static int family_of(const char *scheme)
{
	size_t i;

	for (i = 0; i < N(schemes); i++)
		if (strcmp(schemes[i].scheme, scheme) == 0)
			return (int)schemes[i].family;
	return -1;
}

/* Is md (an alg_info's OpenSSL digest name) the hash RFC 7518 names? */
static bool md_is(const char *md, const struct hash *h)
{
	const EVP_MD *m;

	if (h == NULL)
		return md == NULL;
	m = md ? EVP_get_digestbyname(md) : NULL;
	return m != NULL && EVP_MD_get_type(m) == h->nid &&
	       (size_t)EVP_MD_get_size(m) == h->len;
}

/* Octets per coordinate of an OpenSSL curve: ceil(field bits / 8). */
static size_t group_coord_len(int nid)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
	size_t n = g ? (size_t)(EC_GROUP_get_degree(g) + 7) / 8 : 0;

	EC_GROUP_free(g);
	return n;
}

static void test_jws(void)
{
	size_t i;

	for (i = 0; i < N(jws); i++) {
		const struct jws_fact *f = &jws[i];
		const struct alg_info *a = alg_by_name(f->alg);
		const struct hash *h = hash_named(f->hash);

		if (!ok(a != NULL, "%s is in the table", f->alg))
			continue;
		is_int(a->family, family_of(f->scheme), "%s is %s", f->alg, f->scheme);
		ok(md_is(a->md, h), "%s hashes with %s", f->alg, f->hash);
		is_int(a->digest_len, h->len, "%s signs a %zu-byte digest", f->alg, h->len);
		if (f->crv == NULL) {
			is_int(a->crv, CRV_NONE, "%s needs no curve", f->alg);
			continue;
		}
		ok(curve_name(a->crv) && strcmp(curve_name(a->crv), f->crv) == 0,
		   "%s is on %s", f->alg, f->crv);
		is_int(2 * curve_coord_len(a->crv), f->sig_len,
		       "%s: R || S is %zu octets", f->alg, f->sig_len);
		is_int(curve_coord_len(a->crv), group_coord_len(curve_nid(a->crv)),
		       "%s: OpenSSL's %s has coordinates of that size", f->alg, f->crv);
	}
}

static void test_jwe(void)
{
	static const size_t aes_sizes[] = { 16, 24, 32 };
	size_t i, j;

	for (i = 0; i < N(jwe); i++) {
		const struct enc_fact *f = &jwe[i];
		const struct alg_info *a = alg_by_name(f->alg);
		unsigned takes = 0, want = 0;

		if (!ok(a != NULL, "%s is in the table", f->alg))
			continue;
		is_int(a->family, family_of(f->scheme), "%s is %s", f->alg, f->scheme);
		ok(md_is(a->md, hash_named(f->hash)), "%s: hash %s", f->alg,
		   f->hash ? f->hash : "none");
		if (a->family == ALG_RSA_ENC_PKCS1 || a->family == ALG_RSA_ENC_OAEP)
			continue;
		/* Which AES key sizes (as a bit per size) it takes. */
		for (j = 0; j < N(aes_sizes); j++) {
			if (alg_aes_key_ok(a, aes_sizes[j]))
				takes |= 1u << j;
			if (f->aes_bits == 0 || f->aes_bits == aes_sizes[j] * 8)
				want |= 1u << j;
		}
		ok(takes == want && !alg_aes_key_ok(a, 20) && !alg_aes_key_ok(a, 0),
		   "%s takes %s", f->alg, f->aes_bits ? "exactly its AES key size" :
		   "any AES key size");
	}
}

static void test_service_list(void)
{
	size_t i, j, n, offered = 0;

	for (i = 0; i < N(svc); i++) {
		const struct svc_fact *f = &svc[i];
		const struct alg_info *a = alg_by_name(f->alg);

		if (!f->offered) {
			ok(a == NULL, "%s is not offered", f->alg);
			continue;
		}
		offered++;
		if (!ok(a != NULL, "%s is offered", f->alg))
			continue;
		is_int(a->kty, f->kty, "%s: mhsm's key type", f->alg);
		is_int(a->digest_len, f->digest_len, "%s: mhsm's digest length", f->alg);
	}
	/* Nothing in the table that the service does not document. */
	for (n = 0; alg_at(n) != NULL; n++) {
		for (j = 0; j < N(svc); j++)
			if (svc[j].offered && strcmp(svc[j].alg, alg_at(n)->name) == 0)
				break;
		ok(j < N(svc), "%s is documented by the service", alg_at(n)->name);
	}
	is_int(n, offered, "the table has one row per offered algorithm");
	for (i = 0; i < n; i++)
		if (alg_by_name(alg_at(i)->name) != alg_at(i))
			break;
	is_int(i, n, "every row is found by its own name (names unique)");
	ok(alg_by_name("rs256") == NULL, "names are case-sensitive");
	ok(alg_by_name("none") == NULL && alg_by_name("A128CBC-HS256") == NULL &&
	   alg_by_name("") == NULL && alg_by_name(NULL) == NULL,
	   "unknown names give NULL");
}

static void test_aes_sizes(void)
{
	const struct alg_info *a192 = alg_by_name("A192KW");
	const struct alg_info *ckm = alg_by_name("CKM_AES_KEY_WRAP");

	ok(alg_aes_key_ok(a192, 24) && !alg_aes_key_ok(a192, 16) &&
	   !alg_aes_key_ok(a192, 32), "A192KW takes exactly 24-byte keys");
	ok(alg_aes_key_ok(ckm, 16) && alg_aes_key_ok(ckm, 24) &&
	   alg_aes_key_ok(ckm, 32) && !alg_aes_key_ok(ckm, 20),
	   "CKM_AES_KEY_WRAP takes any AES key size");
	ok(!alg_aes_key_ok(alg_by_name("RS256"), 32) && !alg_aes_key_ok(NULL, 16),
	   "non-AES algorithms take no AES key");
}

/* mhsm §1.4: the key_ops names of the REST spec, and MHSM's deriveKey. */
static void test_key_ops(void)
{
	static const struct {
		enum key_op op;
		const char *name;
	} ops[] = {
		{ KOP_ENCRYPT, "encrypt" }, { KOP_DECRYPT, "decrypt" },
		{ KOP_SIGN, "sign" }, { KOP_VERIFY, "verify" },
		{ KOP_WRAP, "wrapKey" }, { KOP_UNWRAP, "unwrapKey" },
		{ KOP_IMPORT, "import" }, { KOP_EXPORT, "export" },
		{ KOP_DERIVE, "deriveKey" },
	};
	unsigned all = 0;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const char *n = key_op_name(ops[i].op);

		ok(n && strcmp(n, ops[i].name) == 0, "key_op_name(%s)", ops[i].name);
		is_int(key_op_from_name(ops[i].name), ops[i].op,
		       "key_op_from_name(\"%s\")", ops[i].name);
		all |= ops[i].op;
	}
	is_int(__builtin_popcount(all), 9, "the nine operations are distinct bits");
	is_int(key_op_from_name("WRAPKEY"), KOP_WRAP, "names are case-insensitive");
	is_int(key_op_from_name("wrap"), 0, "an unknown name gives 0");
	is_int(key_op_from_name(NULL), 0, "NULL gives 0");
	ok(key_op_name(KOP_SIGN | KOP_VERIFY) == NULL, "two bits have no name");
}

/* mhsm §3.1: the curves, their JWK names and OIDs; OpenSSL maps the OIDs. */
static void test_curves(void)
{
	static const struct {
		enum curve c;
		const char *name, *oid;
		size_t coord;
	} cv[] = {
		{ CRV_P256, "P-256", "1.2.840.10045.3.1.7", 32 },
		{ CRV_P256K, "P-256K", "1.3.132.0.10", 32 },
		{ CRV_P384, "P-384", "1.3.132.0.34", 48 },
		{ CRV_P521, "P-521", "1.3.132.0.35", 66 },
	};
	size_t i;

	for (i = 0; i < 4; i++) {
		const char *n = curve_name(cv[i].c);
		int nid = OBJ_txt2nid(cv[i].oid);

		ok(n && strcmp(n, cv[i].name) == 0, "curve_name -> %s", cv[i].name);
		is_int(curve_from_name(cv[i].name), cv[i].c,
		       "curve_from_name(%s)", cv[i].name);
		is_int(curve_nid(cv[i].c), nid, "%s is OID %s", cv[i].name, cv[i].oid);
		is_int(curve_from_nid(nid), cv[i].c, "curve_from_nid for %s",
		       cv[i].name);
		is_int(curve_coord_len(cv[i].c), cv[i].coord, "%s coordinates are %zu bytes",
		       cv[i].name, cv[i].coord);
	}
	ok(curve_from_name("p-256") == CRV_NONE && curve_from_name("secp256k1") ==
	   CRV_NONE && curve_from_name(NULL) == CRV_NONE, "unknown curve names");
	ok(curve_name(CRV_NONE) == NULL && curve_nid(CRV_NONE) == NID_undef &&
	   curve_coord_len(CRV_NONE) == 0, "CRV_NONE has no name, NID or size");
	is_int(curve_from_nid(NID_X25519), CRV_NONE, "other NIDs map to CRV_NONE");
}

int main(void)
{
	test_jws();
	test_jwe();
	test_service_list();
	test_aes_sizes();
	test_key_ops();
	test_curves();
	return done_testing();
}
