/*
 * keys_backup_i.h - backup and restore of keys.
 */
#ifndef HSMFS_EMU_KEYS_BACKUP_I_H
#define HSMFS_EMU_KEYS_BACKUP_I_H

#include "emu.h"
#include "keys_types.h"

/* POST /keys/{name}/backup: {"value": blob}. */
void keys_backup(struct keystore *ks, const struct emu_request *req,
		 const char *name, struct emu_response *resp);
/* POST /keys/restore {"value": blob}: the key back under its name, which
 * must be neither in use nor deleted. */
void keys_restore(struct keystore *ks, const struct emu_request *req,
		  struct emu_response *resp);

#endif
