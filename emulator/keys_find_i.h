/*
 * keys_find_i.h - finding keys for the key side's handlers, and the
 * service's answers when they are missing or deleted.
 */
#ifndef HSMFS_EMU_KEYS_FIND_I_H
#define HSMFS_EMU_KEYS_FIND_I_H

#include <stdbool.h>

#include "emu.h"
#include "keys_types.h"

/* Fill resp with 404 KeyNotFound in the service's words for path
 * ("/keys/n", "/keys/n/version", "/deletedkeys/n"). */
void keys_not_found(struct emu_response *resp, const char *base,
		    const char *path);
/* The active (not deleted) key name and its version (NULL or "": the
 * latest) under the lock the caller holds; *ep receives the entry.  NULL
 * when absent, with resp filled (404). */
struct key_ver *keys_find_active(struct keystore *ks,
				 const struct emu_request *req,
				 const char *name, const char *version,
				 struct key_entry **ep, struct emu_response *resp);
/* The deleted key name under the lock the caller holds; NULL when absent,
 * with resp filled (404 on the deletedkeys URL). */
struct key_entry *keys_find_deleted(struct keystore *ks,
				    const struct emu_request *req,
				    const char *name, struct emu_response *resp);
/* Is name deleted (and so not reusable)?  Takes the read lock. */
bool keys_name_deleted(struct keystore *ks, const char *name);
/* Fill resp with 409: name is deleted but recoverable. */
void keys_conflict_deleted(struct emu_response *resp, const char *name);

#endif
