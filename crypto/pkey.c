/*
 * pkey.c - see pkey.h.
 *
 * Keys are built with OSSL_PARAM_BLD + EVP_PKEY_fromdata() and read back
 * with EVP_PKEY_get_*_param(), the OpenSSL 3 way; nothing here touches the
 * deprecated RSA / EC_KEY structures.  EC_GROUP / EC_POINT are still used
 * to derive a public point from a private scalar, which fromdata() does not
 * do in OpenSSL 3.0.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pkey.h"
#include "secret.h"

/* RSA moduli we accept: anything OpenSSL can use sensibly. */
#define RSA_BITS_MIN 512
#define RSA_BITS_MAX 16384

/* Uncompressed point for the largest curve: 0x04 || x || y. */
#define POINT_MAX (1 + 2 * 66)

void bytes_free(struct bytes *b)
{
	if (b == NULL)
		return;
	secret_wipe_free(b->p, b->len);
	b->p = NULL;
	b->len = 0;
}

/* Return 0 and a copy of bn as big-endian bytes (at least pad long) in *b. */
static int bytes_from_bn(const BIGNUM *bn, size_t pad, struct bytes *b)
{
	size_t n = (size_t)BN_num_bytes(bn);
	uint8_t *p;

	if (n < pad)
		n = pad;
	p = malloc(n ? n : 1);
	if (p == NULL)
		return -ENOMEM;
	if (BN_bn2binpad(bn, p, (int)n) < 0) {
		free(p);
		return -EINVAL;
	}
	b->p = p;
	b->len = n;
	return 0;
}

static bool bytes_ok(const struct bytes *b)
{
	return b != NULL && b->p != NULL && b->len > 0 && b->len <= INT32_MAX;
}

