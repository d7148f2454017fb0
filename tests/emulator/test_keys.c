/*
 * test_keys.c - unit tests of the emulator's key side through keys_handle():
 * routing, the service's shapes and errors, paging, crypto results checked
 * with OpenSSL directly, backup/restore, rotation, roles and persistence.
 * TAP output.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "codec.h"
#include "ecdsa.h"
#include "demo_i.h"
#include "emu.h"
#include "keys_i.h"
#include "keys_route_i.h"
#include "pkey.h"
#include "store_i.h"
#include "tap.h"

#define BASE "https://127.0.0.1:8443"

static struct keystore *ks;
static enum emu_role role = ROLE_OFFICER;
static _Thread_local int status;

/* Call keys_handle() with "path?query"; returns the parsed body (owned by
 * the caller, NULL when empty) and sets status. */
static struct json_object *call(const char *method, const char *url,
				const char *body)
{
	char path[1024], skip[512] = "";
	struct emu_request req = { 0 };
	struct emu_response resp = { 0 };
	struct json_object *o = NULL;
	char *q;

	snprintf(path, sizeof(path), "%s", url);
	req.maxresults = -1;
	q = strchr(path, '?');
	if (q != NULL) {
		char *tok;

		*q++ = '\0';
		char *save = NULL;

		for (tok = strtok_r(q, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
			if (strncmp(tok, "maxresults=", 11) == 0)
				req.maxresults = atoi(tok + 11);
			else if (strncmp(tok, "$skiptoken=", 11) == 0)
				snprintf(skip, sizeof(skip), "%s", tok + 11);
		}
		if (skip[0] != '\0')
			req.skiptoken = skip;
	}
	req.method = method;
	req.path = path;
	req.api_version = "7.4";
	req.body = body ? body : "";
	req.body_len = strlen(req.body);
	req.base_url = BASE;
	req.role = role;
	req.principal = "test";
	keys_handle(ks, &req, &resp);
	status = resp.status;
	if (resp.body != NULL) {
		o = json_tokener_parse(resp.body);
		if (o == NULL)
			printf("# unparsable body: %s\n", resp.body);
	}
	free(resp.body);
	return o;
}

/* Member by dotted path; NULL if absent. */
static struct json_object *jp(struct json_object *o, const char *path)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, tok, &o))
			return NULL;
	return o;
}

static const char *js(struct json_object *o, const char *path)
{
	struct json_object *m = jp(o, path);

	return m && json_object_is_type(m, json_type_string) ?
	       json_object_get_string(m) : "";
}

static int64_t ji(struct json_object *o, const char *path)
{
	struct json_object *m = jp(o, path);

	return m ? json_object_get_int64(m) : -1;
}

static struct bytes b64(struct json_object *o, const char *path)
{
	struct bytes b = { 0 };
	const char *s = js(o, path);

	if (b64url_decode(s, strlen(s), &b.p, &b.len) != 0)
		b.len = 0;
	return b;
}

static size_t b64len(struct json_object *o, const char *path)
{
	struct bytes b = b64(o, path);
	size_t n = b.len;

	bytes_free(&b);
	return n;
}

static bool is_hex32(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return i == 32;
}

static const char *kid_version(const char *kid)
{
	const char *p = strrchr(kid, '/');

	return p ? p + 1 : "";
}

static bool ops_equal(struct json_object *o, const char *const *want, size_t n)
{
	struct json_object *a = jp(o, "key.key_ops");
	size_t len = a ? json_object_array_length(a) : 0;

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < len; j++)
			if (strcmp(json_object_get_string(
					   json_object_array_get_idx(a, j)), want[i]) == 0)
				found = true;
		if (!found)
			return false;
	}
	return true;
}

