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
 * Ownership: every result struct is owned by the caller and released with
 * its *_cleanup()/free function, which wipes secret members.  On failure
 * outputs are left empty (zeroed) and nothing needs freeing.
 */
#ifndef HSMFS_CLIENT_H
#define HSMFS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alg.h"	/* crypto/: enum key_type, enum key_op, enum curve */
#include "secret.h"

enum hsm_status {
	HSM_OK = 0,
	HSM_E_NOMEM,		/* allocation failed */
	HSM_E_INVALID,		/* bad argument, or 400 from the service */
	HSM_E_NOT_FOUND,	/* 404: key, version or deleted key absent */
	HSM_E_CONFLICT,		/* 409: name deleted but recoverable, exists */
	HSM_E_UNSUPPORTED,	/* operation or algorithm not valid for key */
	HSM_E_KEY_EXPIRED,	/* key disabled, not yet valid or expired */
	HSM_E_FORBIDDEN,	/* 403: the identity lacks the role */
	HSM_E_UNAUTHORIZED,	/* 401 again after a fresh token */
	HSM_E_AUTH,		/* no credential, or the token endpoint said no */
	HSM_E_THROTTLED,	/* 429 after all retries */
	HSM_E_SERVER,		/* 5xx after all retries */
	HSM_E_TIMEOUT,		/* the operation's deadline passed */
	HSM_E_UNREACHABLE,	/* connect/DNS/TLS failure after retries */
	HSM_E_CANCELLED,	/* the cancel hook said stop */
	HSM_E_PROTOCOL,		/* malformed or oversized reply */
	HSM_E_IO,		/* anything unclassified */
};

/* Static English text for a status ("key not found"). */
const char *hsm_strerror(enum hsm_status st);

/* The detail of a failure. */
struct hsm_error {
	enum hsm_status status;
	int http_status;		/* 0 when no reply was received */
	char code[64];			/* service error code, "KeyNotFound" */
	char inner_code[64];		/* innererror.code, if any */
	char message[512];		/* service message or transport text */
	char request_id[64];		/* x-ms-request-id, if sent */
	char client_request_id[40];	/* the x-ms-client-request-id we sent */
};

/*
 * Per-call options and outcome.  Every API call takes one; NULL means "the
 * client's defaults, no cancellation, no detail wanted".
 */
struct hsm_call {
	int timeout_ms;			/* deadline for the whole call; 0: default */
	bool (*cancelled)(void *arg);	/* polled during transfers; NULL: never */
	void *cancel_arg;
	struct hsm_error err;		/* filled on failure */
	unsigned retries;		/* out: retries this call made */
};

enum hsm_auth {
	HSM_AUTH_AUTO,		/* the order of DESIGN.md §5 */
	HSM_AUTH_TOKEN,		/* token_file or AZURE_ACCESS_TOKEN */
	HSM_AUTH_SECRET,	/* AZURE_CLIENT_ID/TENANT_ID/CLIENT_SECRET */
	HSM_AUTH_CERT,		/* AZURE_CLIENT_CERTIFICATE_PATH */
	HSM_AUTH_WORKLOAD,	/* AZURE_FEDERATED_TOKEN_FILE */
	HSM_AUTH_APPSERVICE,	/* IDENTITY_ENDPOINT + IDENTITY_HEADER */
	HSM_AUTH_IMDS,		/* VM managed identity */
	HSM_AUTH_AZCLI,		/* az account get-access-token */
};

/* Parse "auto", "token", ... ; returns -1 for an unknown name. */
int hsm_auth_from_name(const char *name);
const char *hsm_auth_name(enum hsm_auth a);

#define HSM_NO_RETRIES (-1)

enum hsm_log_level { HSM_LOG_ERR, HSM_LOG_WARN, HSM_LOG_INFO, HSM_LOG_DEBUG };

struct hsm_config {
	const char *const *urls;	/* one or more base URLs, failover order */
	size_t n_urls;
	const char *cafile;		/* NULL: the system store */
	const char *api_version;	/* NULL: "7.5" */
	int timeout_ms;			/* per-operation deadline; 0: 30000 */
	int connect_timeout_ms;		/* 0: 10000 */
	int retries;			/* max retries per call; 0: the default
					 * (5); HSM_NO_RETRIES: none */
	bool allow_http;		/* plain http, to loopback only */
	enum hsm_auth auth;
	const char *token_file;		/* for HSM_AUTH_TOKEN / AUTO */
	size_t max_reply;		/* reply cap in bytes; 0: 4 MiB */
	/* Optional log sink; messages never contain tokens or key material. */
	void (*log)(void *arg, enum hsm_log_level lvl, const char *msg);
	void *log_arg;
};

