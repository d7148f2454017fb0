/*
 * test_pkop.c - RSA and ECDSA sign/verify, RSA encrypt/decrypt.
 *
 * Judges: the RFC 7515 A.2 / A.3 / A.4 signatures (and A.2's exact bytes,
 * since RSASSA-PKCS1-v1_5 is deterministic), OpenSSL's high-level
 * EVP_DigestVerify() and EVP_PKEY_encrypt/decrypt configured here
 * independently, and the RFC 8017 length limits.
 */
#include <errno.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "pkey.h"
#include "pkop.h"
#include "queue_clean.h"
#include "vectors.h"

/* hash(header "." payload) with OpenSSL directly. */
static size_t jws_digest(const char *md, const char *header, const char *payload,
			 uint8_t out[64])
{
	char input[512];
	unsigned n = 0;

	snprintf(input, sizeof(input), "%s.%s", header, payload);
	EVP_Digest(input, strlen(input), out, &n, EVP_get_digestbyname(md), NULL);
	return n;
}

static EVP_PKEY *a2_key(bool crt)
{
	struct rsa_private k = a2_private();
	EVP_PKEY *pk = NULL;

	if (!crt) {
		bytes_free(&k.p);
		bytes_free(&k.q);
		bytes_free(&k.dp);
		bytes_free(&k.dq);
		bytes_free(&k.qi);
	}
	if (pkey_from_rsa_private(&k, &pk) != 0)
		exit(99);
	rsa_private_free(&k);
	return pk;
}

static void test_rfc7515_rs256(void)
{
	const struct alg_info *rs256 = alg_by_name("RS256");
	struct bytes sig = b64u(A2_SIG), n = b64u(A2_N), e = b64u(A2_E);
	EVP_PKEY *priv = a2_key(true), *donly = a2_key(false), *pub = NULL;
	uint8_t dg[64], *mine = NULL;
	size_t dlen = jws_digest("SHA256", A2_HEADER, RFC7515_PAYLOAD, dg), mlen = 0;

	pkey_from_rsa(&n, &e, &pub);
	is_int(pk_verify(pub, rs256, dg, dlen, sig.p, sig.len), 0,
	       "RFC 7515 A.2 RS256 signature verifies with the public JWK");
	is_int(pk_verify(priv, rs256, dg, dlen, sig.p, sig.len), 0,
	       "and with the private key");
	is_int(pk_sign(priv, rs256, dg, dlen, &mine, &mlen), 0, "RS256 sign");
	is_mem(mine, mlen, sig.p, sig.len,
	       "reproduces the RFC's signature byte for byte (CRT key)");
	free(mine);
	mine = NULL;
	is_int(pk_sign(donly, rs256, dg, dlen, &mine, &mlen), 0, "RS256 sign, d only");
	is_mem(mine, mlen, sig.p, sig.len, "reproduces it without CRT members too");
	free(mine);

	sig.p[100] ^= 1;
	is_int(pk_verify(pub, rs256, dg, dlen, sig.p, sig.len), -EKEYREJECTED,
	       "a tampered signature is rejected with -EKEYREJECTED");
	sig.p[100] ^= 1;
	dg[0] ^= 1;
	is_int(pk_verify(pub, rs256, dg, dlen, sig.p, sig.len), -EKEYREJECTED,
	       "another digest is rejected with -EKEYREJECTED");
	dg[0] ^= 1;
	is_int(pk_verify(pub, alg_by_name("PS256"), dg, dlen, sig.p, sig.len),
	       -EKEYREJECTED, "a PKCS#1 v1.5 signature does not pass as PS256");
	is_int(pk_verify(pub, rs256, dg, 31, sig.p, sig.len), -EINVAL,
	       "a 31-byte digest is -EINVAL");
	is_int(pk_verify(pub, alg_by_name("RS384"), dg, 32, sig.p, sig.len), -EINVAL,
	       "RS384 with a 32-byte digest is -EINVAL");
	is_int(pk_verify(pub, rs256, dg, dlen, sig.p, sig.len - 1), -EINVAL,
	       "a 255-byte signature for a 2048-bit key is -EINVAL");
	is_int(pk_verify(pub, alg_by_name("RSA-OAEP"), dg, dlen, sig.p, sig.len),
	       -EINVAL, "an encryption algorithm cannot verify");
	is_int(pk_verify(pub, alg_by_name("ES256"), dg, dlen, sig.p, 64), -EINVAL,
	       "ES256 with an RSA key is -EINVAL");
	mine = NULL;
	ok(pk_sign(pub, rs256, dg, dlen, &mine, &mlen) < 0 && mine == NULL,
	   "signing with a public key fails");
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&sig);
	bytes_free(&n);
	bytes_free(&e);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(donly);
	EVP_PKEY_free(pub);
}

