/*
 * test_digest.c - digests.  Judges: FIPS 180-2 / NIST example values.
 */
#include <errno.h>

#include "digest.h"
#include "queue_clean.h"

static const struct {
	const char *alg, *msg, *hex;
	long repeat;
} vec[] = {
	{ "RS256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 1 },
	{ "PS384", "abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7", 1 },
	{ "ES512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", 1 },
	{ "ES256K", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", 1 },
	{ "RSA-OAEP", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d", 1 },
	{ "ES256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1 },
	{ "RS256", "a", "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", 1000000 },
};

int main(void)
{
	uint8_t out[DIGEST_MAX];
	size_t i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		const struct alg_info *a = alg_by_name(vec[i].alg);
		size_t wlen, mlen = strlen(vec[i].msg);
		uint8_t *want = unhex(vec[i].hex, &wlen);
		struct digest *d = digest_new(a);
		long r;
		int n;

		ok(d != NULL, "digest_new(%s)", vec[i].alg);
		if (d == NULL) {
			free(want);
			continue;
		}
		/* Feed it in two pieces per repetition to exercise streaming. */
		for (r = 0; r < vec[i].repeat; r++) {
			digest_update(d, vec[i].msg, mlen / 2);
			digest_update(d, vec[i].msg + mlen / 2, mlen - mlen / 2);
		}
		n = digest_final(d, out);
		is_mem(out, n > 0 ? (size_t)n : 0, want, wlen,
		       "%s(\"%.8s\"%s) streaming", a->md, vec[i].msg,
		       vec[i].repeat > 1 ? " x 1e6" : "");
		is_int(digest_reset(d), 0, "digest_reset");
		digest_update(d, "junk", 4);
		digest_reset(d);
		for (r = 0; r < vec[i].repeat; r++)
			digest_update(d, vec[i].msg, mlen);
		n = digest_final(d, out);
		is_mem(out, n > 0 ? (size_t)n : 0, want, wlen,
		       "%s again after reset discards earlier input", a->md);
		digest_free(d);
		if (vec[i].repeat == 1) {
			n = digest_oneshot(a, vec[i].msg, mlen, out);
			is_mem(out, n > 0 ? (size_t)n : 0, want, wlen,
			       "digest_oneshot %s", a->md);
		}
		free(want);
	}
	ok(digest_new(alg_by_name("A256GCM")) == NULL,
	   "digest_new refuses an algorithm without a hash");
	ok(digest_new(NULL) == NULL, "digest_new(NULL) gives NULL");
	is_int(digest_oneshot(alg_by_name("RSA1_5"), "abc", 3, out), -EINVAL,
	       "digest_oneshot refuses an algorithm without a hash");
	queue_clean("no OpenSSL errors left queued");
	digest_free(NULL);
	return done_testing();
}
