/*
 * test_pkey.c - JWK members <-> EVP_PKEY, generation, SPKI and PKCS#8.
 *
 * Judges: the RFC 7515 / 7517 example keys (for EC, the published x and y
 * that belong to the published d), the fixed DER layouts of RFC 5480 and
 * RFC 3447 SubjectPublicKeyInfo / PKCS#8 headers, and OpenSSL's parsers.
 */
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkey.h"
#include "queue_clean.h"
#include "vectors.h"

static void test_rsa_import(void)
{
	struct rsa_private k = a2_private();
	struct bytes n = { 0 }, e = { 0 }, saved;
	EVP_PKEY *pk = NULL;

	is_int(pkey_from_rsa_private(&k, &pk), 0, "RFC 7515 A.2 private key imports");
	ok(pkey_is_rsa(pk) && pkey_curve(pk) == CRV_NONE, "it is RSA, not EC");
	is_int(pkey_bits(pk), 2048, "2048-bit modulus");
	is_int(pkey_rsa_public(pk, &n, &e), 0, "n and e read back");
	is_mem(n.p, n.len, k.n.p, k.n.len, "n is the JWK n");
	is_mem(e.p, e.len, k.e.p, k.e.len, "e is the JWK e (AQAB)");
	bytes_free(&n);
	bytes_free(&e);
	ok(n.p == NULL && n.len == 0, "bytes_free resets the struct");
	EVP_PKEY_free(pk);

	/* d only: the service's import allows it. */
	{
		struct rsa_private d_only = k;

		memset(&d_only.p, 0, 5 * sizeof(struct bytes));
		pk = NULL;
		is_int(pkey_from_rsa_private(&d_only, &pk), 0,
		       "n, e, d without CRT members import");
		EVP_PKEY_free(pk);
		d_only.d.p[d_only.d.len - 1] ^= 2;
		pk = NULL;
		is_int(pkey_from_rsa_private(&d_only, &pk), -EINVAL,
		       "a d-only key whose d does not invert e is rejected");
		d_only.d.p[d_only.d.len - 1] ^= 2;
		d_only.p = k.p;
		is_int(pkey_from_rsa_private(&d_only, &pk), -EINVAL,
		       "p without q, dp, dq, qi is rejected");
		ok(pk == NULL, "no key is returned");
	}
	queue_clean("no OpenSSL errors left queued");

	saved = k.d;
	k.d.p[k.d.len - 1] ^= 2;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL,
	       "a d that does not match p and q is rejected");
	k.d.p[k.d.len - 1] ^= 2;
	k.p.p[k.p.len - 1] ^= 2;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL,
	       "a p that does not divide n is rejected");
	k.p.p[k.p.len - 1] ^= 2;
	k.dq.p[0] ^= 1;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL,
	       "a dq that is not d mod (q-1) is rejected");
	k.dq.p[0] ^= 1;
	k.qi.p[5] ^= 1;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL,
	       "a qi that is not 1/q mod p is rejected");
	k.qi.p[5] ^= 1;
	saved = k.p;
	k.p = k.q;
	k.q = saved;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL,
	       "p and q swapped (CRT members no longer match) is rejected");
	k.q = k.p;
	k.p = saved;
	saved = k.d;
	k.d = k.n;
	is_int(pkey_from_rsa_private(&k, &pk), -EINVAL, "d >= n is rejected");
	k.d = saved;
	queue_clean("no OpenSSL errors left queued");
	rsa_private_free(&k);
}

static void test_rsa_public(void)
{
	struct bytes n = b64u(K7517_RSA_N), e = b64u("AQAB"), bad = { 0 };
	struct bytes n2 = { 0 }, e2 = { 0 };
	uint8_t small[8] = { 0xc3, 1, 2, 3, 4, 5, 6, 7 };
	EVP_PKEY *pk = NULL;

	is_int(pkey_from_rsa(&n, &e, &pk), 0, "RFC 7517 A.1 RSA public key imports");
	is_int(pkey_bits(pk), 2048, "2048 bits");
	is_int(pkey_rsa_public(pk, &n2, &e2), 0, "and exports");
	is_mem(n2.p, n2.len, n.p, n.len, "the same n (JWK -> pkey -> JWK)");
	is_mem(e2.p, e2.len, e.p, e.len, "the same e");
	bytes_free(&n2);
	bytes_free(&e2);
	EVP_PKEY_free(pk);
	pk = NULL;

	bad = b64u("AQAA");	/* 65536: even */
	is_int(pkey_from_rsa(&n, &bad, &pk), -EINVAL, "an even exponent is rejected");
	bytes_free(&bad);
	bad = b64u("AQ");	/* 1 */
	is_int(pkey_from_rsa(&n, &bad, &pk), -EINVAL, "exponent 1 is rejected");
	bytes_free(&bad);
	bad.p = small;
	bad.len = sizeof(small);
	is_int(pkey_from_rsa(&bad, &e, &pk), -EINVAL, "a 64-bit modulus is rejected");
	bad.len = 0;
	is_int(pkey_from_rsa(&bad, &e, &pk), -EINVAL, "an empty modulus is rejected");
	bad.p = NULL;
	is_int(pkey_from_rsa(&n, &bad, &pk), -EINVAL, "a missing exponent is rejected");
	ok(pk == NULL, "no key is returned on failure");
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&n);
	bytes_free(&e);
}