static void test_routes(void)
{
	static const struct { const char *m, *p, *op; } t[] = {
		{ "POST", "/keys/k1/create", "create" },
		{ "PUT", "/keys/k1", "import" },
		{ "GET", "/keys/k1", "get" },
		{ "GET", "/keys/k1/", "get" },
		{ "GET", "/keys/k1/0123456789abcdef0123456789abcdef", "get" },
		{ "PATCH", "/keys/k1/", "update" },
		{ "PATCH", "/keys/k1/0123456789abcdef0123456789abcdef", "update" },
		{ "DELETE", "/keys/k1", "delete" },
		{ "GET", "/keys", "list" },
		{ "GET", "/keys/k1/versions", "list_versions" },
		{ "GET", "/deletedkeys", "list_deleted" },
		{ "GET", "/deletedkeys/k1", "get_deleted" },
		{ "POST", "/deletedkeys/k1/recover", "recover" },
		{ "DELETE", "/deletedkeys/k1", "purge" },
		{ "POST", "/keys/k1/backup", "backup" },
		{ "POST", "/keys/restore", "restore" },
		{ "POST", "/keys/k1/rotate", "rotate" },
		{ "GET", "/keys/k1/rotationpolicy", "get_rotation_policy" },
		{ "PUT", "/keys/k1/rotationpolicy", "set_rotation_policy" },
		{ "POST", "/keys/k1/v/sign", "sign" },
		{ "POST", "/keys/k1//verify", "verify" },
		{ "POST", "/keys/k1/encrypt", "encrypt" },
		{ "POST", "/keys/k1/v/decrypt", "decrypt" },
		{ "POST", "/keys/k1/v/wrapKey", "wrapkey" },
		{ "POST", "/keys/k1/v/unwrapkey", "unwrapkey" },
		{ "POST", "/keys/k1/UNWRAPKEY", "unwrapkey" },
		{ "POST", "/rng", "rng" },
		{ "POST", "//rng", "rng" },
		{ "GET", "/secrets/x", "unknown" },
		{ "GET", "/keys/a/b/c/d/e", "unknown" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *op = keys_route_op(t[i].m, t[i].p);

		ok(strcmp(op, t[i].op) == 0, "route %s %s -> %s (got %s)",
		   t[i].m, t[i].p, t[i].op, op);
	}
}

static void check_common_attrs(struct json_object *o, const char *what)
{
	ok(ji(o, "attributes.recoverableDays") == 7 &&
	   strcmp(js(o, "attributes.recoveryLevel"),
		  "CustomizedRecoverable+Purgeable") == 0 &&
	   jp(o, "attributes.exportable") &&
	   !json_object_get_boolean(jp(o, "attributes.exportable")) &&
	   json_object_get_boolean(jp(o, "attributes.enabled")) &&
	   ji(o, "attributes.created") > 1700000000 &&
	   !jp(o, "attributes.exp") && !jp(o, "attributes.nbf"),
	   "%s: attributes as the service", what);
}

static void test_create(void)
{
	static const char *const rsa_ops[] = { "encrypt", "decrypt", "sign",
		"verify", "wrapKey", "unwrapKey" };
	static const char *const ec_ops[] = { "sign", "verify", "deriveKey" };
	static const char *const oct_ops[] = { "deriveKey", "wrapKey", "verify",
		"sign", "unwrapKey", "encrypt", "decrypt" };
	struct json_object *o;
	struct bytes n;

	o = call("POST", "/keys/rsa1/create", "{\"kty\":\"RSA\"}");
	ok(status == 200 && strcmp(js(o, "key.kty"), "RSA-HSM") == 0,
	   "create kty RSA -> RSA-HSM");
	n = b64(o, "key.n");
	ok(n.len == 256 && strcmp(js(o, "key.e"), "AQAB") == 0,
	   "RSA default 2048 bits, e AQAB");
	bytes_free(&n);
	ok(ops_equal(o, rsa_ops, 6), "RSA default key_ops");
	ok(strncmp(js(o, "key.kid"), BASE "/keys/rsa1/", strlen(BASE "/keys/rsa1/")) == 0 &&
	   is_hex32(kid_version(js(o, "key.kid"))), "kid with 32-hex version");
	check_common_attrs(o, "RSA");
	ok(!jp(o, "tags") && !jp(o, "deletedDate"), "absent members omitted");
	json_object_put(o);

	o = call("POST", "/keys/rsa3072e/create",
		 "{\"kty\":\"RSA-HSM\",\"key_size\":3072,\"public_exponent\":17}");
	n = b64(o, "key.n");
	ok(status == 200 && n.len == 384 && strcmp(js(o, "key.e"), "EQ") == 0,
	   "RSA 3072 with public_exponent 17");
	bytes_free(&n);
	json_object_put(o);

	o = call("POST", "/keys/ec1/create", "{\"kty\":\"EC\"}");
	ok(status == 200 && strcmp(js(o, "key.kty"), "EC-HSM") == 0 &&
	   strcmp(js(o, "key.crv"), "P-256") == 0, "EC defaults to P-256, EC-HSM");
	ok(ops_equal(o, ec_ops, 3), "EC default key_ops");
	json_object_put(o);

	o = call("POST", "/keys/ec521/create", "{\"kty\":\"EC-HSM\",\"crv\":\"P-521\"}");
	n = b64(o, "key.x");
	ok(status == 200 && n.len == 66, "P-521 x is 66 bytes");
	bytes_free(&n);
	json_object_put(o);

	o = call("POST", "/keys/oct1/create", "{\"kty\":\"oct\",\"key_size\":128}");
	ok(status == 200 && strcmp(js(o, "key.kty"), "oct-HSM") == 0 &&
	   ji(o, "attributes.key_size") == 128 && !jp(o, "key.k"),
	   "oct -> oct-HSM, key_size in attributes, no k");
	ok(ops_equal(o, oct_ops, 7), "oct default key_ops");
	json_object_put(o);

	o = call("POST", "/keys/bad_name/create", "{\"kty\":\"EC\"}");
	ok(status == 400 && strcmp(js(o, "error.code"), "BadParameter") == 0,
	   "invalid name -> 400 BadParameter");
	json_object_put(o);
	o = call("POST", "/keys/k/create", "{\"kty\":\"DSA\"}");
	ok(status == 400, "unknown kty -> 400");
	json_object_put(o);
	o = call("POST", "/keys/k/create", "{\"kty\":\"RSA\",\"key_size\":1024}");
	ok(status == 400, "RSA 1024 -> 400");
	json_object_put(o);
	o = call("POST", "/keys/k/create", "{\"kty\":\"EC\",\"crv\":\"P-192\"}");
	ok(status == 400, "unknown curve -> 400");
	json_object_put(o);
	o = call("POST", "/keys/k/create", "not json");
	ok(status == 400, "malformed body -> 400");
	json_object_put(o);
	o = call("POST", "/keys/k/create",
		 "{\"kty\":\"EC\",\"tags\":{\"1\":\"a\",\"2\":\"a\",\"3\":\"a\",\"4\":\"a\",\"5\":\"a\",\"6\":\"a\",\"7\":\"a\",\"8\":\"a\",\"9\":\"a\",\"10\":\"a\",\"11\":\"a\",\"12\":\"a\",\"13\":\"a\",\"14\":\"a\",\"15\":\"a\",\"16\":\"a\"}}");
	ok(status == 400, "16 tags -> 400");
	json_object_put(o);
}

static void test_get_update(void)
{
	struct json_object *o, *g;
	char url[256];
	const char *ver;

	o = call("POST", "/keys/Mixed-Case/create",
		 "{\"kty\":\"EC\",\"key_ops\":[\"sign\"],\"tags\":{\"b\":\"2\",\"a\":\"1\"}}");
	ok(status == 200 && json_object_array_length(jp(o, "key.key_ops")) == 1,
	   "create with key_ops keeps them");
	ver = kid_version(js(o, "key.kid"));
	snprintf(url, sizeof(url), "/keys/mixed-case/%s", ver);
	g = call("GET", url, NULL);
	ok(status == 200 && strcmp(js(g, "key.kid"), js(o, "key.kid")) == 0,
	   "get by version, name case-insensitive");
	ok(strcmp(js(g, "tags.a"), "1") == 0 && strcmp(js(g, "tags.b"), "2") == 0,
	   "tags returned");
	json_object_put(g);
	g = call("GET", "/keys/MIXED-CASE/", NULL);
	ok(status == 200 && strcmp(js(g, "key.kid"), js(o, "key.kid")) == 0,
	   "get latest with trailing slash");
	json_object_put(g);
	g = call("GET", "/keys/mixed-case", NULL);
	ok(status == 200, "get latest without slash");
	json_object_put(g);
	g = call("PATCH", "/keys/mixed-case/",
		 "{\"key_ops\":[\"verify\",\"sign\"],\"attributes\":{\"exp\":2524723200},\"tags\":{\"foo\":\"updated tag\"}}");
	ok(status == 200 && ji(g, "attributes.exp") == 2524723200 &&
	   json_object_array_length(jp(g, "key.key_ops")) == 2 &&
	   strcmp(js(g, "tags.foo"), "updated tag") == 0 && !jp(g, "tags.a") &&
	   ji(g, "attributes.created") == ji(o, "attributes.created"),
	   "update replaces key_ops and tags, sets exp, keeps created");
	json_object_put(g);
	g = call("GET", "/keys/mixed-case/00000000000000000000000000000000", NULL);
	ok(status == 404 && strcmp(js(g, "error.code"), "KeyNotFound") == 0 &&
	   strncmp(js(g, "error.message"), "Key not found: " BASE "/keys/mixed-case/",
		   strlen("Key not found: " BASE "/keys/mixed-case/")) == 0 &&
	   strstr(js(g, "error.message"), " (Activity ID: ") && !jp(g, "error.innererror"),
	   "unknown version -> 404 KeyNotFound shape");
	json_object_put(g);
	json_object_put(o);
}

/* An EVP_PKEY from a returned JWK, built with OpenSSL only (not crypto/). */
static EVP_PKEY *jwk_public(struct json_object *o)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	struct bytes a, b;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t *pt = NULL;

	if (strcmp(js(o, "key.kty"), "RSA-HSM") == 0) {
		a = b64(o, "key.n");
		b = b64(o, "key.e");
		n = BN_bin2bn(a.p, (int)a.len, NULL);
		e = BN_bin2bn(b.p, (int)b.len, NULL);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		const char *crv = js(o, "key.crv");
		const char *gname = strcmp(crv, "P-256") == 0 ? "prime256v1" :
			strcmp(crv, "P-256K") == 0 ? "secp256k1" :
			strcmp(crv, "P-384") == 0 ? "secp384r1" : "secp521r1";

		a = b64(o, "key.x");
		b = b64(o, "key.y");
		pt = malloc(1 + a.len + b.len);
		pt[0] = 4;
		memcpy(pt + 1, a.p, a.len);
		memcpy(pt + 1 + a.len, b.p, b.len);
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, gname, 0);
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
						 1 + a.len + b.len);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(pt);
	bytes_free(&a);
	bytes_free(&b);
	return pk;
}

