/*
 * sym.c - see sym.h.
 *
 * Every operation is one pass of cipher_run() over EVP_Cipher*; the public
 * functions only check arguments and own the output buffer.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sym.h"

#define AES_BLOCK 16
#define KW_BLOCK 8

/* EVP's lengths are int: refuse anything that does not fit, with room for
 * a block of padding. */
#define SYM_LEN_MAX ((size_t)INT_MAX - 2 * AES_BLOCK)

enum aes_mode { MODE_GCM, MODE_CBC, MODE_KW, MODE_KWP };

/* One cipher pass: what cipher_run() needs besides the data. */
struct cipher_job {
	const EVP_CIPHER *cipher;
	int enc;			/* 1 encrypt / wrap, 0 decrypt / unwrap */
	const uint8_t *key, *iv;	/* iv NULL: the mode's default (KW) */
	int padding;			/* CBC: 0 or 1; -1 leaves the default */
	const uint8_t *aad;		/* GCM */
	size_t aad_len;
	const uint8_t *tag_in;		/* GCM decrypt: the tag to check */
	uint8_t *tag_out;		/* GCM encrypt: where the tag goes */
};

/* The static cipher for mode and key length, or NULL for a bad length. */
static const EVP_CIPHER *aes_cipher(enum aes_mode mode, size_t key_len)
{
	static const EVP_CIPHER *(*const table[][3])(void) = {
		[MODE_GCM] = { EVP_aes_128_gcm, EVP_aes_192_gcm, EVP_aes_256_gcm },
		[MODE_CBC] = { EVP_aes_128_cbc, EVP_aes_192_cbc, EVP_aes_256_cbc },
		[MODE_KW] = { EVP_aes_128_wrap, EVP_aes_192_wrap, EVP_aes_256_wrap },
		[MODE_KWP] = { EVP_aes_128_wrap_pad, EVP_aes_192_wrap_pad,
			       EVP_aes_256_wrap_pad },
	};

	if (key_len != 16 && key_len != 24 && key_len != 32)
		return NULL;
	return table[mode][(key_len - 16) / 8]();
}

/* Check the arguments every operation shares; the cipher, or NULL. */
static const EVP_CIPHER *args_cipher(enum aes_mode mode, const uint8_t *key,
				     size_t key_len, const uint8_t *in,
				     size_t len)
{
	if (key == NULL || len > SYM_LEN_MAX || (in == NULL && len > 0))
		return NULL;
	return aes_cipher(mode, key_len);
}

/*
 * Run job over len bytes of in into out (room for len plus one block; out
 * may equal in).  Returns 0 and the output length in *out_len, -EBADMSG
 * when decryption or unwrapping does not authenticate, -ENOMEM or -EIO.
 */
static int cipher_run(const struct cipher_job *j, const uint8_t *in, size_t len,
		      uint8_t *out, size_t *out_len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, err = -ENOMEM;

	if (ctx == NULL)
		goto out;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	err = -EIO;
	if (!EVP_CipherInit_ex(ctx, j->cipher, NULL, j->key, j->iv, j->enc) ||
	    (j->padding >= 0 && !EVP_CIPHER_CTX_set_padding(ctx, j->padding)) ||
	    (j->tag_in != NULL &&
	     !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
				  (void *)j->tag_in)) ||
	    (j->aad_len > 0 &&
	     !EVP_CipherUpdate(ctx, NULL, &n, j->aad, (int)j->aad_len)))
		goto out;
	/* Key unwrap checks its IV in the update, the others in the final. */
	err = j->enc ? -EIO : -EBADMSG;
	n = 0;
	if ((len > 0 && !EVP_CipherUpdate(ctx, out, &n, in, (int)len)) ||
	    EVP_CipherFinal_ex(ctx, out + n, &m) <= 0)
		goto out;
	err = -EIO;
	if (j->tag_out != NULL &&
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, j->tag_out))
		goto out;
	*out_len = (size_t)n + (size_t)m;
	err = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (err)
		ERR_clear_error();
	return err;
}

