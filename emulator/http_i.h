/*
 * http_i.h - requests and answers as hsm-emulator's HTTP handlers (server,
 * tokens, admin) see them, and the helpers to read and fill them.
 */
#ifndef HSMFS_EMU_HTTP_I_H
#define HSMFS_EMU_HTTP_I_H

#include <stdbool.h>
#include <stddef.h>

/* One parsed request as handlers see it.  All strings are borrowed from
 * the connection and valid during the handler call only. */
struct http_req {
	void *conn;		/* struct MHD_Connection * */
	const char *method;
	const char *path;	/* percent-decoded, without the query */
	const char *body;	/* NUL-terminated, "" when none */
	size_t body_len;
	bool loopback;		/* the peer is 127.0.0.0/8 or ::1 */
};

#define HTTP_MAX_HEADERS 4

/* What a handler answers.  body is malloc()ed (or NULL for empty) and is
 * freed by the server; header values are copied into the fixed buffers. */
struct http_resp {
	int status;
	char *body;
	size_t body_len;
	bool token_style;	/* Entra/IMDS headers rather than the MHSM set */
	bool drop;		/* close the connection without an answer */
	size_t nheaders;
	struct {
		const char *name;	/* static string */
		char value[192];
	} headers[HTTP_MAX_HEADERS];
};

/* Value of a query argument or request header; NULL when absent. */
const char *http_query(const struct http_req *r, const char *name);
const char *http_header(const struct http_req *r, const char *name);

/* Add a response header (name must be a static string); silently ignored
 * past HTTP_MAX_HEADERS, which no handler reaches. */
void http_resp_header(struct http_resp *resp, const char *name,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set resp to status with a json-c object serialised compactly; takes
 * ownership of obj (json_object *). */
void http_resp_json(struct http_resp *resp, int status, void *obj);

/* Set resp to status with the service's error envelope
 * {"error":{"code":code,"message":...}} (envelope_i.h builds it). */
void http_error(struct http_resp *resp, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Does the request use one of the allowed methods ("GET", or a list
 * "PUT,DELETE,GET")?  If not, fills resp with 405 and an Allow header. */
bool http_method_ok(const struct http_req *req, const char *allowed,
		    struct http_resp *resp);

#endif
