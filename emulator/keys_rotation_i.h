/*
 * keys_rotation_i.h - rotation policies and rotation.
 */
#ifndef HSMFS_EMU_KEYS_ROTATION_I_H
#define HSMFS_EMU_KEYS_ROTATION_I_H

#include "emu.h"
#include "keys_types.h"

/* GET and PUT /keys/{name}/rotationpolicy. */
void keys_get_policy(struct keystore *ks, const struct emu_request *req,
		     const char *name, struct emu_response *resp);
void keys_set_policy(struct keystore *ks, const struct emu_request *req,
		     const char *name, struct emu_response *resp);
/* POST /keys/{name}/rotate: refused (400) without a policy. */
void keys_rotate(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp);

#endif
