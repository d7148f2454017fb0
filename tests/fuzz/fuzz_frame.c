/*
 * fuzz_frame - verify framing and the text forms of operation files
 * (fs/frame.c).
 *
 * Input: a byte choosing the key, an operation file name (NUL-ended:
 * "verify.ES256.raw.hex", "decrypt.A256GCM", ...), then what a user
 * writes to it.  Verify input is split as "signature || message" (binary
 * DER/raw/RSA, or a first line of b64/b64url/hex); decrypt input as the
 * AES layouts; the text decoders see it too.  Whatever parses must lie
 * inside the input, and what decodes must encode back to text that
 * decodes to the same bytes.
 */
#include <errno.h>

#include "frame.h"
#include "fuzz.h"
#include "fuzz_shapes.h"

static void check_decode(enum fs_enc enc, const uint8_t *in, size_t len)
{
	uint8_t *out = NULL, *again = NULL;
	size_t out_len = 0, again_len = 0;
	struct secret *text;
	int rc = frame_decode(enc, in, len, &out, &out_len);

	fz_check(rc == 0 || rc == -EINVAL);
	if (rc != 0)
		return;
	text = frame_encode(enc, out, out_len);
	fz_check(text != NULL);
	rc = frame_decode(enc, secret_bytes(text), secret_len(text), &again,
			  &again_len);
	fz_check(rc == 0 && again_len == out_len &&
		 memcmp(again, out, out_len) == 0);
	secret_free(text);
	free(again);
	free(out);
}

static void check_verify(const struct opname *on, unsigned bits,
			 const uint8_t *in, size_t len)
{
	uint8_t *sig = NULL;
	size_t end = 0, sig_len = 0;
	int rc = frame_verify_split(on, bits, in, len, &end, &sig, &sig_len);

	fz_check(rc == 0 || rc == -EAGAIN || rc == -EINVAL);
	if (rc == 0) {
		fz_check(end <= len && sig != NULL && sig_len > 0);
		free(sig);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	const struct keyshape *k = fz_shape(&f);
	char *name = fz_str(&f);
	struct opname on;
	struct aes_parts parts;
	uint8_t *in, *out = NULL;
	size_t len, out_len;

	in = fz_bytes(&f, &len);
	if (opname_parse(name, k, &on) == 0) {
		if (on.op == FOP_VERIFY)
			check_verify(&on, k->bits, in, len);
		if (on.op == FOP_DECRYPT && on.alg->kty == KEY_OCT &&
		    frame_aes_split(on.alg, in, len, &parts) == 0)
			fz_check(parts.iv_len + parts.ct_len +
				 parts.tag_len == len);
		if (on.op == FOP_SIGN &&
		    frame_sig_out(&on, in, len, &out, &out_len) == 0)
			free(out);
		check_decode(on.enc, in, len);
	} else {
		check_decode(ENC_B64, in, len);
		check_decode(ENC_B64URL, in, len);
		check_decode(ENC_HEX, in, len);
	}
	free(in);
	free(name);
	return 0;
}
