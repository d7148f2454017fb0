/* Unit tests: path -> node (resolve_parse) and the key part of it
 * (resolve_key) against a fake key cache backend. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fakekey.h"
#include "resolve.h"
#include "tap.h"

#define V32 "0123456789abcdef0123456789abcdef"

static const struct root_entry root[] = {
	{ "README", N_TEXT, NULL, true, 0444 },
	{ "keys", N_KEYS, NULL, false, 0444 },
	{ "random", N_RANDOM, NULL, false, 0444 },
	{ "status", N_TEXT, NULL, false, 0444 },
	{ NULL, N_ROOT, NULL, false, 0444 },
};

static int parse(const char *path, struct node *nd)
{
	return resolve_parse(path, root, nd);
}

static void test_parse(void)
{
	struct node nd;
	char long_name[300], p[400];

	ok(parse("/", &nd) == 0 && nd.kind == N_ROOT, "/ is the root");
	ok(parse("", &nd) == 0 && nd.kind == N_ROOT, "empty path is the root");
	ok(parse("/README", &nd) == 0 && nd.kind == N_TEXT &&
	   nd.root == &root[0], "a root file names its table row");
	ok(parse("/status", &nd) == 0 && nd.root == &root[3], "the last row");
	ok(parse("/random", &nd) == 0 && nd.kind == N_RANDOM, "random");
	ok(parse("/error", &nd) == -ENOENT, "a name not in the table");
	ok(parse("/README/x", &nd) == -ENOENT, "nothing below a root file");
	ok(parse("/keys", &nd) == 0 && nd.kind == N_KEYS && nd.root == &root[1],
	   "keys is a table row too");
	ok(parse("//keys//", &nd) == 0 && nd.kind == N_KEYS, "extra slashes");
	ok(parse("/keys/app", &nd) == 0 && nd.kind == N_KEY &&
	   strcmp(nd.name, "app") == 0 && nd.version[0] == '\0', "a key");
	ok(parse("/keys/bad.name", &nd) == -ENOENT, "an invalid key name");
	ok(parse("/keys/app/sign.ES256.raw", &nd) == 0 && nd.kind == N_KFILE &&
	   strcmp(nd.file, "sign.ES256.raw") == 0, "a file in a key dir");
	ok(parse("/keys/app/sign/x", &nd) == -ENOENT, "nothing below a key file");
	ok(parse("/keys/app/versions", &nd) == 0 && nd.kind == N_VERSIONS &&
	   nd.file[0] == '\0', "versions");
	ok(parse("/keys/app/versions/" V32, &nd) == 0 && nd.kind == N_VERSION &&
	   strcmp(nd.version, V32) == 0, "a version");
	ok(parse("/keys/app/versions/ABCDEF", &nd) == -ENOENT,
	   "a version that is not 32 lower-case hex digits");
	ok(parse("/keys/app/versions/" V32 "/info", &nd) == 0 &&
	   nd.kind == N_KFILE && strcmp(nd.file, "info") == 0 &&
	   strcmp(nd.version, V32) == 0, "a file of a pinned version");
	ok(parse("/keys/app/versions/" V32 "/versions", &nd) == -ENOENT,
	   "no versions below a version");
	ok(parse("/keys/app/versions/" V32 "/info/x", &nd) == -ENOENT,
	   "nothing below a version's file");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(p, sizeof(p), "/keys/app/%s", long_name);
	ok(parse(p, &nd) == -ENOENT, "a too long file name is no name, not the key dir");
	snprintf(p, sizeof(p), "/keys/%s", long_name);
	ok(parse(p, &nd) == -ENOENT, "a too long key name");
	snprintf(p, sizeof(p), "/%s", long_name);
	ok(parse(p, &nd) == -ENOENT, "a too long root name");
}

/* ------------------------------------------------------------ key part */

struct fake {
	int gets, lists;
	enum hsm_status fail;
	EVP_PKEY *ec;
};

static enum hsm_status f_list(void *arg, struct hsm_call *call,
			      struct hsm_key_list *out)
{
	struct fake *f = arg;

	(void)call;
	f->lists++;
	if (f->fail)
		return f->fail;
	out->items = calloc(1, sizeof(*out->items));
	out->n = 1;
	out->items[0].name = strdup("app");
	out->items[0].attrs.created = 1111;
	return HSM_OK;
}