/* Put bn into b (malloc()ed big-endian bytes). */
static void bn_bytes(const BIGNUM *bn, struct bytes *b)
{
	b->len = (size_t)BN_num_bytes(bn);
	b->p = malloc(b->len);
	BN_bn2bin(bn, b->p);
}

/* The RFC 7520 key: every JWK member computed here from p, q and e with
 * BIGNUM arithmetic, so a second 2048-bit key costs no key generation. */
static EVP_PKEY *r7520_key(void)
{
	struct bytes bp = b64u(R7520_P), bq = b64u(R7520_Q);
	BIGNUM *p = BN_bin2bn(bp.p, (int)bp.len, NULL);
	BIGNUM *q = BN_bin2bn(bq.p, (int)bq.len, NULL);
	BIGNUM *e = BN_new(), *n = BN_new(), *d = BN_new(), *p1 = BN_new();
	BIGNUM *q1 = BN_new(), *phi = BN_new(), *dp = BN_new(), *dq = BN_new();
	BIGNUM *qi = BN_new();
	BN_CTX *bc = BN_CTX_new();
	struct rsa_private k;
	EVP_PKEY *pk = NULL;

	BN_set_word(e, 65537);
	BN_mul(n, p, q, bc);
	BN_sub(p1, p, BN_value_one());
	BN_sub(q1, q, BN_value_one());
	BN_mul(phi, p1, q1, bc);
	BN_mod_inverse(d, e, phi, bc);
	BN_mod(dp, d, p1, bc);
	BN_mod(dq, d, q1, bc);
	BN_mod_inverse(qi, q, p, bc);
	bn_bytes(n, &k.n);
	bn_bytes(e, &k.e);
	bn_bytes(d, &k.d);
	bn_bytes(p, &k.p);
	bn_bytes(q, &k.q);
	bn_bytes(dp, &k.dp);
	bn_bytes(dq, &k.dq);
	bn_bytes(qi, &k.qi);
	if (pkey_from_rsa_private(&k, &pk) != 0)
		exit(99);
	rsa_private_free(&k);
	bytes_free(&bp);
	bytes_free(&bq);
	BN_free(p);
	BN_free(q);
	BN_free(e);
	BN_free(n);
	BN_clear_free(d);
	BN_free(p1);
	BN_free(q1);
	BN_free(phi);
	BN_free(dp);
	BN_free(dq);
	BN_free(qi);
	BN_CTX_free(bc);
	return pk;
}

static void test_rfc7520_rs256(void)
{
	const struct alg_info *rs256 = alg_by_name("RS256");
	struct bytes sig = b64u(R7520_41_SIG);
	EVP_PKEY *k = r7520_key();
	uint8_t dg[64], *mine = NULL;
	size_t dlen = jws_digest("SHA256", R7520_41_HEADER, R7520_PAYLOAD, dg);
	size_t mlen = 0;

	is_int(pk_verify(k, rs256, dg, dlen, sig.p, sig.len), 0,
	       "RFC 7520 4.1 RS256 signature verifies with the key from p, q");
	is_int(pk_sign(k, rs256, dg, dlen, &mine, &mlen), 0, "RS256 sign");
	is_mem(mine, mlen, sig.p, sig.len, "reproduces RFC 7520 4.1 byte for byte");
	free(mine);
	bytes_free(&sig);
	EVP_PKEY_free(k);
}

