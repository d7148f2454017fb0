/*
 * render_i.h - the service's JSON shapes of key bundles, list items and
 * rotation policies, and the replies that carry them.
 */
#ifndef HSMFS_EMU_RENDER_I_H
#define HSMFS_EMU_RENDER_I_H

#include <stdbool.h>

#include <json-c/json.h>

#include "emu.h"
#include "keys_types.h"

/* A KeyBundle (deleted: a DeletedKeyBundle) for version v of e. */
struct json_object *render_bundle(const struct key_entry *e,
				  const struct key_ver *v, const char *base,
				  bool deleted);
/* A KeyItem / DeletedKeyItem (with_version: kid carries the version). */
struct json_object *render_item(const struct key_entry *e,
				const struct key_ver *v, const char *base,
				bool deleted, bool with_version);
struct json_object *render_policy(const struct key_entry *e);
/* Serialize obj compactly into resp (a malloc()ed body) with status and
 * put obj; json-c's serialization buffer is cleansed, since decrypt and
 * unwrap results carry plaintext.  obj NULL: a 500 reply. */
void render_reply(struct emu_response *resp, int status,
		  struct json_object *obj);
/* The service's kty of a key: "RSA-HSM", "EC-HSM", "oct-HSM", or for a
 * vault's software keys "RSA", "EC". */
const char *render_kty(const struct key_mat *m);
/* "base/keys/name/version" (version NULL: without). malloc()ed. */
char *render_kid(const char *base, const char *name, const char *version);

#endif
