/*
 * hsm_types.h - the client's public types: statuses, the per-call record,
 * the configuration, keys, lists and operation results, and the cleanup
 * functions of the results (hsm_types.c).
 *
 * Apart from hsm_client.h so that the client's layers (transport, auth,
 * call, JSON mapping) can use the types without including the API that
 * hsm_client.c builds on top of them: dependencies in client/ point one way.
 * Every result struct is owned by the caller and released with its
 * *_cleanup() function, which wipes secret members.
 */
#ifndef HSMFS_CLIENT_TYPES_H
#define HSMFS_CLIENT_TYPES_H

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

/* The kind of service behind the URL (hsm_service()). */
enum hsm_service {
	HSM_SERVICE_UNKNOWN,	/* not known (yet): no challenge seen */
	HSM_SERVICE_MHSM,	/* a Managed HSM */
	HSM_SERVICE_VAULT,	/* a Key Vault vault */
};

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
/* One element (for a list being filled); the list frees all of its own. */
void hsm_key_item_cleanup(struct hsm_key_item *it);
void hsm_key_list_cleanup(struct hsm_key_list *l);

struct hsm_create {
	enum key_type kty;
	bool hsm;			/* ask for "EC-HSM" etc.; false: the plain
					 * "EC" (a vault's software key; Managed
					 * HSM protects it by HSM anyway) */
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

/* Fields to change; set a has_* flag for each one that applies. */
struct hsm_update {
	bool has_enabled, has_nbf, has_exp, has_ops, has_tags;
	bool enabled;
	int64_t nbf, exp;		/* 0 with has_*: remove (sent as null) */
	unsigned ops;
	const struct hsm_tag *tags;	/* replaces all tags */
	size_t n_tags;
};

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

#endif