static void test_rfc7515_ecdsa(void)
{
	const struct alg_info *es256 = alg_by_name("ES256");
	struct bytes x = b64u(A3_X), y = b64u(A3_Y), sig = b64u(A3_SIG);
	struct bytes x4 = b64u(A4_X), y4 = b64u(A4_Y), sig4 = b64u(A4_SIG);
	EVP_PKEY *pub = NULL, *pub4 = NULL;
	uint8_t dg[64], zero[64] = { 0 };
	size_t dlen = jws_digest("SHA256", A3_HEADER, RFC7515_PAYLOAD, dg);

	pkey_from_ec(CRV_P256, &x, &y, &pub);
	is_int(pk_verify(pub, es256, dg, dlen, sig.p, sig.len), 0,
	       "RFC 7515 A.3 ES256 signature verifies (raw r||s)");
	sig.p[63] ^= 1;
	is_int(pk_verify(pub, es256, dg, dlen, sig.p, sig.len), -EKEYREJECTED,
	       "a tampered ES256 signature is -EKEYREJECTED");
	sig.p[63] ^= 1;
	is_int(pk_verify(pub, es256, dg, dlen, zero, 64), -EKEYREJECTED,
	       "r = s = 0 is -EKEYREJECTED");
	is_int(pk_verify(pub, es256, dg, dlen, sig.p, 63), -EINVAL,
	       "a 63-byte ES256 signature is -EINVAL");
	is_int(pk_verify(pub, alg_by_name("ES256K"), dg, dlen, sig.p, 64), -EINVAL,
	       "ES256K with a P-256 key is -EINVAL");
	is_int(pk_verify(pub, alg_by_name("RS256"), dg, dlen, sig.p, 64), -EINVAL,
	       "RS256 with an EC key is -EINVAL");

	dlen = jws_digest("SHA512", A4_HEADER, A4_PAYLOAD, dg);
	pkey_from_ec(CRV_P521, &x4, &y4, &pub4);
	is_int(pk_verify(pub4, alg_by_name("ES512"), dg, dlen, sig4.p, sig4.len), 0,
	       "RFC 7515 A.4 ES512 signature verifies (P-521, 132 bytes)");
	is_int(pk_verify(pub4, es256, dg, 32, sig4.p, 64), -EINVAL,
	       "ES256 with a P-521 key is -EINVAL");
	queue_clean("no OpenSSL errors left queued");
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pub4);
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&sig);
	bytes_free(&x4);
	bytes_free(&y4);
	bytes_free(&sig4);
}

/* Verify sig over msg with OpenSSL's EVP_DigestVerify, configured here. */
static bool openssl_verifies(EVP_PKEY *k, const struct alg_info *a,
			     const uint8_t *msg, size_t mlen,
			     const uint8_t *sig, size_t slen)
{
	const EVP_MD *md = EVP_get_digestbyname(a->md);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *der = NULL;
	int dlen = 0, r = 0;

	if (a->family == ALG_ECDSA) {	/* raw -> DER the OpenSSL way */
		ECDSA_SIG *es = ECDSA_SIG_new();

		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)slen / 2, NULL),
			       BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL));
		dlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		sig = der;
		slen = (size_t)dlen;
	}
	if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k) != 1)
		goto out;
	if (a->family == ALG_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)a->digest_len) != 1))
		goto out;
	r = EVP_DigestVerify(ctx, sig, slen, msg, mlen);
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r == 1;
}