/* Verify a service-format signature with OpenSSL directly. */
static bool openssl_verify(EVP_PKEY *pk, const char *alg, const uint8_t *dg,
			   size_t dlen, const uint8_t *sig, size_t slen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	const EVP_MD *md = strstr(alg, "256") ? EVP_sha256() :
			   strstr(alg, "384") ? EVP_sha384() : EVP_sha512();
	uint8_t *der = NULL;
	size_t der_len = 0;
	bool good = false;

	if (c == NULL || EVP_PKEY_verify_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(c, md) <= 0)
		goto out;
	if (alg[0] == 'P') {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST);
	} else if (alg[0] == 'R') {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
	}
	if (alg[0] == 'E') {
		if (ecdsa_raw_to_der(sig, slen, &der, &der_len) != 0)
			goto out;
		good = EVP_PKEY_verify(c, der, der_len, dg, dlen) == 1;
	} else {
		good = EVP_PKEY_verify(c, sig, slen, dg, dlen) == 1;
	}
out:
	free(der);
	EVP_PKEY_CTX_free(c);
	return good;
}

static void sign_check(const char *create, const char *name, const char *alg,
		       size_t dlen, size_t siglen)
{
	struct json_object *k, *s, *v;
	uint8_t dg[64];
	char *d64, body[2048], url[256];
	struct bytes sig;
	EVP_PKEY *pk;

	/* create NULL: reuse the key (RSA generation is slow under valgrind). */
	if (create != NULL) {
		snprintf(url, sizeof(url), "/keys/%s/create", name);
		k = call("POST", url, create);
	} else {
		snprintf(url, sizeof(url), "/keys/%s", name);
		k = call("GET", url, NULL);
	}
	for (size_t i = 0; i < dlen; i++)
		dg[i] = (uint8_t)(i * 7 + 1);
	d64 = b64url_encode(dg, dlen);
	snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"value\":\"%s\"}", alg, d64);
	snprintf(url, sizeof(url), "/keys/%s/%s/sign", name,
		 kid_version(js(k, "key.kid")));
	s = call("POST", url, body);
	sig = b64(s, "value");
	ok(status == 200 && sig.len == siglen && strcmp(js(s, "alg"), alg) == 0 &&
	   strcmp(js(s, "kid"), js(k, "key.kid")) == 0,
	   "%s sign: %zu-byte signature, alg and kid echoed", alg, siglen);
	pk = jwk_public(k);
	ok(pk && openssl_verify(pk, alg, dg, dlen, sig.p, sig.len),
	   "%s signature verifies with OpenSSL", alg);
	snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"digest\":\"%s\",\"value\":\"%s\"}",
		 alg, d64, js(s, "value"));
	snprintf(url, sizeof(url), "/keys/%s//verify", name);
	v = call("POST", url, body);
	ok(status == 200 && json_object_get_boolean(jp(v, "value")),
	   "%s verify true on the emulator", alg);
	json_object_put(v);
	dg[0] ^= 1;
	free(d64);
	d64 = b64url_encode(dg, dlen);
	snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"digest\":\"%s\",\"value\":\"%s\"}",
		 alg, d64, js(s, "value"));
	v = call("POST", url, body);
	ok(status == 200 && jp(v, "value") && !json_object_get_boolean(jp(v, "value")),
	   "%s verify false for another digest", alg);
	json_object_put(v);
	EVP_PKEY_free(pk);
	bytes_free(&sig);
	free(d64);
	json_object_put(s);
	json_object_put(k);
}

