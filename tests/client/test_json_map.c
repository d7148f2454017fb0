/*
 * test_json_map.c - client/json_map.c fed with the real service replies in
 * tests/recordings (argv[1]: that directory).
 *
 * Judges: the recorded JSON itself, read with json-c here, and base64url
 * decoded with OpenSSL's EVP_DecodeBlock - never the client's own output.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "json_map_i.h"
#include "client_i.h"
#include "call_i.h"
#include "secret.h"
#include "tap.h"

static const char *dir;

static struct json_object *load(const char *file)
{
	char path[1024];
	struct json_object *o;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	o = json_object_from_file(path);
	if (!o)
		fprintf(stderr, "# cannot read %s\n", path);
	return o;
}

static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static const char *gets(struct json_object *o, const char *k)
{
	struct json_object *v = get(o, k);

	return v && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

/* The body as the service sent it: compact JSON (README: Content-Length
 * equals the compact serialisation). */
static char *text_of(struct json_object *body)
{
	return strdup(json_object_to_json_string_ext(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A copy with members in reverse order at every level and key_ops
 * reversed: the client must not depend on order. */
static struct json_object *reversed(struct json_object *o, bool rev_array)
{
	struct json_object *r;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		const char *keys[64];
		struct json_object *vals[64];
		int n = 0;

		json_object_object_foreach(o, k, v) {
			if (n < 64) {
				keys[n] = k;
				vals[n++] = v;
			}
		}
		r = json_object_new_object();
		while (n--)
			json_object_object_add(r, keys[n], reversed(vals[n],
				!strcmp(keys[n], "key_ops")));
		return r;
	}
	case json_type_array: {
		size_t n = json_object_array_length(o);

		r = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(r, reversed(
				json_object_array_get_idx(o, rev_array ? n - 1 - i : i),
				false));
		return r;
	}
	default:
		return json_object_get(o);
	}
}

/* Independent base64url decoder (OpenSSL's base64 after mapping). */
static size_t b64url(const char *s, unsigned char *out, size_t cap)
{
	size_t n = strlen(s), m = (n + 3) / 4 * 4;
	char *t = malloc(m + 1);
	int len;
	size_t pad = m - n;

	for (size_t i = 0; i < n; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (size_t i = n; i < m; i++)
		t[i] = '=';
	t[m] = 0;
	if (m / 4 * 3 > cap) {
		free(t);
		return (size_t)-1;
	}
	len = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
	free(t);
	return len < 0 ? (size_t)-1 : (size_t)len - pad;
}

static unsigned ops_judge(struct json_object *arr)
{
	static const struct { const char *n; unsigned bit; } tbl[] = {
		{ "encrypt", KOP_ENCRYPT }, { "decrypt", KOP_DECRYPT },
		{ "sign", KOP_SIGN }, { "verify", KOP_VERIFY },
		{ "wrapKey", KOP_WRAP }, { "unwrapKey", KOP_UNWRAP },
		{ "import", KOP_IMPORT }, { "export", KOP_EXPORT },
		{ "deriveKey", KOP_DERIVE },
	};
	unsigned ops = 0;

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));

		for (size_t j = 0; j < sizeof(tbl) / sizeof(tbl[0]); j++)
			if (!strcmp(s, tbl[j].n))
				ops |= tbl[j].bit;
	}
	return ops;
}

static int64_t geti(struct json_object *o, const char *k)
{
	struct json_object *v = get(o, k);

	return v ? json_object_get_int64(v) : 0;
}

/* Check one parsed bundle against its JSON; returns failures. */
static int check_key(const char *label, const struct hsm_key *k,
		     struct json_object *body, const char *text)
{
	struct json_object *key = get(body, "key"), *attrs = get(body, "attributes");
	struct json_object *tags = get(body, "tags");
	const char *kid = gets(key, "kid");
	const char *slash = strrchr(kid, '/');
	unsigned char buf[1024];
	int fails = 0;
	size_t n;