static void test_sign_round_trips(void)
{
	EVP_PKEY *rsa = a2_key(true), *ec[5] = { NULL };
	const struct alg_info *a;
	uint8_t msg[100], dg[64];
	size_t i;
	int c;

	for (c = CRV_P256; c <= CRV_P521; c++)
		pkey_generate_ec((enum curve)c, &ec[c]);
	RAND_bytes(msg, sizeof(msg));
	for (i = 0; (a = alg_at(i)) != NULL; i++) {
		EVP_PKEY *k;
		uint8_t *sig = NULL;
		size_t slen = 0, want_len;
		unsigned n = 0;
		int round, bad = 0;

		if (a->family != ALG_RSA_PKCS1 && a->family != ALG_RSA_PSS &&
		    a->family != ALG_ECDSA)
			continue;
		k = a->kty == KEY_RSA ? rsa : ec[a->crv];
		want_len = a->kty == KEY_RSA ? 256 : 2 * curve_coord_len(a->crv);
		EVP_Digest(msg, sizeof(msg), dg, &n, EVP_get_digestbyname(a->md), NULL);
		/* Several rounds: ECDSA r or s with leading zeros must still
		 * come out full width. */
		for (round = 0; round < 8; round++) {
			sig = NULL;
			if (pk_sign(k, a, dg, n, &sig, &slen) != 0 || slen != want_len ||
			    pk_verify(k, a, dg, n, sig, slen) != 0 ||
			    !openssl_verifies(k, a, msg, sizeof(msg), sig, slen))
				bad++;
			free(sig);
		}
		is_int(bad, 0, "%s: 8 x sign, %zu-byte signature, verifies here and "
		       "with EVP_DigestVerify", a->name, want_len);
	}
	for (c = CRV_P256; c <= CRV_P521; c++)
		EVP_PKEY_free(ec[c]);
	EVP_PKEY_free(rsa);
	queue_clean("no OpenSSL errors left queued");
}

/* A PSS signature with a salt other than the hash length is refused:
 * JWA fixes the salt length. */
static void test_pss_salt(void)
{
	const struct alg_info *ps256 = alg_by_name("PS256");
	EVP_PKEY *rsa = a2_key(true);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa, NULL);
	uint8_t dg[32], sig[256];
	size_t slen = sizeof(sig);

	RAND_bytes(dg, sizeof(dg));
	EVP_PKEY_sign_init(ctx);
	EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
	EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_MAX);
	ok(EVP_PKEY_sign(ctx, sig, &slen, dg, 32) == 1, "OpenSSL signs PS256 with maximum salt");
	is_int(pk_verify(rsa, ps256, dg, 32, sig, slen), -EKEYREJECTED,
	       "pk_verify insists on salt = hash length");
	EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32);
	slen = sizeof(sig);
	EVP_PKEY_sign(ctx, sig, &slen, dg, 32);
	is_int(pk_verify(rsa, ps256, dg, 32, sig, slen), 0,
	       "and accepts OpenSSL's PS256 with a 32-byte salt");
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(rsa);
	queue_clean("no OpenSSL errors left queued");
}

/* Configure ctx for alg without going through pkop.c. */
static void own_padding(EVP_PKEY_CTX *ctx, const char *alg)
{
	if (strcmp(alg, "RSA1_5") == 0) {
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
		return;
	}
	EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
	EVP_PKEY_CTX_set_rsa_oaep_md(ctx, strcmp(alg, "RSA-OAEP") == 0 ?
				     EVP_sha1() : EVP_sha256());
	EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, strcmp(alg, "RSA-OAEP") == 0 ?
				     EVP_sha1() : EVP_sha256());
}

