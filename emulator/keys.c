/*
 * keys.c - routing of /keys, /deletedkeys and /rng, role checks, and the
 * key management operations (create, import, get, update, delete, list,
 * deleted keys, backup/restore, rotation).  Crypto operations live in
 * keys_ops.c, the store in store.c, JSON shapes in render.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "envelope_i.h"
#include "keys_find_i.h"
#include "keys_i.h"
#include "keys_json_i.h"
#include "keys_ops_i.h"
#include "keys_params_i.h"
#include "material_i.h"
#include "pkey.h"
#include "render_i.h"
#include "store_i.h"
#include "sym.h"
#include "uuid_i.h"

/* ---- routing ---- */

enum op {
	OP_UNKNOWN, OP_CREATE, OP_IMPORT, OP_GET, OP_UPDATE, OP_DELETE,
	OP_LIST, OP_LIST_VERSIONS, OP_LIST_DELETED, OP_GET_DELETED,
	OP_RECOVER, OP_PURGE, OP_BACKUP, OP_RESTORE, OP_ROTATE,
	OP_GET_POLICY, OP_SET_POLICY, OP_SIGN, OP_VERIFY, OP_ENCRYPT,
	OP_DECRYPT, OP_WRAP, OP_UNWRAP, OP_RNG, OP_BAD_METHOD,
};

static const struct {
	const char *name;	/* keys_route_op() */
	enum emu_role role;	/* least role allowed */
	const char *action;	/* MHSM data action under .../keys/ */
} op_info[] = {
	[OP_UNKNOWN] = { "unknown", ROLE_OFFICER, "read/action" },
	[OP_CREATE] = { "create", ROLE_OFFICER, "create" },
	[OP_IMPORT] = { "import", ROLE_OFFICER, "import/action" },
	[OP_GET] = { "get", ROLE_READER, "read/action" },
	[OP_UPDATE] = { "update", ROLE_OFFICER, "write/action" },
	[OP_DELETE] = { "delete", ROLE_OFFICER, "delete" },
	[OP_LIST] = { "list", ROLE_READER, "read/action" },
	[OP_LIST_VERSIONS] = { "list_versions", ROLE_READER, "read/action" },
	[OP_LIST_DELETED] = { "list_deleted", ROLE_READER, "deletedKeys/read/action" },
	[OP_GET_DELETED] = { "get_deleted", ROLE_READER, "deletedKeys/read/action" },
	[OP_RECOVER] = { "recover", ROLE_OFFICER, "deletedKeys/recover/action" },
	[OP_PURGE] = { "purge", ROLE_OFFICER, "deletedKeys/delete" },
	[OP_BACKUP] = { "backup", ROLE_OFFICER, "backup/action" },
	[OP_RESTORE] = { "restore", ROLE_OFFICER, "restore/action" },
	[OP_ROTATE] = { "rotate", ROLE_OFFICER, "rotate/action" },
	[OP_GET_POLICY] = { "get_rotation_policy", ROLE_READER, "read/action" },
	[OP_SET_POLICY] = { "set_rotation_policy", ROLE_OFFICER, "write/action" },
	[OP_SIGN] = { "sign", ROLE_USER, "sign/action" },
	[OP_VERIFY] = { "verify", ROLE_USER, "verify/action" },
	[OP_ENCRYPT] = { "encrypt", ROLE_USER, "encrypt/action" },
	[OP_DECRYPT] = { "decrypt", ROLE_USER, "decrypt/action" },
	[OP_WRAP] = { "wrapkey", ROLE_USER, "wrap/action" },
	[OP_UNWRAP] = { "unwrapkey", ROLE_USER, "unwrap/action" },
	[OP_RNG] = { "rng", ROLE_USER, "rng/action" },
	[OP_BAD_METHOD] = { "unknown", ROLE_NONE, "" },
};

#define SEG_MAX 5

struct route {
	enum op op;
	const char *name;	/* points into segs; NULL when none */
	const char *version;	/* "" or NULL: latest */
	char buf[512];
	char *segs[SEG_MAX];
	int nsegs;
};

static enum op crypto_op(const char *s)
{
	if (strcasecmp(s, "sign") == 0)
		return OP_SIGN;
	if (strcasecmp(s, "verify") == 0)
		return OP_VERIFY;
	if (strcasecmp(s, "encrypt") == 0)
		return OP_ENCRYPT;
	if (strcasecmp(s, "decrypt") == 0)
		return OP_DECRYPT;
	if (strcasecmp(s, "wrapkey") == 0)
		return OP_WRAP;
	if (strcasecmp(s, "unwrapkey") == 0)
		return OP_UNWRAP;
	return OP_UNKNOWN;
}

static bool is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* Split path into segments and find the operation.  Unknown paths give
 * OP_UNKNOWN; known paths with a method they do not take OP_BAD_METHOD. */