	fails += !ok(k->kid && !strcmp(k->kid, kid), "%s: kid", label);
	fails += !ok(k->version && !strcmp(k->version, slash + 1) &&
		     strlen(k->version) == 32, "%s: version from kid", label);
	n = (size_t)(slash - kid);
	fails += !ok(k->name && strlen(k->name) < n &&
		     !strncmp(slash - strlen(k->name), k->name, strlen(k->name)) &&
		     slash[-(int)strlen(k->name) - 1] == '/', "%s: name %s", label,
		     k->name ? k->name : "(null)");
	fails += !ok(!strcmp(k->kty_name, gets(key, "kty")), "%s: kty_name %s",
		     label, k->kty_name);
	fails += !ok(k->ops == ops_judge(get(key, "key_ops")),
		     "%s: key_ops as a set (0x%x)", label, k->ops);
	fails += !ok(k->attrs.created == geti(attrs, "created") &&
		     k->attrs.updated == geti(attrs, "updated") &&
		     k->attrs.exp == geti(attrs, "exp") &&
		     k->attrs.nbf == geti(attrs, "nbf") &&
		     k->attrs.enabled == json_object_get_boolean(get(attrs, "enabled")) &&
		     k->attrs.recoverable_days == geti(attrs, "recoverableDays") &&
		     !strcmp(k->attrs.recovery_level, gets(attrs, "recoveryLevel")),
		     "%s: attributes", label);
	if (!strncmp(k->kty_name, "RSA", 3)) {
		size_t lead = 0;

		n = b64url(gets(key, "n"), buf, sizeof(buf));
		fails += !ok(k->kty == KEY_RSA && k->n_len == n &&
			     !memcmp(k->n, buf, n), "%s: RSA n", label);
		while (lead < n && buf[lead] == 0)
			lead++;
		fails += !ok(k->bits == (n - lead) * 8, "%s: RSA bits %u", label,
			     k->bits);
		n = b64url(gets(key, "e"), buf, sizeof(buf));
		fails += !ok(k->e_len == n && !memcmp(k->e, buf, n), "%s: RSA e",
			     label);
	} else if (!strncmp(k->kty_name, "EC", 2)) {
		const char *crv = gets(key, "crv");
		unsigned want = !strcmp(crv, "P-521") ? 521 :
				!strcmp(crv, "P-384") ? 384 : 256;

		n = b64url(gets(key, "x"), buf, sizeof(buf));
		fails += !ok(k->kty == KEY_EC && k->x_len == n && !memcmp(k->x, buf, n),
			     "%s: EC x", label);
		n = b64url(gets(key, "y"), buf, sizeof(buf));
		fails += !ok(k->y_len == n && !memcmp(k->y, buf, n), "%s: EC y",
			     label);
		fails += !ok(!strcmp(curve_name(k->crv), crv) && k->bits == want,
			     "%s: curve %s, %u bits", label, crv, k->bits);
	} else {
		fails += !ok(k->kty == KEY_OCT &&
			     k->bits == (unsigned)geti(attrs, "key_size") &&
			     k->bits > 0 && !k->n && !k->x,
			     "%s: oct key_size from attributes (%u)", label, k->bits);
	}
	fails += !ok((size_t)(tags ? json_object_object_length(tags) : 0) == k->n_tags,
		     "%s: %zu tags", label, k->n_tags);
	for (size_t i = 0; i < k->n_tags; i++) {
		const char *v = gets(tags, k->tags[i].name);

		fails += !ok(v && !strcmp(v, k->tags[i].value), "%s: tag '%s'",
			     label, k->tags[i].name);
	}
	if (text)
		fails += !ok(k->bundle_json && !strcmp(k->bundle_json, text),
			     "%s: bundle_json is the text as received", label);
	{
		struct json_object *j = k->jwk_json ?
			json_tokener_parse(k->jwk_json) : NULL;

		fails += !ok(j && json_object_equal(j, key) &&
			     !strstr(k->jwk_json, "\\/"),
			     "%s: jwk_json is the key member", label);
		json_object_put(j);
	}
	if (get(body, "recoveryId")) {
		fails += !ok(k->recovery_id &&
			     !strcmp(k->recovery_id, gets(body, "recoveryId")) &&
			     k->deleted_date == geti(body, "deletedDate") &&
			     k->scheduled_purge_date == geti(body, "scheduledPurgeDate") &&
			     k->scheduled_purge_date == k->deleted_date +
			     (int64_t)k->attrs.recoverable_days * 86400,
			     "%s: deleted bundle fields", label);
	} else {
		fails += !ok(!k->recovery_id && !k->deleted_date, "%s: not deleted",
			     label);
	}
	return fails;
}

/* Every bundle reply of a recording: as sent, and reordered. */
static void test_bundles(const char *file)
{
	struct json_object *root = load(file);
	struct json_object *ents = get(root, "Entries");
	int seen = 0;

	ok(root != NULL, "load %s", file);
	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody");
		struct json_object *rev;
		struct hsm_key k, k2;
		char label[160], *text, *rtext;
		enum hsm_status st;

		if (geti(e, "StatusCode") != 200 || !get(body, "key"))
			continue;
		seen++;
		snprintf(label, sizeof(label), "%.40s #%zu %s", file, i,
			 gets(e, "RequestMethod"));
		text = text_of(body);
		st = jm_parse_key(text, strlen(text), &k);
		if (ok(st == HSM_OK, "%s: parses", label))
			check_key(label, &k, body, text);
		rev = reversed(body, false);
		rtext = text_of(rev);
		ok(strcmp(rtext, text) != 0, "%s: reordered text differs", label);
		st = jm_parse_key(rtext, strlen(rtext), &k2);
		if (ok(st == HSM_OK, "%s: reordered parses", label))
			check_key(label, &k2, rev, rtext);
		hsm_key_cleanup(&k);
		hsm_key_cleanup(&k2);
		ok(k.name == NULL && k.bundle_json == NULL, "%s: cleanup empties", label);
		json_object_put(rev);
		free(text);
		free(rtext);
	}
	ok(seen > 0, "%s: %d bundles checked", file, seen);
	json_object_put(root);
}

