/*
 * errmap.h - the one place where failures become errno values
 * (DESIGN.md §4.3).
 *
 * Inside fs/ a failure is a negative errno, from the first place it is
 * known to the FUSE callback that returns it.  The client's enum
 * hsm_status and the input errors of crypto/ and framing are converted
 * here, once, where they enter fs/; struct fs_fail carries the detail a
 * caller reads from its `error` file.
 */
#ifndef HSMFS_FS_ERRMAP_H
#define HSMFS_FS_ERRMAP_H

#include "hsm_client.h"

/* Why something failed, for the error file and the log. */
struct fs_fail {
	int err;			/* negative errno */
	char message[512];		/* local or service message */
	char code[64];			/* service error code, or "" */
	char request_id[64];		/* service request id, or "" */
};

/*
 * Map a client status to a negative errno.  HSM_OK maps to 0.
 * Unclassified statuses map to -EIO.
 */
int hsm_status_err(enum hsm_status st);

/*
 * Map a crypto/ or framing error (a negative errno such as -EINVAL,
 * -EMSGSIZE, -EKEYREJECTED, -EBADMSG) to the negative errno of §4.3.
 * Values that have no meaning for a caller (0 or positive) map to -EIO.
 */
int input_err(int neg);

/*
 * Fill *f for a failed client call (the service's code, message and
 * request id when it sent them, else the status's text).  Returns f->err.
 */
int fail_status(struct fs_fail *f, enum hsm_status st,
		const struct hsm_call *call);

/* Fill *f for a local failure: err (negative) and msg.  Returns err. */
int fail_local(struct fs_fail *f, int err, const char *msg);

#endif