static void route_parse(const char *method, const char *path, struct route *r)
{
	const char *p = path;
	char *s, **seg = r->segs;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	bool put = strcmp(method, "PUT") == 0, patch = strcmp(method, "PATCH") == 0;
	bool del = strcmp(method, "DELETE") == 0;
	enum op op = OP_UNKNOWN;
	int n;

	memset(r, 0, sizeof(*r));
	r->op = OP_UNKNOWN;
	/* "//rng" from the C++ SDK: leading slashes do not count. */
	while (*p == '/')
		p++;
	if (strlen(p) >= sizeof(r->buf))
		return;
	memcpy(r->buf, p, strlen(p) + 1);
	s = r->buf;
	n = 0;
	seg[n++] = s;
	for (; *s != '\0'; s++) {
		if (*s == '/') {
			if (n == SEG_MAX)
				return;
			*s = '\0';
			seg[n++] = s + 1;
		}
	}
	r->nsegs = n;
	if (is(seg[0], "rng") && n == 1) {
		op = post ? OP_RNG : OP_BAD_METHOD;
	} else if (is(seg[0], "keys")) {
		if (n == 1 || (n == 2 && seg[1][0] == '\0')) {
			op = get ? OP_LIST : OP_BAD_METHOD;
		} else if (n == 2) {
			r->name = seg[1];
			if (post && is(seg[1], "restore")) {
				r->name = NULL;
				op = OP_RESTORE;
			} else {
				op = get ? OP_GET : put ? OP_IMPORT : patch ? OP_UPDATE :
				     del ? OP_DELETE : OP_BAD_METHOD;
			}
		} else if (n == 3) {
			const char *t = seg[2];

			r->name = seg[1];
			if (post) {
				op = is(t, "create") ? OP_CREATE : is(t, "backup") ? OP_BACKUP :
				     is(t, "rotate") ? OP_ROTATE : crypto_op(t);
				if (op == OP_UNKNOWN)
					op = OP_BAD_METHOD;
			} else if (get) {
				op = is(t, "versions") ? OP_LIST_VERSIONS :
				     is(t, "rotationpolicy") ? OP_GET_POLICY : OP_GET;
				if (op == OP_GET)
					r->version = t;
			} else if (put && is(t, "rotationpolicy")) {
				op = OP_SET_POLICY;
			} else if (patch) {
				op = OP_UPDATE;
				r->version = t;
			} else {
				op = OP_BAD_METHOD;
			}
		} else if (n == 4) {
			r->name = seg[1];
			r->version = seg[2];
			op = crypto_op(seg[3]);
			if (op != OP_UNKNOWN && !post)
				op = OP_BAD_METHOD;
		}
	} else if (is(seg[0], "deletedkeys")) {
		if (n == 1 || (n == 2 && seg[1][0] == '\0')) {
			op = get ? OP_LIST_DELETED : OP_BAD_METHOD;
		} else if (n == 2) {
			r->name = seg[1];
			op = get ? OP_GET_DELETED : del ? OP_PURGE : OP_BAD_METHOD;
		} else if (n == 3 && is(seg[2], "recover")) {
			r->name = seg[1];
			op = post ? OP_RECOVER : OP_BAD_METHOD;
		}
	}
	r->op = op;
}

const char *keys_route_op(const char *method, const char *path)
{
	struct route r;

	route_parse(method, path, &r);
	return op_info[r.op].name;
}

/* ---- request parameters ---- */

static int parse_kty(const char *s, enum key_type *out)
{
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "RSA") == 0 || strcmp(s, "RSA-HSM") == 0)
		*out = KEY_RSA;
	else if (strcmp(s, "EC") == 0 || strcmp(s, "EC-HSM") == 0)
		*out = KEY_EC;
	else if (strcmp(s, "oct") == 0 || strcmp(s, "oct-HSM") == 0)
		*out = KEY_OCT;
	else
		return -EINVAL;
	return 0;
}

/* Parsed common members of create/import/update bodies. */
struct key_params {
	bool have_ops;
	unsigned ops;
	bool have_enabled, enabled;
	bool have_nbf, have_exp;
	int64_t nbf, exp;
	struct json_object *tags;	/* borrowed */
};

/* Parse key_ops (from ops_src), attributes and tags (from o).  On error
 * fills resp and returns -EINVAL. */
static int parse_params(struct json_object *o, struct json_object *ops_src,
			struct key_params *p, struct emu_response *resp)
{
	struct json_object *ops = jmember(ops_src, "key_ops");
	struct json_object *attr = jmember(o, "attributes"), *m;

