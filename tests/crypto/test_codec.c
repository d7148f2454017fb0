/*
 * test_codec.c - base64url, base64 and hex.
 *
 * Judges: the RFC 4648 §10 vectors, and OpenSSL's EVP_EncodeBlock() for
 * random data.
 */
#include <ctype.h>
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "codec.h"
#include "tap.h"

/* RFC 4648 §10. */
static const struct {
	const char *in, *b64, *b16;
} rfc4648[] = {
	{ "", "", "" },
	{ "f", "Zg==", "66" },
	{ "fo", "Zm8=", "666F" },
	{ "foo", "Zm9v", "666F6F" },
	{ "foob", "Zm9vYg==", "666F6F62" },
	{ "fooba", "Zm9vYmE=", "666F6F6261" },
	{ "foobar", "Zm9vYmFy", "666F6F626172" },
};

/* The expected encoding without padding (what base64url emits). */
static void strip_pad(const char *in, char *out)
{
	while (*in && *in != '=')
		*out++ = *in++;
	*out = '\0';
}

static void test_rfc4648(void)
{
	size_t i;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const char *in = rfc4648[i].in;
		size_t len = strlen(in), olen = 99;
		char nopad[16], *e;
		uint8_t *d = NULL;
		bool good;

		e = b64_encode((const uint8_t *)in, len);
		ok(e && strcmp(e, rfc4648[i].b64) == 0,
		   "BASE64(\"%s\") = \"%s\"", in, rfc4648[i].b64);
		free(e);
		is_int(b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), 0,
				  &d, &olen), 0, "decode \"%s\"", rfc4648[i].b64);
		is_mem(d, olen, in, len, "decodes to \"%s\"", in);
		ok(d != NULL, "the output is never NULL on success");
		free(d);

		strip_pad(rfc4648[i].b64, nopad);
		e = b64url_encode((const uint8_t *)in, len);
		ok(e && strcmp(e, nopad) == 0,
		   "BASE64URL(\"%s\") = \"%s\" (no padding)", in, nopad);
		free(e);
		d = NULL;
		is_int(b64url_decode(nopad, strlen(nopad), &d, &olen), 0,
		       "b64url decodes \"%s\"", nopad);
		is_mem(d, olen, in, len, "to \"%s\"", in);
		free(d);
		d = NULL;
		is_int(b64url_decode(rfc4648[i].b64, strlen(rfc4648[i].b64),
				     &d, &olen), 0,
		       "b64url accepts padded \"%s\"", rfc4648[i].b64);
		is_mem(d, olen, in, len, "to \"%s\"", in);
		free(d);

		e = hex_encode((const uint8_t *)in, len);
		good = e != NULL && strcasecmp(e, rfc4648[i].b16) == 0 &&
		       strspn(e, "0123456789abcdef") == strlen(e);
		free(e);
		ok(good, "BASE16 of RFC 4648 vector %zu is lower-case hex", i);
		d = NULL;
		is_int(hex_decode(rfc4648[i].b16, strlen(rfc4648[i].b16), 0,
				  &d, &olen), 0, "hex decodes upper-case \"%s\"",
		       rfc4648[i].b16);
		is_mem(d, olen, in, len, "to \"%s\"", in);
		free(d);
	}
}

static void test_alphabets(void)
{
	static const uint8_t fbff[] = { 0xfb, 0xff };
	uint8_t *d = NULL;
	size_t n = 0;
	char *e;

	e = b64url_encode(fbff, 2);
	ok(e && strcmp(e, "-_8") == 0, "base64url uses - and _");
	free(e);
	e = b64_encode(fbff, 2);
	ok(e && strcmp(e, "+/8=") == 0, "base64 uses + and /");
	free(e);
	is_int(b64url_decode("-_8", 3, &d, &n), 0, "b64url decodes -_");
	is_mem(d, n, fbff, 2, "to fb ff");
	free(d);
	d = (uint8_t *)1;
	is_int(b64url_decode("+/8", 3, &d, &n), -EINVAL,
	       "b64url rejects the standard alphabet");
	ok(d == NULL, "and leaves *out NULL");
	is_int(b64_decode("-_8=", 4, 0, &d, &n), -EINVAL,
	       "base64 rejects the url alphabet");
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"Z", "Zg=", "Zg===", "Zm8==", "Zh", "Zm9=", "Zg==Zg==",
		"Zm9v!", "Zm 9v", "=", "====", "Zm9vY", "Zg\0A",
	};
	static const size_t badlen[] = { 1, 3, 5, 5, 2, 4, 8, 5, 5, 1, 4, 5, 4 };
	uint8_t *d;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = (uint8_t *)1;
		is_int(b64url_decode(bad[i], badlen[i], &d, &n), -EINVAL,
		       "b64url rejects \"%.*s\"", (int)badlen[i], bad[i]);
		ok(d == NULL, "*out is NULL after the failure");
		is_int(b64_decode(bad[i], badlen[i], CODEC_IGNORE_SPACE, &d, &n),
		       strcmp(bad[i], "Zm 9v") == 0 ? 0 : -EINVAL,
		       "base64 (ignoring space) on \"%.*s\"", (int)badlen[i],
		       bad[i]);
		if (d != NULL && d != (uint8_t *)1)
			free(d);
	}
	is_int(b64_decode("Zh==", 4, 0, &d, &n), -EINVAL,
	       "non-zero bits after the last byte are rejected (RFC 4648 §3.5)");
	is_int(b64_decode("Zm9=", 4, 0, &d, &n), -EINVAL,
	       "non-zero bits in a 2-byte tail are rejected");

	is_int(hex_decode("abc", 3, 0, &d, &n), -EINVAL, "odd hex is rejected");
	is_int(hex_decode("zz", 2, 0, &d, &n), -EINVAL, "non-hex is rejected");
	is_int(hex_decode("0x00", 4, 0, &d, &n), -EINVAL, "a 0x prefix is rejected");
	is_int(hex_decode("de ad", 5, 0, &d, &n), -EINVAL,
	       "space in hex without CODEC_IGNORE_SPACE is rejected");
	is_int(hex_decode("a b c", 5, CODEC_IGNORE_SPACE, &d, &n), -EINVAL,
	       "odd hex with spaces is still odd");
}

