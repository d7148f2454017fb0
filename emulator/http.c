/*
 * http.c - what a handler of hsm-emulator's HTTP side reads from its
 * request and writes into its answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "envelope_i.h"
#include "http_i.h"

const char *http_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_resp_header(struct http_resp *resp, const char *name,
		      const char *fmt, ...)
{
	va_list ap;

	if (resp->nheaders >= HTTP_MAX_HEADERS)
		return;
	resp->headers[resp->nheaders].name = name;
	va_start(ap, fmt);
	vsnprintf(resp->headers[resp->nheaders].value,
		  sizeof(resp->headers[0].value), fmt, ap);
	va_end(ap);
	resp->nheaders++;
}

void http_resp_json(struct http_resp *resp, int status, void *obj)
{
	const char *s;
	size_t n;

	resp->status = status;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	if (obj == NULL) {
		resp->status = 500;
		return;
	}
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	resp->body = s ? strndup(s, n) : NULL;
	resp->body_len = resp->body ? n : 0;
	json_object_put(obj);
}

void http_error(struct http_resp *resp, int status, const char *code,
		const char *fmt, ...)
{
	struct emu_response er;
	va_list ap;

	va_start(ap, fmt);
	emu_verror(&er, status, code, NULL, fmt, ap);
	va_end(ap);
	free(resp->body);
	resp->status = er.status;
	resp->body = er.body;
	resp->body_len = er.body_len;
}

bool http_method_ok(const struct http_req *req, const char *allowed,
		    struct http_resp *resp)
{
	/* allowed: "GET" or "PUT,DELETE,GET" */
	size_t ml = strlen(req->method);
	const char *p = allowed;

	while ((p = strstr(p, req->method)) != NULL) {
		if ((p == allowed || p[-1] == ',') && (p[ml] == '\0' || p[ml] == ','))
			return true;
		p += ml;
	}
	http_error(resp, 405, "MethodNotAllowed",
		   "The requested resource does not support http method '%.16s'.",
		   req->method);
	http_resp_header(resp, "Allow", "%s", allowed);
	return false;
}