static void test_sign(void)
{
	struct json_object *o;

	sign_check("{\"kty\":\"EC\",\"crv\":\"P-256\"}", "s-p256", "ES256", 32, 64);
	sign_check("{\"kty\":\"EC\",\"crv\":\"P-256K\"}", "s-p256k", "ES256K", 32, 64);
	sign_check("{\"kty\":\"EC\",\"crv\":\"P-384\"}", "s-p384", "ES384", 48, 96);
	sign_check("{\"kty\":\"EC\",\"crv\":\"P-521\"}", "s-p521", "ES512", 64, 132);
	sign_check(NULL, "rsa1", "RS256", 32, 256);
	sign_check(NULL, "rsa1", "RS384", 48, 256);
	sign_check(NULL, "rsa1", "RS512", 64, 256);
	sign_check(NULL, "rsa1", "PS256", 32, 256);
	sign_check(NULL, "rsa1", "PS384", 48, 256);
	sign_check(NULL, "rsa3072e", "PS512", 64, 384);

	/* 43 bytes: a base64url string sent where its bytes were meant. */
	o = call("POST", "/keys/s-p256/sign",
		 "{\"alg\":\"ES256\",\"value\":\"dmdaYzBOUVViNldNS1hfX19WMkpudGNGUk9fdnN6S3dTQWo3UjJyTDF6Zw\"}");
	ok(status == 400 && strcmp(js(o, "error.message"),
		"Invalid length of 'value': 43 bytes. ES256 requires 32 bytes, encoded with base64url.") == 0 &&
	   !jp(o, "error.innererror"), "digest length error: the service's message");
	json_object_put(o);
	o = call("POST", "/keys/s-p256/sign",
		 "{\"alg\":\"ES384\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
	ok(status == 400 && strcmp(js(o, "error.innererror.code"), "UnsupportedAlgorithm") == 0,
	   "ES384 on P-256 -> 400 UnsupportedAlgorithm");
	json_object_put(o);
	o = call("POST", "/keys/s-p256/sign", "{\"alg\":\"RS256\",\"value\":\"AA\"}");
	ok(status == 400 && strcmp(js(o, "error.innererror.code"), "UnsupportedAlgorithm") == 0,
	   "RS256 on EC -> UnsupportedAlgorithm");
	json_object_put(o);
}

static char *crypt_call(const char *name, const char *op, const char *body,
			struct json_object **out)
{
	char url[256];

	snprintf(url, sizeof(url), "/keys/%s/%s", name, op);
	*out = call("POST", url, body);
	return NULL;
}

static void test_rsa_encrypt(void)
{
	static const char *algs[] = { "RSA1_5", "RSA-OAEP", "RSA-OAEP-256" };
	struct json_object *e, *d;
	char body[2048];
	uint8_t msg[32];
	char *m64;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(0xa0 + i);
	m64 = b64url_encode(msg, sizeof(msg));
	for (size_t i = 0; i < 3; i++) {
		for (int wrap = 0; wrap < 2; wrap++) {
			snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"value\":\"%s\"}",
				 algs[i], m64);
			crypt_call("rsa1", wrap ? "wrapkey" : "encrypt", body, &e);
			ok(status == 200 && b64len(e, "value") == 256 &&
			   strcmp(js(e, "alg"), algs[i]) == 0,
			   "%s %s: 256-byte result, alg echoed", algs[i],
			   wrap ? "wrapkey" : "encrypt");
			snprintf(body, sizeof(body), "{\"alg\":\"%s\",\"value\":\"%s\"}",
				 algs[i], js(e, "value"));
			crypt_call("rsa1", wrap ? "unwrapKey" : "decrypt", body, &d);
			ok(status == 200 && strcmp(js(d, "value"), m64) == 0,
			   "%s %s round trip", algs[i], wrap ? "unwrapkey" : "decrypt");
			json_object_put(e);
			json_object_put(d);
		}
	}
	free(m64);
}

static void test_aes(void)
{
	static const uint8_t kek[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
		12, 13, 14, 15 };
	static const char rfc3394[] = "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5";
	struct json_object *k, *e, *d;
	char body[2048], *k64, *hex;
	uint8_t msg[200];
	char *m64;
	struct bytes v;

	k64 = b64url_encode(kek, sizeof(kek));
	snprintf(body, sizeof(body),
		 "{\"key\":{\"kty\":\"oct-HSM\",\"k\":\"%s\",\"key_ops\":[\"wrapKey\",\"unwrapKey\"]}}", k64);
	k = call("PUT", "/keys/kw128", body);
	ok(status == 200 && ji(k, "attributes.key_size") == 128 && !jp(k, "key.k"),
	   "import oct 128");
	json_object_put(k);
	free(k64);
	crypt_call("kw128", "wrapkey",
		   "{\"alg\":\"A128KW\",\"value\":\"ABEiM0RVZneImaq7zN3u_w\"}", &e);
	v = b64(e, "value");
	hex = hex_encode(v.p, v.len);
	for (char *p = hex; p && *p; p++)
		if (*p >= 'a')
			*p = (char)(*p - 32);
	ok(status == 200 && hex && strcmp(hex, rfc3394) == 0,
	   "A128KW wraps the RFC 3394 4.1 vector");
	free(hex);
	bytes_free(&v);
	snprintf(body, sizeof(body), "{\"alg\":\"A128KW\",\"value\":\"%s\"}", js(e, "value"));
	crypt_call("kw128", "unwrapkey", body, &d);
	ok(status == 200 && strcmp(js(d, "value"), "ABEiM0RVZneImaq7zN3u_w") == 0,
	   "A128KW unwrap");
	json_object_put(e);
	json_object_put(d);
	crypt_call("kw128", "encrypt", "{\"alg\":\"A128GCM\",\"value\":\"AA\"}", &e);
	ok(status == 403 && strcmp(js(e, "error.innererror.code"), "ForbiddenByPolicy") == 0 &&
	   strncmp(js(e, "error.message"), "Operation is not allowed.\r\nOperation: \"encrypt\"", 47) == 0,
	   "op outside key_ops -> 403 ForbiddenByPolicy");
	json_object_put(e);

	k = call("POST", "/keys/aes256/create", "{\"kty\":\"oct-HSM\",\"key_size\":256}");
	json_object_put(k);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	m64 = b64url_encode(msg, sizeof(msg));
	snprintf(body, sizeof(body), "{\"alg\":\"A256GCM\",\"value\":\"%s\",\"aad\":\"dGVzdA\"}", m64);
	crypt_call("aes256", "encrypt", body, &e);
	ok(status == 200 && b64len(e, "iv") == 12 && b64len(e, "tag") == 16 &&
	   strcmp(js(e, "aad"), "dGVzdA") == 0 && b64len(e, "value") == 200,
	   "A256GCM: 12-byte iv, 16-byte tag, aad echoed");
	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256GCM\",\"value\":\"%s\",\"iv\":\"%s\",\"tag\":\"%s\",\"aad\":\"dGVzdA\"}",
		 js(e, "value"), js(e, "iv"), js(e, "tag"));
	crypt_call("aes256", "decrypt", body, &d);
	ok(status == 200 && strcmp(js(d, "value"), m64) == 0 && !jp(d, "iv"),
	   "A256GCM decrypt");
	json_object_put(d);
	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256GCM\",\"value\":\"%s\",\"iv\":\"%s\",\"tag\":\"%s\",\"aad\":\"dGVzdB\"}",
		 js(e, "value"), js(e, "iv"), js(e, "tag"));
	crypt_call("aes256", "decrypt", body, &d);
	ok(status == 400, "A256GCM with other aad -> 400");
	json_object_put(d);
	json_object_put(e);

	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256CBC\",\"value\":\"%s\",\"iv\":\"ibitv7BzReNZiTKgnFF0QQ\",\"aad\":\"dGVzdA\"}", m64);
	crypt_call("aes256", "encrypt", body, &e);
	ok(status == 200 && b64len(e, "value") == 208 &&
	   strcmp(js(e, "iv"), "ibitv7BzReNZiTKgnFF0QQ") == 0 && !jp(e, "aad"),
	   "A256CBC zero-pads 200 -> 208, iv echoed, aad not");
	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256CBC\",\"value\":\"%s\",\"iv\":\"ibitv7BzReNZiTKgnFF0QQ\"}",
		 js(e, "value"));
	crypt_call("aes256", "decrypt", body, &d);
	v = b64(d, "value");
	ok(status == 200 && v.len == 208 && memcmp(v.p, msg, 200) == 0 &&
	   v.p[200] == 0 && v.p[207] == 0, "A256CBC decrypt returns the padded 208 bytes");
	bytes_free(&v);
	json_object_put(d);
	json_object_put(e);
	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256CBCPAD\",\"value\":\"%s\",\"iv\":\"ibitv7BzReNZiTKgnFF0QQ\"}", m64);
	crypt_call("aes256", "encrypt", body, &e);
	ok(status == 200 && b64len(e, "value") == 208, "A256CBCPAD 200 -> 208");
	snprintf(body, sizeof(body),
		 "{\"alg\":\"A256CBCPAD\",\"value\":\"%s\",\"iv\":\"ibitv7BzReNZiTKgnFF0QQ\"}",
		 js(e, "value"));
	crypt_call("aes256", "decrypt", body, &d);
	ok(status == 200 && strcmp(js(d, "value"), m64) == 0, "A256CBCPAD round trip");
	json_object_put(d);
	json_object_put(e);
	crypt_call("aes256", "encrypt", "{\"alg\":\"A128GCM\",\"value\":\"AA\"}", &e);
	ok(status == 400 && strcmp(js(e, "error.innererror.code"), "UnsupportedAlgorithm") == 0,
	   "A128GCM on a 256-bit key -> UnsupportedAlgorithm");
	json_object_put(e);
	crypt_call("aes256", "encrypt", "{\"alg\":\"A256CBC\",\"value\":\"AA\"}", &e);
	ok(status == 400, "CBC without iv -> 400");
	json_object_put(e);
	free(m64);
}

