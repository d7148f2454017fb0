/*
 * call_i.h - the call layer (internal to client/): one logical request to
 * the service with authentication, retries, failover and the deadline,
 * built on the transport (transport_i.h) and the token (auth_i.h).
 */
#ifndef HSMFS_CLIENT_CALL_I_H
#define HSMFS_CLIENT_CALL_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_types.h"
#include "transport_i.h"

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
 * within deadline (now_ms() clock; API calls made of several requests,
 * list pages or random chunks, share one).  On HSM_OK *resp holds a 2xx
 * answer.  On failure err (never NULL) is filled: status, HTTP status,
 * service codes; *resp is empty.  Adds this request's retries to
 * call->retries.
 */
enum hsm_status call_request(struct hsm_client *c, struct hsm_call *call,
			     const struct http_req *req,
			     struct http_resp *resp, struct hsm_error *err,
			     int64_t deadline);
/* The deadline of a call starting now. */
int64_t call_deadline(struct hsm_client *c, const struct hsm_call *call);

/*
 * Send only the challenge probe (GET /keys without token or body) and hand
 * a 401's challenge to auth_challenge(), as a request's first attempt
 * does.  HSM_OK once a challenge was taken; else a failure (unreachable,
 * no Bearer challenge, a refused resource) with err filled.
 */
enum hsm_status call_probe(struct hsm_client *c, struct hsm_call *call,
			   struct hsm_error *err);

/* Map an HTTP error status + envelope to hsm_status (contracts.md). */
enum hsm_status status_from_http(long http, const char *code,
				 const char *inner);

#endif
