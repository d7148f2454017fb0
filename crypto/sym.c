/*
 * sym.c - see sym.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sym.h"

#define AES_BLOCK 16
#define KW_BLOCK 8

/* EVP's lengths are int: refuse anything that does not fit, with room for
 * a block of padding. */
#define SYM_LEN_MAX ((size_t)INT_MAX - 2 * AES_BLOCK)

enum aes_mode { MODE_GCM, MODE_CBC, MODE_KW };

/* The static cipher for mode and key length, or NULL for a bad length. */
static const EVP_CIPHER *aes_cipher(enum aes_mode mode, size_t key_len)
{
	switch (key_len) {
	case 16:
		return mode == MODE_GCM ? EVP_aes_128_gcm() :
		       mode == MODE_CBC ? EVP_aes_128_cbc() : EVP_aes_128_wrap();
	case 24:
		return mode == MODE_GCM ? EVP_aes_192_gcm() :
		       mode == MODE_CBC ? EVP_aes_192_cbc() : EVP_aes_192_wrap();
	case 32:
		return mode == MODE_GCM ? EVP_aes_256_gcm() :
		       mode == MODE_CBC ? EVP_aes_256_cbc() : EVP_aes_256_wrap();
	default:
		return NULL;
	}
}

int aes_gcm_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    uint8_t **out, uint8_t tag[GCM_TAG_LEN])
{
	const EVP_CIPHER *c = aes_cipher(MODE_GCM, key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	int n, err = -EINVAL;

	if (c == NULL || key == NULL || iv == NULL || len > SYM_LEN_MAX ||
	    aad_len > SYM_LEN_MAX || (in == NULL && len > 0) ||
	    (aad == NULL && aad_len > 0))
		goto out;
	err = -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	buf = malloc(len ? len : 1);
	if (ctx == NULL || buf == NULL)
		goto out;
	err = -EIO;
	/* The 12-byte IV is GCM's default, so no SET_IVLEN is needed. */
	if (!EVP_EncryptInit_ex(ctx, c, NULL, key, iv) ||
	    (aad_len > 0 &&
	     !EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len)) ||
	    (len > 0 && !EVP_EncryptUpdate(ctx, buf, &n, in, (int)len)) ||
	    !EVP_EncryptFinal_ex(ctx, buf + len, &n) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag))
		goto out;
	*out = buf;
	buf = NULL;
	err = 0;
out:
	free(buf);
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

int aes_gcm_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    const uint8_t tag[GCM_TAG_LEN], struct secret **out)
{
	const EVP_CIPHER *c = aes_cipher(MODE_GCM, key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	struct secret *buf = NULL;
	uint8_t *p;
	int n, err = -EINVAL;

	if (c == NULL || key == NULL || iv == NULL || tag == NULL ||
	    len > SYM_LEN_MAX || aad_len > SYM_LEN_MAX ||
	    (in == NULL && len > 0) || (aad == NULL && aad_len > 0))
		goto out;
	err = -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	buf = secret_new(NULL, len);
	if (ctx == NULL || buf == NULL)
		goto out;
	p = secret_bytes(buf);
	err = -EIO;
	if (!EVP_DecryptInit_ex(ctx, c, NULL, key, iv) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
				 (void *)tag) ||
	    (aad_len > 0 &&
	     !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len)) ||
	    (len > 0 && !EVP_DecryptUpdate(ctx, p, &n, in, (int)len)))
		goto out;
	err = -EBADMSG;
	if (EVP_DecryptFinal_ex(ctx, p + len, &n) <= 0)
		goto out;
	*out = buf;
	buf = NULL;
	err = 0;
out:
	secret_free(buf);
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

