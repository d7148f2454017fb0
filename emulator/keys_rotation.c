/*
 * keys_rotation.c - rotation policies and rotation: a new version of the
 * same type, size and key_ops, with the policy's expiry.
 */
#include <string.h>

#include "envelope_i.h"
#include "keys_find_i.h"
#include "keys_life_i.h"
#include "keys_params_i.h"
#include "keys_rotation_i.h"
#include "material_i.h"
#include "render_i.h"
#include "store_i.h"

void keys_set_policy(struct keystore *ks, const struct emu_request *req,
		     const char *name, struct emu_response *resp)
{
	struct json_object *o = keys_parse_body(req, resp);
	struct rotation_policy pol, old;
	struct key_entry *e = NULL;

	if (o == NULL)
		return;
	if (keys_parse_policy(o, &pol, resp) != 0)
		goto out;
	pthread_rwlock_wrlock(&ks->lock);
	if (keys_find_active(ks, req, name, NULL, &e, resp) == NULL)
		goto unlock;
	old = e->pol;
	pol.updated = store_now();
	pol.created = old.set ? old.created : pol.updated;
	e->pol = pol;
	if (store_persist(ks, e) != 0) {
		e->pol = old;
		emu_error_storage(resp);
	} else {
		render_reply(resp, 200, render_policy(e));
	}
unlock:
	pthread_rwlock_unlock(&ks->lock);
out:
	json_object_put(o);
}

void keys_get_policy(struct keystore *ks, const struct emu_request *req,
		     const char *name, struct emu_response *resp)
{
	struct key_entry *e;

	pthread_rwlock_rdlock(&ks->lock);
	if (keys_find_active(ks, req, name, NULL, &e, resp) != NULL)
		render_reply(resp, 200, render_policy(e));
	pthread_rwlock_unlock(&ks->lock);
}

void keys_rotate(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v, *nv;
	struct key_mat *old, *mat = NULL;
	unsigned ops;
	int64_t expiry = -1;
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
		expiry = keys_parse_duration(e->pol.expiry);
	pthread_rwlock_unlock(&ks->lock);
	/* Generate without the lock: RSA keys take a while. */
	err = mat_regenerate(old, &mat);
	mat_put(old);
	if (err != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "Key generation failed (%s); retry the request.", strerror(-err));
		return;
	}
	nv = ver_new(mat, store_now());
	if (nv == NULL) {
		emu_error_oom(resp);
		return;
	}
	nv->ops = ops;
	if (expiry > 0)
		nv->exp = nv->created + expiry;
	keys_add_version(ks, req, name, nv, resp);
}
