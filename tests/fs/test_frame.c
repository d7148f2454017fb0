/* Unit tests: input framing and output encodings of operation files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/bn.h>

#include "frame.h"
#include "tap.h"

static struct opname mk(enum fs_op op, const char *alg, enum fs_enc enc, bool raw)
{
	struct opname on = { op, alg_by_name(alg), enc, raw, false };

	return on;
}

/* An independent DER encoder: OpenSSL's own ECDSA_SIG. */
static size_t openssl_der(const uint8_t *r, const uint8_t *s, size_t n, uint8_t *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *p = out;
	int len;

	ECDSA_SIG_set0(sig, BN_bin2bn(r, (int)n, NULL), BN_bin2bn(s, (int)n, NULL));
	len = i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	return (size_t)len;
}

int main(void)
{
	struct secret *s;
	uint8_t *out = NULL, raw[64], der[80], buf[512];
	size_t out_len = 0, end = 0, dlen;
	struct opname on;
	struct aes_parts parts;
	int i;

	s = frame_encode(ENC_B64, (const uint8_t *)"hello", 5);
	ok(s && secret_len(s) == 9 && memcmp(secret_bytes(s), "aGVsbG8=\n", 9) == 0,
	   "b64 output ends with one newline");
	secret_free(s);
	s = frame_encode(ENC_HEX, (const uint8_t *)"\x01\xff", 2);
	ok(s && secret_len(s) == 5 && memcmp(secret_bytes(s), "01ff\n", 5) == 0, "hex output");
	secret_free(s);
	s = frame_encode(ENC_B64URL, (const uint8_t *)"\xfb\xff", 2);
	ok(s && secret_len(s) == 4 && memcmp(secret_bytes(s), "-_8\n", 4) == 0,
	   "b64url output has no padding");
	secret_free(s);
	s = frame_encode(ENC_BINARY, (const uint8_t *)"ab", 2);
	ok(s && secret_len(s) == 2, "binary output is the bytes");
	secret_free(s);

	ok(frame_decode(ENC_B64, (const uint8_t *)" aGVs\nbG8=\n", 11, &out, &out_len) == 0 &&
	   out_len == 5 && memcmp(out, "hello", 5) == 0, "b64 input ignores white space");
	free(out);
	ok(frame_decode(ENC_HEX, (const uint8_t *)"01 ff\n", 6, &out, &out_len) == 0 &&
	   out_len == 2 && out[1] == 0xff, "hex input ignores white space");
	free(out);
	ok(frame_decode(ENC_HEX, (const uint8_t *)"0g", 2, &out, &out_len) == -EINVAL && !out,
	   "bad hex is EINVAL");
	ok(frame_decode(ENC_B64, (const uint8_t *)"a!==", 4, &out, &out_len) == -EINVAL,
	   "bad b64 is EINVAL");

	/* verify framing: RSA takes the modulus length */
	on = mk(FOP_VERIFY, "RS256", ENC_BINARY, false);
	memset(buf, 7, sizeof(buf));
	ok(frame_verify_split(&on, 2048, buf, 255, &end, &out, &out_len) == -EAGAIN,
	   "RSA: 255 of 256 bytes needs more");
	ok(frame_verify_split(&on, 2048, buf, 300, &end, &out, &out_len) == 0 &&
	   end == 256 && out_len == 256, "RSA: signature is the modulus length");
	free(out);

	/* DER ECDSA by its ASN.1 length, converted to r||s */
	for (i = 0; i < 64; i++)
		raw[i] = (uint8_t)(i == 0 || i == 32 ? 0x80 : i);	/* high bits: DER pads */
	dlen = openssl_der(raw, raw + 32, 32, der);
	memcpy(buf, der, dlen);
	memcpy(buf + dlen, "message", 7);
	on = mk(FOP_VERIFY, "ES256", ENC_BINARY, false);
	ok(frame_verify_split(&on, 256, buf, 3, &end, &out, &out_len) == -EAGAIN,
	   "DER: a partial header needs more");
	ok(frame_verify_split(&on, 256, buf, dlen - 1, &end, &out, &out_len) == -EAGAIN,
	   "DER: a partial body needs more");
	ok(frame_verify_split(&on, 256, buf, dlen + 7, &end, &out, &out_len) == 0 &&
	   end == dlen && out_len == 64 && memcmp(out, raw, 64) == 0,
	   "DER: split at its length (%zu) and converted to r||s", dlen);
	free(out);
	buf[0] = 0x31;
	ok(frame_verify_split(&on, 256, buf, dlen + 7, &end, &out, &out_len) == -EINVAL,
	   "DER: not a SEQUENCE is EINVAL");

	/* .raw: twice the coordinate size */
	on = mk(FOP_VERIFY, "ES384", ENC_BINARY, true);
	ok(frame_verify_split(&on, 384, buf, 95, &end, &out, &out_len) == -EAGAIN &&
	   frame_verify_split(&on, 384, buf, 100, &end, &out, &out_len) == 0 &&
	   end == 96 && out_len == 96, "raw ES384: 96 bytes");
	free(out);

	/* text: first line */
	on = mk(FOP_VERIFY, "ES256", ENC_HEX, true);
	{
		char txt[200];
		size_t n = 0;

		for (i = 0; i < 64; i++)
			n += (size_t)sprintf(txt + n, "%02x", raw[i]);
		ok(frame_verify_split(&on, 256, (uint8_t *)txt, n, &end, &out, &out_len) == -EAGAIN,
		   "text: no newline yet");
		strcpy(txt + n, "\nmsg");
		ok(frame_verify_split(&on, 256, (uint8_t *)txt, n + 4, &end, &out, &out_len) == 0 &&
		   end == n + 1 && out_len == 64 && memcmp(out, raw, 64) == 0,
		   "text: the message starts after the newline");
		free(out);
		ok(frame_verify_split(&on, 256, (uint8_t *)txt + 2, n + 2, &end, &out, &out_len) == -EINVAL,
		   "text: wrong signature length is EINVAL");
	}

	/* sign output */
	on = mk(FOP_SIGN, "ES256", ENC_BINARY, false);
	ok(frame_sig_out(&on, raw, 64, &out, &out_len) == 0 && out_len == dlen &&
	   memcmp(out, der, dlen) == 0, "sign: r||s becomes OpenSSL's DER");
	free(out);
	on.raw = true;
	ok(frame_sig_out(&on, raw, 64, &out, &out_len) == 0 && out_len == 64, "sign.raw stays r||s");
	free(out);

	/* AES layouts */
	ok(frame_aes_split(alg_by_name("A128GCM"), buf, 27, &parts) == -EINVAL,
	   "GCM: shorter than iv+tag is EINVAL");
	ok(frame_aes_split(alg_by_name("A128GCM"), buf, 40, &parts) == 0 &&
	   parts.iv == buf && parts.iv_len == 12 && parts.ct == buf + 12 &&
	   parts.ct_len == 12 && parts.tag == buf + 24 && parts.tag_len == 16,
	   "GCM: iv(12)||ct||tag(16)");
	ok(frame_aes_split(alg_by_name("A256CBCPAD"), buf, 48, &parts) == 0 &&
	   parts.iv_len == 16 && parts.ct_len == 32 && parts.tag_len == 0,
	   "CBC: iv(16)||ct");
	ok(frame_aes_split(alg_by_name("A256CBC"), buf, 40, &parts) == -EINVAL,
	   "CBC: partial block is EINVAL");
	ok(frame_aes_join((const uint8_t *)"IV", 2, (const uint8_t *)"CT", 2,
			  (const uint8_t *)"TG", 2, &out, &out_len) == 0 &&
	   out_len == 6 && memcmp(out, "IVCTTG", 6) == 0, "join");
	free(out);
	return done_testing();
}