static enum hsm_status f_get(void *arg, struct hsm_call *call, const char *name,
			     const char *version, struct hsm_key *out)
{
	struct fake *f = arg;

	f->gets++;
	if (f->fail) {
		snprintf(call->err.code, sizeof(call->err.code), "Forbidden");
		snprintf(call->err.request_id, sizeof(call->err.request_id), "rid-1");
		return f->fail;
	}
	if (strcmp(name, "app") != 0)
		return HSM_E_NOT_FOUND;
	fake_ec_key(out, f->ec, name, version ? version : V32);
	out->attrs.updated = 1700000001;
	return HSM_OK;
}

static int key(struct keycache *kc, const char *path, enum resolve_depth d,
	       struct node *nd, struct fs_fail *f)
{
	struct hsm_call call;

	memset(&call, 0, sizeof(call));
	if (parse(path, nd) != 0)
		return -999;
	return resolve_key(kc, &call, nd, d, f);
}

static void test_key(void)
{
	struct fake fk = {0};
	struct kc_backend be = { f_list, NULL, f_get, NULL, &fk };
	struct keycache *kc;
	struct fs_fail f;
	struct node nd;
	size_t len;

	pkey_generate_ec(CRV_P256, &fk.ec);
	kc = kc_new(&be, 30000, 5000);

	ok(key(kc, "/keys", RS_ATTR, &nd, &f) == 0 && fk.gets == 0 &&
	   fk.lists == 0, "nothing to look up above a key");
	ok(key(kc, "/keys/app", RS_ATTR, &nd, &f) == 0 && nd.kv == NULL &&
	   nd.mtime == 1700000001 && fk.gets == 1,
	   "stat of a key dir: the key exists, its time");
	node_release(&nd);
	ok(key(kc, "/keys/app", RS_LIST, &nd, &f) == 0 && nd.kv != NULL,
	   "readdir of a key dir: the version, for its files");
	node_release(&nd);
	ok(key(kc, "/keys/app/versions", RS_LIST, &nd, &f) == 0 && nd.kv == NULL,
	   "readdir of versions/ leaves the listing to the caller");
	ok(key(kc, "/keys/app/public.pem", RS_ATTR, &nd, &f) == 0 &&
	   nd.kind == N_META && nd.meta == M_PEM &&
	   meta_data(nd.kv, nd.meta, &len) != NULL && len > 0 &&
	   strcmp(meta_name(nd.meta), "public.pem") == 0, "a metadata file");
	node_release(&nd);
	ok(key(kc, "/keys/app/sign.ES256.raw.b64", RS_ATTR, &nd, &f) == 0 &&
	   nd.kind == N_OP && nd.on.op == FOP_SIGN && nd.on.raw &&
	   nd.on.enc == ENC_B64, "an operation file with its modifiers");
	node_release(&nd);
	ok(key(kc, "/keys/app/encrypt", RS_ATTR, &nd, &f) == -ENOENT &&
	   f.err == 0, "an operation the key cannot do is no file");
	node_release(&nd);
	ok(key(kc, "/keys/app/versions/" V32 "/verify", RS_ATTR, &nd, &f) == 0 &&
	   nd.kind == N_OP && strcmp(nd.kv->key.version, V32) == 0,
	   "a pinned version's operation");
	node_release(&nd);
	ok(key(kc, "/keys/nokey/sign", RS_ATTR, &nd, &f) == -ENOENT &&
	   f.err == -ENOENT, "a key that does not exist");
	node_release(&nd);
	fk.fail = HSM_E_FORBIDDEN;
	ok(key(kc, "/keys/other/info", RS_ATTR, &nd, &f) == -EACCES &&
	   f.err == -EACCES && strcmp(f.code, "Forbidden") == 0 &&
	   strcmp(f.request_id, "rid-1") == 0,
	   "a refused lookup carries the service's detail");
	node_release(&nd);
	ok(!node_is_dir(&(struct node){ .kind = N_OP }) &&
	   node_is_dir(&(struct node){ .kind = N_VERSION }), "node_is_dir");
	kc_free(kc);
	EVP_PKEY_free(fk.ec);
}

int main(void)
{
	test_parse();
	test_key();
	return done_testing();
}
