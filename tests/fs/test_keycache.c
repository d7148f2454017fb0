/* Unit tests: key caches (list ttl, versions, latest pointer, misses,
 * stale data when unreachable) and the rendered metadata files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fakekey.h"
#include "keycache.h"
#include "pkey.h"
#include "render.h"
#include "tap.h"

struct fake {
	int64_t now;
	int lists, gets, vlists;
	enum hsm_status fail;	/* HSM_OK: answer */
	int version;		/* latest version number */
	EVP_PKEY *ec;
	struct keycache *kc;
	bool change_in_get;	/* a change lands while a get is in flight */
};

static enum hsm_status f_list(void *arg, struct hsm_call *call, struct hsm_key_list *out)
{
	struct fake *f = arg;
	static const char *names[] = { "zeta", "alpha", "mid" };
	size_t i;

	f->lists++;
	if (f->fail)
		return f->fail;
	out->items = calloc(3, sizeof(*out->items));
	out->n = 3;
	for (i = 0; i < 3; i++) {
		out->items[i].name = strdup(names[i]);
		out->items[i].attrs.created = 1000 + (int64_t)i;
	}
	return HSM_OK;
}

static enum hsm_status f_versions(void *arg, struct hsm_call *call, const char *name,
				  struct hsm_key_list *out)
{
	struct fake *f = arg;

	f->vlists++;
	if (f->fail)
		return f->fail;
	out->items = calloc(1, sizeof(*out->items));
	out->n = 1;
	out->items[0].name = strdup(name);
	out->items[0].version = strdup("v1");
	return HSM_OK;
}

static enum hsm_status f_get(void *arg, struct hsm_call *call, const char *name,
			     const char *version, struct hsm_key *out)
{
	struct fake *f = arg;
	char v[16];

	f->gets++;
	if (f->change_in_get) {
		f->change_in_get = false;
		kc_forget(f->kc, name);
	}
	if (f->fail)
		return f->fail;
	if (strcmp(name, "missing") == 0 || strncmp(name, "nokey-", 6) == 0)
		return HSM_E_NOT_FOUND;
	snprintf(v, sizeof(v), "v%d", version ? atoi(version + 1) : f->version);
	fake_ec_key(out, f->ec, name, v);
	if (strncmp(name, "lru-", 4) == 0) {
		/* An oct key: no public key to build, so that thousands of
		 * them stay cheap under valgrind (OpenSSL's key decoders are
		 * what the LRU test would otherwise measure). */
		free(out->x);
		free(out->y);
		out->x = out->y = NULL;
		out->x_len = out->y_len = 0;
		out->kty = KEY_OCT;
		strcpy(out->kty_name, "oct-HSM");
		out->crv = CRV_NONE;
		out->ops = KOP_ENCRYPT | KOP_DECRYPT;
	}
	return HSM_OK;
}

static int64_t f_now(void *arg)
{
	return ((struct fake *)arg)->now;
}

/*
 * Made-up names (issue 11: 20,000 stats cost 20,002 requests and grew
 * the cache for good): KC_MISS_GETS a second are asked for by name, the
 * rest answered by one list; with list_ttl=0 too; and the entries stay
 * within KC_MAX_ENTRIES.
 */
static void test_made_up_names(struct fake *f, struct kc_backend *be)
{
	struct keycache *kc = kc_new(be, 30000, 5000);
	struct kc_stats st;
	char name[32];
	int i, gets = f->gets, lists = f->lists;

	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "nokey-%d", i);
		if (kc_key_exists(kc, NULL, name, NULL, NULL) != HSM_E_NOT_FOUND)
			break;
	}
	is_int(i, 20000, "every made-up name is no key");
	ok(f->gets - gets == KC_MISS_GETS && f->lists - lists == 1,
	   "%d gets and one list for 20,000 names (%d, %d)", KC_MISS_GETS,
	   f->gets - gets, f->lists - lists);
	ok(kc_key_exists(kc, NULL, "mid", NULL, NULL) == HSM_OK,
	   "a listed key still exists");
	f->now += 1000;
	gets = f->gets;
	ok(kc_key_exists(kc, NULL, "nokey-x", NULL, NULL) == HSM_E_NOT_FOUND &&
	   f->gets == gets + 1, "a second later, names are asked for again");
	kc_free(kc);
	kc = kc_new(be, 0, 5000);
	gets = f->gets;
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "nokey-%d", i);
		if (i % 1000 == 0)
			f->now += 1000;		/* 20 s of it */
		kc_key_exists(kc, NULL, name, NULL, NULL);
	}
	ok(f->gets - gets == 20 * KC_MISS_GETS, "list_ttl=0: bounded too (%d)",
	   f->gets - gets);
	/* 9,000 keys looked at: the least recently used go. */
	for (i = 0; i < KC_MAX_ENTRIES + 808; i++) {
		struct kver *v = NULL;

		snprintf(name, sizeof(name), "lru-%d", i);
		if (kc_get(kc, NULL, name, NULL, &v) != HSM_OK)
			break;
		kver_put(v);
	}
	kc_get_stats(kc, &st);
	ok(st.entries == KC_MAX_ENTRIES, "at most %d entries (%zu)",
	   KC_MAX_ENTRIES, st.entries);
	{
		struct kver *v = NULL;

		ok(kc_get(kc, NULL, "alpha", NULL, &v) == HSM_OK && v != NULL,
		   "a key still found past the bound");
		kver_put(v);
	}
	kc_free(kc);
}

