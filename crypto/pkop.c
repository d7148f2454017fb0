/*
 * pkop.c - see pkop.h.
 *
 * One EVP_PKEY_CTX per call: contexts are not thread-safe to share, and
 * creating one from an existing key is cheap next to the operation itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "ecdsa.h"
#include "pkey.h"
#include "pkop.h"

static bool is_sig_family(enum alg_family f)
{
	return f == ALG_RSA_PKCS1 || f == ALG_RSA_PSS || f == ALG_ECDSA;
}

static bool is_enc_family(enum alg_family f)
{
	return f == ALG_RSA_ENC_PKCS1 || f == ALG_RSA_ENC_OAEP;
}

/* True when k is the kind of key alg needs (and on the right curve). */
static bool key_suits(EVP_PKEY *k, const struct alg_info *alg)
{
	if (k == NULL || alg == NULL)
		return false;
	if (alg->kty == KEY_RSA)
		return pkey_is_rsa(k);
	if (alg->kty == KEY_EC)
		return pkey_curve(k) == alg->crv;
	return false;
}

/* Set RSA padding and hashes on ctx (initialised for sign, verify,
 * encrypt or decrypt) as alg prescribes.  ECDSA needs nothing. */
static int set_padding(EVP_PKEY_CTX *ctx, const struct alg_info *alg)
{
	const EVP_MD *md = alg->md ? EVP_get_digestbyname(alg->md) : NULL;

	switch (alg->family) {
	case ALG_RSA_PKCS1:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
	case ALG_RSA_PSS:	/* JWA: MGF1 with the same hash, salt = hash length */
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_signature_md(ctx, md) > 0 &&
		       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0;
	case ALG_RSA_ENC_PKCS1:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
	case ALG_RSA_ENC_OAEP:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
		       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
	case ALG_ECDSA:
		return 1;
	default:
		return 0;
	}
}

/* Check the common preconditions of sign and verify. */
static bool sig_args_ok(EVP_PKEY *k, const struct alg_info *alg, size_t dlen)
{
	return key_suits(k, alg) && is_sig_family(alg->family) &&
	       dlen == alg->digest_len;
}

int pk_verify(EVP_PKEY *k, const struct alg_info *alg,
	      const uint8_t *digest, size_t dlen,
	      const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int err = -EINVAL;

	if (!sig_args_ok(k, alg, dlen) || digest == NULL || sig == NULL)
		goto out;
	if (alg->family == ALG_ECDSA) {
		if (sig_len != 2 * curve_coord_len(alg->crv))
			goto out;
		err = ecdsa_raw_to_der(sig, sig_len, &der, &der_len);
		if (err)
			goto out;
		sig = der;
		sig_len = der_len;
	} else if (sig_len != (size_t)EVP_PKEY_get_size(k)) {
		goto out;
	}
	err = -ENOMEM;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (ctx == NULL)
		goto out;
	err = -EIO;
	if (EVP_PKEY_verify_init(ctx) <= 0 || !set_padding(ctx, alg))
		goto out;
	/* Lengths are right, so any other outcome is a bad signature. */
	err = EVP_PKEY_verify(ctx, sig, sig_len, digest, dlen) == 1 ?
	      0 : -EKEYREJECTED;
out:
	EVP_PKEY_CTX_free(ctx);
	free(der);
	if (err)
		ERR_clear_error();
	return err;
}

enum pk_op { OP_SIGN, OP_ENCRYPT, OP_DECRYPT };

/*
 * Run one private- or public-key operation of alg with k over in, into out
 * (EVP_PKEY_get_size(k) bytes, enough for any of them).  Returns 0 and the
 * output length in *out_len; -EBADMSG when a decryption fails, -ENOMEM or
 * -EIO otherwise.
 */
