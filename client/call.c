/*
 * call.c - one logical request to the service: the challenge probe, the
 * bearer token, failover between the URLs, retries with backoff within
 * the deadline, and the mapping of errors (call_i.h).  One attempt is
 * send_once(); call_request() loops over it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_i.h"
#include "call_i.h"
#include "client_i.h"
#include "json_map_i.h"
#include "secret.h"

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 60000
#define SLEEP_SLICE_MS 50

/* ------------------------------------------------------------ mapping */

enum hsm_status status_from_http(long http, const char *code,
				 const char *inner)
{
	code = code ? code : "";
	inner = inner ? inner : "";
	if (!strcmp(inner, "KeyDisabled") || !strcmp(inner, "KeyNotYetValid") ||
	    !strcmp(inner, "KeyExpired"))
		return HSM_E_KEY_EXPIRED;
	/* KeyTypeNotSupported: a vault asked for an oct key. */
	if (!strcmp(inner, "ForbiddenByPolicy") ||
	    !strcmp(inner, "UnsupportedAlgorithm") ||
	    !strcmp(inner, "KeyTypeNotSupported"))
		return HSM_E_UNSUPPORTED;
	switch (http) {
	case 400: return HSM_E_INVALID;
	case 401: return HSM_E_UNAUTHORIZED;
	case 403: return HSM_E_FORBIDDEN;
	case 404: return HSM_E_NOT_FOUND;
	case 409: return HSM_E_CONFLICT;
	case 408: return HSM_E_TIMEOUT;
	case 429: return HSM_E_THROTTLED;
	default: break;
	}
	if (http >= 500 && http < 600)
		return HSM_E_SERVER;
	if (http == 413 || http == 422)
		return HSM_E_INVALID;
	return HSM_E_IO;
}

/* ------------------------------------------------------------- helpers */

static bool cancelled(struct hsm_call *call)
{
	return call && call->cancelled && call->cancelled(call->cancel_arg);
}