/* Import (crv, x, y), read it back and compare. */
static void ec_public_round_trip(enum curve crv, const char *x64, const char *y64)
{
	struct bytes x = b64u(x64), y = b64u(y64), x2 = { 0 }, y2 = { 0 };
	enum curve c2 = CRV_NONE;
	EVP_PKEY *pk = NULL;

	is_int(pkey_from_ec(crv, &x, &y, &pk), 0, "%s public key %.8s... imports",
	       curve_name(crv), x64);
	is_int(pkey_curve(pk), crv, "pkey_curve is %s", curve_name(crv));
	is_int(pkey_ec_public(pk, &c2, &x2, &y2), 0, "and exports");
	ok(c2 == crv, "with its curve");
	is_mem(x2.p, x2.len, x.p, x.len, "x comes back full width");
	is_mem(y2.p, y2.len, y.p, y.len, "y comes back full width");
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&x2);
	bytes_free(&y2);
	EVP_PKEY_free(pk);
}

static void test_ec_public(void)
{
	struct bytes x = b64u(A3_X), y = b64u(A3_Y), big = { 0 }, x2 = { 0 }, y2 = { 0 };
	enum curve c2;
	EVP_PKEY *pk = NULL;

	ec_public_round_trip(CRV_P256, A3_X, A3_Y);
	ec_public_round_trip(CRV_P256, K7517_EC_X, K7517_EC_Y);
	ec_public_round_trip(CRV_P521, A4_X, A4_Y);

	y.p[31] ^= 1;
	is_int(pkey_from_ec(CRV_P256, &x, &y, &pk), -EINVAL,
	       "a point not on P-256 is rejected");
	y.p[31] ^= 1;
	is_int(pkey_from_ec(CRV_P384, &x, &y, &pk), -EINVAL,
	       "a P-256 point is not on P-384");
	is_int(pkey_from_ec(CRV_P256K, &x, &y, &pk), -EINVAL,
	       "a P-256 point is not on P-256K");
	is_int(pkey_from_ec(CRV_NONE, &x, &y, &pk), -EINVAL, "CRV_NONE is rejected");
	big.p = calloc(1, 33);
	memcpy(big.p + 1, x.p, 32);
	big.len = 33;
	is_int(pkey_from_ec(CRV_P256, &big, &y, &pk), -EINVAL,
	       "a 33-byte P-256 coordinate is rejected");
	ok(pk == NULL, "no key is returned on failure");
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&big);
	bytes_free(&x);
	bytes_free(&y);

	/* A.4's y starts with 0x00: a producer that strips it is accepted and
	 * the export restores the full width. */
	x = b64u(A4_X);
	y = b64u(A4_Y);
	ok(y.len == 66 && y.p[0] == 0, "RFC 7515 A.4 y has a leading zero byte");
	big.p = y.p + 1;
	big.len = 65;
	is_int(pkey_from_ec(CRV_P521, &x, &big, &pk), 0,
	       "a P-521 y without its leading zero imports");
	is_int(pkey_ec_public(pk, &c2, &x2, &y2), 0, "and exports");
	is_mem(y2.p, y2.len, y.p, y.len, "y is exported at 66 bytes");
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&x2);
	bytes_free(&y2);
	EVP_PKEY_free(pk);
}

