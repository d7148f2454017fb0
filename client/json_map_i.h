/*
 * json_map_i.h - JSON <-> C structs for the client (internal to client/).
 *
 * client/json_map.c is the only file that calls json-c, so json-c's
 * ownership rules (one json_object_put() per parsed tree, borrowed
 * children never put) live in one place.  These functions are pure: no I/O,
 * no globals, so the unit tests feed them recorded replies.
 *
 * Parsers take the reply text and its length (not necessarily
 * NUL-terminated).  They return HSM_OK, HSM_E_NOMEM, or HSM_E_PROTOCOL for
 * a reply that is not the expected JSON; on failure outputs are left empty.
 * Builders return a malloc()ed NUL-terminated string (free() it, or
 * secret_wipe_free() when marked secret) or NULL when out of memory.
 */
#ifndef HSMFS_CLIENT_JSON_MAP_I_H
#define HSMFS_CLIENT_JSON_MAP_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_types.h"

/* A key bundle or deleted key bundle into *out (zeroed first). */
enum hsm_status jm_parse_key(const char *text, size_t len, struct hsm_key *out);

/*
 * One page of a key list; items are appended to *out (which may already
 * hold earlier pages).  *next_link receives a malloc()ed copy of nextLink,
 * or NULL on the last page.  On failure *out keeps the earlier pages.
 */
enum hsm_status jm_parse_list(const char *text, size_t len,
			      struct hsm_key_list *out, char **next_link);

/*
 * The service's error envelope {"error":{"code","message","innererror"}}
 * into err->code/inner_code/message.  Leaves err untouched (returns
 * HSM_E_PROTOCOL) when the text is not such an envelope.
 */
enum hsm_status jm_parse_error(const char *text, size_t len,
			       struct hsm_error *err);

/* A KeyOperationResult {kid, value, iv, tag} into *out (zeroed first).
 * value is decoded into a secret. */
enum hsm_status jm_parse_result(const char *text, size_t len,
				struct hsm_result *out);

/* {"value": true|false} */
enum hsm_status jm_parse_verify(const char *text, size_t len, bool *valid);

/* The string member "value" ({"value": "..."}): malloc()ed copy. */
enum hsm_status jm_parse_value(const char *text, size_t len, char **out);

/* {"value": "<b64url>"} decoded into buf, which must receive exactly want
 * bytes (the random-bytes reply). */
enum hsm_status jm_parse_random(const char *text, size_t len, uint8_t *buf,
				size_t want);

/*
 * A token reply: Entra ({"access_token","expires_in":N}), managed identity
 * (strings "expires_in"/"expires_on") or the Azure CLI ({"accessToken",
 * "expires_on": N, "expiresOn": "YYYY-MM-DD HH:MM:SS.ffffff" local time}).
 * *token is a secret (wipe it), visible ASCII (anything else is
 * HSM_E_PROTOCOL); *expires_on is absolute unix time, or 0
 * when the reply gives no lifetime.  now is the current unix time.
 */
enum hsm_status jm_parse_token(const char *text, size_t len, int64_t now,
			       char **token, size_t *token_len,
			       int64_t *expires_on);

/* The token endpoint's error ({"error","error_description"}) as one line
 * into msg; false when the text is not such an error. */
bool jm_token_error(const char *text, size_t len, char *msg, size_t msglen);

/* The "exp" claim of a JWT (no signature check); 0 when absent. */
int64_t jm_jwt_exp(const char *jwt, size_t len);

/* Request bodies. */
char *jm_build_create(const struct hsm_create *p);
/* The import body: jwk_json wrapped as {"key":..., "attributes":...}.
 * Secret: wipe it.  NULL also when jwk_json is not a JSON object (*bad
 * set). */
char *jm_build_import(const char *jwk_json, const struct hsm_create *p,
		      bool *bad);
char *jm_build_update(const struct hsm_update *u);
/* {"alg","value"[,"iv","aad","tag"]}; secret (plaintext inside). */
char *jm_build_crypt(const struct hsm_crypt *in);
/* {"alg","value":digest} for sign; with sig: {"alg","digest","value":sig}. */
char *jm_build_sign(const char *alg, const uint8_t *digest, size_t dlen,
		    const uint8_t *sig, size_t sig_len);
/* {"value": "<s>"} */
char *jm_build_value(const char *s);
/* {"count": n} */
char *jm_build_count(unsigned n);
/* Compact re-serialisation of a JSON text (validates it); NULL when it is
 * not JSON (*bad set). */
char *jm_normalize(const char *text, bool *bad);

/* The JWT header and claims of a client assertion, as compact JSON. */
char *jm_build_jwt_header(const char *alg, const char *x5t_name,
			  const char *x5t);
char *jm_build_jwt_claims(const char *aud, const char *client_id,
			  const char *jti, int64_t now, int64_t exp);

#endif