static void failover(struct hsm_client *c, unsigned from)
{
	unsigned to;

	if (c->n_urls < 2)
		return;
	to = (unsigned)((from + 1) % c->n_urls);
	if (__atomic_compare_exchange_n(&c->cur_url, &from, to, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_add(&c->n_failovers, 1, __ATOMIC_RELAXED);
		sink_log(&c->log, HSM_LOG_WARN, "switching to endpoint %s",
			 c->urls[to]);
	}
}

/* Build base + path + api-version. */
static char *make_url(struct hsm_client *c, const char *base, const char *path)
{
	bool has_q = strchr(path, '?') != NULL;
	bool has_v = strstr(path, "api-version=") != NULL;
	size_t n = strlen(base) + strlen(path) + strlen(c->api_version) + 16;
	char *u = malloc(n);

	if (!u)
		return NULL;
	if (has_v)
		snprintf(u, n, "%s%s", base, path);
	else
		snprintf(u, n, "%s%s%capi-version=%s", base, path,
			 has_q ? '&' : '?', c->api_version);
	return u;
}

/* --------------------------------------------------------------- attempts */

/* One logical request across its attempts. */
struct attempt {
	struct hsm_client *c;
	struct hsm_call *call;
	const struct http_req *req;
	CURL *h;			/* one handle for every attempt */
	struct xport_reply x;		/* the last attempt's reply */
	int64_t start, deadline;
	unsigned retries;
	unsigned idx;			/* the URL of this attempt */
	bool probe;			/* this attempt is the challenge probe */
	bool did_401;			/* the token was refused once */
	bool no_token;			/* the service takes requests without */
	bool have_last;			/* err holds a failure to report if the
					 * deadline passes before the retry */
	int plen;			/* the path without its query (logs) */
};

/* What one attempt found. */
struct outcome {
	enum hsm_status st;		/* HSM_OK: *resp holds the reply */
	bool again;			/* send again at once (a challenge was
					 * taken or a token dropped): no retry */
	bool retryable;			/* a retry after a delay may cure it */
	int64_t delay_ms;		/* the server's delay; -1: none */
};

static void count_retry(struct attempt *a)
{
	a->retries++;
	__atomic_fetch_add(&a->c->n_retries, 1, __ATOMIC_RELAXED);
}

/*
 * Send the request once on a's handle: with the bearer token, or as the
 * challenge probe without token and body.  HSM_OK when an exchange took
 * place (a->x says how it went); else err is filled.
 */
static enum hsm_status exchange(struct attempt *a, uint64_t *gen,
				struct hsm_error *err)
{
	struct hsm_client *c = a->c;
	const struct http_req *req = a->req;
	struct xport_req rq = {
		.method = req->method, .deadline = a->deadline,
		.max_reply = c->max_reply, .allow_http = c->allow_http,
		.call = a->call,
	};
	char *hdr = NULL, *url, idline[80];
	const char *lines[] = { "Accept: application/json",
		"Content-Type: application/json", "Expect:", idline, NULL, NULL };
	enum hsm_status st;
	int64_t t0;
	bool ok;

	if (!a->probe && !a->no_token) {
		st = auth_header(c->auth, c->urls[a->idx], a->deadline, &hdr,
				 gen, err);
		if (st != HSM_OK)
			return st;
	}
	url = make_url(c, c->urls[a->idx], req->path);
	make_guid(err->client_request_id);
	snprintf(idline, sizeof(idline), "x-ms-client-request-id: %s",
		 err->client_request_id);
	lines[4] = hdr;
	ok = url && xport_headers(&rq.hdrs, lines);
	/* curl copied the Authorization line; our copy goes now. */
	if (hdr)
		secret_wipe_free(hdr, strlen(hdr));
	if (!ok) {
		free(url);
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	}
	/* The challenge probe carries no body: nothing, least of all key
	 * material, goes out before we know whom we talk to. */
	rq.url = url;
	rq.body = a->probe ? NULL : req->body;
	rq.body_len = a->probe ? 0 : req->body_len;
	rq.fresh = !a->probe && !req->replay_safe;
	t0 = now_ms();
	xport_send(&c->xp, a->h, &rq, &a->x);
	xport_headers_free(rq.hdrs);
	free(url);
	sink_log(&c->log, HSM_LOG_DEBUG,
		 "%s %.*s -> %ld (%lld ms, retries %u, request-id %s)",
		 req->method, a->plen, req->path, a->x.status,
		 (long long)(now_ms() - t0), a->retries,
		 a->x.request_id[0] ? a->x.request_id : "-");
	snprintf(err->request_id, sizeof(err->request_id), "%s",
		 a->x.request_id);
	return HSM_OK;
}

/* The exchange failed below HTTP (a->x.cc). */
static void transport_failed(struct attempt *a, struct hsm_error *err,
			     struct outcome *o)
{
	struct hsm_client *c = a->c;
	CURLcode cc = a->x.cc;

	if (cc == CURLE_ABORTED_BY_CALLBACK && cancelled(a->call)) {
		o->st = err_set(err, HSM_E_CANCELLED, 0, "operation cancelled");
		return;
	}
	if (a->x.too_big) {
		o->st = err_set(err, HSM_E_PROTOCOL, 0,
				"reply larger than %zu bytes refused",
				c->max_reply);
		return;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT && now_ms() >= a->deadline - 5) {
		o->st = err_set(err, HSM_E_TIMEOUT, 0,
				"no answer within the deadline of %lld ms",
				(long long)(a->deadline - a->start));
		return;
	}
	if (xport_fatal(cc)) {
		o->st = err_set(err, HSM_E_UNREACHABLE, 0,
				"%s: %s (check the URL and cafile)",
				c->urls[a->idx], xport_strerror(&a->x));
		return;
	}
	failover(c, a->idx);
	a->have_last = true;
	/* Sent again only when it cannot have been applied: nothing left
	 * us, it is replay-safe, or it was the probe (no body, no token). */
	if (a->x.unsent || a->req->replay_safe || a->probe) {
		o->st = err_set(err, HSM_E_UNREACHABLE, 0, "%s: %s",
				c->urls[a->idx], xport_strerror(&a->x));
		o->retryable = true;
	} else {
		o->st = err_set(err, HSM_E_IO, 0,
				"%s: %s after the request was sent; not retried because the service may have applied it: look before repeating it",
				c->urls[a->idx], xport_strerror(&a->x));
	}
}

/* A 401: take the challenge, or drop a refused token once. */
static void unauthorized(struct attempt *a, uint64_t gen,
			 struct hsm_error *err, struct outcome *o)
{
	struct hsm_client *c = a->c;

	if (!a->probe && a->did_401) {
		o->st = err_set(err, HSM_E_UNAUTHORIZED, 401,
				"the service refused a fresh token (401)");
		if (a->x.buf)
			jm_parse_error(a->x.buf, a->x.len, err);
		return;
	}
	if (!a->probe) {
		auth_drop(c->auth, gen);
		a->did_401 = true;
		count_retry(a);
	}
	if (a->x.www_auth[0]) {
		o->st = auth_challenge(c->auth, a->x.www_auth, c->urls[a->idx],
				       err);
		o->again = o->st == HSM_OK;
	} else if (a->probe) {
		o->st = err_set(err, HSM_E_AUTH, 401,
				"the service answered 401 without a Bearer challenge");
	} else {
		o->again = true;
	}
}

/* An HTTP error status other than the 401 handled above. */
static void http_failed(struct attempt *a, struct hsm_error *err,
			struct outcome *o)
{
	struct hsm_client *c = a->c;
	long status = a->x.status;

	err_set(err, HSM_E_IO, (int)status, "HTTP %ld", status);
	if (a->x.buf && jm_parse_error(a->x.buf, a->x.len, err) == HSM_OK)
		o->st = status_from_http(status, err->code, err->inner_code);
	else
		o->st = status_from_http(status, NULL, NULL);
	err->status = o->st;
	if (!status_retryable(status))
		return;
	a->have_last = true;
	if (status == 429)
		__atomic_fetch_add(&c->n_throttled, 1, __ATOMIC_RELAXED);
	if (status >= 500) {
		__atomic_fetch_add(&c->n_server_errors, 1, __ATOMIC_RELAXED);
		failover(c, a->idx);
	}
	/* 408 and 429 say the request was not processed; an
	 * unauthenticated probe cannot have been applied. */
	o->retryable = a->req->replay_safe || a->probe || status == 408 ||
		       status == 429;
	o->delay_ms = xport_retry_after(&a->x);
	if (!err->message[0] || !strncmp(err->message, "HTTP ", 5))
		snprintf(err->message, sizeof(err->message), "HTTP %ld from %s",
			 status, c->urls[a->idx]);
}

/* One attempt: send, then sort the answer out into *o. */
static void send_once(struct attempt *a, struct http_resp *resp,
		      struct hsm_error *err, struct outcome *o)
{
	long status;
	uint64_t gen = 0;

	memset(o, 0, sizeof(*o));
	o->delay_ms = -1;
	a->idx = __atomic_load_n(&a->c->cur_url, __ATOMIC_SEQ_CST);
	a->probe = !a->no_token && !auth_ready(a->c->auth);
	o->st = exchange(a, &gen, err);
	if (o->st != HSM_OK)
		return;
	status = a->x.status;
	if (a->x.cc != CURLE_OK) {
		transport_failed(a, err, o);
	} else if (status == 401 && !a->no_token) {
		unauthorized(a, gen, err, o);
	} else if (a->probe && status >= 200 && status < 300 && a->req->body) {
		/* No challenge: this service takes requests without a
		 * token.  Send the real request now. */
		a->no_token = true;
		o->again = true;
	} else if (status >= 200 && status < 300) {
		o->st = xport_take(&a->x, a->req->secret, resp);
		if (o->st != HSM_OK)
			err_set(err, o->st, 0, "out of memory");
	} else {
		http_failed(a, err, o);
	}
}

/* ------------------------------------------------------------- the loop */

/* Whether another attempt may start: false (with *st) when the call was
 * cancelled or the deadline passed. */
static bool may_start(struct attempt *a, struct hsm_error *err,
		      enum hsm_status *st)
{
	if (cancelled(a->call)) {
		*st = err_set(err, HSM_E_CANCELLED, 0, "operation cancelled");
		return false;
	}
	if (now_ms() >= a->deadline) {
		if (!a->have_last)
			err_set(err, HSM_E_TIMEOUT, 0,
				"deadline of %lld ms passed",
				(long long)(a->deadline - a->start));
		*st = err->status;
		return false;
	}
	return true;
}

/* Sleep delay_ms in short slices so that a cancel ends the wait; false
 * when cancelled. */
static bool sleep_unless_cancelled(struct hsm_call *call, int64_t delay_ms)
{
	for (int64_t end = now_ms() + delay_ms; now_ms() < end;) {
		struct timespec ts;
		int64_t left = end - now_ms();

		if (cancelled(call))
			return false;
		if (left > SLEEP_SLICE_MS)
			left = SLEEP_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000;
		nanosleep(&ts, NULL);
	}
	return true;
}

/*
 * Wait for the next retry (server_ms: the server's delay, -1 none).
 * False when the retry budget or the deadline says no (the last failure
 * stands) or when the call was cancelled meanwhile (*st then says so).
 */
static bool wait_retry(struct attempt *a, int64_t server_ms,
		       struct hsm_error *err, enum hsm_status *st)
{
	struct hsm_client *c = a->c;
	const struct http_req *req = a->req;
	int64_t delay;

	if (a->retries >= c->retries) {
		sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: giving up after %u retries: %s",
			 req->method, a->plen, req->path, a->retries,
			 err->message);
		return false;
	}
	delay = backoff_ms(a->retries, server_ms, rand32(), BACKOFF_BASE_MS,
			   BACKOFF_MAX_MS);
	if (!retry_fits(now_ms(), delay, a->deadline)) {
		sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: no retry, the deadline would pass first (%s)",
			 req->method, a->plen, req->path, err->message);
		return false;
	}
	sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: %s; retry %u/%u in %lld ms",
		 req->method, a->plen, req->path, err->message,
		 a->retries + 1, c->retries, (long long)delay);
	if (!sleep_unless_cancelled(a->call, delay)) {
		*st = err_set(err, HSM_E_CANCELLED, 0, "operation cancelled");
		return false;
	}
	count_retry(a);
	return true;
}