/* Import d alone; the derived x, y must be the published ones. */
static void ec_private_derives(enum curve crv, const char *d64, const char *x64,
			       const char *y64, const char *what)
{
	struct bytes d = b64u(d64), x = b64u(x64), y = b64u(y64), x2 = { 0 }, y2 = { 0 };
	enum curve c2;
	EVP_PKEY *pk = NULL;

	is_int(pkey_from_ec_private(crv, &d, NULL, NULL, &pk), 0,
	       "%s: d alone imports", what);
	is_int(pkey_ec_public(pk, &c2, &x2, &y2), 0, "%s: public part exports", what);
	is_mem(x2.p, x2.len, x.p, x.len, "%s: derived x is the published x", what);
	is_mem(y2.p, y2.len, y.p, y.len, "%s: derived y is the published y", what);
	EVP_PKEY_free(pk);
	pk = NULL;
	is_int(pkey_from_ec_private(crv, &d, &x, &y, &pk), 0,
	       "%s: d with matching x, y imports", what);
	EVP_PKEY_free(pk);
	bytes_free(&d);
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&x2);
	bytes_free(&y2);
}

static void test_ec_private(void)
{
	struct bytes d = b64u(K7517_EC_D), x = b64u(A3_X), y = b64u(A3_Y);
	struct bytes zero = { 0 }, order = { 0 };
	EVP_PKEY *pk = NULL;

	ec_private_derives(CRV_P256, A3_D, A3_X, A3_Y, "RFC 7515 A.3");
	ec_private_derives(CRV_P256, K7517_EC_D, K7517_EC_X, K7517_EC_Y, "RFC 7517 A.2");
	ec_private_derives(CRV_P521, A4_D, A4_X, A4_Y, "RFC 7515 A.4 (P-521)");

	is_int(pkey_from_ec_private(CRV_P256, &d, &x, &y, &pk), -EINVAL,
	       "d with someone else's x, y is rejected");
	is_int(pkey_from_ec_private(CRV_P256, &d, &x, NULL, &pk), -EINVAL,
	       "x without y is rejected");
	zero.p = calloc(1, 32);
	zero.len = 32;
	is_int(pkey_from_ec_private(CRV_P256, &zero, NULL, NULL, &pk), -EINVAL,
	       "d = 0 is rejected");
	order.p = unhex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
			&order.len);
	is_int(pkey_from_ec_private(CRV_P256, &order, NULL, NULL, &pk), -EINVAL,
	       "d = the group order is rejected");
	order.p[31]--;
	is_int(pkey_from_ec_private(CRV_P256, &order, NULL, NULL, &pk), 0,
	       "d = order - 1 is accepted");
	EVP_PKEY_free(pk);
	pk = NULL;
	is_int(pkey_from_ec_private(CRV_P384, &d, &x, &y, &pk), -EINVAL,
	       "a P-256 key claimed as P-384 is rejected");
	ok(pk == NULL, "no key is returned on failure");
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&d);
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&zero);
	bytes_free(&order);
}

static void test_generate(void)
{
	static const enum curve crvs[] = { CRV_P256, CRV_P256K, CRV_P384, CRV_P521 };
	static const unsigned bits[] = { 256, 256, 384, 521 };
	struct bytes x = { 0 }, y = { 0 }, n = { 0 }, e = { 0 };
	enum curve c;
	EVP_PKEY *pk;
	size_t i;

	for (i = 0; i < 4; i++) {
		pk = NULL;
		is_int(pkey_generate_ec(crvs[i], &pk), 0, "generate %s",
		       curve_name(crvs[i]));
		ok(pkey_curve(pk) == crvs[i] && pkey_bits(pk) == bits[i],
		   "it is a %u-bit %s key", bits[i], curve_name(crvs[i]));
		ok(pkey_ec_public(pk, &c, &x, &y) == 0 &&
		   x.len == curve_coord_len(crvs[i]) &&
		   y.len == curve_coord_len(crvs[i]),
		   "its coordinates are %zu bytes", curve_coord_len(crvs[i]));
		bytes_free(&x);
		bytes_free(&y);
		EVP_PKEY_free(pk);
	}
	is_int(pkey_generate_ec(CRV_NONE, &pk), -EINVAL, "no curve, no key");

	pk = NULL;
	/* 1024 bits: 2048-bit generation takes a minute under valgrind. */
	is_int(pkey_generate_rsa(1024, 0, &pk), 0, "generate RSA 1024");
	ok(pkey_bits(pk) == 1024 && pkey_rsa_public(pk, &n, &e) == 0 &&
	   e.len == 3 && memcmp(e.p, "\x01\x00\x01", 3) == 0,
	   "1024 bits, e = 65537 by default");
	bytes_free(&n);
	bytes_free(&e);
	EVP_PKEY_free(pk);
	pk = NULL;
	is_int(pkey_generate_rsa(1024, 3, &pk), 0, "generate RSA 1024 with e = 3");
	ok(pkey_bits(pk) == 1024 && pkey_rsa_public(pk, &n, &e) == 0 &&
	   e.len == 1 && e.p[0] == 3, "1024 bits, e = 3");
	bytes_free(&n);
	bytes_free(&e);
	EVP_PKEY_free(pk);
	pk = NULL;
	is_int(pkey_generate_rsa(2048, 4, &pk), -EINVAL, "an even exponent is refused");
	is_int(pkey_generate_rsa(512, 65537, &pk), -EINVAL, "512 bits are refused");
	ok(pk == NULL, "no key is returned on failure");
	queue_clean("no OpenSSL errors left queued");
}

