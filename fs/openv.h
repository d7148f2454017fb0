/*
 * openv.h - what an operation needs from the daemon: the client and the
 * mount's choices.  Apart from opexec.h so that the modules operations
 * use (sealkey.c, sealop.c) need not include the operation runner.
 */
#ifndef HSMFS_FS_OPENV_H
#define HSMFS_FS_OPENV_H

#include <stdbool.h>

#include "hsm_client.h"

struct opx_env {
	struct hsm_client *client;
	bool remote_verify;
	bool remote_encrypt;
	const char *spool_dir;	/* seal/unseal ciphertext; NULL: $TMPDIR */
};

#endif
