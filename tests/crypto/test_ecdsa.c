/*
 * test_ecdsa.c - raw r||s <-> DER.
 *
 * Judges: hand-assembled DER from X.690 rules, and OpenSSL's own
 * d2i_ECDSA_SIG() / i2d_ECDSA_SIG() for random values.
 */
#include <errno.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "ecdsa.h"
#include "tap.h"

static void test_known(void)
{
	/* r = 1, s = 0x80 00..00 (high bit: needs a 0x00 sign byte). */
	uint8_t raw[64] = { 0 }, *der = NULL, *back = NULL;
	size_t dlen = 0, blen = 0, wlen;
	uint8_t *want;

	raw[31] = 1;
	raw[32] = 0x80;
	want = unhex("3026" "020101" "022100"
		     "8000000000000000000000000000000000000000000000000000000000000000",
		     &wlen);
	is_int(ecdsa_raw_to_der(raw, 64, &der, &dlen), 0, "raw_to_der r=1, s=2^255");
	is_mem(der, dlen, want, wlen, "minimal INTEGERs, sign byte on s");
	is_int(ecdsa_der_to_raw(der, dlen, 32, &back, &blen), 0, "and back");
	is_mem(back, blen, raw, 64, "restores the zero-padded halves");
	is_int(ecdsa_der_prefix_len(der, dlen), (long)wlen,
	       "prefix length of a bare signature is its length");
	free(der);
	free(back);
	free(want);

	/* r = s = 0: one zero byte each. */
	memset(raw, 0, sizeof(raw));
	want = unhex("3006020100020100", &wlen);
	is_int(ecdsa_raw_to_der(raw, 64, &der, &dlen), 0, "raw_to_der of zeros");
	is_mem(der, dlen, want, wlen, "encodes 0 as 02 01 00");
	free(der);
	free(want);
}

/* Compare our DER with OpenSSL's for random P-521-sized values (whose
 * SEQUENCE needs the long length form) and P-256-sized ones. */
static void test_against_openssl(size_t coord, int rounds)
{
	int bad_enc = 0, bad_dec = 0, i;

	for (i = 0; i < rounds; i++) {
		uint8_t raw[132], *der = NULL, *back = NULL, *od = NULL;
		const uint8_t *p;
		size_t dlen = 0, blen = 0;
		ECDSA_SIG *sig;
		BIGNUM *r, *s;
		int olen;

		RAND_bytes(raw, (int)(2 * coord));
		if (i % 4 == 1)
			memset(raw, 0, 3);		/* leading zeros in r */
		if (i % 4 == 2)
			raw[coord] |= 0x80;		/* s needs a sign byte */
		if (coord == 66) {		/* stay below 2^521 */
			raw[0] &= 1;
			raw[66] &= 1;
		}
		if (ecdsa_raw_to_der(raw, 2 * coord, &der, &dlen) != 0) {
			bad_enc++;
			continue;
		}
		p = der;
		sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
		r = BN_bin2bn(raw, (int)coord, NULL);
		s = BN_bin2bn(raw + coord, (int)coord, NULL);
		if (sig == NULL || p != der + dlen ||
		    BN_cmp(ECDSA_SIG_get0_r(sig), r) != 0 ||
		    BN_cmp(ECDSA_SIG_get0_s(sig), s) != 0)
			bad_enc++;
		/* OpenSSL's encoding must parse back to the same halves. */
		olen = sig ? i2d_ECDSA_SIG(sig, &od) : -1;
		if (olen <= 0 ||
		    ecdsa_der_to_raw(od, (size_t)olen, coord, &back, &blen) != 0 ||
		    blen != 2 * coord || memcmp(back, raw, blen) != 0 ||
		    (size_t)olen != dlen || memcmp(od, der, dlen) != 0)
			bad_dec++;
		OPENSSL_free(od);
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		free(der);
		free(back);
	}
	is_int(bad_enc, 0, "%d random %zu-byte pairs: our DER parses in OpenSSL to "
	       "the same r and s", rounds, coord);
	is_int(bad_dec, 0, "%d random %zu-byte pairs: OpenSSL's DER equals ours and "
	       "parses back", rounds, coord);
}