struct hsm_client;

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

/* Counters for status/metrics; a snapshot. */
struct hsm_stats {
	uint64_t requests;		/* HTTP requests sent, all kinds */
	uint64_t retries;
	uint64_t throttled;		/* 429 answers received */
	uint64_t server_errors;		/* 5xx answers received */
	uint64_t token_requests;	/* token fetches */
	uint64_t failovers;
	int64_t token_expires;		/* unix time; 0 when no token */
	char identity[128];		/* e.g. "client secret hsmfs-local" */
	char endpoint[256];		/* the URL in use */
};
void hsm_client_stats(struct hsm_client *c, struct hsm_stats *out);

/* ------------------------------------------------------------------ keys */

struct hsm_attrs {
	bool enabled;
	bool exportable;
	int64_t created, updated;	/* unix seconds */
	int64_t nbf, exp;		/* 0 when absent */
	int recoverable_days;		/* -1 when absent */
	char recovery_level[64];
};

struct hsm_tag {
	char *name;
	char *value;
};

/* A key bundle (or deleted key bundle), public parts only. */
struct hsm_key {
	char *name;
	char *version;		/* 32 hex */
	char *kid;		/* full URL with version */
	enum key_type kty;
	char kty_name[16];	/* as sent: "EC-HSM" */
	unsigned ops;		/* enum key_op bits */
	enum curve crv;		/* EC */
	unsigned bits;		/* RSA modulus / oct key_size / EC field */
	uint8_t *n, *e, *x, *y;	/* public JWK members, decoded */
	size_t n_len, e_len, x_len, y_len;
	struct hsm_attrs attrs;
	struct hsm_tag *tags;
	size_t n_tags;
	char *bundle_json;	/* the whole bundle as received (meta.json) */
	char *jwk_json;		/* the "key" member, serialized (jwk.json) */
	/* deleted keys only (else NULL / 0) */
	char *recovery_id;
	int64_t deleted_date, scheduled_purge_date;
};
void hsm_key_cleanup(struct hsm_key *k);

/* A list element: kid without version for /keys and /deletedkeys, with it
 * for versions. */
struct hsm_key_item {
	char *name;
	char *version;		/* NULL in key and deleted lists */
	struct hsm_attrs attrs;
	struct hsm_tag *tags;
	size_t n_tags;
	int64_t deleted_date, scheduled_purge_date;	/* deleted lists */
};
struct hsm_key_list {
	struct hsm_key_item *items;
	size_t n;
};
void hsm_key_list_cleanup(struct hsm_key_list *l);

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

struct hsm_create {
	enum key_type kty;
	enum curve crv;			/* EC; CRV_NONE: service default */
	unsigned bits;			/* RSA 2048/3072/4096, oct 128/192/256; 0: default */
	unsigned long public_exponent;	/* 0: default */
	unsigned ops;			/* 0: service default */
	bool disabled;
	bool exportable;
	int64_t nbf, exp;		/* 0: none */
	const struct hsm_tag *tags;
	size_t n_tags;
};
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

/* Fields to change; set a has_* flag for each one that applies. */
struct hsm_update {
	bool has_enabled, has_nbf, has_exp, has_ops, has_tags;
	bool enabled;
	int64_t nbf, exp;		/* 0 with has_*: remove (sent as null) */
	unsigned ops;
	const struct hsm_tag *tags;	/* replaces all tags */
	size_t n_tags;
};
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

/* The result of sign / encrypt / decrypt / wrap / unwrap. */
struct hsm_result {
	struct secret *value;	/* signature, ciphertext or plaintext */
	uint8_t iv[16];		/* AES: as returned */
	size_t iv_len;
	uint8_t tag[16];	/* AES-GCM */
	size_t tag_len;
	char kid[512];		/* the versioned key the service used */
};
void hsm_result_cleanup(struct hsm_result *r);

/* Inputs of encrypt / decrypt / wrap / unwrap. */
struct hsm_crypt {
	const char *alg;		/* "RSA-OAEP-256", "A256GCM", ... */
	const uint8_t *value;
	size_t len;
	const uint8_t *iv;		/* CBC: 16 bytes; GCM decrypt: 12 */
	size_t iv_len;
	const uint8_t *aad;		/* GCM; may be NULL */
	size_t aad_len;
	const uint8_t *tag;		/* GCM decrypt: 16 bytes */
	size_t tag_len;
};

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
