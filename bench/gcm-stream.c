/*
 * gcm-stream - the stream-tool baseline of scripts/bench's seal phase:
 * what an `openssl enc`-class program does with the I/O the mount gets
 * (`openssl enc` itself refuses AEAD ciphers).
 *
 *	gcm-stream enc|dec < in > out
 *
 * reads standard input in 64 KiB chunks (the sealed format's default
 * chunk), AES-256-GCM-encrypts each with OpenSSL's EVP under a fixed
 * key, a per-chunk nonce (7-byte prefix, be32 counter, last-chunk flag)
 * and a 300-byte associated data (about an RSA-wrapped header), and
 * writes ciphertext and tag; dec does the reverse and fails on a bad
 * tag.  One EVP context for the whole stream, as a tuned tool would.
 * Not part of the product.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CHUNK	65536
#define TAG	16
#define AAD	300

/* Up to len bytes, short only at the end of the input. */
static ssize_t read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One chunk in place: n bytes of data at buf, the tag after them. */
static int chunk(EVP_CIPHER_CTX *c, int enc, uint64_t i, int last,
		 const uint8_t *aad, uint8_t *buf, int n)
{
	uint8_t nonce[12] = {0};
	int out;

	nonce[7] = (uint8_t)(i >> 24);
	nonce[8] = (uint8_t)(i >> 16);
	nonce[9] = (uint8_t)(i >> 8);
	nonce[10] = (uint8_t)i;
	nonce[11] = (uint8_t)last;
	if (!EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, enc) ||
	    !EVP_CipherUpdate(c, NULL, &out, aad, AAD) ||
	    !EVP_CipherUpdate(c, buf, &out, buf, n))
		return -1;
	if (!enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, buf + n))
		return -1;
	if (!EVP_CipherFinal_ex(c, buf + n, &out))
		return -1;
	if (enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, buf + n))
		return -1;
	return 0;
}

/*
 * A chunk is known to be the last when the next read finds the end, so
 * one chunk is read ahead (as the format's sealer and unsealer do).
 */
static int run(EVP_CIPHER_CTX *c, int enc, const uint8_t *aad)
{
	static uint8_t a[CHUNK + TAG], b[CHUNK + TAG];
	size_t unit = enc ? CHUNK : CHUNK + TAG;
	uint8_t *cur = a, *next = b, *t;
	ssize_t n = read_full(0, cur, unit), m;
	uint64_t i = 0;

	for (;; i++) {
		if (n < 0 || (!enc && n < TAG))
			return -1;
		m = n < (ssize_t)unit ? 0 : read_full(0, next, unit);
		if (m < 0)
			return -1;
		if (chunk(c, enc, i, m == 0, aad, cur,
			  (int)(enc ? n : n - TAG)) < 0)
			return -1;
		if (write_full(1, cur, (size_t)(enc ? n + TAG : n - TAG)) < 0)
			return -1;
		if (m == 0)
			return 0;
		t = cur;
		cur = next;
		next = t;
		n = m;
	}
}

int main(int argc, char **argv)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	uint8_t aad[AAD];
	EVP_CIPHER_CTX *c;
	int enc, rc;

	if (argc != 2 || (strcmp(argv[1], "enc") && strcmp(argv[1], "dec"))) {
		fprintf(stderr, "usage: gcm-stream enc|dec < in > out\n");
		return 2;
	}
	enc = strcmp(argv[1], "enc") == 0;
	memset(aad, 0x5a, sizeof(aad));
	c = EVP_CIPHER_CTX_new();
	if (c == NULL ||
	    !EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL, enc)) {
		fprintf(stderr, "gcm-stream: OpenSSL set-up failed\n");
		return 1;
	}
	rc = run(c, enc, aad);
	EVP_CIPHER_CTX_free(c);
	if (rc < 0) {
		fprintf(stderr, "gcm-stream: %s failed (I/O error or bad tag)\n",
			argv[1]);
		return 1;
	}
	return 0;
}
