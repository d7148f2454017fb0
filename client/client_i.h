/*
 * client_i.h - internals shared by the files of client/ (never included
 * from another module).
 *
 * http.c: one logical request with retries, failover, authentication and
 *         the deadline; the curl handle pool.
 * auth.c: the bearer token and the credentials (auth_i.h).
 * json_map.c: JSON (json_map_i.h).
 * hsm_client.c: the public API on top of these.
 */
#ifndef HSMFS_CLIENT_I_H
#define HSMFS_CLIENT_I_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_client.h"
#include "transport_i.h"
#include "util_i.h"

struct auth;

struct hsm_client {
	char **urls;			/* normalised: no trailing '/' */
	size_t n_urls;
	unsigned cur_url;		/* atomic: the URL in use */
	char *api_version;
	int timeout_ms;
	unsigned retries;
	bool allow_http;
	size_t max_reply;
	struct log_sink log;
	struct auth *auth;
	struct xport xp;		/* the pool; counts the requests */
	bool have_xp;			/* xp is set up */

	/* counters, updated with __atomic builtins */
	uint64_t n_retries, n_throttled, n_server_errors, n_failovers;
};

/* One logical request. */
struct http_req {
	const char *method;		/* "GET", "POST", ... */
	const char *path;		/* "/keys/n/create", may carry "?q" */
	const char *body;		/* NULL: none */
	size_t body_len;
	bool secret;			/* body or reply carry secrets: wipe */
	bool replay_safe;		/* may be retried after it was sent */
};


/*
 * Send req to the service with authentication, retries and failover,
 * within the call's deadline.  On HSM_OK *resp holds a 2xx answer.  On
 * failure err (never NULL) is filled: status, HTTP status, service codes;
 * *resp is empty.
 */
enum hsm_status http_call(struct hsm_client *c, struct hsm_call *call,
			  const struct http_req *req, struct http_resp *resp,
			  struct hsm_error *err);
/* The same with an explicit deadline (now_ms() clock), for API calls made
 * of several requests (list pages, random chunks) that share one deadline.
 * Adds this request's retries to call->retries. */
enum hsm_status http_call_until(struct hsm_client *c, struct hsm_call *call,
				const struct http_req *req,
				struct http_resp *resp, struct hsm_error *err,
				int64_t deadline);
/* The deadline of a call starting now. */
int64_t call_deadline(struct hsm_client *c, const struct hsm_call *call);

/* Map an HTTP error status + envelope to hsm_status (contracts.md). */
enum hsm_status status_from_http(long http, const char *code,
				 const char *inner);

#endif
