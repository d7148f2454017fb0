/*
 * ecdsa.c - see ecdsa.h.
 *
 * The DER here is small and fixed (SEQUENCE of two INTEGERs), so it is
 * written and parsed by hand: no BIGNUM allocations on the signing path,
 * and the parser can insist on DER (minimal lengths, minimal positive
 * integers, nothing after the SEQUENCE) where d2i_ECDSA_SIG() is lenient.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ecdsa.h"

#define TAG_SEQUENCE 0x30
#define TAG_INTEGER 0x02

/* Largest coordinate we handle: P-521's 66 bytes, with room to spare. */
#define COORD_MAX 72

/* Bytes a DER length field takes for content length n (n < 65536). */
static size_t der_len_size(size_t n)
{
	return n < 0x80 ? 1 : n < 0x100 ? 2 : 3;
}

static uint8_t *der_put_len(uint8_t *p, size_t n)
{
	if (n >= 0x100) {
		*p++ = 0x82;
		*p++ = (uint8_t)(n >> 8);
	} else if (n >= 0x80) {
		*p++ = 0x81;
	}
	*p++ = (uint8_t)n;
	return p;
}

/* Skip leading zero bytes of an unsigned big-endian integer, keeping one. */
static void int_trim(const uint8_t **v, size_t *len)
{
	while (*len > 1 && (*v)[0] == 0) {
		(*v)++;
		(*len)--;
	}
}

/* Content length of the DER INTEGER for trimmed unsigned v. */
static size_t int_content_len(const uint8_t *v, size_t len)
{
	return len + ((v[0] & 0x80) ? 1 : 0);
}

static uint8_t *der_put_int(uint8_t *p, const uint8_t *v, size_t len)
{
	size_t clen = int_content_len(v, len);

	*p++ = TAG_INTEGER;
	p = der_put_len(p, clen);
	if (clen > len)
		*p++ = 0;
	memcpy(p, v, len);
	return p + len;
}

int ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len,
		     uint8_t **der, size_t *der_len)
{
	const uint8_t *r = raw, *s;
	size_t half = raw_len / 2, rlen = half, slen = half, rc, sc, body, total;
	uint8_t *buf, *p;

	if (raw == NULL || raw_len == 0 || raw_len % 2 != 0 ||
	    half > COORD_MAX)
		return -EINVAL;
	s = raw + half;
	int_trim(&r, &rlen);
	int_trim(&s, &slen);
	rc = int_content_len(r, rlen);
	sc = int_content_len(s, slen);
	body = 1 + der_len_size(rc) + rc + 1 + der_len_size(sc) + sc;
	total = 1 + der_len_size(body) + body;
	buf = malloc(total);
	if (buf == NULL)
		return -ENOMEM;
	p = buf;
	*p++ = TAG_SEQUENCE;
	p = der_put_len(p, body);
	p = der_put_int(p, r, rlen);
	der_put_int(p, s, slen);
	*der = buf;
	*der_len = total;
	return 0;
}

/*
 * Read a DER tag and length at *p (end at end).  Returns the content length
 * and advances *p past the header, -EAGAIN when the header is cut short, or
 * -EINVAL when it is not DER (wrong tag, indefinite or non-minimal length,
 * more than two length bytes).
 */
static long der_header(const uint8_t **p, const uint8_t *end, uint8_t tag)
{
	const uint8_t *q = *p;
	size_t n;

	if (q >= end)
		return -EAGAIN;
	if (*q++ != tag)
		return -EINVAL;
	if (q >= end)
		return -EAGAIN;
	n = *q++;
	if (n == 0x81) {
		if (q >= end)
			return -EAGAIN;
		n = *q++;
		if (n < 0x80)
			return -EINVAL;
	} else if (n == 0x82) {
		if (end - q < 2)
			return -EAGAIN;
		n = (size_t)q[0] << 8 | q[1];
		q += 2;
		if (n < 0x100)
			return -EINVAL;
	} else if (n >= 0x80) {
		return -EINVAL;
	}
	*p = q;
	return (long)n;
}

/* Parse one positive DER INTEGER into out (coord_len bytes, left-padded). */
static int der_get_int(const uint8_t **p, const uint8_t *end,
		       uint8_t *out, size_t coord_len)
{
	long n = der_header(p, end, TAG_INTEGER);
	const uint8_t *v = *p;
	size_t len;

	if (n < 0)
		return -EINVAL;
	len = (size_t)n;
	if (len == 0 || len > (size_t)(end - v))
		return -EINVAL;
	if (v[0] & 0x80)
		return -EINVAL;			/* negative */
	if (len > 1 && v[0] == 0 && !(v[1] & 0x80))
		return -EINVAL;			/* non-minimal */
	*p = v + len;
	if (v[0] == 0) {
		v++;
		len--;
	}
	if (len > coord_len)
		return -EINVAL;
	memset(out, 0, coord_len - len);
	memcpy(out + coord_len - len, v, len);
	return 0;
}

int ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t coord_len,
		     uint8_t **raw, size_t *raw_len)
{
	const uint8_t *p = der, *end = der + der_len;
	uint8_t *buf;
	long n;

	if (der == NULL || coord_len == 0 || coord_len > COORD_MAX)
		return -EINVAL;
	n = der_header(&p, end, TAG_SEQUENCE);
	if (n < 0 || (size_t)n != (size_t)(end - p))
		return -EINVAL;
	buf = malloc(2 * coord_len);
	if (buf == NULL)
		return -ENOMEM;
	if (der_get_int(&p, end, buf, coord_len) != 0 ||
	    der_get_int(&p, end, buf + coord_len, coord_len) != 0 ||
	    p != end) {
		free(buf);
		return -EINVAL;
	}
	*raw = buf;
	*raw_len = 2 * coord_len;
	return 0;
}

long ecdsa_der_prefix_len(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf;
	long n;

	if (buf == NULL)
		return -EINVAL;
	n = der_header(&p, buf + len, TAG_SEQUENCE);
	if (n < 0)
		return n;
	return (long)(p - buf) + n;
}