/* Feed every GET page of a list in order. */
static void test_list(const char *file, const char *prefix, bool versions,
		      bool deleted, int want_pages, int want_links)
{
	struct json_object *root = load(file);
	struct json_object *ents = get(root, "Entries");
	struct hsm_key_list l = { 0 };
	size_t want_items = 0;
	int pages = 0, links = 0;
	bool last_null = false, names_ok = true, ver_ok = true, del_ok = true,
	     attr_ok = true, tags_ok = true;

	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody"), *arr;
		const char *uri = gets(e, "RequestUri");
		char *text, *next = NULL;
		size_t base = l.n;

		if (strcmp(gets(e, "RequestMethod"), "GET") || !strstr(uri, prefix) ||
		    !(arr = get(body, "value")))
			continue;
		/* Only the list call itself, not GET /deletedkeys/{name}. */
		if (!strstr(uri, "maxresults") && strstr(uri, "deletedkeys/"))
			continue;
		text = text_of(body);
		ok(jm_parse_list(text, strlen(text), &l, &next) == HSM_OK,
		   "%s page %d parses", file, pages + 1);
		pages++;
		want_items += json_object_array_length(arr);
		if (next) {
			links++;
			ok(!strcmp(next, gets(body, "nextLink")), "page %d nextLink copied",
			   pages);
			last_null = false;
		} else {
			last_null = gets(body, "nextLink") == NULL;
		}
		for (size_t j = 0; j < json_object_array_length(arr) && base + j < l.n; j++) {
			struct json_object *it = json_object_array_get_idx(arr, j);
			const char *kid = gets(it, "kid");
			struct hsm_key_item *k = &l.items[base + j];
			struct json_object *a = get(it, "attributes");
			struct json_object *tags = get(it, "tags");
			char want_name[200];
			const char *p = strstr(kid, "/keys/");

			p = p ? p + 6 : strstr(kid, "/deletedkeys/") + 13;
			snprintf(want_name, sizeof(want_name), "%.*s",
				 (int)strcspn(p, "/"), p);
			names_ok &= k->name && !strcmp(k->name, want_name);
			if (versions)
				ver_ok &= k->version && !strcmp(k->version, strrchr(kid, '/') + 1);
			else
				ver_ok &= k->version == NULL;
			if (deleted)
				del_ok &= k->deleted_date == geti(it, "deletedDate") &&
					  k->deleted_date > 0 &&
					  k->scheduled_purge_date == geti(it, "scheduledPurgeDate");
			attr_ok &= k->attrs.created == geti(a, "created") &&
				   k->attrs.exp == geti(a, "exp") &&
				   k->attrs.nbf == geti(a, "nbf");
			tags_ok &= (size_t)(tags ? json_object_object_length(tags) : 0) ==
				   k->n_tags;
		}
		free(next);
		free(text);
	}
	ok(pages == want_pages, "%s: %d pages (want %d)", file, pages, want_pages);
	ok(links == want_links && last_null, "%s: %d nextLinks, none on the last page",
	   file, want_links);
	ok(l.n == want_items && want_items > 0, "%s: %zu items (want %zu)", file,
	   l.n, want_items);
	ok(names_ok, "%s: names from kid", file);
	ok(ver_ok, "%s: versions %s", file, versions ? "present" : "absent");
	ok(del_ok, "%s: deleted dates", file);
	ok(attr_ok, "%s: item attributes (exp, nbf)", file);
	ok(tags_ok, "%s: item tags", file);
	hsm_key_list_cleanup(&l);
	ok(l.n == 0 && l.items == NULL, "list cleanup");
	json_object_put(root);
}