enum hsm_status call_request(struct hsm_client *c, struct hsm_call *call,
			     const struct http_req *req,
			     struct http_resp *resp, struct hsm_error *err,
			     int64_t deadline)
{
	struct attempt a = {
		.c = c, .call = call, .req = req, .start = now_ms(),
		.deadline = deadline, .plen = (int)strcspn(req->path, "?"),
	};
	struct outcome o;
	enum hsm_status st;

	memset(resp, 0, sizeof(*resp));
	memset(err, 0, sizeof(*err));
	a.h = xport_get(&c->xp);
	if (!a.h)
		return err_set(err, HSM_E_NOMEM, 0,
			       "out of memory (curl handle)");
	while (may_start(&a, err, &st)) {
		send_once(&a, resp, err, &o);
		st = o.st;
		if (o.again) {
			/* The service answered (a challenge, a refused
			 * token): an earlier failure is no longer the one
			 * to report if the deadline passes now. */
			a.have_last = false;
			continue;
		}
		if (st == HSM_OK || !o.retryable ||
		    !wait_retry(&a, o.delay_ms, err, &st))
			break;
	}
	xport_reply_reset(&a.x);
	xport_put(&c->xp, a.h);
	/* Never HSM_OK without a reply (xport_take() always leaves a body):
	 * callers would call it a malformed reply. */
	if (st == HSM_OK && !resp->body)
		st = err_set(err, HSM_E_PROTOCOL, 0,
			     "%s %.*s: internal error: the call ended with neither a reply nor a failure",
			     req->method, a.plen, req->path);
	if (call)
		call->retries += a.retries;
	if (st != HSM_OK)
		err->status = st;
	return st;
}