	memset(p, 0, sizeof(*p));
	if (ops != NULL) {
		if (!json_object_is_type(ops, json_type_array))
			goto bad_ops;
		p->have_ops = true;
		for (size_t i = 0; i < json_object_array_length(ops); i++) {
			struct json_object *op = json_object_array_get_idx(ops, i);
			unsigned bit;

			if (!json_object_is_type(op, json_type_string))
				goto bad_ops;
			bit = key_op_from_name(json_object_get_string(op));
			if (bit == 0) {
				emu_error(resp, 400, "BadParameter", NULL,
					  "Invalid key operation '%s'. Valid operations are encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, export and deriveKey.",
					  json_object_get_string(op));
				return -EINVAL;
			}
			p->ops |= bit;
		}
	}
	if (attr != NULL) {
		if (!json_object_is_type(attr, json_type_object)) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "'attributes' must be an object.");
			return -EINVAL;
		}
		if ((m = jmember(attr, "enabled")) != NULL) {
			if (!json_object_is_type(m, json_type_boolean))
				goto bad_attr;
			p->have_enabled = true;
			p->enabled = json_object_get_boolean(m);
		}
		if ((m = jmember(attr, "nbf")) != NULL) {
			if (!json_object_is_type(m, json_type_int))
				goto bad_attr;
			p->have_nbf = true;
			p->nbf = json_object_get_int64(m);
		}
		if ((m = jmember(attr, "exp")) != NULL) {
			if (!json_object_is_type(m, json_type_int))
				goto bad_attr;
			p->have_exp = true;
			p->exp = json_object_get_int64(m);
		}
		if ((m = jmember(attr, "exportable")) != NULL &&
		    json_object_get_boolean(m)) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Exportable keys need a release policy; the emulator does not support key release. Create the key with exportable false.");
			return -EINVAL;
		}
	}
	if ((m = jmember(o, "tags")) != NULL) {
		if (!json_object_is_type(m, json_type_object))
			goto bad_tags;
		if (json_object_object_length(m) > KEY_TAGS_MAX) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Too many tags: %d. A key may have at most %d tags.",
				  json_object_object_length(m), KEY_TAGS_MAX);
			return -EINVAL;
		}
		json_object_object_foreach(m, tk, tv) {
			if (!json_object_is_type(tv, json_type_string))
				goto bad_tags;
			if (strlen(tk) > KEY_TAG_LEN_MAX ||
			    strlen(json_object_get_string(tv)) > KEY_TAG_LEN_MAX) {
				emu_error(resp, 400, "BadParameter", NULL,
					  "Tag names and values may have at most %d characters.",
					  KEY_TAG_LEN_MAX);
				return -EINVAL;
			}
		}
		p->tags = m;
	}
	return 0;
bad_ops:
	emu_error(resp, 400, "BadParameter", NULL,
		  "'key_ops' must be an array of operation names.");
	return -EINVAL;
bad_attr:
	emu_error(resp, 400, "BadParameter", NULL,
		  "Invalid attributes: 'enabled' must be a boolean, 'nbf' and 'exp' integer seconds since the epoch.");
	return -EINVAL;
bad_tags:
	emu_error(resp, 400, "BadParameter", NULL,
		  "'tags' must be an object of string values.");
	return -EINVAL;
}

/* Apply parsed attributes, ops and tags to a version. */
static int apply_params(struct key_ver *v, const struct key_params *p)
{
	if (p->have_ops)
		v->ops = p->ops;
	if (p->have_enabled)
		v->enabled = p->enabled;
	if (p->have_nbf)
		v->nbf = p->nbf;
	if (p->have_exp)
		v->exp = p->exp;
	if (p->tags != NULL)
		return ver_set_tags(v, p->tags);
	return 0;
}

/* Add a new version v (taken over) under name, refusing deleted names.
 * Renders the bundle into resp. */
static void add_version_reply(struct keystore *ks, const struct emu_request *req,
			      const char *name, struct key_ver *v,
			      struct emu_response *resp)
{
	struct key_entry *e;
	bool fresh = false;

	pthread_rwlock_wrlock(&ks->lock);
	e = store_find(ks, name);
	if (e != NULL && e->deleted) {
		pthread_rwlock_unlock(&ks->lock);
		ver_free(v);
		keys_conflict_deleted(resp, name);
		return;
	}
	if (e == NULL) {
		e = store_add_entry(ks, name);
		fresh = true;
	}
	if (e == NULL || entry_add_version(e, v) != 0) {
		if (fresh && e != NULL)
			store_purge(ks, e);
		pthread_rwlock_unlock(&ks->lock);
		ver_free(v);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		return;
	}
	if (store_persist(ks, e) != 0) {
		/* Keep memory and disk in step: undo the new version. */
		e->nvers--;
		if (fresh)
			store_purge(ks, e);
		pthread_rwlock_unlock(&ks->lock);
		ver_free(v);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator could not write its data directory; check free space and permissions.");
		return;
	}
	render_reply(resp, 200, render_bundle(e, v, req->base_url, false));
	pthread_rwlock_unlock(&ks->lock);
}

static void op_create(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp), *m;
	struct key_params p;
	enum key_type kty;
	unsigned bits = 0;
	enum curve crv = CRV_P256;
	unsigned long exponent = 65537;
	struct key_mat *mat = NULL;
	struct key_ver *v;
	int err;

	if (o == NULL)
		return;
	if (parse_kty(jmember_str(o, "kty"), &kty) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid or missing 'kty'. Managed HSM supports RSA-HSM, EC-HSM and oct-HSM (RSA, EC and oct are accepted).");
		goto out;
	}
	if ((m = jmember(o, "key_size")) != NULL) {
		if (!json_object_is_type(m, json_type_int))
			goto bad_size;
		bits = (unsigned)json_object_get_int(m);
	}
	if (kty == KEY_RSA) {
		if (bits == 0)
			bits = 2048;
		if (bits != 2048 && bits != 3072 && bits != 4096)
			goto bad_size;
		if ((m = jmember(o, "public_exponent")) != NULL) {
			int64_t e = json_object_get_int64(m);

			if (!json_object_is_type(m, json_type_int) || e < 3 ||
			    e > 0x7fffffff || (e & 1) == 0) {
				emu_error(resp, 400, "BadParameter", NULL,
					  "Invalid 'public_exponent': it must be an odd integer of at least 3, such as 65537.");
				goto out;
			}
			exponent = (unsigned long)e;
		}
	} else if (kty == KEY_OCT) {
		if (bits == 0)
			bits = 256;
		if (bits != 128 && bits != 192 && bits != 256)
			goto bad_size;
	} else {
		const char *c = jmember_str(o, "crv");

		if (c != NULL)
			crv = curve_from_name(c);
		if (crv == CRV_NONE) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Invalid curve '%s'. Managed HSM supports P-256, P-256K, P-384 and P-521.",
				  c);
			goto out;
		}
	}
	if (parse_params(o, o, &p, resp) != 0)
		goto out;
	if (keys_name_deleted(ks, name)) {
		keys_conflict_deleted(resp, name);
		goto out;
	}
	err = mat_generate(kty, bits, crv, exponent, &mat);
	if (err != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "Key generation failed (%s); retry the request.",
			  strerror(-err));
		goto out;
	}
	v = ver_new(mat, store_now());
	if (v == NULL) {
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		goto out;
	}
	v->ops = mat_default_ops(kty);
	if (apply_params(v, &p) != 0) {
		ver_free(v);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		goto out;
	}
	add_version_reply(ks, req, name, v, resp);
