/*
 * keys_ops_i.h - the cryptographic key operations and /rng.
 */
#ifndef HSMFS_EMU_KEYS_OPS_I_H
#define HSMFS_EMU_KEYS_OPS_I_H

#include "emu.h"
#include "keys_types.h"

/* Handle a crypto operation ("sign", "verify", "encrypt", "decrypt",
 * "wrapkey", "unwrapkey") on name/version. */
void keys_crypto_op(struct keystore *ks, const struct emu_request *req,
		    const char *op, const char *name, const char *version,
		    struct emu_response *resp);
/* POST /rng. */
void keys_rng(const struct emu_request *req, struct emu_response *resp);

#endif
