/*
 * tokens_i.h - the token endpoints of hsm-emulator: Entra ID, IMDS, App
 * Service, and the JWKS / OpenID discovery documents.  The tokens
 * themselves are jwt.c's (jwt_i.h).
 */
#ifndef HSMFS_EMU_TOKENS_I_H
#define HSMFS_EMU_TOKENS_I_H

#include "http_i.h"
#include "server_types.h"

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

#endif