static int run_op(EVP_PKEY *k, const struct alg_info *alg, enum pk_op op,
		  const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	size_t olen = (size_t)EVP_PKEY_get_size(k);
	int r, err = -ENOMEM;

	if (ctx == NULL)
		goto out;
	err = -EIO;
	r = op == OP_SIGN ? EVP_PKEY_sign_init(ctx) :
	    op == OP_ENCRYPT ? EVP_PKEY_encrypt_init(ctx) :
	    EVP_PKEY_decrypt_init(ctx);
	if (r <= 0 || !set_padding(ctx, alg))
		goto out;
	r = op == OP_SIGN ? EVP_PKEY_sign(ctx, out, &olen, in, len) :
	    op == OP_ENCRYPT ? EVP_PKEY_encrypt(ctx, out, &olen, in, len) :
	    EVP_PKEY_decrypt(ctx, out, &olen, in, len);
	if (r <= 0) {
		err = op == OP_DECRYPT ? -EBADMSG : -EIO;
		goto out;
	}
	*out_len = olen;
	err = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return err;
}

int pk_sign(EVP_PKEY *k, const struct alg_info *alg,
	    const uint8_t *digest, size_t dlen, uint8_t **sig, size_t *sig_len)
{
	uint8_t *buf = NULL, *raw;
	size_t len = 0, raw_len;
	int err = -EINVAL;

	if (!sig_args_ok(k, alg, dlen) || digest == NULL)
		goto out;
	err = -ENOMEM;
	buf = malloc((size_t)EVP_PKEY_get_size(k));
	if (buf == NULL)
		goto out;
	err = run_op(k, alg, OP_SIGN, digest, dlen, buf, &len);
	if (err)
		goto out;
	if (alg->family == ALG_ECDSA) {
		err = ecdsa_der_to_raw(buf, len, curve_coord_len(alg->crv),
				       &raw, &raw_len);
		if (err)
			goto out;
		free(buf);
		buf = raw;
		len = raw_len;
	}
	*sig = buf;
	*sig_len = len;
	buf = NULL;
out:
	free(buf);
	if (err)
		ERR_clear_error();
	return err;
}

size_t pk_encrypt_max(EVP_PKEY *k, const struct alg_info *alg)
{
	const EVP_MD *md;
	size_t size, over;

	if (!key_suits(k, alg) || !is_enc_family(alg->family))
		return 0;
	size = (size_t)EVP_PKEY_get_size(k);
	if (alg->family == ALG_RSA_ENC_PKCS1) {
		over = RSA_PKCS1_PADDING_SIZE;		/* 11 */
	} else {
		md = EVP_get_digestbyname(alg->md);
		if (md == NULL)
			return 0;
		over = 2 * (size_t)EVP_MD_get_size(md) + 2;
	}
	return size > over ? size - over : 0;
}

int pk_encrypt(EVP_PKEY *k, const struct alg_info *alg,
	       const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	int err = -EINVAL;

	if (!key_suits(k, alg) || !is_enc_family(alg->family) ||
	    (in == NULL && len > 0))
		goto out;
	err = -EMSGSIZE;
	if (len > pk_encrypt_max(k, alg))
		goto out;
	err = -ENOMEM;
	buf = malloc((size_t)EVP_PKEY_get_size(k));
	if (buf == NULL)
		goto out;
	err = run_op(k, alg, OP_ENCRYPT, in, len, buf, out_len);
	if (err)
		goto out;
	*out = buf;
	buf = NULL;
out:
	free(buf);
	if (err)
		ERR_clear_error();
	return err;
}

int pk_decrypt(EVP_PKEY *k, const struct alg_info *alg,
	       const uint8_t *in, size_t len, struct secret **out)
{
	struct secret *buf = NULL;
	size_t olen = 0;
	int err = -EINVAL;

	if (!key_suits(k, alg) || !is_enc_family(alg->family) || in == NULL ||
	    len != (size_t)EVP_PKEY_get_size(k))
		goto out;
	err = -ENOMEM;
	buf = secret_new(NULL, len);
	if (buf == NULL)
		goto out;
	err = run_op(k, alg, OP_DECRYPT, in, len, secret_bytes(buf), &olen);
	if (err)
		goto out;
	secret_truncate(buf, olen);
	*out = buf;
	buf = NULL;
out:
	secret_free(buf);
	if (err)
		ERR_clear_error();
	return err;
}
