/*
 * backup_blob.c - the envelope of backup blobs: base64url of a JWE
 * compact serialization, "dir" + A256CBC-HS512 (RFC 7516, RFC 7518
 * §5.2.2), as the service's blobs look.  What goes inside (a key entry
 * as JSON) is store.c's business; this file only seals and opens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include "backup_blob_i.h"
#include "codec.h"
#include "secret.h"
#include "sym.h"

static const char jwe_header[] =
	"{\"alg\":\"dir\",\"enc\":\"A256CBC-HS512\",\"kid\":\"backup-protection-key\"}";

/* RFC 7518 §5.2.2.1: tag = first 32 bytes of HMAC-SHA-512 over
 * AAD || IV || ciphertext || AL (AAD length in bits, 64-bit big endian). */
static int jwe_tag(const uint8_t mac_key[32], const char *aad,
		   const uint8_t *iv, const uint8_t *ct, size_t ct_len,
		   uint8_t tag[32])
{
	size_t aad_len = strlen(aad), n = aad_len + CBC_IV_LEN + ct_len + 8;
	uint8_t *buf = malloc(n), md[64];
	unsigned md_len = 0;
	uint64_t al = (uint64_t)aad_len * 8;

	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, aad, aad_len);
	memcpy(buf + aad_len, iv, CBC_IV_LEN);
	memcpy(buf + aad_len + CBC_IV_LEN, ct, ct_len);
	for (int i = 0; i < 8; i++)
		buf[n - 1 - i] = (uint8_t)(al >> (8 * i));
	if (HMAC(EVP_sha512(), mac_key, 32, buf, n, md, &md_len) == NULL) {
		ERR_clear_error();
		free(buf);
		return -EIO;
	}
	free(buf);
	memcpy(tag, md, 32);
	return 0;
}

char *backup_blob_seal(const uint8_t key[BACKUP_KEY_LEN], const char *plain,
		       size_t len)
{
	char *h = NULL, *ivs = NULL, *cts = NULL, *tags = NULL, *jwe = NULL,
	     *blob = NULL;
	uint8_t iv[CBC_IV_LEN], tag[32], *ct = NULL;
	size_t ct_len = 0;

	if (random_bytes(iv, sizeof(iv)) != 0 ||
	    aes_cbc_encrypt(key + 32, 32, iv, true, (const uint8_t *)plain,
			    len, &ct, &ct_len) != 0)
		goto out;
	h = b64url_encode((const uint8_t *)jwe_header, strlen(jwe_header));
	if (h == NULL || jwe_tag(key, h, iv, ct, ct_len, tag) != 0)
		goto out;
	ivs = b64url_encode(iv, sizeof(iv));
	cts = b64url_encode(ct, ct_len);
	tags = b64url_encode(tag, sizeof(tag));
	if (ivs == NULL || cts == NULL || tags == NULL ||
	    asprintf(&jwe, "%s..%s.%s.%s", h, ivs, cts, tags) < 0) {
		jwe = NULL;
		goto out;
	}
	blob = b64url_encode((const uint8_t *)jwe, strlen(jwe));
out:
	free(ct);
	free(h);
	free(ivs);
	free(cts);
	free(tags);
	free(jwe);
	return blob;
}

struct secret *backup_blob_open(const uint8_t key[BACKUP_KEY_LEN],
				const char *blob, size_t len)
{
	uint8_t *jwe = NULL, *iv = NULL, *ct = NULL, *tag = NULL, want[32];
	size_t jwe_len = 0, iv_len = 0, ct_len = 0, tag_len = 0;
	struct secret *plain = NULL;
	char *parts[5] = { 0 }, *s, *h = NULL;
	int n = 0;

	if (b64url_decode(blob, len, &jwe, &jwe_len) != 0)
		return NULL;
	/* NUL-terminate and split the compact form into its five parts. */
	s = realloc(jwe, jwe_len + 1);
	if (s == NULL)
		goto out;
	jwe = (uint8_t *)s;
	s[jwe_len] = '\0';
	if (memchr(s, '\0', jwe_len) != NULL)
		goto out;
	parts[n++] = s;
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (n == 5)
				goto out;
			*p = '\0';
			parts[n++] = p + 1;
		}
	}
	if (n != 5 || *parts[1] != '\0')
		goto out;
	h = b64url_encode((const uint8_t *)jwe_header, strlen(jwe_header));
	if (h == NULL || strcmp(h, parts[0]) != 0)
		goto out;
	if (b64url_decode(parts[2], strlen(parts[2]), &iv, &iv_len) != 0 ||
	    b64url_decode(parts[3], strlen(parts[3]), &ct, &ct_len) != 0 ||
	    b64url_decode(parts[4], strlen(parts[4]), &tag, &tag_len) != 0 ||
	    iv_len != CBC_IV_LEN || tag_len != 32)
		goto out;
	if (jwe_tag(key, parts[0], iv, ct, ct_len, want) != 0 ||
	    CRYPTO_memcmp(want, tag, 32) != 0)
		goto out;
	if (aes_cbc_decrypt(key + 32, 32, iv, true, ct, ct_len, &plain) != 0) {
		secret_free(plain);
		plain = NULL;
	}
out:
	free(jwe);
	free(iv);
	free(ct);
	free(tag);
	free(h);
	return plain;
}
