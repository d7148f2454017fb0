/*
 * emu.h - the seam inside hsm-emulator between the HTTP side and the keys:
 * the types they share.  Types only; the functions the key side offers
 * are in their modules' headers: keys_handle() (keys_i.h),
 * keys_route_op() and keys_route_info() (keys_route_i.h), keystore_open() (store_i.h),
 * demo_seed() (demo_i.h).
 *
 * The HTTP side (server.c, http.c, tls.c, tokens.c, jwt.c, identities.c,
 * admin*.c, main.c) owns the socket, TLS, the 401 challenge, token
 * endpoints, api-version checks, fault injection and statistics.  It hands every
 * authenticated data-plane request to the key side (keys*.c, store.c, ...)
 * through keys_handle(), which owns routing of /keys, /deletedkeys and
 * /rng, the key store, persistence and the cryptography.
 */
#ifndef HSMFS_EMU_H
#define HSMFS_EMU_H

#include <stddef.h>

/* The service the emulator stands in for (--flavor). */
enum emu_flavor {
	FLAVOR_MHSM,	/* Managed HSM: every key HSM-protected; oct keys; /rng */
	FLAVOR_VAULT,	/* Key Vault, Premium tier: software (RSA, EC) and
			 * HSM-protected (RSA-HSM, EC-HSM) keys; no oct, no /rng */
};

/* What an identity may do (MHSM local RBAC, simplified). */
enum emu_role {
	ROLE_NONE,	/* authenticates, may do nothing */
	ROLE_READER,	/* get/list keys and deleted keys */
	ROLE_USER,	/* reader + crypto operations and rng */
	ROLE_OFFICER,	/* everything */
};

struct emu_request {
	const char *method;	/* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;	/* percent-decoded, without query: "/keys/k1/sign" */
	const char *api_version;	/* NULL when absent */
	int maxresults;		/* -1 when absent */
	const char *skiptoken;	/* $skiptoken, NULL when absent */
	const char *body;	/* NUL-terminated; "" when none */
	size_t body_len;
	const char *base_url;	/* "https://127.0.0.1:8443", for kid/nextLink */
	enum emu_role role;
	enum emu_flavor flavor;
	const char *principal;	/* client id of the caller, for messages */
};

struct emu_response {
	int status;
	char *body;		/* malloc()ed compact JSON, or NULL for empty */
	size_t body_len;
};

#endif