int aes_cbc_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len,
		    uint8_t **out, size_t *out_len)
{
	const EVP_CIPHER *c = aes_cipher(MODE_CBC, key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL, last[AES_BLOCK];
	size_t whole = len - len % AES_BLOCK, rest = len % AES_BLOCK, cap;
	int n, m = 0, err = -EINVAL;

	if (c == NULL || key == NULL || iv == NULL || len > SYM_LEN_MAX ||
	    (in == NULL && len > 0))
		goto out;
	/* PKCS#7 always adds 1..16 bytes; zero padding only completes the
	 * last block. */
	cap = pkcs7 ? whole + AES_BLOCK : whole + (rest ? AES_BLOCK : 0);
	err = -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	buf = malloc(cap ? cap : 1);
	if (ctx == NULL || buf == NULL)
		goto out;
	err = -EIO;
	if (!EVP_EncryptInit_ex(ctx, c, NULL, key, iv) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, pkcs7))
		goto out;
	if (pkcs7 || rest == 0) {
		if ((len > 0 && !EVP_EncryptUpdate(ctx, buf, &n, in, (int)len)) ||
		    !EVP_EncryptFinal_ex(ctx, buf + (len > 0 ? n : 0), &m))
			goto out;
	} else {
		memset(last, 0, sizeof(last));
		memcpy(last, in + whole, rest);
		n = 0;
		if ((whole > 0 &&
		     !EVP_EncryptUpdate(ctx, buf, &n, in, (int)whole)) ||
		    !EVP_EncryptUpdate(ctx, buf + n, &m, last, AES_BLOCK)) {
			OPENSSL_cleanse(last, sizeof(last));
			goto out;
		}
		OPENSSL_cleanse(last, sizeof(last));
	}
	*out = buf;
	*out_len = cap;
	buf = NULL;
	err = 0;
out:
	free(buf);
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

int aes_cbc_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len, struct secret **out)
{
	const EVP_CIPHER *c = aes_cipher(MODE_CBC, key_len);
	EVP_CIPHER_CTX *ctx = NULL;
	struct secret *buf = NULL;
	uint8_t *p;
	int n = 0, m = 0, err = -EINVAL;

	if (c == NULL || key == NULL || iv == NULL || len > SYM_LEN_MAX ||
	    len % AES_BLOCK != 0 || (pkcs7 && len == 0) ||
	    (in == NULL && len > 0))
		goto out;
	err = -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	buf = secret_new(NULL, len);
	if (ctx == NULL || buf == NULL)
		goto out;
	p = secret_bytes(buf);
	err = -EIO;
	if (!EVP_DecryptInit_ex(ctx, c, NULL, key, iv) ||
	    !EVP_CIPHER_CTX_set_padding(ctx, pkcs7) ||
	    (len > 0 && !EVP_DecryptUpdate(ctx, p, &n, in, (int)len)))
		goto out;
	err = -EBADMSG;
	if (EVP_DecryptFinal_ex(ctx, p + n, &m) <= 0)
		goto out;
	secret_truncate(buf, (size_t)n + (size_t)m);
	*out = buf;
	buf = NULL;
	err = 0;
out:
	secret_free(buf);
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

/* Run RFC 3394 wrap (enc = 1) or unwrap (enc = 0) with the default IV.
 * Returns the output length or -errno. */
static int kw_run(const uint8_t *kek, size_t kek_len, int enc,
		  const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_CIPHER *c = aes_cipher(MODE_KW, kek_len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, err;

	if (ctx == NULL)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	err = -EIO;
	if (!EVP_CipherInit_ex(ctx, c, NULL, kek, NULL, enc))
		goto out;
	err = enc ? -EIO : -EBADMSG;	/* unwrap fails when the check fails */
	if (EVP_CipherUpdate(ctx, out, &n, in, (int)len) <= 0 ||
	    EVP_CipherFinal_ex(ctx, out + n, &m) <= 0)
		goto out;
	err = n + m;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int aes_kw_wrap(const uint8_t *kek, size_t kek_len,
		const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	int n;

	if (aes_cipher(MODE_KW, kek_len) == NULL || kek == NULL || in == NULL ||
	    len < 2 * KW_BLOCK || len % KW_BLOCK != 0 || len > SYM_LEN_MAX)
		return -EINVAL;
	buf = malloc(len + KW_BLOCK);
	if (buf == NULL)
		return -ENOMEM;
	n = kw_run(kek, kek_len, 1, in, len, buf);
	if (n < 0 || (size_t)n != len + KW_BLOCK) {
		free(buf);
		ERR_clear_error();
		return n < 0 ? n : -EIO;
	}
	*out = buf;
	*out_len = (size_t)n;
	return 0;
}

int aes_kw_unwrap(const uint8_t *kek, size_t kek_len,
		  const uint8_t *in, size_t len, struct secret **out)
{
	struct secret *buf;
	int n;

	if (aes_cipher(MODE_KW, kek_len) == NULL || kek == NULL || in == NULL ||
	    len < 3 * KW_BLOCK || len % KW_BLOCK != 0 || len > SYM_LEN_MAX)
		return -EINVAL;
	/* OpenSSL writes the full input length before checking the IV. */
	buf = secret_new(NULL, len);
	if (buf == NULL)
		return -ENOMEM;
	n = kw_run(kek, kek_len, 0, in, len, secret_bytes(buf));
	if (n < 0 || (size_t)n != len - KW_BLOCK) {
		secret_free(buf);
		ERR_clear_error();
		return n < 0 ? n : -EIO;
	}
	secret_truncate(buf, (size_t)n);
	*out = buf;
	return 0;
}

int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	/* RAND_bytes() takes an int; large requests go in pieces. */
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, n) != 1) {
			ERR_clear_error();
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
