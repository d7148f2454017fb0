/* Unit tests: the data key of a sealed blob (fs/sealkey.c) without a
 * service: kid parsing, RSA wrapping with the cached public key and no
 * HSM call (the env has no client: a call would crash), and the refusals
 * that come before any call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "alg.h"
#include "pkop.h"
#include "sealkey.h"
#include "tap.h"

#define VER "0123456789abcdef0123456789abcdef"
#define KID "https://h.managedhsm.azure.net/keys/app-1/" VER

static void test_kid_split(void)
{
	char name[KEY_NAME_MAX + 1], version[KEY_VERSION_LEN + 1];
	static const char *bad[] = {
		"https://h/keys/app-1", "https://h/keys//" VER,
		"https://h/keys/app_1/" VER, "https://h/keys/app-1/" VER "/x",
		"https://h/keys/app-1/0123", "https://h/secrets/app-1/" VER,
		"https://h/keys/app-1/" VER "0",
	};
	size_t i;

	is_int(sealkey_kid_split(KID, name, version), 0, "a versioned kid splits");
	ok(strcmp(name, "app-1") == 0 && strcmp(version, VER) == 0,
	   "into name and version");
	is_int(sealkey_kid_split("https://h/keys/x/keys/k/" VER, name, version),
	       0, "the last /keys/ counts");
	ok(strcmp(name, "k") == 0, "name after the last /keys/");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(sealkey_kid_split(bad[i], name, version), -EBADMSG,
		       "invalid kid %s", bad[i]);
}

static void fake_kver(struct kver *kv, enum key_type kty, unsigned bits,
		      EVP_PKEY *pk)
{
	memset(kv, 0, sizeof(*kv));
	kv->shape.kty = kty;
	kv->shape.bits = bits;
	kv->pk = pk;
	kv->key.version = (char *)VER;
	kv->key.kid = (char *)KID;
}

static void test_rsa_new(EVP_PKEY *rsa)
{
	struct opx_env env = {0};	/* no client: a call would crash */
	struct hsm_call call = {0};
	struct seal_header h, p;
	struct fs_fail f = {0};
	struct secret *plain = NULL;
	struct kver kv;
	uint8_t dek[SEAL_KEY_LEN], zero[SEAL_KEY_LEN] = {0};

	fake_kver(&kv, KEY_RSA, 2048, rsa);
	is_int(sealkey_new(&env, &call, "app-1", &kv, 16, dek, &h, &f), 0,
	       "RSA seals with no HSM call");
	ok(memcmp(dek, zero, sizeof(dek)) != 0, "a data key was drawn");
	is_int(h.wrap, SEAL_WRAP_RSA_OAEP_256, "wrapped with RSA-OAEP-256");
	is_int(h.chunk_shift, 16, "chunk shift as asked");
	ok(strcmp(h.kid, KID) == 0, "the header names the versioned kid");
	is_int(seal_header_parse(h.raw, h.raw_len, &p), 0, "header encoded");
	is_int(pk_decrypt(rsa, alg_by_name("RSA-OAEP-256"), h.wrapped,
			  h.wrapped_len, &plain), 0, "the private key unwraps");
	is_mem(secret_bytes(plain), secret_len(plain), dek, sizeof(dek),
	       "to the data key");
	secret_free(plain);
}

static void test_refusals(void)
{
	struct opx_env env = {0};
	struct hsm_call call = {0};
	struct seal_header h;
	struct fs_fail f = {0};
	struct kver kv;
	uint8_t dek[SEAL_KEY_LEN];

	fake_kver(&kv, KEY_EC, 256, NULL);
	is_int(sealkey_new(&env, &call, "app-1", &kv, 16, dek, &h, &f),
	       -EOPNOTSUPP, "an EC key does not seal");
	fake_kver(&kv, KEY_OCT, 512, NULL);
	is_int(sealkey_new(&env, &call, "app-1", &kv, 16, dek, &h, &f),
	       -EOPNOTSUPP, "nor an oct key of no AES size");

	memset(&h, 0, sizeof(h));
	h.wrap = SEAL_WRAP_A256KW;
	strcpy(h.kid, "https://h/keys/app-1/nothex");
	is_int(sealkey_open(&env, &call, NULL, &h, dek, &f), -EBADMSG,
	       "a kid with no valid version is EBADMSG, no call");
	ok(f.message[0] != '\0', "with a message");
	strcpy(h.kid, KID);
	is_int(sealkey_open(&env, &call, "other", &h, dek, &f), -EBADMSG,
	       "a blob of another key is EBADMSG, no call");
	ok(strstr(f.message, "another key") != NULL, "saying so: %s",
	   f.message);
	h.wrap = 9;
	is_int(sealkey_open(&env, &call, NULL, &h, dek, &f), -EBADMSG,
	       "an unknown wrap algorithm is EBADMSG");
}

int main(void)
{
	EVP_PKEY *rsa = EVP_RSA_gen(2048);

	test_kid_split();
	test_rsa_new(rsa);
	test_refusals();
	EVP_PKEY_free(rsa);
	return done_testing();
}