out:
	json_object_put(o);
	return;
bad_size:
	emu_error(resp, 400, "BadParameter", NULL,
		  "Invalid 'key_size' for %s. Valid sizes: RSA 2048, 3072, 4096; oct 128, 192, 256.",
		  kty == KEY_RSA ? "RSA-HSM" : "oct-HSM");
	json_object_put(o);
}

/* Decode JWK member k into b; absent leaves b empty. -EINVAL if malformed. */
static int jwk_bytes(struct json_object *jwk, const char *k, struct bytes *b)
{
	const char *s = jmember_str(jwk, k);

	b->p = NULL;
	b->len = 0;
	if (s == NULL)
		return jmember(jwk, k) ? -EINVAL : 0;
	return b64url_decode(s, strlen(s), &b->p, &b->len);
}

static int import_material(struct json_object *jwk, enum key_type kty,
			   struct key_mat **out, const char **why)
{
	struct rsa_private r = { 0 };
	struct bytes d = { 0 }, x = { 0 }, y = { 0 }, k = { 0 };
	EVP_PKEY *pk = NULL;
	int err = -EINVAL;

	*out = NULL;
	*why = "the key material is malformed";
	if (kty == KEY_RSA) {
		if (jwk_bytes(jwk, "n", &r.n) || jwk_bytes(jwk, "e", &r.e) ||
		    jwk_bytes(jwk, "d", &r.d) || jwk_bytes(jwk, "p", &r.p) ||
		    jwk_bytes(jwk, "q", &r.q) || jwk_bytes(jwk, "dp", &r.dp) ||
		    jwk_bytes(jwk, "dq", &r.dq) || jwk_bytes(jwk, "qi", &r.qi))
			goto out;
		if (r.n.len == 0 || r.e.len == 0 || r.d.len == 0) {
			*why = "an RSA key needs n, e and the private exponent d (and preferably p, q, dp, dq, qi)";
			goto out;
		}
		err = pkey_from_rsa_private(&r, &pk);
		if (err == 0) {
			unsigned bits = pkey_bits(pk);

			if (bits != 2048 && bits != 3072 && bits != 4096) {
				*why = "Managed HSM accepts RSA keys of 2048, 3072 or 4096 bits";
				EVP_PKEY_free(pk);
				err = -EINVAL;
				goto out;
			}
		}
	} else if (kty == KEY_EC) {
		enum curve crv = curve_from_name(jmember_str(jwk, "crv") ?
						 jmember_str(jwk, "crv") : "");

		if (crv == CRV_NONE) {
			*why = "an EC key needs crv P-256, P-256K, P-384 or P-521";
			goto out;
		}
		if (jwk_bytes(jwk, "d", &d) || jwk_bytes(jwk, "x", &x) ||
		    jwk_bytes(jwk, "y", &y))
			goto out;
		if (d.len == 0) {
			*why = "an EC key needs the private scalar d";
			goto out;
		}
		err = pkey_from_ec_private(crv, &d, x.len ? &x : NULL,
					   y.len ? &y : NULL, &pk);
	} else {
		if (jwk_bytes(jwk, "k", &k))
			goto out;
		if (k.len != 16 && k.len != 24 && k.len != 32) {
			*why = "an oct key needs k of 128, 192 or 256 bits";
			goto out;
		}
		*out = mat_from_oct(k.p, k.len);
		err = *out ? 0 : -ENOMEM;
		goto out;
	}
	if (err != 0)
		goto out;
	*out = mat_from_pkey(pk);
	err = *out ? 0 : -ENOMEM;
out:
	bytes_free(&r.n);
	bytes_free(&r.e);
	bytes_free(&r.d);
	bytes_free(&r.p);
	bytes_free(&r.q);
	bytes_free(&r.dp);
	bytes_free(&r.dq);
	bytes_free(&r.qi);
	bytes_free(&d);
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&k);
	return err;
}

