/*
 * tokens_i.h - access tokens of hsm-emulator: issue, validate, and the
 * Entra ID / IMDS / App Service token endpoints.
 *
 * Tokens are RS256 JWTs signed with a key kept in DIR/tls/token-signing.key
 * (mode 0600) so that tokens stay valid across restarts.
 */
#ifndef HSMFS_EMU_TOKENS_I_H
#define HSMFS_EMU_TOKENS_I_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http_i.h"
#include "identities_i.h"
#include "server_types.h"

#define EMU_TENANT "00000000-0000-0000-0000-000000000000"
#define EMU_RESOURCE "https://managedhsm.azure.net"

struct tokens;

/* Load (or create) the signing key under dir (dir/tls/token-signing.key).
 * issuer_base is the server's base URL, copied.  Returns NULL on failure
 * with a one-line reason in err.  Free with tokens_free(). */
struct tokens *tokens_new(const char *dir, char *err, size_t errlen);
void tokens_free(struct tokens *tk);

enum tok_result {
	TOK_OK,
	TOK_INVALID,	/* malformed, bad signature, wrong aud/iss, unknown app */
	TOK_EXPIRED,	/* well-formed and signed by us but exp has passed */
};

/* Validate a bearer token (len bytes) for the data plane: RS256 signature,
 * iss, aud == EMU_RESOURCE, nbf, exp, tid; on TOK_OK *who is the identity
 * named by its appid (borrowed from srv->ids). */
enum tok_result tokens_validate(struct emu_server *srv, const char *jwt,
				size_t len, const struct emu_identity **who);

/* Handlers for POST /{tenant}/oauth2/v2.0/token, GET
 * /metadata/identity/oauth2/token and GET /msi/token.  tenant is the first
 * path segment.  They fill resp (always). */
void tokens_handle_entra(struct emu_server *srv, const struct http_req *req,
			 const char *tenant, struct http_resp *resp);
void tokens_handle_imds(struct emu_server *srv, const struct http_req *req,
			struct http_resp *resp);
void tokens_handle_appservice(struct emu_server *srv,
			      const struct http_req *req,
			      struct http_resp *resp);

/* GET /{tenant}/discovery/v2.0/keys: the token signing key as a JWK set,
 * so that clients (and tests) can check token signatures. */
void tokens_handle_jwks(struct emu_server *srv, struct http_resp *resp);

/* GET /{tenant}/v2.0/.well-known/openid-configuration: enough of the
 * discovery document for MSAL-based credentials. */
void tokens_handle_openid(struct emu_server *srv, const char *tenant,
			  struct http_resp *resp);

/* A federated (workload identity) token for subject, valid one hour;
 * malloc()ed, NULL when out of memory. */
char *tokens_federated(struct emu_server *srv, const char *subject);

#endif
