/*
 * codec.c - see codec.h.
 *
 * Hand-written rather than EVP_EncodeBlock()/EVP_DecodeBlock(): those speak
 * only the standard alphabet, always pad, and decode "" and garbage
 * ambiguously.  Decoders here are strict (RFC 4648 §3.5: non-zero bits after
 * the last byte are rejected) so that one value has exactly one encoding.
 */
#include <errno.h>
#include <stdlib.h>

#include "codec.h"
#include "secret.h"

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char hex_digits[] = "0123456789abcdef";

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Encode with alphabet abc; pad with '=' to a multiple of 4 when pad. */
static char *b64_encode_with(const uint8_t *in, size_t len, const char *abc,
			     bool pad)
{
	size_t full = len / 3, rest = len % 3, olen, i;
	char *out, *o;

	if (len > (SIZE_MAX - 4) / 4 * 3)
		return NULL;
	olen = full * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1);
	out = malloc(olen + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (i = 0; i < full * 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = abc[(v >> 6) & 63];
		*o++ = abc[v & 63];
	}
	if (rest > 0) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (rest == 2)
			v |= (uint32_t)in[i + 1] << 8;
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		if (rest == 2)
			*o++ = abc[(v >> 6) & 63];
		else if (pad)
			*o++ = '=';
		if (pad)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The 6-bit value of c in the url (url = true) or standard alphabet, or -1. */
static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Decode base64 in either alphabet.  Padding is optional, but when present
 * it must be exactly what completes the last quantum.  The output buffer is
 * wiped on failure because decoded input is often key material.
 */
static int b64_decode_with(const char *in, size_t len, unsigned flags, bool url,
			   uint8_t **out, size_t *out_len)
{
	size_t cap = len / 4 * 3 + 3, n = 0, chars = 0, pads = 0, i;
	uint32_t acc = 0;
	uint8_t *buf;
	int err = -EINVAL;

	*out = NULL;
	buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		char c = in[i];
		int v;

		if ((flags & CODEC_IGNORE_SPACE) && is_space(c))
			continue;
		if (c == '=') {
			pads++;
			continue;
		}
		v = b64_value(c, url);
		if (v < 0 || pads > 0)
			goto out;
		acc = acc << 6 | (uint32_t)v;
		if (++chars % 4 == 0) {
			buf[n++] = (uint8_t)(acc >> 16);
			buf[n++] = (uint8_t)(acc >> 8);
			buf[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	switch (chars % 4) {
	case 0:
		if (pads != 0)
			goto out;
		break;
	case 1:
		goto out;
	case 2:		/* 12 bits: one byte and 4 zero bits */
		if ((pads != 0 && pads != 2) || (acc & 0xf) != 0)
			goto out;
		buf[n++] = (uint8_t)(acc >> 4);
		break;
	case 3:		/* 18 bits: two bytes and 2 zero bits */
		if ((pads != 0 && pads != 1) || (acc & 0x3) != 0)
			goto out;
		buf[n++] = (uint8_t)(acc >> 10);
		buf[n++] = (uint8_t)(acc >> 2);
		break;
	}
	*out = buf;
	*out_len = n;
	return 0;
out:
	secret_wipe_free(buf, cap);
	return err;
}

char *b64url_encode(const uint8_t *in, size_t len)
{
	return b64_encode_with(in, len, b64_url, false);
}

int b64url_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	return b64_decode_with(in, len, 0, true, out, out_len);
}

int b64url_decode_text(const char *in, size_t len, unsigned flags,
		       uint8_t **out, size_t *out_len)
{
	return b64_decode_with(in, len, flags, true, out, out_len);
}

char *b64_encode(const uint8_t *in, size_t len)
{
	return b64_encode_with(in, len, b64_std, true);
}

int b64_decode(const char *in, size_t len, unsigned flags,
	       uint8_t **out, size_t *out_len)
{
	return b64_decode_with(in, len, flags, false, out, out_len);
}

char *hex_encode(const uint8_t *in, size_t len)
{
	char *out;
	size_t i;

	if (len > (SIZE_MAX - 1) / 2)
		return NULL;
	out = malloc(2 * len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
	return out;
}

int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Either case is accepted; an odd number of digits is -EINVAL. */
int hex_decode(const char *in, size_t len, unsigned flags,
	       uint8_t **out, size_t *out_len)
{
	size_t cap = len / 2 + 1, n = 0, digits = 0, i;
	unsigned acc = 0;
	uint8_t *buf;

	*out = NULL;
	buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		int v;

		if ((flags & CODEC_IGNORE_SPACE) && is_space(in[i]))
			continue;
		v = hex_digit_value((unsigned char)in[i]);
		if (v < 0)
			goto bad;
		acc = acc << 4 | (unsigned)v;
		if (++digits % 2 == 0) {
			buf[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (digits % 2 != 0)
		goto bad;
	*out = buf;
	*out_len = n;
	return 0;
bad:
	secret_wipe_free(buf, cap);
	return -EINVAL;
}