/* SPKI for a known key, compared with the RFC 5480 / RFC 3279 layout. */
static void test_spki(void)
{
	struct bytes x = b64u(A3_X), y = b64u(A3_Y), n = b64u(K7517_RSA_N),
		     e = b64u("AQAB"), n2 = { 0 }, e2 = { 0 };
	uint8_t *der = NULL, *want, *body = NULL, *bad;
	size_t dlen = 0, wlen, blen = 0, plen = 0;
	EVP_PKEY *pk = NULL, *back = NULL, *ed;
	char *pem = NULL;

	pkey_from_ec(CRV_P256, &x, &y, &pk);
	want = unhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"
		     "04", &wlen);
	want = realloc(want, wlen + 64);
	memcpy(want + wlen, x.p, 32);
	memcpy(want + wlen + 32, y.p, 32);
	wlen += 64;
	is_int(pkey_public_der(pk, &der, &dlen), 0, "P-256 SPKI DER");
	is_mem(der, dlen, want, wlen, "is id-ecPublicKey, prime256v1, 04||x||y");
	is_int(pkey_public_pem(pk, &pem, &plen), 0, "P-256 SPKI PEM");
	ok(pem && strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0 &&
	   plen == strlen(pem) &&
	   strcmp(pem + plen - 25, "-----END PUBLIC KEY-----\n") == 0,
	   "PEM has the PUBLIC KEY armour and a NUL-terminated length");
	if (pem && plen > 52) {
		b64_decode(pem + 27, plen - 27 - 25, CODEC_IGNORE_SPACE, &body, &blen);
		is_mem(body, blen, der, dlen, "the PEM body is the DER");
	}
	free(body);
	free(pem);
	is_int(pkey_from_public_der(der, dlen, &back), 0, "SPKI DER parses back");
	ok(pkey_curve(back) == CRV_P256, "as a P-256 key");
	EVP_PKEY_free(back);
	back = NULL;
	bad = malloc(dlen + 1);
	memcpy(bad, der, dlen);
	bad[dlen] = 0;
	is_int(pkey_from_public_der(bad, dlen + 1, &back), -EINVAL,
	       "SPKI with a trailing byte is rejected");
	is_int(pkey_from_public_der(bad, dlen - 1, &back), -EINVAL,
	       "truncated SPKI is rejected");
	free(bad);
	free(der);
	free(want);
	EVP_PKEY_free(pk);
	pk = NULL;

	pkey_from_rsa(&n, &e, &pk);
	want = unhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100",
		     &wlen);
	want = realloc(want, wlen + 256 + 5);
	memcpy(want + wlen, n.p, 256);
	memcpy(want + wlen + 256, "\x02\x03\x01\x00\x01", 5);
	wlen += 261;
	der = NULL;
	is_int(pkey_public_der(pk, &der, &dlen), 0, "RSA SPKI DER");
	is_mem(der, dlen, want, wlen, "is rsaEncryption, NULL, RSAPublicKey(n, e)");
	is_int(pkey_from_public_der(der, dlen, &back), 0, "and parses back");
	ok(pkey_rsa_public(back, &n2, &e2) == 0 && n2.len == n.len &&
	   memcmp(n2.p, n.p, n.len) == 0, "to the same modulus");
	bytes_free(&n2);
	bytes_free(&e2);
	EVP_PKEY_free(back);
	free(der);
	free(want);
	EVP_PKEY_free(pk);

	/* Key types we do not serve. */
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	der = NULL;
	dlen = (size_t)i2d_PUBKEY(ed, &der);
	back = NULL;
	is_int(pkey_from_public_der(der, dlen, &back), -EINVAL,
	       "an Ed25519 SPKI is rejected");
	ok(pkey_curve(ed) == CRV_NONE && !pkey_is_rsa(ed),
	   "Ed25519 is neither RSA nor one of our curves");
	OPENSSL_free(der);
	EVP_PKEY_free(ed);
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&n);
	bytes_free(&e);
}

