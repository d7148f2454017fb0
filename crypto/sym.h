/*
 * sym.h - AES operations as the service performs them.
 *
 * Keys are 16, 24 or 32 bytes.  Outputs are malloc()ed; plaintext outputs
 * are struct secret.  All return 0 or -errno: -EINVAL for bad lengths,
 * -EBADMSG when authentication, PKCS#7 unpadding or unwrapping fails,
 * -ENOMEM, -EIO.  Outputs are written only on success; OpenSSL's error
 * queue is cleared on failure.
 */
#ifndef HSMFS_CRYPTO_SYM_H
#define HSMFS_CRYPTO_SYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define CBC_IV_LEN 16

/* AES-GCM with a 12-byte IV and a 16-byte tag; aad may be NULL.  The
 * ciphertext (*out, malloc()ed) is as long as the input. */
int aes_gcm_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    uint8_t **out, uint8_t tag[GCM_TAG_LEN]);
int aes_gcm_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[GCM_IV_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t *in, size_t len,
		    const uint8_t tag[GCM_TAG_LEN], struct secret **out);

/* The same into the caller's buffer out (len bytes; out may equal in):
 * no allocation, for the sealed format's chunks.  A decryption that does
 * not authenticate wipes out before returning -EBADMSG. */
int aes_gcm_encrypt_into(const uint8_t *key, size_t key_len,
			 const uint8_t iv[GCM_IV_LEN],
			 const uint8_t *aad, size_t aad_len,
			 const uint8_t *in, size_t len,
			 uint8_t *out, uint8_t tag[GCM_TAG_LEN]);
int aes_gcm_decrypt_into(const uint8_t *key, size_t key_len,
			 const uint8_t iv[GCM_IV_LEN],
			 const uint8_t *aad, size_t aad_len,
			 const uint8_t *in, size_t len,
			 const uint8_t tag[GCM_TAG_LEN], uint8_t *out);

/* AES-CBC.  pkcs7 = true: PKCS#7 padding (AnnnCBCPAD).  pkcs7 = false:
 * input is zero-padded to the block size on encrypt (as the service does
 * for AnnnCBC; a whole number of blocks gets no extra block, empty input
 * gives empty output) and decrypt returns whole blocks.  Decrypt input must
 * be a multiple of 16 bytes (and non-empty for PKCS#7): -EINVAL. */
int aes_cbc_encrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len,
		    uint8_t **out, size_t *out_len);
int aes_cbc_decrypt(const uint8_t *key, size_t key_len,
		    const uint8_t iv[CBC_IV_LEN], bool pkcs7,
		    const uint8_t *in, size_t len, struct secret **out);

/* AES key wrap, RFC 3394 with the default IV (A6A6A6A6A6A6A6A6): input a
 * multiple of 8 and at least 16 bytes; output 8 bytes longer.  Unwrap with
 * the wrong KEK or of tampered input is -EBADMSG. */
int aes_kw_wrap(const uint8_t *kek, size_t kek_len,
		const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);
int aes_kw_unwrap(const uint8_t *kek, size_t kek_len,
		  const uint8_t *in, size_t len, struct secret **out);

/* AES key wrap with padding, RFC 5649 (the semantics of PKCS#11
 * CKM_AES_KEY_WRAP_PAD, which alg.h has no row for): any non-empty input;
 * output rounded up to 8 bytes plus 8.  Unwrap input: a multiple of 8, at
 * least 16 bytes; -EBADMSG when the integrity check fails. */
int aes_kwp_wrap(const uint8_t *kek, size_t kek_len,
		 const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);
int aes_kwp_unwrap(const uint8_t *kek, size_t kek_len,
		   const uint8_t *in, size_t len, struct secret **out);

/* Fill buf with len cryptographically random bytes; 0 or -EIO. */
int random_bytes(void *buf, size_t len);

#endif