static void test_space(void)
{
	static const char hexin[] = " de ad\n\tbe\r\nEF ";
	static const uint8_t deadbeef[] = { 0xde, 0xad, 0xbe, 0xef };
	static const char b64in[] = "Zm9v\r\nYmFy\n";
	uint8_t *d = NULL;
	size_t n = 0;

	is_int(hex_decode(hexin, strlen(hexin), CODEC_IGNORE_SPACE, &d, &n), 0,
	       "hex with spaces, tabs and newlines decodes with the flag");
	is_mem(d, n, deadbeef, 4, "to de ad be ef");
	free(d);
	d = NULL;
	is_int(b64_decode(b64in, strlen(b64in), CODEC_IGNORE_SPACE, &d, &n), 0,
	       "base64 with CRLF decodes with the flag");
	is_mem(d, n, "foobar", 6, "to foobar");
	free(d);
	is_int(b64_decode(b64in, strlen(b64in), 0, &d, &n), -EINVAL,
	       "and is rejected without it");
	d = NULL;
	is_int(b64url_decode_text(" Zm9v Yg \n", 10, CODEC_IGNORE_SPACE, &d, &n),
	       0, "b64url_decode_text skips space");
	is_mem(d, n, "foob", 4, "to foob");
	free(d);
	d = NULL;
	is_int(b64_decode("Zg= =\n", 6, CODEC_IGNORE_SPACE, &d, &n), 0,
	       "space inside the padding is skipped too");
	is_mem(d, n, "f", 1, "to f");
	free(d);
	is_int(b64url_decode(" Zg", 3, &d, &n), -EINVAL,
	       "b64url_decode never skips space");
}

/* Random data: round trips, and base64 against OpenSSL's encoder. */
static void test_random(void)
{
	uint8_t in[300], *d;
	char ossl[420];
	int bad_rt = 0, bad_ossl = 0, i;

	for (i = 0; i < 400; i++) {
		size_t len = (size_t)i % sizeof(in), n = 0;
		char *e;

		RAND_bytes(in, (int)sizeof(in));
		e = b64_encode(in, len);
		EVP_EncodeBlock((unsigned char *)ossl, in, (int)len);
		if (e == NULL || strcmp(e, ossl) != 0)
			bad_ossl++;
		d = NULL;
		if (e == NULL || b64_decode(e, strlen(e), 0, &d, &n) != 0 ||
		    n != len || memcmp(d, in, len) != 0)
			bad_rt++;
		free(d);
		free(e);

		e = b64url_encode(in, len);
		d = NULL;
		if (e == NULL || strchr(e, '=') || strchr(e, '+') ||
		    strchr(e, '/') || b64url_decode(e, strlen(e), &d, &n) != 0 ||
		    n != len || memcmp(d, in, len) != 0)
			bad_rt++;
		free(d);
		free(e);

		e = hex_encode(in, len);
		d = NULL;
		if (e == NULL || strlen(e) != 2 * len ||
		    hex_decode(e, strlen(e), 0, &d, &n) != 0 || n != len ||
		    memcmp(d, in, len) != 0)
			bad_rt++;
		free(d);
		free(e);
	}
	is_int(bad_ossl, 0, "base64 of 400 random inputs equals EVP_EncodeBlock");
	is_int(bad_rt, 0, "400 random inputs round-trip through all three codecs");
}

/* hex_digit_value() against the C library's isxdigit() and strtol(). */
static void test_hex_digit(void)
{
	int c, bad = 0;

	for (c = -1; c < 256; c++) {
		char s[2] = { (char)c, 0 };
		int want = c > 0 && isxdigit(c) ? (int)strtol(s, NULL, 16) : -1;

		if (hex_digit_value(c) != want)
			bad++;
	}
	is_int(bad, 0, "hex_digit_value agrees with isxdigit/strtol on -1..255");
}

int main(void)
{
	test_rfc4648();
	test_alphabets();
	test_malformed();
	test_space();
	test_random();
	test_hex_digit();
	return done_testing();
}