static void test_state(void)
{
	struct json_object *o;
	const char *dg = "{\"alg\":\"ES256\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";

	o = call("POST", "/keys/st/create", "{\"kty\":\"EC\",\"attributes\":{\"enabled\":false}}");
	ok(status == 200 && !json_object_get_boolean(jp(o, "attributes.enabled")),
	   "create disabled");
	json_object_put(o);
	o = call("POST", "/keys/st/sign", dg);
	ok(status == 403 && strcmp(js(o, "error.code"), "Forbidden") == 0 &&
	   strcmp(js(o, "error.innererror.code"), "KeyDisabled") == 0, "disabled -> KeyDisabled");
	json_object_put(o);
	o = call("PATCH", "/keys/st", "{\"attributes\":{\"enabled\":true,\"nbf\":32503680000}}");
	json_object_put(o);
	o = call("POST", "/keys/st/sign", dg);
	ok(status == 403 && strcmp(js(o, "error.innererror.code"), "KeyNotYetValid") == 0,
	   "nbf in the future -> KeyNotYetValid");
	json_object_put(o);
	o = call("PATCH", "/keys/st", "{\"attributes\":{\"nbf\":1000,\"exp\":2000}}");
	json_object_put(o);
	o = call("POST", "/keys/st/sign", dg);
	ok(status == 403 && strcmp(js(o, "error.innererror.code"), "KeyExpired") == 0,
	   "exp in the past -> KeyExpired");
	json_object_put(o);
	o = call("POST", "/keys/st/verify",
		 "{\"alg\":\"ES256\",\"digest\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
	ok(status == 200, "verify exempt from exp (status %d)", status);
	json_object_put(o);
}

static void test_delete(void)
{
	struct json_object *o;

	o = call("POST", "/keys/del1/create", "{\"kty\":\"EC\",\"tags\":{\"t\":\"v\"}}");
	json_object_put(o);
	o = call("DELETE", "/keys/del1", NULL);
	ok(status == 200 && ji(o, "scheduledPurgeDate") == ji(o, "deletedDate") + 7 * 86400 &&
	   strcmp(js(o, "recoveryId"), BASE "/deletedkeys/del1") == 0 &&
	   strcmp(js(o, "tags.t"), "v") == 0 && jp(o, "key.kid"),
	   "delete -> deleted bundle");
	json_object_put(o);
	o = call("GET", "/keys/del1", NULL);
	ok(status == 404 && strcmp(js(o, "error.code"), "KeyNotFound") == 0, "get deleted key -> 404");
	json_object_put(o);
	o = call("GET", "/deletedkeys/DEL1", NULL);
	ok(status == 200 && jp(o, "deletedDate"), "get deleted");
	json_object_put(o);
	o = call("POST", "/keys/del1/create", "{\"kty\":\"EC\"}");
	ok(status == 409 && strcmp(js(o, "error.code"), "Conflict") == 0 &&
	   strcmp(js(o, "error.innererror.code"), "ObjectIsDeletedButRecoverable") == 0,
	   "create on deleted name -> 409 ObjectIsDeletedButRecoverable");
	json_object_put(o);
	o = call("PUT", "/keys/del1", "{\"key\":{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}}");
	ok(status == 409, "import on deleted name -> 409");
	json_object_put(o);
	o = call("POST", "/deletedkeys/del1/recover", NULL);
	ok(status == 200 && !jp(o, "deletedDate"), "recover");
	json_object_put(o);
	o = call("GET", "/keys/del1", NULL);
	ok(status == 200, "recovered key readable");
	json_object_put(o);
	json_object_put(call("DELETE", "/keys/del1", NULL));
	o = call("DELETE", "/deletedkeys/del1", NULL);
	ok(status == 204 && o == NULL, "purge -> 204 empty");
	o = call("GET", "/deletedkeys/del1", NULL);
	ok(status == 404 && strncmp(js(o, "error.message"),
		"Key not found: " BASE "/deletedkeys/del1 (Activity ID: ",
		strlen("Key not found: " BASE "/deletedkeys/del1 (Activity ID: ")) == 0,
	   "purged -> 404 on the deletedkeys URL");
	json_object_put(o);
	o = call("DELETE", "/keys/del1", NULL);
	ok(status == 404, "delete unknown -> 404");
	json_object_put(o);
}

/* Follow nextLink pages; returns the number of items, checks the links. */
static int list_all(const char *first, int max, const char *prefix, bool *links_ok)
{
	char url[1024];
	int total = 0;

	*links_ok = true;
	snprintf(url, sizeof(url), "%s", first);
	for (int pages = 0; pages < 1000; pages++) {
		struct json_object *o = call("GET", url, NULL);
		struct json_object *next = jp(o, "nextLink");
		int n = (int)json_object_array_length(jp(o, "value"));

		if (status != 200) {
			*links_ok = false;
			json_object_put(o);
			break;
		}
		total += n;
		if (next == NULL) {
			json_object_put(o);
			break;
		}
		if (n != max || strncmp(json_object_get_string(next), prefix, strlen(prefix)) != 0 ||
		    strstr(json_object_get_string(next), "api-version"))
			*links_ok = false;
		snprintf(url, sizeof(url), "%s",
			 json_object_get_string(next) + strlen(BASE));
		json_object_put(o);
	}
	return total;
}

static void test_list(void)
{
	struct json_object *o;
	char url[128], prefix[256];
	bool links;
	int before, n;

	o = call("GET", "/keys", NULL);
	before = (int)json_object_array_length(jp(o, "value"));
	ok(status == 200 && !jp(o, "nextLink") && before <= 25, "list default page");
	json_object_put(o);
	n = list_all("/keys?maxresults=25", 25, BASE "/keys?maxresults=25&$skiptoken=", &links);
	before = n;
	for (int i = 0; i < 30; i++) {
		snprintf(url, sizeof(url), "/keys/list-%02d/create", i);
		json_object_put(call("POST", url, "{\"kty\":\"oct\"}"));
	}
	n = list_all("/keys?maxresults=7", 7, BASE "/keys?maxresults=7&$skiptoken=", &links);
	ok(n == before + 30 && links, "list pages of 7: %d items (want %d), nextLinks well-formed",
	   n, before + 30);
	o = call("GET", "/keys?maxresults=3", NULL);
	ok(jp(o, "value") && strncmp(js(json_object_array_get_idx(jp(o, "value"), 0), "kid"),
		BASE "/keys/", strlen(BASE "/keys/")) == 0 &&
	   !strchr(js(json_object_array_get_idx(jp(o, "value"), 0), "kid") + strlen(BASE "/keys/"), '/'),
	   "list items: kid without version");
	json_object_put(o);
	o = call("GET", "/keys?maxresults=26", NULL);
	ok(status == 400, "maxresults 26 -> 400");
	json_object_put(o);
	o = call("GET", "/keys?maxresults=0", NULL);
	ok(status == 400, "maxresults 0 -> 400");
	json_object_put(o);
	o = call("GET", "/keys?maxresults=5&$skiptoken=garbage!", NULL);
	ok(status == 400, "bad skiptoken -> 400");
	json_object_put(o);

	for (int i = 0; i < 6; i++)
		json_object_put(call("POST", "/keys/vers/create", "{\"kty\":\"EC\"}"));
	snprintf(prefix, sizeof(prefix), BASE "/keys/vers/versions?maxresults=4&$skiptoken=");
	n = list_all("/keys/vers/versions?maxresults=4", 4, prefix, &links);
	ok(n == 6 && links, "list versions in pages of 4: %d", n);
	o = call("GET", "/keys/vers/versions", NULL);
	ok(is_hex32(kid_version(js(json_object_array_get_idx(jp(o, "value"), 5), "kid"))),
	   "version items: kid with version");
	json_object_put(o);

	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "/keys/list-%02d", i);
		json_object_put(call("DELETE", url, NULL));
	}
	n = list_all("/deletedkeys?maxresults=2", 2, BASE "/deletedkeys?maxresults=2&$skiptoken=", &links);
	ok(n == 3 && links, "list deleted in pages of 2: %d", n);
	o = call("GET", "/deletedkeys", NULL);
	ok(jp(json_object_array_get_idx(jp(o, "value"), 0), "recoveryId") &&
	   jp(json_object_array_get_idx(jp(o, "value"), 0), "scheduledPurgeDate"),
	   "deleted items carry recoveryId and scheduledPurgeDate");
	json_object_put(o);
}