/* Operation results: value length judged from the recorded value. */
static void test_results(const char *file, const char *op)
{
	struct json_object *root = load(file);
	struct json_object *ents = get(root, "Entries");
	int seen = 0;

	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody");
		const char *uri = gets(e, "RequestUri");
		unsigned char buf[1024];
		struct hsm_result r;
		char *text;
		size_t n, ivn = 0, tagn = 0;

		if (geti(e, "StatusCode") != 200 || !strcasestr(uri, op) ||
		    (!strcasestr(op, "unwrap") && strcasestr(uri, "unwrap")) ||
		    !gets(body, "value"))
			continue;
		seen++;
		text = text_of(body);
		n = b64url(gets(body, "value"), buf, sizeof(buf));
		if (gets(body, "iv"))
			ivn = b64url(gets(body, "iv"), buf + 512, 64);
		if (gets(body, "tag"))
			tagn = b64url(gets(body, "tag"), buf + 600, 64);
		if (ok(jm_parse_result(text, strlen(text), &r) == HSM_OK,
		       "%s %s #%zu parses", file, op, i)) {
			ok(secret_len(r.value) == n &&
			   !memcmp(secret_bytes(r.value), buf, n),
			   "%s #%zu (%s): value %zu bytes", op, i,
			   gets(body, "alg") ? gets(body, "alg") : "-", n);
			ok(r.iv_len == ivn && (!ivn || !memcmp(r.iv, buf + 512, ivn)),
			   "%s #%zu: iv %zu bytes", op, i, ivn);
			ok(r.tag_len == tagn && (!tagn || !memcmp(r.tag, buf + 600, tagn)),
			   "%s #%zu: tag %zu bytes", op, i, tagn);
			ok(!strcmp(r.kid, gets(body, "kid")), "%s #%zu: kid", op, i);
		}
		hsm_result_cleanup(&r);
		free(text);
	}
	ok(seen > 0, "%s: %d %s results", file, seen, op);
	json_object_put(root);
}

static void test_expected_lengths(void)
{
	/* ECDSA raw r||s and RSA modulus-sized signatures, per alg. */
	struct json_object *root = load(
		"test_crypto_client.pyTestCryptoClienttest_ec_verify_local[2025-07-01_mhsm].json");
	struct json_object *ents = get(root, "Entries");
	static const struct { const char *alg; size_t len; } want[] = {
		{ "ES256", 64 }, { "ES256K", 64 }, { "ES384", 96 }, { "ES512", 132 },
	};
	int seen = 0;

	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody");
		struct hsm_result r;
		char *text;

		if (!strstr(gets(e, "RequestUri"), "/sign"))
			continue;
		text = text_of(body);
		if (jm_parse_result(text, strlen(text), &r) == HSM_OK)
			for (size_t j = 0; j < 4; j++)
				if (!strcmp(gets(body, "alg"), want[j].alg)) {
					seen++;
					ok(secret_len(r.value) == want[j].len,
					   "%s signature is %zu bytes", want[j].alg,
					   want[j].len);
				}
		hsm_result_cleanup(&r);
		free(text);
	}
	ok(seen == 4, "four ECDSA signatures");
	json_object_put(root);
}

