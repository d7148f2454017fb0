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

struct auth;

struct hsm_client {
	char **urls;			/* normalised: no trailing '/' */
	size_t n_urls;
	unsigned cur_url;		/* atomic: the URL in use */
	char *cafile;
	char *api_version;
	int timeout_ms, connect_timeout_ms;
	unsigned retries;
	bool allow_http;
	size_t max_reply;
	void (*log)(void *arg, enum hsm_log_level lvl, const char *msg);
	void *log_arg;
	struct auth *auth;

	pthread_mutex_t pool_lock;	/* protects pool, n_pool */
	void **pool;			/* idle CURL handles (keep-alive) */
	size_t n_pool, cap_pool;

	/* counters, updated with __atomic builtins */
	uint64_t n_requests, n_retries, n_throttled, n_server_errors,
		 n_token_requests, n_failovers;
};

/* Log at lvl through cfg->log when set (printf format). */
void client_log(struct hsm_client *c, enum hsm_log_level lvl,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic and wall clocks in milliseconds / seconds. */
int64_t now_ms(void);
int64_t now_unix(void);

/* A fresh random GUID ("xxxxxxxx-xxxx-4xxx-...") into buf[37]. */
void make_guid(char buf[37]);

/*
 * Check a service (or token endpoint) base URL: https://host[:port][/path]
 * with no user info, query or fragment; http:// only when allow_http and
 * the host is loopback (127.0.0.0/8, ::1, localhost).  Returns 0, or -1
 * with a one-line reason in err.
 */
int url_check(const char *url, bool allow_http, char *err, size_t errlen);

/* True when the URL's host is a loopback address. */
bool url_is_loopback(const char *url);

/*
 * The retry delay before retry number attempt (0 for the first retry):
 * exponential from base_ms, doubled each time, capped at max_ms, times a
 * jitter factor in [0.8, 1.2) drawn from rnd (uniform 32 bits).  A server
 * delay (server_ms >= 0) is used instead when present (it is a floor, not
 * jittered down).
 */
int64_t backoff_ms(unsigned attempt, int64_t server_ms, uint32_t rnd,
		   int64_t base_ms, int64_t max_ms);

/* Whether a retry after delay_ms still starts before the deadline (all in
 * the same clock, ms).  A retry that could not even start is not tried:
 * the call gives up with the last status instead. */
bool retry_fits(int64_t now, int64_t delay_ms, int64_t deadline);

/*
 * The server's requested delay from the reply headers, in the SDKs'
 * order: retry-after-ms, x-ms-retry-after-ms (milliseconds), Retry-After
 * (seconds or an HTTP date, relative to now_s).  -1 when none is usable.
 * Any argument may be NULL.
 */
int64_t retry_after_ms(const char *retry_after, const char *ra_ms,
		       const char *x_ms_ra_ms, int64_t now_s);

/* One logical request. */
struct http_req {
	const char *method;		/* "GET", "POST", ... */
	const char *path;		/* "/keys/n/create", may carry "?q" */
	const char *body;		/* NULL: none */
	size_t body_len;
	bool secret;			/* body or reply carry secrets: wipe */
	bool replay_safe;		/* may be retried after it was sent */
};

struct http_resp {
	long status;
	char *body;			/* NUL-terminated, malloc()ed */
	size_t len;
	bool secret;			/* wipe body when freed */
};
/* Free the body (wiped when secret). */
void http_resp_cleanup(struct http_resp *r);

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

/*
 * A plain request for the token endpoints (no bearer token, no retries
 * except transport errors until the deadline): url absolute, headers a
 * NULL-terminated list of "Name: value" strings, body form text or NULL
 * (then GET), no_proxy for local endpoints (managed identity).  The reply is wiped when freed.  Returns HSM_OK with any
 * HTTP status in resp->status, or a transport status with a message in
 * err.
 */
enum hsm_status http_plain(struct hsm_client *c, const char *url,
			   const char *const *headers, const char *body,
			   bool no_proxy, int64_t deadline_ms,
			   struct http_resp *resp, struct hsm_error *err);

/* Map an HTTP error status + envelope to hsm_status (contracts.md). */
enum hsm_status status_from_http(long http, const char *code,
				 const char *inner);

#endif
