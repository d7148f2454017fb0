/*
 * keys_backup.c - backup and restore of a key (every version, its state
 * and its rotation policy) as the store's protected blob.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope_i.h"
#include "keys_backup_i.h"
#include "keys_find_i.h"
#include "keys_json_i.h"
#include "keys_params_i.h"
#include "render_i.h"
#include "store_i.h"

void keys_backup(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp)
{
	struct key_entry *e = NULL;
	struct key_ver *v;
	struct json_object *o;
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
	o = json_object_new_object();
	jadd_str(o, "value", blob);
	free(blob);
	render_reply(resp, 200, o);
}

void keys_restore(struct keystore *ks, const struct emu_request *req,
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
		emu_error_oom(resp);
		goto out;
	}
	if (store_persist(ks, e) != 0) {
		store_purge(ks, e);
		pthread_rwlock_unlock(&ks->lock);
		emu_error_storage(resp);
		goto out;
	}
	render_reply(resp, 200, render_bundle(e, e->vers[e->nvers - 1],
					      req->base_url, false));
	pthread_rwlock_unlock(&ks->lock);
out:
	json_object_put(o);
}
