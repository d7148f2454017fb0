/*
 * secret.c - see secret.h.
 *
 * The length and the bytes share one allocation so that a secret costs one
 * malloc() and its bytes can never outlive its length.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "secret.h"

struct secret {
	size_t len;
	uint8_t bytes[];	/* len bytes; one extra 0 so an empty one is valid */
};

struct secret *secret_new(const void *data, size_t len)
{
	struct secret *s;

	if (len > SIZE_MAX - sizeof(*s) - 1)
		return NULL;
	s = malloc(sizeof(*s) + len + 1);
	if (s == NULL)
		return NULL;
	s->len = len;
	if (data != NULL && len > 0)
		memcpy(s->bytes, data, len);
	else
		memset(s->bytes, 0, len);
	s->bytes[len] = 0;
	return s;
}

void secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->bytes, s->len);
	free(s);
}

uint8_t *secret_bytes(const struct secret *s)
{
	/* Cast away const: the bytes are the caller's to fill (secret_new(NULL)). */
	return (uint8_t *)s->bytes;
}

size_t secret_len(const struct secret *s)
{
	return s->len;
}

void secret_truncate(struct secret *s, size_t len)
{
	if (len >= s->len)
		return;
	OPENSSL_cleanse(s->bytes + len, s->len - len);
	s->len = len;
}

void secret_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

void secret_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	secret_wipe(p, len);
	free(p);
}