/*
 * Encrypt into a new malloc()ed buffer of cap bytes.  With zero_pad the
 * input is first copied into that buffer and zero-filled to cap, then
 * encrypted in place, so no second plaintext copy exists.
 */
static int encrypt_to_buf(const struct cipher_job *j, const uint8_t *in,
			  size_t len, size_t cap, bool zero_pad,
			  uint8_t **out, size_t *out_len)
{
	uint8_t *buf = malloc(cap + AES_BLOCK);
	size_t olen = 0;
	int err;

	if (buf == NULL)
		return -ENOMEM;
	if (zero_pad) {
		if (len > 0)
			memcpy(buf, in, len);
		memset(buf + len, 0, cap - len);
		in = buf;
		len = cap;
	}
	err = cipher_run(j, in, len, buf, &olen);
	if (err == 0 && olen != cap)
		err = -EIO;
	if (err) {
		secret_wipe_free(buf, cap + AES_BLOCK);
		return err;
	}
	*out = buf;
	*out_len = olen;
	return 0;
}

/* Decrypt into a new secret (at most len bytes). */
static int decrypt_to_secret(const struct cipher_job *j, const uint8_t *in,
			     size_t len, struct secret **out)
{
	struct secret *buf = secret_new(NULL, len + AES_BLOCK);
	size_t olen = 0;
	int err;

	if (buf == NULL)
		return -ENOMEM;
	err = cipher_run(j, in, len, secret_bytes(buf), &olen);
	if (err) {
		secret_free(buf);
		return err;
	}
	secret_truncate(buf, olen);
	*out = buf;
	return 0;
}

/* A GCM job, or one with a NULL cipher for bad arguments. */
static struct cipher_job gcm_job(int enc, const uint8_t *key, size_t key_len,
				 const uint8_t *iv, const uint8_t *aad,
				 size_t aad_len, const uint8_t *in, size_t len,
				 const uint8_t *tag_in, uint8_t *tag_out)
{
	/* The 12-byte IV is GCM's default length: no SET_IVLEN needed. */
	struct cipher_job j = {
		args_cipher(MODE_GCM, key, key_len, in, len), enc, key, iv, -1,
		aad, aad_len, tag_in, tag_out,
	};

	if (iv == NULL || (enc ? tag_out == NULL : tag_in == NULL) ||
	    aad_len > SYM_LEN_MAX || (aad == NULL && aad_len > 0))
		j.cipher = NULL;
	return j;
}

int aes_gcm_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    uint8_t **out, uint8_t tag[GCM_TAG_LEN])
{
	struct cipher_job j = gcm_job(1, key, key_len, iv, aad, aad_len, in,
				      len, NULL, tag);
	size_t olen;

	if (j.cipher == NULL)
		return -EINVAL;
	return encrypt_to_buf(&j, in, len, len, false, out, &olen);
}

int aes_gcm_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    const uint8_t tag[GCM_TAG_LEN], struct secret **out)
{
	struct cipher_job j = gcm_job(0, key, key_len, iv, aad, aad_len, in,
				      len, tag, NULL);

	if (j.cipher == NULL)
		return -EINVAL;
	return decrypt_to_secret(&j, in, len, out);
}

/* GCM into the caller's buffer: it writes exactly len bytes (its final
 * adds none), so out needs no block of slack. */
static int gcm_into(const struct cipher_job *j, const uint8_t *in, size_t len,
		    uint8_t *out)
{
	size_t olen = 0;
	int err;

	if (j->cipher == NULL || (out == NULL && len > 0))
		return -EINVAL;
	err = cipher_run(j, in, len, out, &olen);
	if (err == 0 && olen != len)
		err = -EIO;
	if (err && !j->enc && len > 0)	/* unauthenticated: never seen */
		secret_wipe(out, len);
	return err;
}

int aes_gcm_encrypt_into(const uint8_t *key, size_t key_len,
			 const uint8_t iv[GCM_IV_LEN],
			 const uint8_t *aad, size_t aad_len,
			 const uint8_t *in, size_t len,
			 uint8_t *out, uint8_t tag[GCM_TAG_LEN])
{
	struct cipher_job j = gcm_job(1, key, key_len, iv, aad, aad_len, in,
				      len, NULL, tag);

	return gcm_into(&j, in, len, out);
}

