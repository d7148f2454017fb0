/*
 * keys_life_i.h - the life of a key: create, import, get, update, delete
 * and the deleted state.  Each handler fills resp (always).
 */
#ifndef HSMFS_EMU_KEYS_LIFE_I_H
#define HSMFS_EMU_KEYS_LIFE_I_H

#include "emu.h"
#include "keys_route_i.h"
#include "keys_types.h"

/* POST /keys/{name}/create, PUT /keys/{name}. */
void keys_create(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp);
void keys_import(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp);
/* GET and PATCH /keys/{name}[/{version}]; DELETE /keys/{name}. */
void keys_get(struct keystore *ks, const struct emu_request *req,
	      const char *name, const char *version, struct emu_response *resp);
void keys_update(struct keystore *ks, const struct emu_request *req,
		 const char *name, const char *version,
		 struct emu_response *resp);
void keys_delete(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp);
/* OP_GET_DELETED, OP_RECOVER or OP_PURGE on /deletedkeys/{name}. */
void keys_deleted(struct keystore *ks, const struct emu_request *req,
		  enum keys_op op, const char *name, struct emu_response *resp);

/* Add version v (taken over) under name, creating the key when it does
 * not exist and refusing a deleted name (409); answers with the bundle.
 * Used by create, import and rotate. */
void keys_add_version(struct keystore *ks, const struct emu_request *req,
		      const char *name, struct key_ver *v,
		      struct emu_response *resp);

#endif