/* PKCS#8: the layout, the round trip and rejects. */
static void test_pkcs8(void)
{
	struct rsa_private k = a2_private();
	struct bytes d = b64u(A3_D), n2 = { 0 }, e2 = { 0 }, x2 = { 0 }, y2 = { 0 };
	uint8_t *der = NULL, *want, *bad, *ed_der = NULL;
	size_t dlen = 0, wlen;
	EVP_PKEY *pk = NULL, *back = NULL, *ed;
	enum curve c;
	int edlen;

	pkey_from_rsa_private(&k, &pk);
	is_int(pkey_private_der(pk, &der, &dlen), 0, "RSA PKCS#8 DER");
	want = unhex("020100300d06092a864886f70d0101010500", &wlen);
	ok(der && dlen > 4 + wlen && der[0] == 0x30 && der[1] == 0x82 &&
	   memcmp(der + 4, want, wlen) == 0,
	   "PrivateKeyInfo: version 0, rsaEncryption");
	free(want);
	is_int(pkey_from_private_der(der, dlen, &back), 0, "RSA PKCS#8 parses back");
	ok(pkey_rsa_public(back, &n2, &e2) == 0 && n2.len == k.n.len &&
	   memcmp(n2.p, k.n.p, n2.len) == 0, "to the same modulus");
	bytes_free(&n2);
	bytes_free(&e2);
	EVP_PKEY_free(back);
	back = NULL;
	bad = malloc(dlen + 1);
	memcpy(bad, der, dlen);
	bad[dlen] = 0;
	is_int(pkey_from_private_der(bad, dlen + 1, &back), -EINVAL,
	       "PKCS#8 with a trailing byte is rejected");
	is_int(pkey_from_private_der(bad, dlen / 2, &back), -EINVAL,
	       "truncated PKCS#8 is rejected");
	memset(bad, 0x41, dlen);
	is_int(pkey_from_private_der(bad, dlen, &back), -EINVAL, "garbage is rejected");
	ok(back == NULL, "no key is returned on failure");
	free(bad);
	secret_wipe_free(der, dlen);
	EVP_PKEY_free(pk);
	pk = NULL;

	pkey_from_ec_private(CRV_P256, &d, NULL, NULL, &pk);
	der = NULL;
	is_int(pkey_private_der(pk, &der, &dlen), 0, "EC PKCS#8 DER");
	want = unhex("020100301306072a8648ce3d020106082a8648ce3d030107", &wlen);
	ok(der && dlen > 3 + wlen && der[0] == 0x30 && der[1] == 0x81 &&
	   memcmp(der + 3, want, wlen) == 0,
	   "PrivateKeyInfo: version 0, id-ecPublicKey, prime256v1");
	free(want);
	is_int(pkey_from_private_der(der, dlen, &back), 0, "EC PKCS#8 parses back");
	want = NULL;
	{
		struct bytes x = b64u(A3_X);

		ok(pkey_ec_public(back, &c, &x2, &y2) == 0 && c == CRV_P256 &&
		   x2.len == x.len && memcmp(x2.p, x.p, x.len) == 0,
		   "to the same P-256 point");
		bytes_free(&x);
	}
	bytes_free(&x2);
	bytes_free(&y2);
	EVP_PKEY_free(back);
	secret_wipe_free(der, dlen);
	EVP_PKEY_free(pk);

	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	edlen = i2d_PrivateKey(ed, &ed_der);
	back = NULL;
	is_int(pkey_from_private_der(ed_der, (size_t)edlen, &back), -EINVAL,
	       "an Ed25519 PKCS#8 key is rejected");
	OPENSSL_clear_free(ed_der, (size_t)edlen);
	EVP_PKEY_free(ed);
	queue_clean("no OpenSSL errors left queued");
	bytes_free(&d);
	rsa_private_free(&k);
}

int main(void)
{
	test_rsa_import();
	test_rsa_public();
	test_ec_public();
	test_ec_private();
	test_generate();
	test_spki();
	test_pkcs8();
	return done_testing();
}