int main(void)
{
	struct fake f = { .now = 1000, .version = 1 };
	struct kc_backend be = { f_list, f_versions, f_get, f_now, &f };
	struct keycache *kc;
	struct kver *v = NULL, *w = NULL;
	char **names = NULL;
	size_t n = 0;
	int64_t created;

	pkey_generate_ec(CRV_P256, &f.ec);
	kc = kc_new(&be, 30000, 5000);
	f.kc = kc;

	ok(kc_list(kc, NULL, &names, &n) == HSM_OK && n == 3 &&
	   strcmp(names[0], "alpha") == 0 && strcmp(names[2], "zeta") == 0,
	   "list, sorted");
	kc_names_free(names, n);
	ok(kc_key_exists(kc, NULL, "mid", &created, NULL) == HSM_OK && created == 1002 &&
	   f.gets == 0, "a listed key exists without a get (ls -l)");
	f.now += 29000;
	ok(kc_list(kc, NULL, &names, &n) == HSM_OK && f.lists == 1, "list cached within list_ttl");
	kc_names_free(names, n);
	f.now += 2000;
	ok(kc_list(kc, NULL, &names, &n) == HSM_OK && f.lists == 2, "list refreshed after list_ttl");
	kc_names_free(names, n);

	ok(kc_get(kc, NULL, "alpha", NULL, &v) == HSM_OK && f.gets == 1 &&
	   strcmp(v->key.version, "v1") == 0, "latest fetched once");
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK && f.gets == 1 && w == v,
	   "latest served from the cache");
	kver_put(w);
	ok(kc_get(kc, NULL, "alpha", "v1", &w) == HSM_OK && f.gets == 1 && w == v,
	   "the pinned version is the same bundle");
	kver_put(w);

	/* rendered files */
	ok(v->pk && v->pem && strncmp(v->pem, "-----BEGIN PUBLIC KEY-----", 26) == 0 &&
	   v->pem_len == strlen(v->pem), "public.pem");
	{
		unsigned char *der = NULL;
		int len = i2d_PUBKEY(f.ec, &der);

		ok(len > 0 && (size_t)len == v->der_len && memcmp(der, v->der, v->der_len) == 0,
		   "public.der equals OpenSSL's SubjectPublicKeyInfo");
		OPENSSL_free(der);
	}
	ok(v->info && strstr(v->info, "name: alpha\nversion: v1\nkty: EC-HSM\ncurve: P-256\n") &&
	   strstr(v->info, "key_ops: sign verify\n") && strstr(v->info, "created: 2023-11-14T22:13:20Z\n") &&
	   strstr(v->info, "exp: none\n") && strstr(v->info, "tags: none\n") &&
	   strstr(v->info, "default_sign: ES256\n") && v->info_len == strlen(v->info),
	   "info text");
	ok(v->algs && strcmp(v->algs, "sign: ES256 | raw b64 b64url hex prehashed\n"
			     "verify: ES256 | raw b64 b64url hex prehashed\n") == 0, "algs text");
	ok(v->jwk_len == strlen(v->key.jwk_json) && v->meta_len == 10, "json sizes");

	/* rotation shows after list_ttl; the old version stays cached */
	f.version = 2;
	f.now += 31000;
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK && f.gets == 2 &&
	   strcmp(w->key.version, "v2") == 0, "latest pointer refreshed after list_ttl");
	kver_put(w);
	ok(kc_get(kc, NULL, "alpha", "v1", &w) == HSM_OK && f.gets == 2 && w == v,
	   "older versions stay cached");
	kver_put(w);

	/* misses are remembered 5 s */
	ok(kc_get(kc, NULL, "missing", NULL, &w) == HSM_E_NOT_FOUND && f.gets == 3, "miss");
	ok(kc_key_exists(kc, NULL, "missing", NULL, NULL) == HSM_E_NOT_FOUND && f.gets == 3,
	   "miss remembered");
	f.now += 5001;
	ok(kc_get(kc, NULL, "missing", NULL, &w) == HSM_E_NOT_FOUND && f.gets == 4,
	   "miss forgotten after 5 s");

	/* unreachable: stale data is served */
	f.now += 60000;
	f.fail = HSM_E_UNREACHABLE;
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK && strcmp(w->key.version, "v2") == 0,
	   "stale latest served when unreachable");
	kver_put(w);
	ok(kc_list(kc, NULL, &names, &n) == HSM_OK && n == 3, "stale list served when unreachable");
	kc_names_free(names, n);
	ok(kc_get(kc, NULL, "never-seen", NULL, &w) == HSM_E_UNREACHABLE,
	   "nothing cached: the failure");
	f.fail = HSM_E_FORBIDDEN;
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_E_FORBIDDEN,
	   "a refusal is not hidden by stale data");
	f.fail = HSM_OK;

	ok(kc_versions(kc, NULL, "alpha", &names, &n) == HSM_OK && n == 1 &&
	   strcmp(names[0], "v1") == 0 && f.vlists == 1, "versions");
	kc_names_free(names, n);
	ok(kc_versions(kc, NULL, "alpha", &names, &n) == HSM_OK && f.vlists == 1, "versions cached");
	kc_names_free(names, n);

	/* a change made here shows at once: kc_forget() */
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK, "latest fetched");
	kver_put(w);
	f.version = 3;
	ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK && strcmp(w->key.version, "v2") == 0,
	   "before forget: the cached latest");
	kver_put(w);
	ok(kc_list(kc, NULL, &names, &n) == HSM_OK, "list cached");
	kc_names_free(names, n);
	{
		int gets = f.gets, lists = f.lists, vlists = f.vlists;

		kc_forget(kc, "alpha");
		ok(kc_get(kc, NULL, "alpha", NULL, &w) == HSM_OK && f.gets == gets + 1 &&
		   strcmp(w->key.version, "v3") == 0, "forget: the latest is fetched again");
		kver_put(w);
		ok(kc_versions(kc, NULL, "alpha", &names, &n) == HSM_OK && f.vlists == vlists + 1,
		   "forget: the versions are fetched again");
		kc_names_free(names, n);
		ok(kc_list(kc, NULL, &names, &n) == HSM_OK && f.lists == lists + 1,
		   "forget: the list is fetched again");
		kc_names_free(names, n);
		ok(kc_key_exists(kc, NULL, "mid", NULL, NULL) == HSM_OK && f.gets == gets + 1,
		   "the new list answers again");
		kc_forget(kc, NULL);
		ok(kc_key_exists(kc, NULL, "mid", NULL, NULL) == HSM_OK && f.gets == gets + 2,
		   "forget(NULL): a stale list does not answer for a key");
		f.fail = HSM_E_UNREACHABLE;
		kc_forget(kc, NULL);
		ok(kc_list(kc, NULL, &names, &n) == HSM_OK && n == 3,
		   "forget: the old list still served when unreachable");
		kc_names_free(names, n);
		f.fail = HSM_OK;
		gets = f.gets;
		f.change_in_get = true;
		ok(kc_get(kc, NULL, "zeta", NULL, &w) == HSM_OK && f.gets == gets + 1,
		   "a get that raced with a change answers");
		kver_put(w);
		ok(kc_get(kc, NULL, "zeta", NULL, &w) == HSM_OK && f.gets == gets + 2,
		   "... but is not cached (it may predate the change)");
		kver_put(w);
		ok(kc_get(kc, NULL, "zeta", NULL, &w) == HSM_OK && f.gets == gets + 2,
		   "the next one is");
		kver_put(w);
	}

	kc_flush(kc);
	ok(kc_get(kc, NULL, "alpha", "v1", &w) == HSM_OK && w != v, "flush drops the cache");
	kver_put(w);
	kver_put(v);
	kc_free(kc);
	test_made_up_names(&f, &be);
	EVP_PKEY_free(f.ec);
	return done_testing();
}
