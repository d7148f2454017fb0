/*
 * keys_list_i.h - listing keys, versions and deleted keys.
 */
#ifndef HSMFS_EMU_KEYS_LIST_I_H
#define HSMFS_EMU_KEYS_LIST_I_H

#include "emu.h"
#include "keys_route_i.h"
#include "keys_types.h"

/* OP_LIST (GET /keys), OP_LIST_VERSIONS (GET /keys/{name}/versions) or
 * OP_LIST_DELETED (GET /deletedkeys), one page from req->skiptoken. */
void keys_list(struct keystore *ks, const struct emu_request *req,
	       enum keys_op op, const char *name, struct emu_response *resp);

#endif