/* BN from JWK bytes; secure = use the secure heap and wipe on free. */
static BIGNUM *bn_from(const struct bytes *b, bool secure)
{
	BIGNUM *bn;

	if (!bytes_ok(b))
		return NULL;
	bn = secure ? BN_secure_new() : BN_new();
	if (bn == NULL)
		return NULL;
	if (BN_bin2bn(b->p, (int)b->len, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

/* Run fromdata for key type name with the parameters in bld. */
static int from_bld(const char *name, OSSL_PARAM_BLD *bld, int selection,
		    EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *k = NULL;
	int err = -EINVAL;

	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (params == NULL || ctx == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, selection, params) <= 0)
		goto out;
	*out = k;
	err = 0;
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return err;
}

/* Check n and e look like an RSA public key we are willing to use. */
static bool rsa_public_ok(const BIGNUM *n, const BIGNUM *e)
{
	int bits = BN_num_bits(n);

	return bits >= RSA_BITS_MIN && bits <= RSA_BITS_MAX && BN_is_odd(n) &&
	       BN_is_odd(e) && !BN_is_one(e) && BN_cmp(e, n) < 0;
}

int pkey_from_rsa(const struct bytes *n, const struct bytes *e, EVP_PKEY **out)
{
	BIGNUM *bn = bn_from(n, false), *be = bn_from(e, false);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int err = -ENOMEM;

	if (bld == NULL)
		goto out;
	err = -EINVAL;
	if (bn == NULL || be == NULL || !rsa_public_ok(bn, be))
		goto out;
	err = -ENOMEM;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	err = from_bld("RSA", bld, EVP_PKEY_PUBLIC_KEY, out);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	if (err)
		ERR_clear_error();
	return err;
}

/*
 * Check that the RSA private members belong together, by arithmetic
 * rather than EVP_PKEY_pairwise_check(), whose primality tests cost tens
 * of milliseconds (seconds under valgrind).  With the CRT members (c not
 * NULL: p, q, dp, dq, qi): n = p q, dp = d mod (p-1), dq = d mod (q-1),
 * e dp = 1 mod (p-1), e dq = 1 mod (q-1), q qi = 1 mod p.  Without them:
 * (2^d)^e = 2 mod n.
 */
static bool rsa_private_consistent(const BIGNUM *n, const BIGNUM *e,
				   const BIGNUM *d, BIGNUM *const c[5])
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *t, *u, *pm1, *qm1;
	bool good = false;

	if (ctx == NULL)
		return false;
	BN_CTX_start(ctx);
	t = BN_CTX_get(ctx);
	u = BN_CTX_get(ctx);
	pm1 = BN_CTX_get(ctx);
	qm1 = BN_CTX_get(ctx);
	if (qm1 == NULL)
		goto out;
	if (c == NULL) {
		good = BN_set_word(u, 2) && BN_mod_exp(t, u, d, n, ctx) &&
		       BN_mod_exp(t, t, e, n, ctx) && BN_cmp(t, u) == 0;
		goto out;
	}
	if (BN_cmp(c[0], BN_value_one()) <= 0 || BN_cmp(c[1], BN_value_one()) <= 0 ||
	    !BN_mul(t, c[0], c[1], ctx) || BN_cmp(t, n) != 0 ||
	    !BN_sub(pm1, c[0], BN_value_one()) || !BN_sub(qm1, c[1], BN_value_one()) ||
	    !BN_mod(t, d, pm1, ctx) || BN_cmp(t, c[2]) != 0 ||
	    !BN_mod(t, d, qm1, ctx) || BN_cmp(t, c[3]) != 0 ||
	    !BN_mod_mul(t, e, c[2], pm1, ctx) || !BN_is_one(t) ||
	    !BN_mod_mul(t, e, c[3], qm1, ctx) || !BN_is_one(t) ||
	    !BN_mod_mul(t, c[1], c[4], c[0], ctx) || !BN_is_one(t))
		goto out;
	good = true;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return good;
}

int pkey_from_rsa_private(const struct rsa_private *k, EVP_PKEY **out)
{
	static const char *const crt_names[] = {
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	const struct bytes *crt[] = { &k->p, &k->q, &k->dp, &k->dq, &k->qi };
	BIGNUM *bn = bn_from(&k->n, false), *be = bn_from(&k->e, false);
	BIGNUM *bd = bn_from(&k->d, true), *bcrt[5] = { NULL };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	size_t i, ncrt = 0;
	int err = -ENOMEM;

	if (bld == NULL)
		goto out;
	err = -EINVAL;
	if (bn == NULL || be == NULL || bd == NULL || !rsa_public_ok(bn, be) ||
	    BN_is_zero(bd) || BN_cmp(bd, bn) >= 0)
		goto out;
	for (i = 0; i < 5; i++)
		ncrt += crt[i]->len > 0;
	if (ncrt != 0 && ncrt != 5)	/* all CRT values or none */
		goto out;
	err = -ENOMEM;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bd))
		goto out;
	for (i = 0; i < ncrt; i++) {
		bcrt[i] = bn_from(crt[i], true);
		if (bcrt[i] == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, crt_names[i], bcrt[i]))
			goto out;
	}
	err = -EINVAL;
	if (!rsa_private_consistent(bn, be, bd, ncrt ? bcrt : NULL))
		goto out;
	err = from_bld("RSA", bld, EVP_PKEY_KEYPAIR, out);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	BN_clear_free(bd);
	for (i = 0; i < 5; i++)
		BN_clear_free(bcrt[i]);
	if (err)
		ERR_clear_error();
	return err;
}

/* Write 0x04 || x || y (each left-padded to the curve's width) to pt. */
static int ec_point_bytes(enum curve crv, const struct bytes *x,
			  const struct bytes *y, uint8_t pt[POINT_MAX],
			  size_t *pt_len)
{
	size_t cl = curve_coord_len(crv);

	if (cl == 0 || !bytes_ok(x) || !bytes_ok(y) || x->len > cl ||
	    y->len > cl)
		return -EINVAL;
	memset(pt, 0, 1 + 2 * cl);
	pt[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pt + 1 + cl - x->len, x->p, x->len);
	memcpy(pt + 1 + 2 * cl - y->len, y->p, y->len);
	*pt_len = 1 + 2 * cl;
	return 0;
}

/* Build an EC key of curve crv from an encoded point and, if priv is not
 * NULL, a private scalar.  OpenSSL rejects points not on the curve. */
static int ec_from_parts(enum curve crv, const uint8_t *pt, size_t pt_len,
			 const BIGNUM *priv, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	const char *group = OBJ_nid2sn(curve_nid(crv));
	int err = -ENOMEM;

	if (bld == NULL)
		goto out;
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					      pt, pt_len))
		goto out;
	if (priv != NULL &&
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv))
		goto out;
	err = from_bld("EC", bld,
		       priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out);
out:
	OSSL_PARAM_BLD_free(bld);
	return err;
}

