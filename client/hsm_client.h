/*
 * hsm_client.h - the Managed HSM keys data-plane client.
 *
 * This module is the only code that speaks HTTP (libcurl) or JSON (json-c),
 * and the only holder of the bearer token.  It never sees FUSE types: its
 * errors are enum hsm_status, which fs/errmap.c turns into errno.
 *
 * Threads: one struct hsm_client is shared by all threads.  Every call may
 * be made from any thread at once; each thread gets its own keep-alive
 * connection.  hsm_global_init() must run once before any thread starts.
 *
 * The types, and the cleanup of the result structs, are in hsm_types.h,
 * which the client's own layers include without depending on this API.
 *
 * Ownership: every result struct is owned by the caller and released with
 * its *_cleanup()/free function, which wipes secret members.  On failure
 * outputs are left empty (zeroed) and nothing needs freeing.
 */
#ifndef HSMFS_CLIENT_H
#define HSMFS_CLIENT_H

#include "hsm_types.h"

/* Static English text for a status ("key not found"). */
const char *hsm_strerror(enum hsm_status st);

/* Parse "auto", "token", ... ; returns -1 for an unknown name. */
int hsm_auth_from_name(const char *name);
const char *hsm_auth_name(enum hsm_auth a);

/* Once per process, before threads start. */
enum hsm_status hsm_global_init(void);
void hsm_global_cleanup(void);

/*
 * Create a client.  Validates the URLs (https, or http to loopback with
 * allow_http), the CA file and that a credential of the chosen kind is
 * configured; no request is sent.  On failure *out is NULL and errbuf holds
 * a one-line reason fit for the user.
 *
 * The credential's environment variables are read here, once (except
 * AZURE_FEDERATED_TOKEN_FILE and token_file, re-read at each token
 * request).  cafile is used for the service and for the token endpoints.
 * The first request of a client goes without a token and without its body
 * (the 401 challenge names tenant and resource); a static token skips it.
 */
enum hsm_status hsm_client_new(const struct hsm_config *cfg,
			       struct hsm_client **out,
			       char *errbuf, size_t errlen);
void hsm_client_free(struct hsm_client *c);

/*
 * Remove from the environment every variable the credentials are read
 * from (AZURE_CLIENT_SECRET, AZURE_ACCESS_TOKEN, IDENTITY_HEADER, ...) and
 * wipe their strings, /proc/PID/environ's included.  For a program that
 * has made its last client; not thread-safe (as setenv() is not).
 */
void hsm_scrub_environment(void);

void hsm_client_stats(struct hsm_client *c, struct hsm_stats *out);

/*
 * Give back what a quiet period no longer needs: the pooled connections
 * past their idle time (above the few always kept) and the free pages of
 * the process's malloc arenas.  For a program's timer, every few seconds;
 * safe from any thread.  Returns the connections closed.
 */
size_t hsm_client_tidy(struct hsm_client *c);

/*
 * Which service is behind the URL: a Managed HSM or a Key Vault vault.
 * Known from the URL's host (NAME.vault.azure.net, NAME.managedhsm.azure.net,
 * their sovereign clouds) or from the resource of the service's challenge;
 * when neither is known yet, one challenge probe (no token, no body,
 * at most 5 s) asks the service.  UNKNOWN when the service could not be
 * asked (then not again for 10 s) or its challenge names neither; callers
 * then assume a Managed HSM.
 */
enum hsm_service hsm_service(struct hsm_client *c, struct hsm_call *call);

/* ------------------------------------------------------------------ keys */

/* All pages are followed (nextLink, api-version added when absent). */
enum hsm_status hsm_list_keys(struct hsm_client *c, struct hsm_call *call,
			      struct hsm_key_list *out);
enum hsm_status hsm_list_versions(struct hsm_client *c, struct hsm_call *call,
				  const char *name, struct hsm_key_list *out);
enum hsm_status hsm_list_deleted(struct hsm_client *c, struct hsm_call *call,
				 struct hsm_key_list *out);

/* version NULL or "": the latest. */
enum hsm_status hsm_get_key(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    struct hsm_key *out);
enum hsm_status hsm_get_deleted(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out);

/* Never retried blindly: a create that may have reached the service is
 * reported, not repeated.  Retried only when the failure proves it was not
 * processed: connection refused/DNS/TLS handshake, 408, 429.  The same
 * holds for import, restore and rotate. */
enum hsm_status hsm_create_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const struct hsm_create *p,
			       struct hsm_key *out);

/* jwk_json: a private JWK as JSON text ({"kty":..., "n":..., "d":...}).
 * The caller wipes it; the client wipes its own copies. */
enum hsm_status hsm_import_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *jwk_json,
			       const struct hsm_create *attrs,
			       struct hsm_key *out);

enum hsm_status hsm_update_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_update *u, struct hsm_key *out);

enum hsm_status hsm_delete_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out_deleted);
enum hsm_status hsm_recover_key(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out);
enum hsm_status hsm_purge_key(struct hsm_client *c, struct hsm_call *call,
			      const char *name);

/* The opaque backup blob, as the base64url text the service returns
 * (malloc()ed, NUL-terminated). */
enum hsm_status hsm_backup_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, char **blob);
enum hsm_status hsm_restore_key(struct hsm_client *c, struct hsm_call *call,
				const char *blob, struct hsm_key *out);

/* Rotate on demand.  Managed HSM refuses this until a rotation policy is
 * set; the service's answer is reported as is. */
enum hsm_status hsm_rotate_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out);
/* policy_json: the KeyRotationPolicy JSON text; *out the service's answer. */
enum hsm_status hsm_set_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					const char *policy_json, char **out);
enum hsm_status hsm_get_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					char **out);

/* ------------------------------------------------------------ operations */

/* version NULL or "": the latest (path /keys/NAME/OP).  sign's input is
 * the digest.  On failure *out is empty; call->err has the detail. */
enum hsm_status hsm_sign(struct hsm_client *c, struct hsm_call *call,
			 const char *name, const char *version, const char *alg,
			 const uint8_t *digest, size_t len,
			 struct hsm_result *out);
enum hsm_status hsm_verify(struct hsm_client *c, struct hsm_call *call,
			   const char *name, const char *version,
			   const char *alg, const uint8_t *digest, size_t dlen,
			   const uint8_t *sig, size_t sig_len, bool *valid);
enum hsm_status hsm_encrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out);
enum hsm_status hsm_decrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out);
enum hsm_status hsm_wrap_key(struct hsm_client *c, struct hsm_call *call,
			     const char *name, const char *version,
			     const struct hsm_crypt *in, struct hsm_result *out);
enum hsm_status hsm_unwrap_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_crypt *in,
			       struct hsm_result *out);

/* count bytes of HSM randomness into buf; the client splits the request
 * into calls of at most 128 bytes, all within the call's one deadline
 * (call->retries sums them).  On failure buf is wiped. */
enum hsm_status hsm_random(struct hsm_client *c, struct hsm_call *call,
			   uint8_t *buf, size_t count);

#endif