static void test_errors(void)
{
	struct json_object *root = load(
		"test_key_client.pyTestKeyClienttest_purge[2025-07-01_mhsm].json");
	struct json_object *ents = get(root, "Entries");
	int seen = 0;

	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody");
		struct hsm_error err;
		char *text;

		if (geti(e, "StatusCode") != 404)
			continue;
		seen++;
		memset(&err, 0, sizeof(err));
		text = text_of(body);
		ok(jm_parse_error(text, strlen(text), &err) == HSM_OK &&
		   !strcmp(err.code, "KeyNotFound") && !err.inner_code[0] &&
		   !strcmp(err.message, gets(get(body, "error"), "message")),
		   "404 envelope #%zu: KeyNotFound, no innererror", i);
		ok(status_from_http(404, err.code, err.inner_code) == HSM_E_NOT_FOUND,
		   "404 maps to HSM_E_NOT_FOUND");
		free(text);
	}
	ok(seen == 7, "seven recorded 404s");
	json_object_put(root);

	{
		const char *t = "{\"error\":{\"innererror\":{\"code\":\"ForbiddenByPolicy\"},"
				"\"message\":\"Operation is not allowed.\\r\\nOperation: \\\"decrypt\\\"\","
				"\"code\":\"Forbidden\"}}";
		struct hsm_error err = { 0 };

		ok(jm_parse_error(t, strlen(t), &err) == HSM_OK &&
		   !strcmp(err.code, "Forbidden") &&
		   !strcmp(err.inner_code, "ForbiddenByPolicy") &&
		   !strcmp(err.message, "Operation is not allowed. Operation: \"decrypt\""),
		   "envelope with innererror, members reordered, message on one line");
		ok(jm_parse_error("<html>", 6, &err) == HSM_E_PROTOCOL &&
		   !strcmp(err.code, "Forbidden"),
		   "non-JSON error body: PROTOCOL, err untouched");
		ok(jm_parse_error("{\"error\":\"x\"}", 13, &err) == HSM_E_PROTOCOL,
		   "error member not an object: PROTOCOL");
	}
	/* contracts.md "Error contract for key state" */
	ok(status_from_http(403, "Forbidden", "KeyDisabled") == HSM_E_KEY_EXPIRED &&
	   status_from_http(403, "Forbidden", "KeyNotYetValid") == HSM_E_KEY_EXPIRED &&
	   status_from_http(403, "Forbidden", "KeyExpired") == HSM_E_KEY_EXPIRED,
	   "KeyDisabled/KeyNotYetValid/KeyExpired -> KEY_EXPIRED");
	ok(status_from_http(403, "Forbidden", "ForbiddenByPolicy") == HSM_E_UNSUPPORTED &&
	   status_from_http(400, "BadParameter", "UnsupportedAlgorithm") == HSM_E_UNSUPPORTED,
	   "ForbiddenByPolicy/UnsupportedAlgorithm -> UNSUPPORTED");
	ok(status_from_http(403, "AccessDenied", "") == HSM_E_FORBIDDEN &&
	   status_from_http(403, "Forbidden", "ForbiddenByRbac") == HSM_E_FORBIDDEN,
	   "other 403 -> FORBIDDEN");
	ok(status_from_http(400, "BadParameter", "") == HSM_E_INVALID,
	   "other 400 -> INVALID");
	ok(status_from_http(409, "Conflict", "ObjectIsDeletedButRecoverable") == HSM_E_CONFLICT,
	   "409 -> CONFLICT");
	ok(status_from_http(429, "Throttled", NULL) == HSM_E_THROTTLED &&
	   status_from_http(503, NULL, NULL) == HSM_E_SERVER &&
	   status_from_http(500, NULL, NULL) == HSM_E_SERVER,
	   "429 -> THROTTLED, 5xx -> SERVER");
}

static void test_misc_replies(void)
{
	struct json_object *root = load(
		"test_key_client.pyTestKeyClienttest_get_random_bytes[7.5_mhsm].json");
	struct json_object *ents = get(root, "Entries");
	int seen = 0;

	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		struct json_object *body = get(e, "ResponseBody");
		unsigned char want[64], got[64];
		size_t n;
		char *text;

		if (geti(e, "StatusCode") != 200)
			continue;
		seen++;
		text = text_of(body);
		n = b64url(gets(body, "value"), want, sizeof(want));
		ok(n == 8 && jm_parse_random(text, strlen(text), got, 8) == HSM_OK &&
		   !memcmp(got, want, 8), "random reply #%zu: 8 bytes", i);
		ok(jm_parse_random(text, strlen(text), got, 9) == HSM_E_PROTOCOL,
		   "random reply shorter than asked is an error");
		free(text);
	}
	ok(seen == 5, "five random replies");
	json_object_put(root);

	root = load("test_key_client.pyTestKeyClienttest_backup_restore[2025-07-01_mhsm].json");
	ents = get(root, "Entries");
	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		char *text, *blob = NULL;

		if (!strstr(gets(e, "RequestUri"), "/backup"))
			continue;
		text = text_of(get(e, "ResponseBody"));
		ok(jm_parse_value(text, strlen(text), &blob) == HSM_OK &&
		   !strcmp(blob, gets(get(e, "ResponseBody"), "value")) &&
		   strlen(blob) == 20688, "backup blob (20688 chars)");
		free(blob);
		free(text);
	}
	json_object_put(root);

	root = load("test_crypto_client.pyTestCryptoClienttest_sign_and_verify[2025-07-01_mhsm].json");
	ents = get(root, "Entries");
	for (size_t i = 0; ents && i < json_object_array_length(ents); i++) {
		struct json_object *e = json_object_array_get_idx(ents, i);
		bool valid = false;
		char *text;

		if (!strstr(gets(e, "RequestUri"), "/verify"))
			continue;
		text = text_of(get(e, "ResponseBody"));
		ok(jm_parse_verify(text, strlen(text), &valid) == HSM_OK && valid,
		   "recorded verify: true");
		free(text);
	}
	json_object_put(root);
	{
		bool valid = true;

		ok(jm_parse_verify("{\"value\":false}", 15, &valid) == HSM_OK && !valid,
		   "verify false");
		ok(jm_parse_verify("{\"value\":\"true\"}", 16, &valid) == HSM_E_PROTOCOL,
		   "verify value must be a boolean");
	}
}

