/*
 * fuzz_codec - base64, base64url and hex decoders, with and without
 * white space allowed (crypto/codec.c).
 *
 * Input: a byte of flags, then the text.  What decodes must encode back
 * to text that decodes to the same bytes; the canonical encoding of
 * those bytes must decode too.
 */
#include <errno.h>

#include "codec.h"
#include "fuzz.h"

typedef int (*decode_fn)(const char *, size_t, unsigned, uint8_t **,
			 size_t *);
typedef char *(*encode_fn)(const uint8_t *, size_t);

static int b64url_plain(const char *in, size_t len, unsigned flags,
			uint8_t **out, size_t *out_len)
{
	return b64url_decode(in, len, out, out_len);
}

static const struct {
	decode_fn decode;
	encode_fn encode;
} codecs[] = {
	{ b64_decode, b64_encode },
	{ b64url_decode_text, b64url_encode },
	{ b64url_plain, b64url_encode },
	{ hex_decode, hex_encode },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t sel = fz_byte(&f);
	unsigned flags = sel & 0x80 ? CODEC_IGNORE_SPACE : 0;
	size_t i = sel % (sizeof(codecs) / sizeof(codecs[0]));
	uint8_t *in, *out = NULL, *again = NULL;
	size_t len, out_len = 0, again_len = 0;
	char *text;
	int rc;

	in = fz_bytes(&f, &len);
	rc = codecs[i].decode((const char *)in, len, flags, &out, &out_len);
	fz_check(rc == 0 || rc == -EINVAL);
	fz_check(rc == 0 ? out != NULL : out == NULL);
	if (rc == 0) {
		fz_check(out_len <= len);
		text = codecs[i].encode(out, out_len);
		fz_check(text != NULL);
		rc = codecs[i].decode(text, strlen(text), 0, &again,
				      &again_len);
		fz_check(rc == 0 && again_len == out_len &&
			 memcmp(again, out, out_len) == 0);
		free(text);
		free(again);
		free(out);
	}
	(void)hex_digit_value(len > 0 ? in[0] : -1);
	free(in);
	return 0;
}