static void test_encrypt(void)
{
	/* RFC 8017: k - 11 for v1.5, k - 2 hLen - 2 for OAEP; k = 256. */
	static const struct {
		const char *alg;
		size_t max;
	} enc[] = { { "RSA1_5", 245 }, { "RSA-OAEP", 214 }, { "RSA-OAEP-256", 190 } };
	EVP_PKEY *rsa = a2_key(true), *other = NULL, *ec = NULL;
	uint8_t pt[300], *ct = NULL, own_ct[256], own_pt[256];
	struct secret *out = NULL;
	size_t i, clen = 0, olen;

	other = r7520_key();
	pkey_generate_ec(CRV_P256, &ec);
	RAND_bytes(pt, sizeof(pt));
	for (i = 0; i < 3; i++) {
		const struct alg_info *a = alg_by_name(enc[i].alg);
		EVP_PKEY_CTX *ctx;

		is_int(pk_encrypt_max(rsa, a), enc[i].max, "%s: at most %zu bytes",
		       a->name, enc[i].max);
		ct = NULL;
		is_int(pk_encrypt(rsa, a, pt, enc[i].max, &ct, &clen), 0,
		       "%s: encrypt exactly the maximum", a->name);
		ok(ct && clen == 256, "%s: the ciphertext is 256 bytes", a->name);
		is_int(pk_decrypt(rsa, a, ct, clen, &out), 0, "%s: decrypt", a->name);
		is_mem(out ? secret_bytes(out) : NULL, out ? secret_len(out) : 0,
		       pt, enc[i].max, "%s: round trip", a->name);
		secret_free(out);
		out = NULL;

		/* OpenSSL, configured here, decrypts ours ... */
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa, NULL);
		EVP_PKEY_decrypt_init(ctx);
		own_padding(ctx, a->name);
		olen = sizeof(own_pt);
		ok(ct && EVP_PKEY_decrypt(ctx, own_pt, &olen, ct, clen) == 1 &&
		   olen == enc[i].max && memcmp(own_pt, pt, olen) == 0,
		   "%s: OpenSSL configured independently decrypts it", a->name);
		EVP_PKEY_CTX_free(ctx);
		/* ... and we decrypt OpenSSL's. */
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa, NULL);
		EVP_PKEY_encrypt_init(ctx);
		own_padding(ctx, a->name);
		olen = sizeof(own_ct);
		EVP_PKEY_encrypt(ctx, own_ct, &olen, pt, 32);
		EVP_PKEY_CTX_free(ctx);
		ok(pk_decrypt(rsa, a, own_ct, olen, &out) == 0 &&
		   secret_len(out) == 32 && memcmp(secret_bytes(out), pt, 32) == 0,
		   "%s: we decrypt OpenSSL's ciphertext", a->name);
		secret_free(out);
		out = NULL;

		ct[10] ^= 0x40;
		is_int(pk_decrypt(rsa, a, ct, clen, &out), -EBADMSG,
		       "%s: a tampered ciphertext is -EBADMSG", a->name);
		ct[10] ^= 0x40;
		is_int(pk_decrypt(other, a, ct, clen, &out), -EBADMSG,
		       "%s: another key's decrypt is -EBADMSG", a->name);
		is_int(pk_decrypt(rsa, a, ct, clen - 1, &out), -EINVAL,
		       "%s: a 255-byte ciphertext is -EINVAL", a->name);
		ok(out == NULL, "%s: no output on failure", a->name);
		free(ct);

		ct = NULL;
		is_int(pk_encrypt(rsa, a, pt, enc[i].max + 1, &ct, &clen), -EMSGSIZE,
		       "%s: one byte over the maximum is -EMSGSIZE", a->name);
		ok(ct == NULL, "%s: and returns nothing", a->name);
		is_int(pk_encrypt(rsa, a, NULL, 0, &ct, &clen), 0,
		       "%s: an empty plaintext encrypts", a->name);
		ok(pk_decrypt(rsa, a, ct, clen, &out) == 0 && secret_len(out) == 0,
		   "%s: and decrypts to nothing", a->name);
		secret_free(out);
		out = NULL;
		free(ct);
		is_int(pk_encrypt(ec, a, pt, 16, &ct, &clen), -EINVAL,
		       "%s: an EC key cannot encrypt", a->name);
		is_int(pk_encrypt_max(ec, a), 0, "%s: pk_encrypt_max of an EC key is 0",
		       a->name);
	}
	is_int(pk_encrypt(rsa, alg_by_name("RS256"), pt, 16, &ct, &clen), -EINVAL,
	       "a signature algorithm cannot encrypt");
	is_int(pk_encrypt(rsa, alg_by_name("A256KW"), pt, 16, &ct, &clen), -EINVAL,
	       "an AES algorithm cannot encrypt with RSA");
	is_int(pk_decrypt(rsa, alg_by_name("PS256"), pt, 256, &out), -EINVAL,
	       "a signature algorithm cannot decrypt");
	queue_clean("no OpenSSL errors left queued");
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ec);
}

int main(void)
{
	test_rfc7515_rs256();
	test_rfc7520_rs256();
	test_rfc7515_ecdsa();
	test_sign_round_trips();
	test_pss_salt();
	test_encrypt();
	return done_testing();
}