int pkey_from_ec(enum curve crv, const struct bytes *x, const struct bytes *y,
		 EVP_PKEY **out)
{
	uint8_t pt[POINT_MAX];
	size_t pt_len;
	int err;

	err = ec_point_bytes(crv, x, y, pt, &pt_len);
	if (err == 0)
		err = ec_from_parts(crv, pt, pt_len, NULL, out);
	if (err)
		ERR_clear_error();
	return err;
}

/* Compute the uncompressed public point d*G on crv into pt.  -EINVAL when
 * d is not in [1, order - 1]. */
static int ec_derive_point(enum curve crv, const BIGNUM *d,
			   uint8_t pt[POINT_MAX], size_t *pt_len)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(curve_nid(crv));
	EC_POINT *p = NULL;
	BN_CTX *bctx = BN_CTX_secure_new();
	size_t n;
	int err = -ENOMEM;

	if (g == NULL || bctx == NULL)
		goto out;
	err = -EINVAL;
	if (BN_is_zero(d) || BN_is_negative(d) ||
	    BN_cmp(d, EC_GROUP_get0_order(g)) >= 0)
		goto out;
	err = -ENOMEM;
	p = EC_POINT_new(g);
	if (p == NULL || !EC_POINT_mul(g, p, d, NULL, NULL, bctx))
		goto out;
	n = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pt,
			       POINT_MAX, bctx);
	if (n == 0)
		goto out;
	*pt_len = n;
	err = 0;
out:
	EC_POINT_free(p);
	EC_GROUP_free(g);
	BN_CTX_free(bctx);
	return err;
}

int pkey_from_ec_private(enum curve crv, const struct bytes *d,
			 const struct bytes *x, const struct bytes *y,
			 EVP_PKEY **out)
{
	uint8_t pt[POINT_MAX], given[POINT_MAX];
	size_t pt_len, given_len;
	BIGNUM *bd = NULL;
	int err = -EINVAL;

	if (curve_coord_len(crv) == 0 || !bytes_ok(d) ||
	    d->len > curve_coord_len(crv) || (x == NULL) != (y == NULL))
		goto out;
	bd = bn_from(d, true);
	if (bd == NULL) {
		err = -ENOMEM;
		goto out;
	}
	err = ec_derive_point(crv, bd, pt, &pt_len);
	if (err)
		goto out;
	/* A JWK whose x, y do not match d is malformed, not a key. */
	if (x != NULL) {
		err = ec_point_bytes(crv, x, y, given, &given_len);
		if (err)
			goto out;
		if (given_len != pt_len || memcmp(given, pt, pt_len) != 0) {
			err = -EINVAL;
			goto out;
		}
	}
	err = ec_from_parts(crv, pt, pt_len, bd, out);
out:
	BN_clear_free(bd);
	if (err)
		ERR_clear_error();
	return err;
}

int pkey_generate_rsa(unsigned bits, unsigned long exponent, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	BIGNUM *e = NULL;
	int err = -EINVAL;

	if (exponent == 0)
		exponent = 65537;
	if (bits < 1024 || bits > RSA_BITS_MAX || exponent < 3 ||
	    exponent % 2 == 0)
		goto out;
	err = -ENOMEM;
	e = BN_new();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (e == NULL || ctx == NULL || !BN_set_word(e, exponent))
		goto out;
	err = -EIO;
	if (EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0 ||
	    EVP_PKEY_generate(ctx, &k) <= 0)
		goto out;
	*out = k;
	err = 0;
out:
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

int pkey_generate_ec(enum curve crv, EVP_PKEY **out)
{
	EVP_PKEY *k;

	if (curve_nid(crv) == NID_undef)
		return -EINVAL;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(curve_nid(crv)));
	if (k == NULL) {
		ERR_clear_error();
		return -EIO;
	}
	*out = k;
	return 0;
}

bool pkey_is_rsa(EVP_PKEY *k)
{
	return k != NULL && EVP_PKEY_is_a(k, "RSA");
}

int pkey_rsa_public(EVP_PKEY *k, struct bytes *n, struct bytes *e)
{
	BIGNUM *bn = NULL, *be = NULL;
	struct bytes tn = { 0 }, te = { 0 };
	int err = -EINVAL;

	if (!pkey_is_rsa(k) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &be))
		goto out;
	err = bytes_from_bn(bn, 0, &tn);
	if (err == 0)
		err = bytes_from_bn(be, 0, &te);
	if (err)
		goto out;
	*n = tn;
	*e = te;
	tn.p = te.p = NULL;