/*
 * A restore request body (malloc()ed) for blob with one base64url
 * character of the JWE's authentication tag changed (to another valid
 * one).  Only the HMAC check can refuse it: the ciphertext, and so the
 * key inside, is intact.
 */
static char *flip_tag(const char *blob)
{
	uint8_t *jwe = NULL;
	size_t jwe_len = 0;
	char *dot, *out = NULL, *body = NULL;

	if (b64url_decode(blob, strlen(blob), &jwe, &jwe_len) != 0)
		return NULL;
	dot = memrchr(jwe, '.', jwe_len);
	if (dot != NULL && jwe_len - (size_t)(dot - (char *)jwe) > 10) {
		dot[5] = dot[5] == 'A' ? 'B' : 'A';
		out = b64url_encode(jwe, jwe_len);
	}
	if (out != NULL && asprintf(&body, "{\"value\":\"%s\"}", out) < 0)
		body = NULL;
	free(out);
	free(jwe);
	return body;
}

static void test_backup(void)
{
	struct json_object *k, *b, *r;
	char *body, *tampered;
	size_t len;

	k = call("POST", "/keys/bak/create", "{\"kty\":\"EC\"}");
	json_object_put(call("POST", "/keys/bak/create", "{\"kty\":\"EC\"}"));
	b = call("POST", "/keys/bak/backup", NULL);
	ok(status == 200 && strncmp(js(b, "value"), "ZXlKaGJHY2lPaUprYVhJ", 20) == 0,
	   "backup: base64url of a JWE with the service's header");
	len = strlen(js(b, "value"));
	body = malloc(len + 32);
	sprintf(body, "{\"value\":\"%s\"}", js(b, "value"));
	r = call("POST", "/keys/restore", body);
	ok(status == 409, "restore onto an existing name -> 409");
	json_object_put(r);
	json_object_put(call("DELETE", "/keys/bak", NULL));
	r = call("POST", "/keys/restore", body);
	ok(status == 409 && strcmp(js(r, "error.innererror.code"), "ObjectIsDeletedButRecoverable") == 0,
	   "restore onto a deleted name -> 409");
	json_object_put(r);
	json_object_put(call("DELETE", "/deletedkeys/bak", NULL));
	tampered = strdup(body);
	tampered[len / 2 + 10] = tampered[len / 2 + 10] == 'A' ? 'B' : 'A';
	r = call("POST", "/keys/restore", tampered);
	ok(status == 400, "tampered blob -> 400");
	json_object_put(r);
	free(tampered);
	tampered = flip_tag(js(b, "value"));
	r = tampered ? call("POST", "/keys/restore", tampered) : NULL;
	ok(r != NULL && status == 400,
	   "blob with a changed tag (intact ciphertext) -> 400");
	json_object_put(r);
	r = call("POST", "/keys/restore", body);
	ok(status == 200 && strcmp(js(r, "key.kid"), js(k, "key.kid")) != 0 &&
	   ji(r, "attributes.created") >= ji(k, "attributes.created"),
	   "restore -> 200 latest version");
	json_object_put(r);
	r = call("GET", "/keys/bak/versions", NULL);
	ok(json_object_array_length(jp(r, "value")) == 2, "restore brings every version");
	json_object_put(r);
	{
		char url[128];

		snprintf(url, sizeof(url), "/keys/bak/%s", kid_version(js(k, "key.kid")));
		r = call("GET", url, NULL);
		ok(status == 200 && strcmp(js(r, "key.x"), js(k, "key.x")) == 0,
		   "restored first version has the same key");
		json_object_put(r);
	}
	free(body);
	free(tampered);
	json_object_put(b);
	json_object_put(k);
}

