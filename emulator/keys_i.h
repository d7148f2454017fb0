/*
 * keys_i.h - the key side's entry point for the HTTP side: routing of
 * /keys, /deletedkeys and /rng, and the handling of one request.
 */
#ifndef HSMFS_EMU_KEYS_I_H
#define HSMFS_EMU_KEYS_I_H

#include "emu.h"

struct keystore;

/* Operation names used by statistics and fault matching:
 * "create" "import" "get" "update" "delete" "list" "list_versions"
 * "list_deleted" "get_deleted" "recover" "purge" "backup" "restore" "rotate"
 * "get_rotation_policy" "set_rotation_policy" "sign" "verify" "encrypt"
 * "decrypt" "wrapkey" "unwrapkey" "rng"; "unknown" for anything else. */
const char *keys_route_op(const char *method, const char *path);

/* Handle one authenticated request; thread-safe.  Always fills resp
 * (errors use the service's envelope). */
void keys_handle(struct keystore *ks, const struct emu_request *req,
		 struct emu_response *resp);

#endif