static void test_malformed(void)
{
	struct hsm_key k;
	struct hsm_key_list l = { 0 };
	char *next = NULL;
	static const char *const bad[] = {
		"", "{", "[]", "null", "{\"key\":{}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\"}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"XYZ\"}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"RSA-HSM\"}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"EC-HSM\",\"crv\":\"P-999\",\"x\":\"AA\",\"y\":\"AA\"}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"RSA-HSM\",\"n\":\"!!\",\"e\":\"AQAB\"}}",
		"{\"key\":{\"kid\":\"nonsense\",\"kty\":\"oct-HSM\"}}",
		"{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"oct-HSM\"}} trailing",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum hsm_status st = jm_parse_key(bad[i], strlen(bad[i]), &k);

		ok(st == HSM_E_PROTOCOL && k.name == NULL && k.kid == NULL,
		   "malformed bundle %zu refused, output empty", i);
	}
	ok(jm_parse_key("{\"key\":{\"kid\":\"https://h/keys/a/b\",\"kty\":\"oct-HSM\"}}  \r\n",
			54, &k) == HSM_OK && k.bits == 0, "trailing white space is fine");
	hsm_key_cleanup(&k);
	ok(jm_parse_list("{\"value\":{}}", 12, &l, &next) == HSM_E_PROTOCOL,
	   "list value not an array");
	ok(jm_parse_list("{\"value\":[{\"kid\":\"x\"}]}", 23, &l, &next) == HSM_E_PROTOCOL &&
	   l.n == 0, "list item with a bad kid");
	ok(jm_parse_list("{\"value\":[]}", 12, &l, &next) == HSM_OK && l.n == 0 &&
	   next == NULL, "empty last page");
	hsm_key_list_cleanup(&l);
}

static void test_tokens(void)
{
	char *tok;
	size_t len;
	int64_t exp;
	const char *entra = "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
			    "\"ext_expires_in\":3599,\"access_token\":\"eyJ.a.b\"}";
	const char *imds = "{\"access_token\":\"tok2\",\"refresh_token\":\"\","
			   "\"expires_in\":\"3599\",\"expires_on\":\"1506484173\","
			   "\"resource\":\"https://managedhsm.azure.net\"}";
	const char *az = "{\"accessToken\":\"tok3\",\"expiresOn\":\"2030-01-02 03:04:05.000000\","
			 "\"subscription\":\"s\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}";
	const char *az2 = "{\"accessToken\":\"tok4\",\"expiresOn\":\"2030-01-02 03:04:05.000000\","
			  "\"expires_on\":1893553445}";
	char msg[200];

	ok(jm_parse_token(entra, strlen(entra), 1000, &tok, &len, &exp) == HSM_OK &&
	   len == 7 && !strcmp(tok, "eyJ.a.b") && exp == 1000 + 3599,
	   "Entra reply: expires_in relative");
	free(tok);
	ok(jm_parse_token(imds, strlen(imds), 1000, &tok, &len, &exp) == HSM_OK &&
	   !strcmp(tok, "tok2") && exp == 1506484173,
	   "managed identity reply: expires_on string wins");
	free(tok);
	{
		struct tm tm = { .tm_year = 130, .tm_mon = 0, .tm_mday = 2,
				 .tm_hour = 3, .tm_min = 4, .tm_sec = 5, .tm_isdst = -1 };
		int64_t want = (int64_t)mktime(&tm);

		ok(jm_parse_token(az, strlen(az), 1000, &tok, &len, &exp) == HSM_OK &&
		   !strcmp(tok, "tok3") && exp == want,
		   "az CLI reply: expiresOn local time");
		free(tok);
	}
	ok(jm_parse_token(az2, strlen(az2), 1000, &tok, &len, &exp) == HSM_OK &&
	   exp == 1893553445, "az CLI reply: expires_on preferred");
	free(tok);
	ok(jm_parse_token("{\"expires_in\":5}", 16, 0, &tok, &len, &exp) == HSM_E_PROTOCOL &&
	   tok == NULL, "reply without a token");
	{
		/* tests/fuzz/regressions/token: a NUL or CR LF in the token
		 * would cut or add header lines. */
		const char *nul = "{\"access_token\":\"a\\u0000b\",\"expires_in\":60}";
		const char *crlf = "{\"access_token\":\"a\\r\\nX-Evil: 1\"}";

		ok(jm_parse_token(nul, strlen(nul), 0, &tok, &len, &exp) == HSM_E_PROTOCOL &&
		   tok == NULL, "token with a NUL refused");
		ok(jm_parse_token(crlf, strlen(crlf), 0, &tok, &len, &exp) == HSM_E_PROTOCOL &&
		   tok == NULL, "token with CR LF refused");
		/* tests/fuzz/regressions/token: now + expires_in overflowed. */
		ok(jm_parse_token("{\"access_token\":\"e\",\"expires_in\":60444444444444444444}",
				  54, 1000, &tok, &len, &exp) == HSM_OK && exp == INT64_MAX,
		   "a huge expires_in saturates");
		free(tok);
	}
	{
		/* tests/fuzz/regressions/json_map: a time of 1e99 is not
		 * cast (undefined behaviour), it is ignored. */
		const char *big = "{\"key\":{\"kid\":\"https://h/keys/k/v\",\"kty\":\"oct-HSM\"},"
				  "\"attributes\":{\"updated\":1e99,\"created\":5.5}}";
		struct hsm_key bk;

		ok(jm_parse_key(big, strlen(big), &bk) == HSM_OK &&
		   bk.attrs.updated == 0 && bk.attrs.created == 5,
		   "out-of-range time ignored, fraction truncated");
		hsm_key_cleanup(&bk);
	}
	{
		const char *te = "{\"error\":\"invalid_client\",\"error_description\":"
				 "\"AADSTS7000215: Invalid client secret.\\r\\nTrace ID: x\","
				 "\"error_codes\":[7000215]}";

		ok(jm_token_error(te, strlen(te), msg, sizeof(msg)) &&
	   !strcmp(msg, "invalid_client: AADSTS7000215: Invalid client secret."),
	   "token endpoint error on one line: %s", msg);
	}
	{
		/* {"alg":"none"}.{"exp":1700000000}. */
		const char *jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.";

		ok(jm_jwt_exp(jwt, strlen(jwt)) == 1700000000, "JWT exp claim");
		ok(jm_jwt_exp("opaque", 6) == 0, "opaque token: no exp");
	}
}

