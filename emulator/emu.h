/*
 * emu.h - the seam inside hsm-emulator between the HTTP side and the keys.
 *
 * The HTTP side (server.c, tls.c, tokens.c, identities.c, admin.c, main.c)
 * owns the socket, TLS, the 401 challenge, token endpoints, api-version
 * checks, fault injection and statistics.  It hands every authenticated
 * data-plane request to the key side (keys*.c, store.c) through
 * keys_handle(), which owns routing of /keys, /deletedkeys and /rng, the key
 * store, persistence and the cryptography.
 */
#ifndef HSMFS_EMU_H
#define HSMFS_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	const char *principal;	/* client id of the caller, for messages */
};

struct emu_response {
	int status;
	char *body;		/* malloc()ed compact JSON, or NULL for empty */
	size_t body_len;
};

/* Operation names used by statistics and fault matching:
 * "create" "import" "get" "update" "delete" "list" "list_versions"
 * "list_deleted" "get_deleted" "recover" "purge" "backup" "restore" "rotate"
 * "get_rotation_policy" "set_rotation_policy" "sign" "verify" "encrypt"
 * "decrypt" "wrapkey" "unwrapkey" "rng"; "unknown" for anything else. */
const char *keys_route_op(const char *method, const char *path);

struct keystore;

/* Open (creating) the store in dir; dir NULL: memory only.  Returns NULL
 * and sets errno. */
struct keystore *keystore_open(const char *dir);

/* Add the demo keys (--demo-keys) when the store is empty.  Call before
 * the store is shared with other threads.  0 or -errno. */
int demo_seed(struct keystore *ks);
void keystore_close(struct keystore *ks);

/* Handle one authenticated request; thread-safe.  Always fills resp
 * (errors use the service's envelope). */
void keys_handle(struct keystore *ks, const struct emu_request *req,
		 struct emu_response *resp);

#endif