static void test_malformed(void)
{
	static const struct {
		const char *hex, *why;
	} bad[] = {
		{ "3006020101020101" "00", "a trailing byte after the SEQUENCE" },
		{ "3106020101020101", "a SET instead of a SEQUENCE" },
		{ "3006020101030101", "a BIT STRING instead of an INTEGER" },
		{ "30060201ff020101", "a negative INTEGER" },
		{ "300702020001020101", "a non-minimal INTEGER (leading 00)" },
		{ "3005020101020100" , "a SEQUENCE length too short" },
		{ "3007020101020101", "a SEQUENCE length too long (truncated)" },
		{ "308106020101020101", "a long-form length for a short SEQUENCE" },
		{ "30800201010201010000", "an indefinite length" },
		{ "3005020101020001", "a zero-length INTEGER" },
		{ "30090201010201010201 01", "three INTEGERs" },
		{ "3003020101", "one INTEGER" },
		{ "", "empty input" },
		{ "30", "a lone tag" },
	};
	uint8_t *raw = NULL, *der, big[40];
	size_t i, n, rlen;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char clean[64];
		size_t j, k = 0;

		for (j = 0; bad[i].hex[j]; j++)
			if (bad[i].hex[j] != ' ')
				clean[k++] = bad[i].hex[j];
		clean[k] = '\0';
		der = unhex(clean, &n);
		raw = (uint8_t *)1;
		is_int(ecdsa_der_to_raw(der, n, 32, &raw, &rlen), -EINVAL,
		       "der_to_raw rejects %s", bad[i].why);
		ok(raw == (uint8_t *)1, "and writes no output");
		free(der);
	}

	/* An INTEGER of 33 significant bytes does not fit P-256. */
	memset(big, 0x11, sizeof(big));
	/* 30 26 | 02 21 01 11*32 | 02 01 01 */
	n = 2 + 2 + 33 + 3;
	der = malloc(n);
	memcpy(der, "\x30\x26\x02\x21\x01", 5);
	memset(der + 5, 0x11, 32);
	memcpy(der + 37, "\x02\x01\x01", 3);
	is_int(ecdsa_der_to_raw(der, n, 32, &raw, &rlen), -EINVAL,
	       "der_to_raw rejects an r wider than the curve");
	raw = NULL;
	is_int(ecdsa_der_to_raw(der, n, 33, &raw, &rlen), 0,
	       "the same DER fits a 33-byte coordinate");
	free(raw);
	free(der);

	is_int(ecdsa_raw_to_der(big, 33, &der, &n), -EINVAL,
	       "raw_to_der rejects an odd length");
	is_int(ecdsa_raw_to_der(big, 0, &der, &n), -EINVAL,
	       "raw_to_der rejects empty input");
}

static void test_prefix(void)
{
	uint8_t buf[200], *der = NULL, raw[132];
	size_t dlen = 0;

	memset(raw, 0xff, sizeof(raw));
	raw[0] = raw[66] = 1;
	ecdsa_raw_to_der(raw, 132, &der, &dlen);
	ok(der && der[1] == 0x81, "a P-521 signature uses the 0x81 length form");
	memcpy(buf, der, dlen);
	memcpy(buf + dlen, "message", 7);
	is_int(ecdsa_der_prefix_len(buf, dlen + 7), (long)dlen,
	       "signature || message: the prefix is the signature");
	is_int(ecdsa_der_prefix_len(buf, 3), (long)dlen,
	       "the header alone is enough to tell the length");
	is_int(ecdsa_der_prefix_len(buf, 2), -EAGAIN,
	       "a long-form header cut short needs more bytes");
	is_int(ecdsa_der_prefix_len(buf, 1), -EAGAIN, "one byte needs more");
	is_int(ecdsa_der_prefix_len(buf, 0), -EAGAIN, "no bytes need more");
	free(der);
	is_int(ecdsa_der_prefix_len((const uint8_t *)"\x02\x01\x01", 3), -EINVAL,
	       "not a SEQUENCE: -EINVAL");
	is_int(ecdsa_der_prefix_len((const uint8_t *)"\x30\x80\x02", 3), -EINVAL,
	       "an indefinite length: -EINVAL");
	is_int(ecdsa_der_prefix_len((const uint8_t *)"\x30\x84\x00\x00\x00\x10", 6),
	       -EINVAL, "a four-byte length: -EINVAL");
	is_int(ecdsa_der_prefix_len((const uint8_t *)"\x30\x06", 2), 8,
	       "a short SEQUENCE header");
}

int main(void)
{
	test_known();
	test_against_openssl(32, 300);
	test_against_openssl(48, 100);
	test_against_openssl(66, 300);
	test_malformed();
	test_prefix();
	return done_testing();
}
