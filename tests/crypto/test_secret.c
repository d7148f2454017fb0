/* test_secret.c - struct secret and the wipe helpers. */
#include "secret.h"
#include "tap.h"

int main(void)
{
	static const uint8_t data[5] = { 1, 2, 3, 4, 5 };
	uint8_t buf[16], zero[16] = { 0 };
	struct secret *s;

	s = secret_new(data, sizeof(data));
	ok(s != NULL, "secret_new copies data");
	is_mem(secret_bytes(s), secret_len(s), data, sizeof(data),
	       "the bytes and length are the input's");
	ok(secret_bytes(s) != data, "the secret owns a copy");
	secret_truncate(s, 2);
	is_mem(secret_bytes(s), secret_len(s), data, 2, "truncate shortens");
	secret_truncate(s, 10);
	is_int(secret_len(s), 2, "truncate never grows");
	secret_free(s);

	s = secret_new(NULL, 16);
	ok(s != NULL, "secret_new(NULL, 16) allocates");
	is_mem(secret_bytes(s), secret_len(s), zero, 16, "and zero-fills");
	secret_free(s);

	s = secret_new(NULL, 0);
	ok(s != NULL && secret_len(s) == 0 && secret_bytes(s) != NULL,
	   "an empty secret is a valid object");
	secret_free(s);
	secret_free(NULL);
	ok(1, "secret_free(NULL) is a no-op");

	memset(buf, 0xa5, sizeof(buf));
	secret_wipe(buf, sizeof(buf));
	is_mem(buf, sizeof(buf), zero, sizeof(zero), "secret_wipe zeroes");
	memset(buf, 0xa5, sizeof(buf));
	secret_wipe(buf, 8);
	ok(memcmp(buf, zero, 8) == 0 && buf[8] == 0xa5,
	   "secret_wipe stops at len");
	secret_wipe(NULL, 4);
	secret_wipe_free(NULL, 4);
	secret_wipe_free(malloc(8), 8);
	ok(1, "secret_wipe(NULL) and secret_wipe_free() are safe");
	return done_testing();
}
