/*
 * fuzz_token - token endpoint replies: Entra, IMDS, App Service and the
 * Azure CLI (client/json_map.c jm_parse_token(), jm_token_error(),
 * jm_jwt_exp(), as client/cred.c and auth.c call them).
 *
 * Input: the reply body (not NUL-terminated).  A token that parses is
 * non-empty and has no NUL inside.
 */
#include "fuzz.h"
#include "json_map_i.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	size_t len, tok_len = 0;
	uint8_t *body = fz_bytes(&f, &len);
	const char *t = (const char *)body;
	char *tok = NULL, msg[400];
	int64_t exp = -1;

	if (jm_parse_token(t, len, 1765000000, &tok, &tok_len, &exp) ==
	    HSM_OK) {
		fz_check(tok != NULL && tok_len > 0 && strlen(tok) == tok_len);
		(void)jm_jwt_exp(tok, tok_len);
		secret_wipe_free(tok, tok_len);
	}
	if (jm_token_error(t, len, msg, sizeof(msg)))
		fz_check(memchr(msg, 0, sizeof(msg)) != NULL);
	(void)jm_jwt_exp(t, len);
	free(body);
	return 0;
}
