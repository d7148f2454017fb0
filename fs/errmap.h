/*
 * errmap.h - the one place where failures become errno values
 * (DESIGN.md §4.3).
 *
 * Everything in fs/ that reports a client status or an input error to the
 * kernel goes through these functions, so the table of §4.3 lives here.
 */
#ifndef HSMFS_FS_ERRMAP_H
#define HSMFS_FS_ERRMAP_H

#include "hsm_client.h"

/*
 * Map a client status to a positive errno value.  HSM_OK maps to 0.
 * Unclassified statuses map to EIO.
 */
int hsm_status_to_errno(enum hsm_status st);

/*
 * Map a crypto/ or framing error (a negative errno such as -EINVAL,
 * -EMSGSIZE, -EKEYREJECTED, -EBADMSG) to the positive errno of §4.3.
 * Values that have no meaning for a caller (0 or positive) map to EIO.
 */
int input_error_to_errno(int neg);

#endif
