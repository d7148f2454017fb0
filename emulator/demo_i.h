/*
 * demo_i.h - the --demo-keys set (docs/contracts.md).
 */
#ifndef HSMFS_EMU_DEMO_I_H
#define HSMFS_EMU_DEMO_I_H

#include "emu.h"
#include "keys_types.h"

/* Add the demo keys (one of every type, size and curve) when the store is
 * empty; for a vault (fl) the RSA and EC ones, as software keys.  Call
 * before the store is shared with other threads.  0 or -errno. */
int demo_seed(struct keystore *ks, enum emu_flavor fl);

#endif