out:
	free(tn.p);
	BN_free(bn);
	BN_free(be);
	if (err)
		ERR_clear_error();
	return err;
}

enum curve pkey_curve(EVP_PKEY *k)
{
	char name[64];
	size_t len = 0;

	if (k == NULL || !EVP_PKEY_is_a(k, "EC"))
		return CRV_NONE;
	if (!EVP_PKEY_get_group_name(k, name, sizeof(name), &len)) {
		ERR_clear_error();
		return CRV_NONE;
	}
	return curve_from_nid(OBJ_sn2nid(name));
}

int pkey_ec_public(EVP_PKEY *k, enum curve *crv, struct bytes *x, struct bytes *y)
{
	enum curve c = pkey_curve(k);
	BIGNUM *bx = NULL, *by = NULL;
	struct bytes tx = { 0 }, ty = { 0 };
	int err = -EINVAL;

	if (c == CRV_NONE ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by))
		goto out;
	err = bytes_from_bn(bx, curve_coord_len(c), &tx);
	if (err == 0)
		err = bytes_from_bn(by, curve_coord_len(c), &ty);
	if (err)
		goto out;
	*crv = c;
	*x = tx;
	*y = ty;
	tx.p = ty.p = NULL;
out:
	free(tx.p);
	BN_free(bx);
	BN_free(by);
	if (err)
		ERR_clear_error();
	return err;
}

unsigned pkey_bits(EVP_PKEY *k)
{
	int bits = k ? EVP_PKEY_get_bits(k) : 0;

	return bits > 0 ? (unsigned)bits : 0;
}

int pkey_public_der(EVP_PKEY *k, uint8_t **der, size_t *len)
{
	uint8_t *buf, *p;
	int n = k ? i2d_PUBKEY(k, NULL) : -1;

	if (n <= 0) {
		ERR_clear_error();
		return -EINVAL;
	}
	buf = malloc((size_t)n);
	if (buf == NULL)
		return -ENOMEM;
	p = buf;
	if (i2d_PUBKEY(k, &p) != n) {
		free(buf);
		ERR_clear_error();
		return -EIO;
	}
	*der = buf;
	*len = (size_t)n;
	return 0;
}

int pkey_from_public_der(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	const uint8_t *p = der;
	EVP_PKEY *k;

	if (der == NULL || len == 0 || len > INT32_MAX)
		return -EINVAL;
	k = d2i_PUBKEY(NULL, &p, (long)len);
	if (k == NULL || p != der + len ||
	    (!pkey_is_rsa(k) && pkey_curve(k) == CRV_NONE)) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return -EINVAL;
	}
	*out = k;
	return 0;
}

int pkey_public_pem(EVP_PKEY *k, char **pem, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *buf;
	long n;
	int err = -ENOMEM;

	if (bio == NULL)
		goto out;
	err = -EINVAL;
	if (k == NULL || !PEM_write_bio_PUBKEY(bio, k))
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		goto out;
	err = -ENOMEM;
	buf = malloc((size_t)n + 1);
	if (buf == NULL)
		goto out;
	memcpy(buf, data, (size_t)n);
	buf[n] = '\0';
	*pem = buf;
	*len = (size_t)n;
	err = 0;
out:
	BIO_free(bio);
	if (err)
		ERR_clear_error();
	return err;
}

int pkey_private_der(EVP_PKEY *k, uint8_t **der, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8 = k ? EVP_PKEY2PKCS8(k) : NULL;
	uint8_t *buf = NULL, *p;
	int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
	int err = -EINVAL;

	if (n <= 0)
		goto out;
	err = -ENOMEM;
	buf = malloc((size_t)n);
	if (buf == NULL)
		goto out;
	p = buf;
	err = -EIO;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
		secret_wipe_free(buf, (size_t)n);
		goto out;
	}
	*der = buf;
	*len = (size_t)n;
	err = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);	/* clears the key octets */
	if (err)
		ERR_clear_error();
	return err;
}

int pkey_from_private_der(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	const uint8_t *p = der;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *k = NULL;

	if (der == NULL || len == 0 || len > INT32_MAX)
		return -EINVAL;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (p8 != NULL && p == der + len)
		k = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (k == NULL || (!pkey_is_rsa(k) && pkey_curve(k) == CRV_NONE)) {
		EVP_PKEY_free(k);
		ERR_clear_error();
		return -EINVAL;
	}
	*out = k;
	return 0;
}
