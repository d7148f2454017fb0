/*
 * jwt_i.h - the emulator's JWTs: the signing key, access tokens (issue,
 * validate), federated tokens and client assertion checks.
 *
 * Tokens are RS256 JWTs signed with a key kept in DIR/tls/token-signing.key
 * (mode 0600) so that tokens stay valid across restarts.
 */
#ifndef HSMFS_EMU_JWT_I_H
#define HSMFS_EMU_JWT_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "identities_i.h"
#include "server_types.h"

#define EMU_TENANT "00000000-0000-0000-0000-000000000000"
#define EMU_RESOURCE "https://managedhsm.azure.net"
#define EMU_RESOURCE_VAULT "https://vault.azure.net"

struct tokens;

/* Load (or create) the signing key under dir (dir/tls/token-signing.key).
 * Returns NULL on failure with a one-line reason in err.  Free with
 * jwt_free(). */
struct tokens *jwt_new(const char *dir, char *err, size_t errlen);
void jwt_free(struct tokens *tk);

enum tok_result {
	TOK_OK,
	TOK_INVALID,	/* malformed, bad signature, wrong aud/iss, unknown app */
	TOK_EXPIRED,	/* well-formed and signed by us but exp has passed */
};

/* The resource the challenge names and data-plane tokens must have as
 * their audience: EMU_RESOURCE, or EMU_RESOURCE_VAULT in the vault
 * flavour. */
const char *jwt_resource(const struct emu_server *srv);

/* Validate a bearer token (len bytes) for the data plane: RS256 signature,
 * iss, aud == jwt_resource(srv), nbf, exp, tid; on TOK_OK *who is the identity
 * named by its appid (borrowed from srv->ids). */
enum tok_result jwt_validate(struct emu_server *srv, const char *jwt,
			     size_t len, const struct emu_identity **who);

/* Issue an access token for who with audience aud (malloc()ed, a secret:
 * wipe it; NULL when out of memory).  *lifetime receives its lifetime and
 * *now the issue time. */
char *jwt_issue(struct emu_server *srv, const struct emu_identity *who,
		const char *aud, long *lifetime, int64_t *now);

/* A federated (workload identity) token for subject, valid one hour;
 * malloc()ed, NULL when out of memory. */
char *jwt_federated(struct emu_server *srv, const char *subject);

/* Check a certificate-signed client assertion or a federated token for
 * client e at the token endpoint of tenant.  Returns NULL when it is good,
 * else the AADSTS reason (with *code set). */
const char *jwt_check_assertion(struct emu_server *srv,
				const struct emu_identity *e,
				const char *assertion, const char *tenant,
				long *code);

/* The signing key's public half as a JWK set ({"keys":[...]}); NULL when
 * out of memory. */
json_object *jwt_jwks(struct tokens *tk);

#endif
