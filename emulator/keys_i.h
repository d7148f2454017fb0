/*
 * keys_i.h - the key side's entry point for the HTTP side.
 */
#ifndef HSMFS_EMU_KEYS_I_H
#define HSMFS_EMU_KEYS_I_H

#include "emu.h"

struct keystore;

/* Handle one authenticated data-plane request (/keys, /deletedkeys,
 * /rng); thread-safe.  Always fills resp (errors use the service's
 * envelope). */
void keys_handle(struct keystore *ks, const struct emu_request *req,
		 struct emu_response *resp);

#endif
