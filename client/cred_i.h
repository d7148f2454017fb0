/*
 * cred_i.h - the credentials of DESIGN.md §5 (internal to client/).
 *
 * One credential per client, chosen and checked by cred_new() (token
 * file or AZURE_ACCESS_TOKEN, client secret, certificate assertion,
 * workload identity, App Service, IMDS, Azure CLI); cred_fetch() asks
 * its token endpoint for a token.  auth.c, the only caller, keeps the
 * token; nothing here holds one.
 */
#ifndef HSMFS_CLIENT_CRED_I_H
#define HSMFS_CLIENT_CRED_I_H

#include <stdint.h>

#include "hsm_types.h"
#include "transport_i.h"
#include "util_i.h"

struct cred;

/* What a token is asked for: a snapshot of the service's challenge. */
struct cred_want {
	char tenant[128];
	char resource[256];
	char scope[300];
};

/*
 * Choose and check the credential of cfg (env vars, files); nothing is
 * sent.  Token requests will go out through xp and log to log (both must
 * outlive the credential).  Returns HSM_OK and *out, or HSM_E_AUTH
 * (HSM_E_NOMEM) with a one-line reason.
 */
enum hsm_status cred_new(const struct hsm_config *cfg, struct xport *xp,
			 const struct log_sink *log, struct cred **out,
			 char *err, size_t errlen);
/* Wipe the secrets and free.  NULL is a no-op. */
void cred_free(struct cred *c);

/* The kind in use (auto resolved). */
enum hsm_auth cred_kind(const struct cred *c);

/* "client secret <client id>" and the like, for logs and stats. */
const char *cred_identity(const struct cred *c);

/*
 * Fetch a token for w before deadline (ms, now_ms() clock): *tok
 * malloc()ed (secret: secret_wipe_free(*tok, *len)), *exp its expiry
 * (unix seconds, 0: unknown).  Returns HSM_OK, or a status with err set.
 */
enum hsm_status cred_fetch(struct cred *c, const struct cred_want *w,
			   int64_t deadline, char **tok, size_t *len,
			   int64_t *exp, struct hsm_error *err);

/* hsm_scrub_environment(): the variables credentials come from. */
void cred_scrub_environment(void);

#endif