static void op_import(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp), *jwk;
	struct key_params p;
	enum key_type kty;
	struct key_mat *mat = NULL;
	struct key_ver *v;
	const char *why;
	int err;

	if (o == NULL)
		return;
	jwk = jmember(o, "key");
	if (jwk == NULL || !json_object_is_type(jwk, json_type_object)) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request must contain 'key', a JSON Web Key with private parts.");
		goto out;
	}
	if (parse_kty(jmember_str(jwk, "kty"), &kty) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid or missing 'kty' in 'key'. Managed HSM imports RSA-HSM, EC-HSM and oct-HSM keys.");
		goto out;
	}
	if (parse_params(o, jwk, &p, resp) != 0)
		goto out;
	if (keys_name_deleted(ks, name)) {
		keys_conflict_deleted(resp, name);
		goto out;
	}
	err = import_material(jwk, kty, &mat, &why);
	if (err == -ENOMEM) {
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		goto out;
	}
	if (err != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid key to import: %s.", why);
		goto out;
	}
	v = ver_new(mat, store_now());
	if (v == NULL || (v->ops = mat_default_ops(kty), apply_params(v, &p)) != 0) {
		ver_free(v);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		goto out;
	}
	add_version_reply(ks, req, name, v, resp);
out:
	/* The body held private key parts: cleanse json-c's copies. */
	if (o != NULL && (jwk = jmember(o, "key")) != NULL &&
	    json_object_is_type(jwk, json_type_object)) {
		static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "k" };

		for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
			struct json_object *s = jmember(jwk, priv[i]);

			if (s != NULL && json_object_is_type(s, json_type_string)) {
				char *b = (char *)json_object_get_string(s);

				secret_wipe(b, strlen(b));
			}
		}
	}
	json_object_put(o);
}

static void op_get(struct keystore *ks, const struct emu_request *req,
		   const char *name, const char *version, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v;

	pthread_rwlock_rdlock(&ks->lock);
	v = keys_find_active(ks, req, name, version, &e, resp);
	if (v != NULL)
		render_reply(resp, 200, render_bundle(e, v, req->base_url, false));
	pthread_rwlock_unlock(&ks->lock);
}

static void op_update(struct keystore *ks, const struct emu_request *req,
		      const char *name, const char *version,
		      struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp);
	struct key_params p;
	struct key_entry *e = NULL;
	struct key_ver *v;

	if (o == NULL)
		return;
	if (parse_params(o, o, &p, resp) != 0) {
		json_object_put(o);
		return;
	}
	pthread_rwlock_wrlock(&ks->lock);
	v = keys_find_active(ks, req, name, version, &e, resp);
	if (v != NULL) {
		if (apply_params(v, &p) != 0) {
			emu_error(resp, 500, "InternalError", NULL,
				  "The emulator ran out of memory; retry the request.");
		} else {
			v->updated = store_now();
			if (store_persist(ks, e) != 0)
				emu_error(resp, 500, "InternalError", NULL,
					  "The emulator could not write its data directory; check free space and permissions.");
			else
				render_reply(resp, 200,
					     render_bundle(e, v, req->base_url, false));
		}
	}
	pthread_rwlock_unlock(&ks->lock);
	json_object_put(o);
}

static void op_delete(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v;

	pthread_rwlock_wrlock(&ks->lock);
	v = keys_find_active(ks, req, name, NULL, &e, resp);
	if (v != NULL) {
		e->deleted = true;
		e->deleted_date = store_now();
		if (store_persist(ks, e) != 0) {
			e->deleted = false;
			emu_error(resp, 500, "InternalError", NULL,
				  "The emulator could not write its data directory; check free space and permissions.");
		} else {
			render_reply(resp, 200, render_bundle(e, v, req->base_url, true));
		}
	}
	pthread_rwlock_unlock(&ks->lock);
}

static void op_deleted(struct keystore *ks, const struct emu_request *req,
		       enum op op, const char *name, struct emu_response *resp)
{
	struct key_entry *e;

	pthread_rwlock_wrlock(&ks->lock);
	e = keys_find_deleted(ks, req, name, resp);
	if (e == NULL)
		goto out;
	if (op == OP_GET_DELETED) {
		render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
						      req->base_url, true));
	} else if (op == OP_RECOVER) {
		e->deleted = false;
		e->deleted_date = 0;
		if (store_persist(ks, e) != 0) {
			e->deleted = true;
			emu_error(resp, 500, "InternalError", NULL,
				  "The emulator could not write its data directory; check free space and permissions.");
			goto out;
		}
		render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
						      req->base_url, false));
	} else {
		store_purge(ks, e);
		resp->status = 204;
		resp->body = NULL;
		resp->body_len = 0;
	}
out:
	pthread_rwlock_unlock(&ks->lock);
}

/* ---- listing ---- */

static char *make_token(const char *kind, uint64_t n)
{
	char raw[48];

	snprintf(raw, sizeof(raw), "%s:%llu", kind, (unsigned long long)n);
	return b64url_encode((const uint8_t *)raw, strlen(raw));
}