static void test_rotation(void)
{
	struct json_object *o, *r;

	json_object_put(call("POST", "/keys/rot/create", "{\"kty\":\"RSA\",\"public_exponent\":3}"));
	o = call("POST", "/keys/rot/rotate", NULL);
	ok(status == 400, "rotate without a policy -> 400");
	json_object_put(o);
	o = call("PUT", "/keys/rot/rotationpolicy",
		 "{\"lifetimeActions\":[{\"action\":{\"type\":\"Notify\"},\"trigger\":{\"timeBeforeExpiry\":\"P30D\"}}],\"attributes\":{\"expiryTime\":\"P1Y\"}}");
	ok(status == 400, "Notify -> 400");
	json_object_put(o);
	o = call("PUT", "/keys/rot/rotationpolicy",
		 "{\"lifetimeActions\":[{\"action\":{\"type\":\"Rotate\"},\"trigger\":{\"timeAfterCreate\":\"P6M\"}}],\"attributes\":{\"expiryTime\":\"P1Y\"}}");
	ok(status == 200 && strcmp(js(o, "id"), "keys/rot/rotationpolicy") == 0 &&
	   strcmp(js(o, "attributes.expiryTime"), "P1Y") == 0 &&
	   strcmp(js(json_object_array_get_idx(jp(o, "lifetimeActions"), 0), "action.type"), "rotate") == 0 &&
	   strcmp(js(json_object_array_get_idx(jp(o, "lifetimeActions"), 0), "trigger.timeAfterCreate"), "P6M") == 0,
	   "set policy: relative id, action type rotate");
	json_object_put(o);
	o = call("GET", "/keys/rot/rotationpolicy", NULL);
	ok(status == 200 && jp(o, "attributes.created"), "get policy");
	json_object_put(o);
	r = call("POST", "/keys/rot/rotate", NULL);
	ok(status == 200 && ji(r, "attributes.exp") == ji(r, "attributes.created") + 31536000 &&
	   strcmp(js(r, "key.e"), "Aw") == 0,
	   "rotate: exp = created + P1Y, same exponent");
	json_object_put(r);
	o = call("GET", "/keys/rot/versions", NULL);
	ok(json_object_array_length(jp(o, "value")) == 2, "rotate adds a version");
	json_object_put(o);
}