static void test_builders(void)
{
	struct hsm_tag tags[] = { { (char *)"test name ", (char *)"v" } };
	struct hsm_create p = { .kty = KEY_EC, .crv = CRV_P384,
				.ops = KOP_SIGN | KOP_VERIFY, .tags = tags,
				.n_tags = 1, .exp = 2524723200 };
	struct json_object *o;
	char *s;

	s = jm_build_create(&p);
	o = s ? json_tokener_parse(s) : NULL;
	ok(o && !strcmp(gets(o, "kty"), "EC") && !strcmp(gets(o, "crv"), "P-384") &&
	   ops_judge(get(o, "key_ops")) == (KOP_SIGN | KOP_VERIFY) &&
	   json_object_array_length(get(o, "key_ops")) == 2 &&
	   !strcmp(gets(get(o, "tags"), "test name "), "v") &&
	   geti(get(o, "attributes"), "exp") == 2524723200 && !get(o, "key_size"),
	   "create body: %s", s ? s : "(null)");
	json_object_put(o);
	free(s);
	/* The kty as asked: plain (a vault's software key; Managed HSM makes
	 * it an HSM key anyway) or -HSM. */
	p = (struct hsm_create){ .kty = KEY_RSA, .hsm = true };
	s = jm_build_create(&p);
	o = s ? json_tokener_parse(s) : NULL;
	ok(o && !strcmp(gets(o, "kty"), "RSA-HSM"), "RSA-HSM create body: %s", s);
	json_object_put(o);
	free(s);
	p = (struct hsm_create){ .kty = KEY_OCT, .bits = 256, .hsm = true };
	s = jm_build_create(&p);
	o = s ? json_tokener_parse(s) : NULL;
	ok(o && !strcmp(gets(o, "kty"), "oct-HSM") && geti(o, "key_size") == 256 &&
	   !get(o, "key_ops"), "oct create body: %s", s);
	json_object_put(o);
	free(s);
	{
		struct hsm_update u = { .has_exp = true, .exp = 0, .has_enabled = true,
					.enabled = false, .has_ops = true,
					.ops = KOP_DECRYPT | KOP_ENCRYPT };

		s = jm_build_update(&u);
		o = s ? json_tokener_parse(s) : NULL;
		ok(o && get(get(o, "attributes"), "enabled") &&
		   !json_object_get_boolean(get(get(o, "attributes"), "enabled")) &&
		   json_object_object_get_ex(get(o, "attributes"), "exp", NULL) &&
		   get(get(o, "attributes"), "exp") == NULL &&
		   ops_judge(get(o, "key_ops")) == (KOP_DECRYPT | KOP_ENCRYPT) &&
		   !get(o, "tags"), "update body: %s", s);
		json_object_put(o);
		free(s);
	}
	{
		uint8_t v[200], iv[16], aad[4] = "test";
		unsigned char back[256];
		struct hsm_crypt in = { .alg = "A256CBC", .value = v, .len = sizeof(v),
					.iv = iv, .iv_len = 16, .aad = aad, .aad_len = 4 };

		for (size_t i = 0; i < sizeof(v); i++)
			v[i] = (uint8_t)(i * 7);
		memset(iv, 0xab, sizeof(iv));
		s = jm_build_crypt(&in);
		o = s ? json_tokener_parse(s) : NULL;
		ok(o && !strcmp(gets(o, "alg"), "A256CBC") &&
		   b64url(gets(o, "value"), back, sizeof(back)) == 200 &&
		   !memcmp(back, v, 200) && !strcmp(gets(o, "aad"), "dGVzdA") &&
		   b64url(gets(o, "iv"), back, sizeof(back)) == 16 && !get(o, "tag") &&
		   !strchr(gets(o, "value"), '='), "crypt body, base64url unpadded");
		json_object_put(o);
		free(s);
	}
	{
		uint8_t d[32] = { 1, 2, 3 }, sig[64] = { 9 }, back[128];

		s = jm_build_sign("ES256", d, 32, sig, 64);
		o = s ? json_tokener_parse(s) : NULL;
		ok(o && gets(o, "digest") && gets(o, "value") &&
		   b64url(gets(o, "value"), back, sizeof(back)) == 64 &&
		   !memcmp(back, sig, 64) &&
		   b64url(gets(o, "digest"), back, sizeof(back)) == 32 &&
		   !memcmp(back, d, 32),
		   "verify body has digest and value");
		json_object_put(o);
		free(s);
	}
	{
		bool badj;

		s = jm_build_import("{\"kty\":\"oct-HSM\",\"k\":\"AAAA\"}", NULL, &badj);
		o = s ? json_tokener_parse(s) : NULL;
		ok(o && !badj && !strcmp(gets(get(o, "key"), "k"), "AAAA"),
		   "import body wraps the JWK");
		json_object_put(o);
		free(s);
		ok(jm_build_import("[1]", NULL, &badj) == NULL && badj,
		   "import refuses a non-object");
		s = jm_normalize("{ \"a\" : 1 }", &badj);
		ok(s && !strcmp(s, "{\"a\":1}"), "normalize");
		free(s);
		ok(jm_normalize("{", &badj) == NULL && badj, "normalize refuses bad JSON");
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s RECORDINGS_DIR\n", argv[0]);
		return 99;
	}
	dir = argv[1];
	test_bundles("test_key_client.pyTestKeyClienttest_key_crud_operations[2025-07-01_mhsm].json");
	test_bundles("test_key_client.pyTestKeyClienttest_purge[2025-07-01_mhsm].json");
	test_bundles("test_samples_keys.pyTestExamplesKeyVaulttest_example_create_oct_key[2025-07-01_mhsm].json");
	test_bundles("test_crypto_client.pyTestCryptoClienttest_symmetric_encrypt_and_decrypt[2025-07-01_mhsm].json");
	test_bundles("test_key_client.pyTestKeyClienttest_key_rotation[7.5_mhsm].json");
	test_bundles("test_crypto_client.pyTestCryptoClienttest_ec_verify_local[2025-07-01_mhsm].json");
	test_bundles("KeyVaultKeyHSMClient.CreateEcHsmKey.json");
	test_list("test_key_client.pyTestKeyClienttest_key_list[2025-07-01_mhsm].json",
		  "/keys?", false, false, 13, 12);
	test_list("test_key_client.pyTestKeyClienttest_list_versions[2025-07-01_mhsm].json",
		  "/versions", true, false, 2, 1);
	test_list("test_key_client.pyTestKeyClienttest_purge[2025-07-01_mhsm].json",
		  "/deletedkeys", false, true, 2, 0);
	test_results("test_crypto_client.pyTestCryptoClienttest_rsa_verify_local[2025-07-01_mhsm].json", "/sign");
	test_results("test_crypto_client.pyTestCryptoClienttest_symmetric_encrypt_and_decrypt[2025-07-01_mhsm].json", "/encrypt");
	test_results("test_crypto_client.pyTestCryptoClienttest_symmetric_encrypt_and_decrypt[2025-07-01_mhsm].json", "/decrypt");
	test_results("test_crypto_client.pyTestCryptoClienttest_encrypt_and_decrypt[2025-07-01_mhsm].json", "/encrypt");
	test_results("test_crypto_client.pyTestCryptoClienttest_wrap_and_unwrap[2025-07-01_mhsm].json", "/wrapkey");
	test_results("test_crypto_client.pyTestCryptoClienttest_wrap_and_unwrap[2025-07-01_mhsm].json", "/unwrapkey");
	test_results("AesKwWrapUnwrapRoundTrip_A256KW_.json", "/wrapKey");
	test_expected_lengths();
	test_errors();
	test_misc_replies();
	test_malformed();
	test_tokens();
	test_builders();
	return done_testing();
}