/* Parse a $skiptoken made by make_token(); -EINVAL when it is not ours. */
static int parse_token(const char *tok, const char *kind, uint64_t *n)
{
	uint8_t *raw = NULL;
	size_t len = 0, kl = strlen(kind);
	char buf[48], *end;
	int err = -EINVAL;

	*n = 0;
	if (tok == NULL || *tok == '\0')
		return 0;
	if (b64url_decode(tok, strlen(tok), &raw, &len) != 0)
		return -EINVAL;
	if (len < sizeof(buf) && len > kl + 1) {
		memcpy(buf, raw, len);
		buf[len] = '\0';
		if (strncmp(buf, kind, kl) == 0 && buf[kl] == ':' &&
		    isdigit((unsigned char)buf[kl + 1])) {
			*n = strtoull(buf + kl + 1, &end, 10);
			if (*end == '\0')
				err = 0;
		}
	}
	free(raw);
	return err;
}

static void add_next_link(struct json_object *o, const struct emu_request *req,
			  const char *path, int max, const char *kind,
			  uint64_t n)
{
	char *tok = make_token(kind, n), *link = NULL;

	if (tok != NULL &&
	    asprintf(&link, "%s%s?maxresults=%d&$skiptoken=%s", req->base_url,
		     path, max, tok) >= 0) {
		jadd_str(o, "nextLink", link);
		free(link);
	}
	free(tok);
}

static void op_list(struct keystore *ks, const struct emu_request *req,
		    enum op op, const char *name, struct emu_response *resp)
{
	int max = req->maxresults < 0 ? 25 : req->maxresults;
	const char *kind = op == OP_LIST ? "k" : op == OP_LIST_DELETED ? "d" : "v";
	struct json_object *o, *arr;
	uint64_t start;
	int count = 0;

	if (max < 1 || max > 25) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid maxresults %d: it must be between 1 and 25.",
			  req->maxresults);
		return;
	}
	if (parse_token(req->skiptoken, kind, &start) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid $skiptoken: use the nextLink of the previous page as it is.");
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	pthread_rwlock_rdlock(&ks->lock);
	if (op == OP_LIST_VERSIONS) {
		struct key_entry *e;
		struct key_ver *v = keys_find_active(ks, req, name, NULL, &e, resp);

		if (v == NULL) {
			pthread_rwlock_unlock(&ks->lock);
			json_object_put(o);
			json_object_put(arr);
			return;
		}
		for (size_t i = (size_t)start; i < e->nvers; i++) {
			if (count == max) {
				char path[300];

				snprintf(path, sizeof(path), "/keys/%s/versions", e->name);
				add_next_link(o, req, path, max, kind, i);
				break;
			}
			json_object_array_add(arr, render_item(e, e->vers[i],
							       req->base_url, false, true));
			count++;
		}
	} else {
		bool want_deleted = op == OP_LIST_DELETED;

		for (size_t i = store_order_from(ks, start); i < ks->norder; i++) {
			struct key_entry *e = ks->order[i];

			if (e->deleted != want_deleted || e->nvers == 0)
				continue;
			if (count == max) {
				add_next_link(o, req, want_deleted ? "/deletedkeys" : "/keys",
					      max, kind, e->seq);
				break;
			}
			json_object_array_add(arr, render_item(e, e->vers[e->nvers - 1],
							       req->base_url,
							       want_deleted, false));
			count++;
		}
	}
	pthread_rwlock_unlock(&ks->lock);
	/* nextLink sorts before value. */
	json_object_object_add(o, "value", arr);
	render_reply(resp, 200, o);
}

/* ---- backup / restore ---- */

static void op_backup(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v;
	char *blob = NULL;

	pthread_rwlock_rdlock(&ks->lock);
	v = keys_find_active(ks, req, name, NULL, &e, resp);
	if (v != NULL)
		blob = store_backup(ks, e);
	pthread_rwlock_unlock(&ks->lock);
	if (v == NULL)
		return;
	if (blob == NULL) {
		emu_error(resp, 500, "InternalError", NULL,
			  "The backup could not be made; retry the request.");
		return;
	}
	{
		struct json_object *o = json_object_new_object();

		jadd_str(o, "value", blob);
		free(blob);
		render_reply(resp, 200, o);
	}
}

static void op_restore(struct keystore *ks, const struct emu_request *req,
		       struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp);
	const char *blob;
	struct key_entry *e, *old;

	if (o == NULL)
		return;
	blob = jmember_str(o, "value");
	if (blob == NULL) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request must contain 'value', a key backup blob.");
		goto out;
	}
	e = store_restore_parse(ks, blob, strlen(blob));
	if (e == NULL) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "The backup blob is malformed, was altered, or was not made by this HSM.");
		goto out;
	}
	e->deleted = false;
	e->deleted_date = 0;
	pthread_rwlock_wrlock(&ks->lock);
	old = store_find(ks, e->name);
	if (old != NULL) {
		pthread_rwlock_unlock(&ks->lock);
		if (old->deleted)
			keys_conflict_deleted(resp, e->name);
		else
			emu_error(resp, 409, "Conflict", NULL,
				  "Key %s already exists. Restore needs a name that is neither in use nor deleted; purge or delete it first.",
				  e->name);
		entry_free(e);
		goto out;
	}
	e->seq = 0;	/* a fresh place in the listing order */
	if (store_insert_entry(ks, e) != 0) {
		pthread_rwlock_unlock(&ks->lock);
		entry_free(e);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		goto out;
	}
	if (store_persist(ks, e) != 0) {
		store_purge(ks, e);
		pthread_rwlock_unlock(&ks->lock);
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator could not write its data directory; check free space and permissions.");
		goto out;
	}
	render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
					      req->base_url, false));
	pthread_rwlock_unlock(&ks->lock);
