/*
 * envelope.c - the service's error envelope.  Members in the service's
 * order (code, innererror, message), compact, no slash escaping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "envelope_i.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

void emu_verror(struct emu_response *resp, int status, const char *code,
		const char *inner, const char *fmt, va_list ap)
{
	struct json_object *o = json_object_new_object();
	struct json_object *err = json_object_new_object();
	char msg[1024];
	const char *s;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	resp->status = status;
	resp->body = NULL;
	resp->body_len = 0;
	if (o == NULL || err == NULL) {
		json_object_put(o);
		json_object_put(err);
		return;
	}
	add_str(err, "code", code);
	if (inner != NULL) {
		struct json_object *in = json_object_new_object();

		add_str(in, "code", inner);
		json_object_object_add(err, "innererror", in);
	}
	add_str(err, "message", msg);
	json_object_object_add(o, "error", err);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	resp->body = s ? strdup(s) : NULL;
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	json_object_put(o);
}

void emu_error(struct emu_response *resp, int status, const char *code,
	       const char *inner, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emu_verror(resp, status, code, inner, fmt, ap);
	va_end(ap);
}

void emu_error_oom(struct emu_response *resp)
{
	emu_error(resp, 500, "InternalError", NULL,
		  "The emulator ran out of memory; retry the request.");
}

void emu_error_storage(struct emu_response *resp)
{
	emu_error(resp, 500, "InternalError", NULL,
		  "The emulator could not write its data directory; check free space and permissions.");
}
