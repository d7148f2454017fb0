/*
 * frame.c - operation file input framing and output encodings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ecdsa.h"
#include "frame.h"

struct secret *frame_encode(enum fs_enc enc, const uint8_t *in, size_t len)
{
	char *txt;
	struct secret *s;
	size_t n;

	switch (enc) {
	case ENC_BINARY:
		return secret_new(in, len);
	case ENC_B64:
		txt = b64_encode(in, len);
		break;
	case ENC_B64URL:
		txt = b64url_encode(in, len);
		break;
	case ENC_HEX:
		txt = hex_encode(in, len);
		break;
	default:
		return NULL;
	}
	if (txt == NULL)
		return NULL;
	n = strlen(txt);
	s = secret_new(NULL, n + 1);
	if (s != NULL) {
		memcpy(secret_bytes(s), txt, n);
		secret_bytes(s)[n] = '\n';
	}
	/* The text may encode plaintext (decrypt.b64 is not offered, but
	 * unwrap output is binary): wipe it in every case. */
	secret_wipe_free(txt, n);
	return s;
}

int frame_decode(enum fs_enc enc, const uint8_t *in, size_t len,
		 uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	switch (enc) {
	case ENC_BINARY:
		*out = malloc(len ? len : 1);
		if (*out == NULL)
			return -ENOMEM;
		if (len)
			memcpy(*out, in, len);
		*out_len = len;
		return 0;
	case ENC_B64:
		return b64_decode((const char *)in, len, CODEC_IGNORE_SPACE,
				  out, out_len);
	case ENC_B64URL:
		return b64url_decode_text((const char *)in, len,
					  CODEC_IGNORE_SPACE, out, out_len);
	case ENC_HEX:
		return hex_decode((const char *)in, len, CODEC_IGNORE_SPACE,
				  out, out_len);
	}
	return -EINVAL;
}

static size_t coord_len(const struct opname *on)
{
	return curve_coord_len(on->alg->crv);
}

int frame_verify_split(const struct opname *on, unsigned key_bits,
		       const uint8_t *in, size_t len, size_t *sig_end,
		       uint8_t **sig, size_t *sig_len)
{
	const uint8_t *sp = in;
	size_t slen, end;
	uint8_t *bin = NULL;
	size_t blen = 0;
	int err;

	*sig = NULL;
	*sig_len = 0;
	if (on->enc != ENC_BINARY) {
		const uint8_t *nl = memchr(in, '\n', len);

		if (nl == NULL)
			return -EAGAIN;
		slen = (size_t)(nl - in);
		end = slen + 1;
		err = frame_decode(on->enc, in, slen, &bin, &blen);
		if (err)
			return err;
		sp = bin;
		slen = blen;
	} else if (on->alg->family == ALG_ECDSA && !on->raw) {
		long n = ecdsa_der_prefix_len(in, len);

		if (n < 0)
			return (int)n;
		if ((size_t)n > len)
			return -EAGAIN;
		slen = end = (size_t)n;
	} else if (on->alg->family == ALG_ECDSA) {
		slen = end = 2 * coord_len(on);
		if (len < slen)
			return -EAGAIN;
	} else {
		slen = end = (key_bits + 7) / 8;
		if (slen == 0)
			return -EINVAL;
		if (len < slen)
			return -EAGAIN;
	}
	if (on->alg->family == ALG_ECDSA && !on->raw) {
		err = ecdsa_der_to_raw(sp, slen, coord_len(on), sig, sig_len);
	} else {
		if (on->alg->family == ALG_ECDSA && slen != 2 * coord_len(on))
			err = -EINVAL;
		else if (on->alg->family != ALG_ECDSA &&
			 slen != (key_bits + 7) / 8)
			err = -EINVAL;
		else
			err = frame_decode(ENC_BINARY, sp, slen, sig, sig_len);
	}
	free(bin);
	if (err)
		return err == -EAGAIN ? -EINVAL : err;
	*sig_end = end;
	return 0;
}

int frame_sig_out(const struct opname *on, const uint8_t *sig, size_t len,
		  uint8_t **out, size_t *out_len)
{
	if (on->alg->family == ALG_ECDSA && !on->raw)
		return ecdsa_raw_to_der(sig, len, out, out_len);
	return frame_decode(ENC_BINARY, sig, len, out, out_len);
}