int aes_gcm_decrypt_into(const uint8_t *key, size_t key_len,
			 const uint8_t iv[GCM_IV_LEN],
			 const uint8_t *aad, size_t aad_len,
			 const uint8_t *in, size_t len,
			 const uint8_t tag[GCM_TAG_LEN], uint8_t *out)
{
	struct cipher_job j = gcm_job(0, key, key_len, iv, aad, aad_len, in,
				      len, tag, NULL);

	return gcm_into(&j, in, len, out);
}

int aes_cbc_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len,
		    uint8_t **out, size_t *out_len)
{
	struct cipher_job j = {
		args_cipher(MODE_CBC, key, key_len, in, len), 1, key, iv,
		pkcs7 ? 1 : 0, NULL, 0, NULL, NULL,
	};
	/* PKCS#7 always adds 1..16 bytes; zero padding only completes the
	 * last block. */
	size_t cap = pkcs7 ? len / AES_BLOCK * AES_BLOCK + AES_BLOCK :
			     (len + AES_BLOCK - 1) / AES_BLOCK * AES_BLOCK;

	if (j.cipher == NULL || iv == NULL)
		return -EINVAL;
	return encrypt_to_buf(&j, in, len, cap, !pkcs7, out, out_len);
}

int aes_cbc_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len, struct secret **out)
{
	struct cipher_job j = {
		args_cipher(MODE_CBC, key, key_len, in, len), 0, key, iv,
		pkcs7 ? 1 : 0, NULL, 0, NULL, NULL,
	};

	if (j.cipher == NULL || iv == NULL || len % AES_BLOCK != 0 ||
	    (pkcs7 && len == 0))
		return -EINVAL;
	return decrypt_to_secret(&j, in, len, out);
}

int aes_kw_wrap(const uint8_t *kek, size_t kek_len,
		const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	struct cipher_job j = {
		args_cipher(MODE_KW, kek, kek_len, in, len), 1, kek, NULL, -1,
		NULL, 0, NULL, NULL,
	};

	if (j.cipher == NULL || in == NULL || len < 2 * KW_BLOCK ||
	    len % KW_BLOCK != 0)
		return -EINVAL;
	return encrypt_to_buf(&j, in, len, len + KW_BLOCK, false, out, out_len);
}

int aes_kw_unwrap(const uint8_t *kek, size_t kek_len,
		  const uint8_t *in, size_t len, struct secret **out)
{
	struct cipher_job j = {
		args_cipher(MODE_KW, kek, kek_len, in, len), 0, kek, NULL, -1,
		NULL, 0, NULL, NULL,
	};

	if (j.cipher == NULL || in == NULL || len < 3 * KW_BLOCK ||
	    len % KW_BLOCK != 0)
		return -EINVAL;
	return decrypt_to_secret(&j, in, len, out);
}

int aes_kwp_wrap(const uint8_t *kek, size_t kek_len,
		 const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	struct cipher_job j = {
		args_cipher(MODE_KWP, kek, kek_len, in, len), 1, kek, NULL, -1,
		NULL, 0, NULL, NULL,
	};

	if (j.cipher == NULL || in == NULL || len == 0)
		return -EINVAL;
	return encrypt_to_buf(&j, in, len, (len + 7) / 8 * 8 + KW_BLOCK, false,
			      out, out_len);
}

int aes_kwp_unwrap(const uint8_t *kek, size_t kek_len,
		   const uint8_t *in, size_t len, struct secret **out)
{
	struct cipher_job j = {
		args_cipher(MODE_KWP, kek, kek_len, in, len), 0, kek, NULL, -1,
		NULL, 0, NULL, NULL,
	};

	if (j.cipher == NULL || in == NULL || len < 2 * KW_BLOCK ||
	    len % KW_BLOCK != 0)
		return -EINVAL;
	return decrypt_to_secret(&j, in, len, out);
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