static void test_roles(void)
{
	struct json_object *o;

	json_object_put(call("POST", "/keys/role-k/create", "{\"kty\":\"EC\"}"));
	role = ROLE_READER;
	o = call("GET", "/keys/role-k", NULL);
	ok(status == 200, "reader may get");
	json_object_put(o);
	o = call("POST", "/keys/role-k/sign", "{\"alg\":\"ES256\",\"value\":\"AA\"}");
	ok(status == 403 && strcmp(js(o, "error.code"), "AccessDenied") == 0 &&
	   strncmp(js(o, "error.message"),
		   "Not authorized to access Microsoft.KeyVault/managedHsm/keys/sign/action on /keys/role-k (Activity ID: ",
		   strlen("Not authorized to access Microsoft.KeyVault/managedHsm/keys/sign/action on /keys/role-k (Activity ID: ")) == 0,
	   "reader may not sign: AccessDenied shape");
	json_object_put(o);
	role = ROLE_USER;
	o = call("POST", "/keys/role-k/sign",
		 "{\"alg\":\"ES256\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
	ok(status == 200, "user may sign");
	json_object_put(o);
	o = call("POST", "/rng", "{\"count\":8}");
	ok(status == 200, "user may use rng");
	json_object_put(o);
	o = call("DELETE", "/keys/role-k", NULL);
	ok(status == 403, "user may not delete");
	json_object_put(o);
	/* The key side's scope for restore is "/keys"; the server's
	 * scope_of(), which refuses first, says "/keys/restore" (open
	 * question, see keys.c). */
	o = call("POST", "/keys/restore", "{\"value\":\"AA\"}");
	ok(status == 403 &&
	   strncmp(js(o, "error.message"),
		   "Not authorized to access Microsoft.KeyVault/managedHsm/keys/restore/action on /keys (Activity ID: ",
		   strlen("Not authorized to access Microsoft.KeyVault/managedHsm/keys/restore/action on /keys (Activity ID: ")) == 0,
	   "user may not restore: key side's scope is /keys");
	json_object_put(o);
	role = ROLE_NONE;
	o = call("GET", "/keys", NULL);
	ok(status == 403, "none may not list");
	json_object_put(o);
	role = ROLE_OFFICER;
}

static void test_rng(void)
{
	struct json_object *o;

	o = call("POST", "/keys/ec1/0123456789abcdef0123456789abcdef/release", "{}");
	ok(status == 501 && strcmp(js(o, "error.code"), "NotImplemented") == 0,
	   "release -> 501 NotImplemented");
	json_object_put(o);
	o = call("GET", "/secrets/x", NULL);
	ok(status == 404, "unknown path -> 404");
	json_object_put(o);
	{
		char lng[900];

		memset(lng, 'a', sizeof(lng) - 1);
		memcpy(lng, "/keys/", 6);
		lng[sizeof(lng) - 1] = '\0';
		o = call("GET", lng, NULL);
		ok(status == 404, "over-long path -> 404 (%d)", status);
		json_object_put(o);
		memcpy(lng + 850, "/release", 9);
		o = call("POST", lng, NULL);
		ok(status == 404, "over-long path ending in release -> 404");
		json_object_put(o);
	}
	o = call("PUT", "/keys", NULL);
	ok(status == 405, "wrong method -> 405");
	json_object_put(o);
	o = call("POST", "//rng", "{\"count\":128}");
	ok(status == 200 && b64len(o, "value") == 128, "rng 128 bytes");
	json_object_put(o);
	o = call("POST", "/rng", "{\"count\":0}");
	ok(status == 400, "rng 0 -> 400");
	json_object_put(o);
	o = call("POST", "/rng", "{\"count\":129}");
	ok(status == 400, "rng 129 -> 400");
	json_object_put(o);
}

static void test_persistence(void)
{
	char dir[] = "/tmp/test_keys.XXXXXX", path[256];
	struct keystore *mem = ks;
	struct json_object *k, *s, *o;
	struct stat st;
	EVP_PKEY *pk;
	struct bytes sig;
	uint8_t dg[48] = { 1, 2, 3 };
	char *d64, body[256];
	static char order[8192];

	ok(mkdtemp(dir) != NULL, "temporary data dir");
	/* Not the demo set: generating RSA-4096 under valgrind takes minutes,
	 * and every pytest suite runs on the demo keys anyway. */
	ks = keystore_open(dir);
	ok(ks != NULL, "open a persistent store");
	for (int i = 0; i < 8; i++) {
		snprintf(body, sizeof(body), "/keys/%s-%d/create",
			 i % 2 ? "zz" : "aes-128", i);
		json_object_put(call("POST", body, i == 0 ?
			"{\"kty\":\"oct\",\"key_size\":128}" : "{\"kty\":\"EC\"}"));
	}
	json_object_put(call("POST", "/keys/aes-128/create", "{\"kty\":\"oct\",\"key_size\":128}"));
	o = call("GET", "/keys", NULL);
	ok(json_object_array_length(jp(o, "value")) == 9, "9 keys created");
	json_object_put(o);
	k = call("POST", "/keys/persist/create", "{\"kty\":\"EC\",\"crv\":\"P-384\",\"tags\":{\"a\":\"b\"}}");
	json_object_put(call("PUT", "/keys/persist/rotationpolicy",
			     "{\"lifetimeActions\":[],\"attributes\":{\"expiryTime\":\"P90D\"}}"));
	json_object_put(call("DELETE", "/keys/aes-128", NULL));
	snprintf(path, sizeof(path), "%s/keys/persist.json", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "key file with mode 0600");
	o = call("GET", "/keys", NULL);
	snprintf(order, sizeof(order), "%s", json_object_to_json_string(jp(o, "value")));
	json_object_put(o);
	keystore_close(ks);
	ks = keystore_open(dir);
	ok(ks != NULL && demo_seed(ks, FLAVOR_MHSM) == 0, "reopen");
	o = call("GET", "/keys", NULL);
	ok(strcmp(order, json_object_to_json_string(jp(o, "value"))) == 0,
	   "the list keeps creation order across the restart");
	json_object_put(o);
	o = call("GET", "/keys/persist", NULL);
	ok(status == 200 && strcmp(js(o, "key.kid"), js(k, "key.kid")) == 0 &&
	   strcmp(js(o, "key.x"), js(k, "key.x")) == 0 && strcmp(js(o, "tags.a"), "b") == 0,
	   "key survives the restart");
	json_object_put(o);
	d64 = b64url_encode(dg, 48);
	snprintf(body, sizeof(body), "{\"alg\":\"ES384\",\"value\":\"%s\"}", d64);
	s = call("POST", "/keys/persist/sign", body);
	sig = b64(s, "value");
	pk = jwk_public(k);
	ok(status == 200 && openssl_verify(pk, "ES384", dg, 48, sig.p, sig.len),
	   "reloaded private key signs for the old public key");
	EVP_PKEY_free(pk);
	bytes_free(&sig);
	free(d64);
	json_object_put(s);
	o = call("GET", "/deletedkeys/aes-128", NULL);
	ok(status == 200, "deleted state survives the restart");
	json_object_put(o);
	o = call("GET", "/keys/persist/rotationpolicy", NULL);
	ok(status == 200 && strcmp(js(o, "attributes.expiryTime"), "P90D") == 0,
	   "rotation policy survives the restart");
	json_object_put(o);
	o = call("GET", "/keys", NULL);
	ok(json_object_array_length(jp(o, "value")) == 9,
	   "no demo set added to a non-empty store");
	json_object_put(o);
	json_object_put(k);
	keystore_close(ks);
	ks = mem;
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ok(system(cmd) == 0, "cleanup");
	}
}

struct worker {
	int kind;	/* 0: sign, 1: writer */
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char url[64];

	for (int i = 0; i < 150; i++) {
		struct json_object *o;

		if (w->kind == 0) {
			o = call("POST", "/keys/conc/sign",
				 "{\"alg\":\"ES256\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
			if (status != 200 || b64len(o, "value") != 64)
				w->failures++;
		} else {
			snprintf(url, sizeof(url), "/keys/conc-%d/create", i % 10);
			o = call("POST", i % 3 ? "/keys/conc/create" : url, "{\"kty\":\"EC\"}");
			if (status != 200)
				w->failures++;
			json_object_put(o);
			o = call("PATCH", "/keys/conc", "{\"tags\":{\"i\":\"x\"}}");
			if (status != 200)
				w->failures++;
			json_object_put(o);
			snprintf(url, sizeof(url), "/keys/conc-%d", i % 10);
			o = call("DELETE", url, NULL);
			json_object_put(o);
			snprintf(url, sizeof(url), "/deletedkeys/conc-%d", i % 10);
			o = call("DELETE", url, NULL);
			json_object_put(o);
			o = call("GET", "/keys?maxresults=25", NULL);
			if (status != 200)
				w->failures++;
		}
		json_object_put(o);
	}
	return NULL;
}

/* Signers and a writer at once: the store lock and material references. */
static void test_threads(void)
{
	pthread_t th[4];
	struct worker w[4] = { { 0, 0 }, { 0, 0 }, { 0, 0 }, { 1, 0 } };
	int fails = 0;

	json_object_put(call("POST", "/keys/conc/create", "{\"kty\":\"EC\"}"));
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, work, &w[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += w[i].failures;
	}
	ok(fails == 0, "3 signers and a writer in parallel: %d failures", fails);
}

int main(void)
{
	ks = keystore_open(NULL);
	if (ks == NULL) {
		printf("Bail out! keystore_open: %s\n", strerror(errno));
		return 1;
	}
	test_routes();
	test_create();
	test_get_update();
	test_sign();
	test_rsa_encrypt();
	test_aes();
	test_state();
	test_delete();
	test_list();
	test_backup();
	test_rotation();
	test_roles();
	test_rng();
	test_persistence();
	test_threads();
	keystore_close(ks);
	return done_testing();
}