out:
	json_object_put(o);
}

/* ---- rotation ---- */

/* ISO-8601 duration to seconds (Y = 365 days, M = 30 days, as the
 * service's exp = created + P1Y = +31536000 shows).  -1 if malformed. */
static int64_t parse_duration(const char *s)
{
	int64_t total = 0;
	bool time_part = false, any = false;

	if (s == NULL || *s != 'P')
		return -1;
	for (s++; *s != '\0';) {
		int64_t n = 0;
		int digits = 0;

		if (*s == 'T') {
			if (time_part)
				return -1;
			time_part = true;
			s++;
			continue;
		}
		while (isdigit((unsigned char)*s) && digits < 9) {
			n = n * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0)
			return -1;
		switch (*s++) {
		case 'Y': if (time_part) return -1; total += n * 365 * 86400; break;
		case 'M': total += time_part ? n * 60 : n * 30 * 86400; break;
		case 'W': if (time_part) return -1; total += n * 7 * 86400; break;
		case 'D': if (time_part) return -1; total += n * 86400; break;
		case 'H': if (!time_part) return -1; total += n * 3600; break;
		case 'S': if (!time_part) return -1; total += n; break;
		default: return -1;
		}
		any = true;
	}
	return any ? total : -1;
}

static void op_set_policy(struct keystore *ks, const struct emu_request *req,
			  const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp), *acts, *attr;
	struct rotation_policy pol;
	struct key_entry *e = NULL;
	struct key_ver *v;
	const char *ex;

	if (o == NULL)
		return;
	memset(&pol, 0, sizeof(pol));
	pol.set = true;
	attr = jmember(o, "attributes");
	ex = jmember_str(attr, "expiryTime");
	if (ex != NULL) {
		int64_t d = parse_duration(ex);

		if (d < 0 || strlen(ex) >= sizeof(pol.expiry)) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Invalid expiryTime '%s': use an ISO-8601 duration such as P90D.", ex);
			goto out;
		}
		if (d < 28 * 86400) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Invalid expiryTime '%s': it must be at least 28 days (P28D).", ex);
			goto out;
		}
		memcpy(pol.expiry, ex, strlen(ex) + 1);
	}
	acts = jmember(o, "lifetimeActions");
	if (acts != NULL && !json_object_is_type(acts, json_type_array))
		goto bad_action;
	for (size_t i = 0; acts != NULL && i < json_object_array_length(acts); i++) {
		struct json_object *a = json_object_array_get_idx(acts, i);
		struct json_object *trig = jmember(a, "trigger"), *act = jmember(a, "action");
		const char *type = jmember_str(act, "type");
		const char *tac = jmember_str(trig, "timeAfterCreate");
		const char *tbe = jmember_str(trig, "timeBeforeExpiry");
		const char *dur = tac ? tac : tbe;

		if (i >= POLICY_ACTIONS_MAX || type == NULL)
			goto bad_action;
		if (strcasecmp(type, "notify") == 0) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Notify lifetime actions are not supported by Managed HSM; use Rotate.");
			goto out;
		}
		if (strcasecmp(type, "rotate") != 0 || (tac != NULL) == (tbe != NULL) ||
		    parse_duration(dur) < 0 || strlen(dur) >= sizeof(pol.actions[i].dur))
			goto bad_action;
		snprintf(pol.actions[i].trigger, sizeof(pol.actions[i].trigger), "%s",
			 tac ? "timeAfterCreate" : "timeBeforeExpiry");
		memcpy(pol.actions[i].dur, dur, strlen(dur) + 1);
		pol.nactions++;
	}
	pthread_rwlock_wrlock(&ks->lock);
	v = keys_find_active(ks, req, name, NULL, &e, resp);
	if (v != NULL) {
		struct rotation_policy old = e->pol;

		pol.updated = store_now();
		pol.created = old.set ? old.created : pol.updated;
		e->pol = pol;
		if (store_persist(ks, e) != 0) {
			e->pol = old;
			emu_error(resp, 500, "InternalError", NULL,
				  "The emulator could not write its data directory; check free space and permissions.");
		} else {
			render_reply(resp, 200, render_policy(e));
		}
	}
	pthread_rwlock_unlock(&ks->lock);
out:
	json_object_put(o);
	return;
bad_action:
	emu_error(resp, 400, "BadParameter", NULL,
		  "Invalid lifetimeActions: each needs a trigger with exactly one of timeAfterCreate or timeBeforeExpiry (ISO-8601 durations) and action type Rotate.");
	json_object_put(o);
}

static void op_get_policy(struct keystore *ks, const struct emu_request *req,
			  const char *name, struct emu_response *resp)
{
	struct key_entry *e;

	pthread_rwlock_rdlock(&ks->lock);
	if (keys_find_active(ks, req, name, NULL, &e, resp) != NULL)
		render_reply(resp, 200, render_policy(e));
	pthread_rwlock_unlock(&ks->lock);
}

