/*
 * keys_life.c - the life of a key: create, import, get, update, delete,
 * and the deleted state (get, recover, purge).
 */
#include <errno.h>
#include <string.h>

#include "envelope_i.h"
#include "keys_find_i.h"
#include "keys_json_i.h"
#include "keys_life_i.h"
#include "keys_params_i.h"
#include "material_i.h"
#include "render_i.h"
#include "store_i.h"

void keys_add_version(struct keystore *ks, const struct emu_request *req,
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
		emu_error_oom(resp);
		return;
	}
	if (store_persist(ks, e) != 0) {
		/* Keep memory and disk in step: undo the new version. */
		e->nvers--;
		if (fresh)
			store_purge(ks, e);
		pthread_rwlock_unlock(&ks->lock);
		ver_free(v);
		emu_error_storage(resp);
		return;
	}
	render_reply(resp, 200, render_bundle(e, v, req->base_url, false));
	pthread_rwlock_unlock(&ks->lock);
}

/* A new key name from material mat (taken over) of type kty, with the
 * service's default key_ops unless p says otherwise. */
static void add_new_key(struct keystore *ks, const struct emu_request *req,
			const char *name, struct key_mat *mat,
			enum key_type kty, const struct key_params *p,
			struct emu_response *resp)
{
	struct key_ver *v = ver_new(mat, store_now());

	if (v == NULL ||
	    (v->ops = mat_default_ops(kty), keys_apply_params(v, p)) != 0) {
		ver_free(v);
		emu_error_oom(resp);
		return;
	}
	keys_add_version(ks, req, name, v, resp);
}

void keys_create(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp);
	struct create_params c;
	struct key_params p;
	struct key_mat *mat = NULL;
	int err;

	if (o == NULL)
		return;
	if (keys_parse_create(o, req->flavor, &c, resp) != 0 ||
	    keys_parse_params(o, o, &p, resp) != 0)
		goto out;
	if (keys_name_deleted(ks, name)) {
		keys_conflict_deleted(resp, name);
		goto out;
	}
	err = mat_generate(c.kty, c.bits, c.crv, c.exponent, &mat);
	if (err != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "Key generation failed (%s); retry the request.",
			  strerror(-err));
		goto out;
	}
	mat->software = c.software;
	add_new_key(ks, req, name, mat, c.kty, &p, resp);
out:
	json_object_put(o);
}

void keys_import(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp), *jwk;
	struct key_params p;
	enum key_type kty;
	struct key_mat *mat = NULL;
	const char *why;
	bool software;
	int err;

	if (o == NULL)
		return;
	jwk = jmember(o, "key");
	if (jwk == NULL || !json_object_is_type(jwk, json_type_object)) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request must contain 'key', a JSON Web Key with private parts.");
		goto out;
	}
	if (keys_take_kty(jmember_str(jwk, "kty"), req->flavor,
			  "'kty' in 'key'", &kty, &software, resp) != 0)
		goto out;
	/* A vault also protects an imported key by HSM when asked with the
	 * body's "Hsm" member (spec: KeyImportParameters). */
	if (jmember(o, "Hsm") != NULL &&
	    json_object_get_boolean(jmember(o, "Hsm")))
		software = false;
	if (keys_parse_params(o, jwk, &p, resp) != 0)
		goto out;
	if (keys_name_deleted(ks, name)) {
		keys_conflict_deleted(resp, name);
		goto out;
	}
	err = keys_parse_jwk(jwk, kty, &mat, &why);
	if (err == -ENOMEM)
		emu_error_oom(resp);
	else if (err != 0)
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid key to import: %s.", why);
	else {
		mat->software = software;
		add_new_key(ks, req, name, mat, kty, &p, resp);
	}
out:
	/* The body held private key parts: cleanse json-c's copies. */
	keys_wipe_jwk(jmember(o, "key"));
	json_object_put(o);
}

void keys_get(struct keystore *ks, const struct emu_request *req,
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

void keys_update(struct keystore *ks, const struct emu_request *req,
		 const char *name, const char *version,
		 struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp);
	struct key_params p;
	struct key_entry *e = NULL;
	struct key_ver *v;

	if (o == NULL)
		return;
	if (keys_parse_params(o, o, &p, resp) != 0) {
		json_object_put(o);
		return;
	}
	pthread_rwlock_wrlock(&ks->lock);
	v = keys_find_active(ks, req, name, version, &e, resp);
	if (v == NULL)
		goto unlock;
	if (keys_apply_params(v, &p) != 0) {
		emu_error_oom(resp);
		goto unlock;
	}
	v->updated = store_now();
	if (store_persist(ks, e) != 0)
		emu_error_storage(resp);
	else
		render_reply(resp, 200, render_bundle(e, v, req->base_url, false));
unlock:
	pthread_rwlock_unlock(&ks->lock);
	json_object_put(o);
}

void keys_delete(struct keystore *ks, const struct emu_request *req,
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
			emu_error_storage(resp);
		} else {
			render_reply(resp, 200, render_bundle(e, v, req->base_url, true));
		}
	}
	pthread_rwlock_unlock(&ks->lock);
}

/* POST /deletedkeys/{name}/recover, e found deleted (write lock). */
static void recover(struct keystore *ks, const struct emu_request *req,
		    struct key_entry *e, struct emu_response *resp)
{
	e->deleted = false;
	e->deleted_date = 0;
	if (store_persist(ks, e) != 0) {
		e->deleted = true;
		emu_error_storage(resp);
		return;
	}
	render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
					      req->base_url, false));
}

void keys_deleted(struct keystore *ks, const struct emu_request *req,
		  enum keys_op op, const char *name, struct emu_response *resp)
{
	struct key_entry *e;

	pthread_rwlock_wrlock(&ks->lock);
	e = keys_find_deleted(ks, req, name, resp);
	if (e != NULL && op == OP_GET_DELETED) {
		render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
						      req->base_url, true));
	} else if (e != NULL && op == OP_RECOVER) {
		recover(ks, req, e, resp);
	} else if (e != NULL) {
		store_purge(ks, e);
		resp->status = 204;
		resp->body = NULL;
		resp->body_len = 0;
	}
	pthread_rwlock_unlock(&ks->lock);
}
