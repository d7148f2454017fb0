/*
 * auth_i.h - the bearer token (internal to client/).
 *
 * auth.c is the only holder of the token.  It leaves that file only as a
 * complete "Authorization: Bearer ..." header line in a buffer the caller
 * wipes (auth_header()).  The credential that fetches it is cred.c
 * (cred_i.h).
 */
#ifndef HSMFS_CLIENT_AUTH_I_H
#define HSMFS_CLIENT_AUTH_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_types.h"
#include "transport_i.h"
#include "util_i.h"

struct auth;

/*
 * Choose and check the credential of cfg (env vars, files); nothing is
 * sent.  Token requests will go out through xp and log to log (both must
 * outlive the auth).  Returns HSM_OK and *out, or HSM_E_AUTH with a
 * one-line reason.
 */
enum hsm_status auth_new(const struct hsm_config *cfg, struct xport *xp,
			 const struct log_sink *log, struct auth **out,
			 char *err, size_t errlen);
/* Wipe the token and free.  NULL is a no-op. */
void auth_free(struct auth *a);

/* True once a challenge told us the tenant and resource. */
bool auth_ready(struct auth *a);

/* The resource a challenge named, into out; false when no challenge was
 * seen yet. */
bool auth_resource(struct auth *a, char *out, size_t len);

/*
 * Record the WWW-Authenticate header of a 401 from service_url.  Returns
 * HSM_OK, or HSM_E_AUTH when it is not a usable Bearer challenge or names
 * a resource we will not get tokens for (err filled).
 */
enum hsm_status auth_challenge(struct auth *a, const char *www_auth,
			       const char *service_url, struct hsm_error *err);

/*
 * Whether service_url may receive a token for resource: resource is an
 * https:// Managed HSM or Key Vault audience (managedhsm.azure.net,
 * vault.azure.net and their other clouds' hosts) and service_url's host
 * ends with "." + resource's host (the Azure SDK's rule), so a URL that
 * is not an HSM or a vault never gets a token.  The one exception to the
 * suffix is a service_url whose host is written as a loopback address
 * (127.x.x.x, [::1], localhost): the emulator.
 */
bool auth_resource_allowed(const char *resource, const char *service_url);

/*
 * The header line "Authorization: Bearer <token>" for the next request,
 * fetching or refreshing the token as needed (one thread fetches; others
 * keep using a still-valid token, or wait for the new one until
 * deadline_ms).  *hdr is malloc()ed: secret_wipe_free(*hdr, strlen) it.
 * *gen identifies the token for auth_drop().  HSM_E_AUTH, with nothing
 * fetched, when url may not receive a token for the resource
 * (auth_resource_allowed()).
 */
enum hsm_status auth_header(struct auth *a, const char *url,
			    int64_t deadline_ms, char **hdr, uint64_t *gen,
			    struct hsm_error *err);

/* The service refused token gen (401): forget it (wiped) unless a newer
 * one replaced it already. */
void auth_drop(struct auth *a, uint64_t gen);

/* When to refresh a token issued at now that expires at exp (unix
 * seconds): min(exp - 300 s, half the lifetime), never before now. */
int64_t token_refresh_at(int64_t now, int64_t exp);

/* For hsm_client_stats(): expiry (unix), a description and the number of
 * token fetches so far. */
void auth_describe(struct auth *a, int64_t *expires, char *identity,
		   size_t len, uint64_t *fetches);

/*
 * Parse a Bearer challenge.  authorization / authorization_uri give the
 * authority (tenant = its first path segment); resource (trailing '/'
 * trimmed) + "/.default" or scope gives the scope, and resource is the
 * scope without "/.default".  Values may be quoted or not.  Returns 0, or
 * -1 when the header is not Bearer or lacks either part.
 */
int auth_parse_challenge(const char *hdr, char *tenant, size_t tlen,
			 char *resource, size_t rlen, char *scope, size_t slen);

#endif