int frame_aes_split(const struct alg_info *alg, const uint8_t *in, size_t len,
		    struct aes_parts *out)
{
	memset(out, 0, sizeof(*out));
	switch (alg->family) {
	case ALG_AES_GCM:
		if (len < 12 + 16)
			return -EINVAL;
		out->iv = in;
		out->iv_len = 12;
		out->ct = in + 12;
		out->ct_len = len - 12 - 16;
		out->tag = in + len - 16;
		out->tag_len = 16;
		return 0;
	case ALG_AES_CBC:
	case ALG_AES_CBCPAD:
		if (len < 16 + 16 || (len - 16) % 16 != 0)
			return -EINVAL;
		out->iv = in;
		out->iv_len = 16;
		out->ct = in + 16;
		out->ct_len = len - 16;
		return 0;
	default:
		out->ct = in;
		out->ct_len = len;
		return 0;
	}
}

int frame_aes_join(const uint8_t *iv, size_t iv_len, const uint8_t *ct,
		   size_t ct_len, const uint8_t *tag, size_t tag_len,
		   uint8_t **out, size_t *out_len)
{
	size_t n = iv_len + ct_len + tag_len;
	uint8_t *p = malloc(n ? n : 1);

	*out = NULL;
	*out_len = 0;
	if (p == NULL)
		return -ENOMEM;
	if (iv_len)
		memcpy(p, iv, iv_len);
	if (ct_len)
		memcpy(p + iv_len, ct, ct_len);
	if (tag_len)
		memcpy(p + iv_len + ct_len, tag, tag_len);
	*out = p;
	*out_len = n;
	return 0;
}

void frame_stream_init(struct frame_stream *s, enum fs_enc enc, bool decode)
{
	memset(s, 0, sizeof(*s));
	s->enc = enc;
	s->decode = decode;
}

/* The bytes (encode) or characters (decode) converted as one unit. */
static size_t stream_quantum(const struct frame_stream *s)
{
	if (s->enc == ENC_HEX)
		return s->decode ? 2 : 1;
	return s->decode ? 4 : 3;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* carry || in (without white space when decoding) in a new buffer; a
 * decoder's padding must end its quantum and the text. */
static int stream_join(struct frame_stream *s, const uint8_t *in, size_t len,
		       uint8_t **buf, size_t *n)
{
	uint8_t *b = malloc(s->n + len + 1), *pad;
	size_t i, k = s->n;

	if (b == NULL)
		return -ENOMEM;
	memcpy(b, s->carry, s->n);
	for (i = 0; i < len; i++)
		if (!s->decode || !is_space(in[i]))
			b[k++] = in[i];
	if (s->decode && k > 0 && s->padded)
		goto invalid;
	pad = s->decode ? memchr(b, '=', k) : NULL;
	if (pad != NULL) {
		size_t q = stream_quantum(s), end = ((size_t)(pad - b) / q + 1) * q;

		if (k > end)
			goto invalid;
		s->padded = k == end;
	}
	*buf = b;
	*n = k;
	return 0;
invalid:
	free(b);
	return -EINVAL;
}

/* Encode n bytes of b; the text's newline only at the end. */
static int stream_encode(const struct frame_stream *s, const uint8_t *b,
			 size_t n, bool last, uint8_t **out, size_t *out_len)
{
	struct secret *txt;
	size_t tlen;

	if (n == 0 && !last)
		return 0;
	txt = frame_encode(s->enc, b, n);
	if (txt == NULL)
		return -ENOMEM;
	tlen = secret_len(txt) - (last || s->enc == ENC_BINARY ? 0 : 1);
	*out = malloc(tlen ? tlen : 1);
	if (*out != NULL)
		memcpy(*out, secret_bytes(txt), tlen);
	*out_len = tlen;
	secret_free(txt);
	return *out ? 0 : -ENOMEM;
}

int frame_stream_step(struct frame_stream *s, const uint8_t *in, size_t len,
		      bool last, uint8_t **out, size_t *out_len)
{
	size_t q = stream_quantum(s), n = 0, take;
	uint8_t *b = NULL;
	int err;

	*out = NULL;
	*out_len = 0;
	if ((err = stream_join(s, in, len, &b, &n)) < 0)
		return err;
	take = last || s->enc == ENC_BINARY ? n : n - n % q;
	if (!s->decode)
		err = stream_encode(s, b, take, last, out, out_len);
	else if (take > 0)
		err = frame_decode(s->enc, b, take, out, out_len);
	if (err == 0) {
		s->n = n - take;
		memcpy(s->carry, b + take, s->n);
	}
	free(b);
	if (err == 0 && *out != NULL && *out_len == 0) {
		free(*out);
		*out = NULL;
	}
	return err;
}
