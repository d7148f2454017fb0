/*
 * admin_api_i.h - the /_emulator/ admin API of hsm-emulator.
 */
#ifndef HSMFS_EMU_ADMIN_API_I_H
#define HSMFS_EMU_ADMIN_API_I_H

#include "http_i.h"
#include "server_types.h"

/* Handle a request under /_emulator/ (sub is the rest of the path, e.g.
 * "stats"); the caller has already refused non-loopback peers. */
void admin_handle(struct emu_server *srv, const struct http_req *req,
		  const char *sub, struct http_resp *resp);

#endif
