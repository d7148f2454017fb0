/*
 * keys_params.c - request parameters of the key side: JSON bodies to
 * typed parameters, with the service's 400 answers for bad ones.
 */
#include <limits.h>

#include "envelope_i.h"
#include "keys_params_i.h"

struct json_object *keys_parse_body(const struct emu_request *req,
				    struct emu_response *resp)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (req->body_len > 0 && req->body_len < INT_MAX) {
		tok = json_tokener_new();
		if (tok != NULL) {
			o = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
			if (json_tokener_get_error(tok) != json_tokener_success) {
				json_object_put(o);
				o = NULL;
			}
			json_tokener_free(tok);
		}
	}
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request body must be a JSON object.");
		return NULL;
	}
	return o;
}
