/*
 * server_i.h - hsm-emulator's HTTP side: the shared server state and the
 * request/response types the HTTP handlers (tokens.c, admin.c) use.
 *
 * Internal to emulator/.  The data-plane seam towards the key store is
 * emu.h; everything here is the socket side of it.
 */
#ifndef HSMFS_EMU_SERVER_I_H
#define HSMFS_EMU_SERVER_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu.h"

#define EMU_TENANT "00000000-0000-0000-0000-000000000000"
#define EMU_RESOURCE "https://managedhsm.azure.net"
#define EMU_BODY_MAX (1024 * 1024)	/* larger request bodies: 413 */

struct identities;
struct tokens;
struct admin;

/* Everything main.c sets up and the request handlers read.  The pointers
 * are owned by main.c (which frees them after server_stop()); handlers
 * only borrow them. */
struct emu_server {
	struct keystore *ks;
	struct identities *ids;
	struct tokens *tok;
	struct admin *adm;
	char base_url[160];	/* "https://127.0.0.1:PORT", no trailing slash */
	bool plain_http;

	/* Interruptible sleeps (latency / stall faults) end at shutdown. */
	pthread_mutex_t sleep_lock;
	pthread_cond_t sleep_cond;
	bool stopping;

	void *mhd;		/* struct MHD_Daemon *, opaque outside server.c */
};

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
 * {"error":{"code":code,"message":...}}. */
void http_error(struct http_resp *resp, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Random UUID (36 chars + NUL) for request and activity ids. */
void emu_uuid(char out[37]);

/* Start listening on host:port (port 0: any) with TLS from the PEM
 * buffers (NULL for plain HTTP).  On success fills srv->base_url and
 * returns 0; on failure returns -1 and writes a one-line reason into err. */
int server_start(struct emu_server *srv, const char *host, unsigned port,
		 const char *key_pem, const char *cert_pem,
		 char *err, size_t errlen);

/* Stop accepting, wake sleeping handlers, wait for the worker threads. */
void server_stop(struct emu_server *srv);

#endif