enum hsm_status call_probe(struct hsm_client *c, struct hsm_call *call,
			   struct hsm_error *err)
{
	static const struct http_req req = {
		.method = "GET", .path = "/keys?maxresults=1", .replay_safe = true,
	};
	struct attempt a = {
		.c = c, .call = call, .req = &req, .start = now_ms(),
		.deadline = call_deadline(c, call), .probe = true, .plen = 5,
	};
	enum hsm_status st;
	uint64_t gen = 0;

	memset(err, 0, sizeof(*err));
	a.h = xport_get(&c->xp);
	if (!a.h)
		return err_set(err, HSM_E_NOMEM, 0, "out of memory (curl handle)");
	a.idx = __atomic_load_n(&c->cur_url, __ATOMIC_SEQ_CST);
	st = exchange(&a, &gen, err);
	if (st == HSM_OK && a.x.cc != CURLE_OK)
		st = err_set(err, HSM_E_UNREACHABLE, 0, "%s: %s", c->urls[a.idx],
			     xport_strerror(&a.x));
	else if (st == HSM_OK && (a.x.status != 401 || !a.x.www_auth[0]))
		st = err_set(err, HSM_E_AUTH, (int)a.x.status,
			     "the service answered %ld without a Bearer challenge",
			     a.x.status);
	else if (st == HSM_OK)
		st = auth_challenge(c->auth, a.x.www_auth, c->urls[a.idx], err);
	xport_reply_reset(&a.x);
	xport_put(&c->xp, a.h);
	return st;
}

int64_t call_deadline(struct hsm_client *c, const struct hsm_call *call)
{
	return now_ms() + (call && call->timeout_ms > 0 ? call->timeout_ms :
			   c->timeout_ms);
}