static void op_rotate(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v, *nv;
	struct key_mat *old, *mat = NULL;
	unsigned ops;
	int64_t expiry = -1;
	unsigned long exponent = 65537;
	int err;

	pthread_rwlock_rdlock(&ks->lock);
	v = keys_find_active(ks, req, name, NULL, &e, resp);
	if (v == NULL) {
		pthread_rwlock_unlock(&ks->lock);
		return;
	}
	if (!e->pol.set) {
		pthread_rwlock_unlock(&ks->lock);
		emu_error(resp, 400, "BadParameter", NULL,
			  "Key %s has no rotation policy. Set one with PUT /keys/%s/rotationpolicy before rotating.",
			  name, name);
		return;
	}
	old = mat_get(v->m);
	ops = v->ops;
	if (e->pol.expiry[0] != '\0')
		expiry = parse_duration(e->pol.expiry);
	pthread_rwlock_unlock(&ks->lock);
	if (old->kty == KEY_RSA) {
		struct bytes n = { 0 }, eb = { 0 };

		if (pkey_rsa_public(old->pkey, &n, &eb) == 0) {
			exponent = 0;
			for (size_t i = 0; i < eb.len; i++)
				exponent = exponent << 8 | eb.p[i];
		}
		bytes_free(&n);
		bytes_free(&eb);
	}
	err = mat_generate(old->kty, old->bits, old->crv, exponent, &mat);
	mat_put(old);
	if (err != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "Key generation failed (%s); retry the request.", strerror(-err));
		return;
	}
	nv = ver_new(mat, store_now());
	if (nv == NULL) {
		emu_error(resp, 500, "InternalError", NULL,
			  "The emulator ran out of memory; retry the request.");
		return;
	}
	nv->ops = ops;
	if (expiry > 0)
		nv->exp = nv->created + expiry;
	add_version_reply(ks, req, name, nv, resp);
}

/* ---- dispatch ---- */

void keys_handle(struct keystore *ks, const struct emu_request *req,
		 struct emu_response *resp)
{
	struct route r;

	resp->status = 500;
	resp->body = NULL;
	resp->body_len = 0;
	route_parse(req->method, req->path, &r);
	if (r.op == OP_UNKNOWN && r.nsegs >= 3 && is(r.segs[0], "keys") &&
	    (is(r.segs[r.nsegs - 1], "release") ||
	     is(r.segs[r.nsegs - 1], "attestation"))) {
		emu_error(resp, 501, "NotImplemented", NULL,
			  "Key release and key attestation are not emulated; test them against a real Managed HSM.");
		return;
	}
	if (r.op == OP_UNKNOWN) {
		emu_error(resp, 404, "NotFound",
			  NULL, "The requested path %s is not part of the Managed HSM keys API.",
			  req->path);
		return;
	}
	if (r.op == OP_BAD_METHOD) {
		emu_error(resp, 405, "MethodNotAllowed", NULL,
			  "The method %s is not allowed on %s.", req->method, req->path);
		return;
	}
	if (req->role < op_info[r.op].role) {
		char act[37];
		const char *scope = r.op == OP_RNG ? "/rng" :
				    r.op == OP_LIST_DELETED ? "/deletedkeys" : "/keys";

		emu_uuid(act);
		emu_error(resp, 403, "AccessDenied", NULL,
			  "Not authorized to access Microsoft.KeyVault/managedHsm/keys/%s on %s%s%s (Activity ID: %s)",
			  op_info[r.op].action, scope, r.name ? "/" : "",
			  r.name ? r.name : "", act);
		return;
	}
	if (r.name != NULL && !key_name_valid(r.name, strlen(r.name))) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid key name '%.130s': a key name is 1 to 127 characters of 0-9, a-z, A-Z and '-'.",
			  r.name);
		return;
	}
	switch (r.op) {
	case OP_CREATE: op_create(ks, req, r.name, resp); break;
	case OP_IMPORT: op_import(ks, req, r.name, resp); break;
	case OP_GET: op_get(ks, req, r.name, r.version, resp); break;
	case OP_UPDATE: op_update(ks, req, r.name, r.version, resp); break;
	case OP_DELETE: op_delete(ks, req, r.name, resp); break;
	case OP_LIST:
	case OP_LIST_VERSIONS:
	case OP_LIST_DELETED: op_list(ks, req, r.op, r.name, resp); break;
	case OP_GET_DELETED:
	case OP_RECOVER:
	case OP_PURGE: op_deleted(ks, req, r.op, r.name, resp); break;
	case OP_BACKUP: op_backup(ks, req, r.name, resp); break;
	case OP_RESTORE: op_restore(ks, req, resp); break;
	case OP_ROTATE: op_rotate(ks, req, r.name, resp); break;
	case OP_GET_POLICY: op_get_policy(ks, req, r.name, resp); break;
	case OP_SET_POLICY: op_set_policy(ks, req, r.name, resp); break;
	case OP_RNG: keys_rng(req, resp); break;
	case OP_SIGN: case OP_VERIFY: case OP_ENCRYPT: case OP_DECRYPT:
	case OP_WRAP: case OP_UNWRAP:
		keys_crypto_op(ks, req, op_info[r.op].name, r.name, r.version, resp);
		break;
	default:
		emu_error(resp, 404, "NotFound", NULL, "Unknown operation.");
		break;
	}
}
