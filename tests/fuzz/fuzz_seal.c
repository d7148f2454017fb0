/*
 * fuzz_seal - the sealed format (crypto/seal.c, docs/seal-format.md):
 * header parse, the unsealer fed in random slices, random access with
 * seal_chunk_open().
 *
 * Input: a mode byte and a slicing seed, then
 *   mode even: a blob.  The data key is always bytes 0..31 (the key of
 *     the worked example, tests/crypto/test_seal.c), so valid blobs in the
 *     corpus reach the chunk code.  The unsealer must give the same
 *     answer fed whole and fed in random slices; every chunk opened by
 *     random access must equal that chunk of the stream's plaintext.
 *   mode odd: a plaintext, sealed with a small chunk size; the blob must
 *     unseal (sliced, and chunk by chunk) to it.
 */
#include <errno.h>

#include "fuzz.h"
#include "seal.h"

static uint8_t key[SEAL_KEY_LEN];

static int give_key(void *arg, const struct seal_header *h,
		    uint8_t out[SEAL_KEY_LEN])
{
	memcpy(out, key, SEAL_KEY_LEN);
	return 0;
}

static void append(uint8_t **buf, size_t *len, struct secret *s)
{
	if (s == NULL)
		return;
	*buf = realloc(*buf, *len + secret_len(s) + 1);
	if (*buf == NULL)
		abort();
	memcpy(*buf + *len, secret_bytes(s), secret_len(s));
	*len += secret_len(s);
	secret_free(s);
}

/* Unseal in slices (slice 0: one update); every byte released goes to
 * *pt, even on error, which is checked to release nothing. */
static int unseal(const uint8_t *blob, size_t len, unsigned seed,
		  uint8_t **pt, size_t *pt_len)
{
	struct unsealer *u;
	struct secret *o;
	size_t take, fed = 0;
	int rc = 0;

	*pt = malloc(1);
	*pt_len = 0;
	if (*pt == NULL || unsealer_new(give_key, NULL, &u) < 0)
		abort();
	while (len > 0 && rc == 0) {
		seed = seed * 1103515245 + 12345;
		take = seed == 0 ? len : (seed >> 16) % 97 + 1;
		take = take < len ? take : len;
		o = NULL;
		rc = unsealer_update(u, blob, take, &o);
		fz_check(rc == 0 || o == NULL);
		append(pt, pt_len, o);
		/* A chunk is released once a byte beyond it came, so one
		 * call may release more than it was given; never more than
		 * was fed in all. */
		fed += take;
		fz_check(*pt_len <= fed);
		blob += take;
		len -= take;
	}
	if (rc == 0) {
		o = NULL;
		rc = unsealer_finish(u, &o);
		fz_check(rc == 0 || o == NULL);
		append(pt, pt_len, o);
	}
	fz_check(rc == 0 || rc == -EBADMSG || rc == -EFBIG);
	unsealer_free(u);
	return rc;
}

/* Open every chunk (at most 64) by random access; when the stream
 * unsealed, each must be its part of pt. */
static void random_access(const uint8_t *blob, size_t len, const uint8_t *pt,
			  size_t pt_len, int stream_rc)
{
	struct seal_header h;
	uint64_t plain, n, off, poff;
	size_t clen;
	struct secret *o;

	if (seal_header_parse(blob, len, &h) != 0 ||
	    seal_plain_size(&h, len, &plain, &n) != 0) {
		fz_check(stream_rc != 0);
		return;
	}
	if (stream_rc == 0)
		fz_check(plain == pt_len);
	for (uint64_t i = 0; i < n && i < 64; i++) {
		fz_check(seal_chunk_span(&h, len, i, &off, &clen, &poff) == 0);
		fz_check(off + clen <= len);
		o = NULL;
		if (seal_chunk_open(&h, key, len, i, blob + off, clen,
				    &o) != 0) {
			fz_check(o == NULL && stream_rc != 0);
			continue;
		}
		if (stream_rc == 0)
			fz_check(poff + secret_len(o) <= pt_len &&
				 memcmp(pt + poff, secret_bytes(o),
					secret_len(o)) == 0);
		secret_free(o);
	}
	fz_check(seal_chunk_span(&h, len, n, &off, &clen, &poff) == -EINVAL);
}

static void check_blob(const uint8_t *blob, size_t len, unsigned seed)
{
	uint8_t *whole, *sliced;
	size_t whole_len, sliced_len;
	int rc_whole = unseal(blob, len, 0, &whole, &whole_len);
	int rc_sliced = unseal(blob, len, seed | 1, &sliced, &sliced_len);

	fz_check(rc_whole == rc_sliced);
	if (rc_whole == 0)
		fz_check(whole_len == sliced_len &&
			 memcmp(whole, sliced, whole_len) == 0);
	random_access(blob, len, whole, whole_len, rc_whole);
	free(whole);
	free(sliced);
}

static void round_trip(const uint8_t *pt, size_t len, unsigned shift,
		       unsigned seed)
{
	static const uint8_t wrapped[40] = { 0xb0 };
	struct seal_header h;
	struct sealer *s;
	uint8_t *blob = malloc(1), *o, *back;
	size_t blen = 0, olen, back_len;

	if (blob == NULL ||
	    seal_header_init(&h, SEAL_WRAP_A256KW, shift,
			     "https://hsm.example/keys/db/v2", wrapped,
			     sizeof(wrapped), NULL) != 0 ||
	    sealer_new(&h, key, &s) != 0)
		abort();
	for (size_t i = 0; i <= len; i += 37) {
		size_t take = len - i < 37 ? len - i : 37;

		o = NULL;
		fz_check(sealer_update(s, pt + i, take, &o, &olen) == 0);
		if (o != NULL) {
			blob = realloc(blob, blen + olen + 1);
			memcpy(blob + blen, o, olen);
			blen += olen;
			free(o);
		}
	}
	o = NULL;
	fz_check(sealer_finish(s, &o, &olen) == 0 && o != NULL);
	blob = realloc(blob, blen + olen + 1);
	memcpy(blob + blen, o, olen);
	blen += olen;
	free(o);
	sealer_free(s);
	fz_check(unseal(blob, blen, seed, &back, &back_len) == 0);
	fz_check(back_len == len && memcmp(back, pt, len) == 0);
	random_access(blob, blen, back, back_len, 0);
	free(back);
	free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t mode = fz_byte(&f);
	unsigned seed = fz_u16(&f);
	size_t len;
	uint8_t *in;

	for (size_t i = 0; i < SEAL_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	in = fz_bytes(&f, &len);
	if (mode & 1)
		round_trip(in, len, SEAL_SHIFT_MIN + (mode >> 1) % 3, seed);
	else
		check_blob(in, len, seed);
	free(in);
	return 0;
}
