/*
 * keys_find.c - finding a key under the store lock, and the service's
 * answers when it is missing, deleted, or deleted but in the way.
 */
#include <stdio.h>
#include <string.h>

#include "envelope_i.h"
#include "keys_find_i.h"
#include "store_i.h"
#include "uuid_i.h"

void keys_not_found(struct emu_response *resp, const char *base,
		    const char *path)
{
	char act[37];

	emu_uuid(act);
	emu_error(resp, 404, "KeyNotFound", NULL,
		  "Key not found: %s%s (Activity ID: %s)", base, path, act);
}

struct key_ver *keys_find_active(struct keystore *ks,
				 const struct emu_request *req,
				 const char *name, const char *version,
				 struct key_entry **ep, struct emu_response *resp)
{
	struct key_entry *e = store_find(ks, name);
	struct key_ver *v = NULL;

	*ep = NULL;
	if (e != NULL && !e->deleted)
		v = entry_version(e, version);
	if (v == NULL) {
		char path[300];

		if (version != NULL && *version != '\0')
			snprintf(path, sizeof(path), "/keys/%s/%s", name, version);
		else
			snprintf(path, sizeof(path), "/keys/%s", name);
		keys_not_found(resp, req->base_url, path);
		return NULL;
	}
	*ep = e;
	return v;
}

struct key_entry *keys_find_deleted(struct keystore *ks,
				    const struct emu_request *req,
				    const char *name, struct emu_response *resp)
{
	struct key_entry *e = store_find(ks, name);
	char path[300];

	if (e != NULL && e->deleted && e->nvers > 0)
		return e;
	snprintf(path, sizeof(path), "/deletedkeys/%s", name);
	keys_not_found(resp, req->base_url, path);
	return NULL;
}

bool keys_name_deleted(struct keystore *ks, const char *name)
{
	struct key_entry *e;
	bool d;

	pthread_rwlock_rdlock(&ks->lock);
	e = store_find(ks, name);
	d = e != NULL && e->deleted;
	pthread_rwlock_unlock(&ks->lock);
	return d;
}

void keys_conflict_deleted(struct emu_response *resp, const char *name)
{
	emu_error(resp, 409, "Conflict", "ObjectIsDeletedButRecoverable",
		  "Key %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.",
		  name);
}
