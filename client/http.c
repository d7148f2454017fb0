/*
 * http.c - one logical request: authentication, retries, failover, the
 * deadline, over the transport (transport.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_i.h"
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
	if (!strcmp(inner, "ForbiddenByPolicy") ||
	    !strcmp(inner, "UnsupportedAlgorithm"))
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

int64_t call_deadline(struct hsm_client *c, const struct hsm_call *call)
{
	return now_ms() + (call && call->timeout_ms > 0 ? call->timeout_ms :
			   c->timeout_ms);
}

enum hsm_status http_call(struct hsm_client *c, struct hsm_call *call,
			  const struct http_req *req, struct http_resp *resp,
			  struct hsm_error *err)
{
	return http_call_until(c, call, req, resp, err, call_deadline(c, call));
}

enum hsm_status http_call_until(struct hsm_client *c, struct hsm_call *call,
				const struct http_req *req,
				struct http_resp *resp, struct hsm_error *err,
				int64_t deadline)
{
	int64_t start = now_ms();
	unsigned retries = 0;
	bool did_401 = false, no_token = false, have_last = false;
	struct xport_reply x = { 0 };
	CURL *h = xport_get(&c->xp);
	enum hsm_status st;
	size_t plen = strcspn(req->path, "?");

	memset(resp, 0, sizeof(*resp));
	memset(err, 0, sizeof(*err));
	if (!h) {
		err_set(err, HSM_E_NOMEM, 0, "out of memory (curl handle)");
		return HSM_E_NOMEM;
	}
	for (;;) {
		unsigned idx = __atomic_load_n(&c->cur_url, __ATOMIC_SEQ_CST);
		bool probe = !no_token && !auth_ready(c->auth);
		struct xport_req rq = {
			.method = req->method, .deadline = deadline,
			.max_reply = c->max_reply, .allow_http = c->allow_http,
			.call = call,
		};
		char *hdr = NULL, *url;
		char idline[80];
		uint64_t gen = 0;
		int64_t t0, delay, srv;
		long status;
		bool retryable;
		CURLcode cc;

		if (cancelled(call)) {
			err_set(err, HSM_E_CANCELLED, 0, "operation cancelled");
			st = HSM_E_CANCELLED;
			goto out;
		}
		if (now_ms() >= deadline) {
			if (!have_last)
				err_set(err, HSM_E_TIMEOUT, 0,
					"deadline of %lld ms passed",
					(long long)(deadline - start));
			st = err->status;
			goto out;
		}
		if (!probe && !no_token) {
			st = auth_header(c->auth, deadline, &hdr, &gen, err);
			if (st != HSM_OK)
				goto out;
		}
		url = make_url(c, c->urls[idx], req->path);
		make_guid(err->client_request_id);
		snprintf(idline, sizeof(idline), "x-ms-client-request-id: %s",
			 err->client_request_id);
		const char *lines[] = { "Accept: application/json",
			"Content-Type: application/json", "Expect:", idline, hdr,
			NULL };
		if (!url || !xport_headers(&rq.hdrs, lines)) {
			free(url);
			if (hdr)
				secret_wipe_free(hdr, strlen(hdr));
			err_set(err, HSM_E_NOMEM, 0, "out of memory");
			st = HSM_E_NOMEM;
			goto out;
		}
		/* curl copied the Authorization line; our copy goes now. */
		if (hdr)
			secret_wipe_free(hdr, strlen(hdr));
		t0 = now_ms();
		/* The challenge probe carries no body: nothing, least of all
		 * key material, goes out before we know whom we talk to. */
		rq.url = url;
		rq.body = probe ? NULL : req->body;
		rq.body_len = probe ? 0 : req->body_len;
		rq.fresh = !probe && !req->replay_safe;
		cc = xport_send(&c->xp, h, &rq, &x);
		status = x.status;
		xport_headers_free(rq.hdrs);
		free(url);
		sink_log(&c->log, HSM_LOG_DEBUG,
			   "%s %.*s -> %ld (%lld ms, retries %u, request-id %s)",
			   req->method, (int)plen, req->path, status,
			   (long long)(now_ms() - t0), retries,
			   x.request_id[0] ? x.request_id : "-");
		snprintf(err->request_id, sizeof(err->request_id), "%s",
			 x.request_id);
		srv = -1;
		retryable = false;

		if (cc != CURLE_OK) {
			if (cc == CURLE_ABORTED_BY_CALLBACK && cancelled(call)) {
				err_set(err, HSM_E_CANCELLED, 0,
					"operation cancelled");
				st = HSM_E_CANCELLED;
				goto out;
			}
			if (x.too_big) {
				err_set(err, HSM_E_PROTOCOL, 0,
					"reply larger than %zu bytes refused",
					c->max_reply);
				st = HSM_E_PROTOCOL;
				goto out;
			}
			if (cc == CURLE_OPERATION_TIMEDOUT &&
			    now_ms() >= deadline - 5) {
				err_set(err, HSM_E_TIMEOUT, 0,
					"no answer within the deadline of %lld ms",
					(long long)(deadline - start));
				st = HSM_E_TIMEOUT;
				goto out;
			}
			if (xport_fatal(cc)) {
				err_set(err, HSM_E_UNREACHABLE, 0,
					"%s: %s (check the URL and cafile)",
					c->urls[idx], xport_strerror(&x));
				st = HSM_E_UNREACHABLE;
				goto out;
			}
			failover(c, idx);
			have_last = true;
			if (x.unsent || req->replay_safe || probe) {
				err_set(err, HSM_E_UNREACHABLE, 0, "%s: %s",
					c->urls[idx], xport_strerror(&x));
				retryable = true;
			} else {
				err_set(err, HSM_E_IO, 0,
					"%s: %s after the request was sent; not retried because the service may have applied it",
					c->urls[idx], xport_strerror(&x));
			}
		} else if (status == 401 && !no_token) {
			if (probe || !did_401) {
				if (!probe) {
					auth_drop(c->auth, gen);
					did_401 = true;
					retries++;
					__atomic_fetch_add(&c->n_retries, 1,
							   __ATOMIC_RELAXED);
				}
				if (x.www_auth[0]) {
					st = auth_challenge(c->auth, x.www_auth,
							    c->urls[idx], err);
					if (st != HSM_OK)
						goto out;
				} else if (probe) {
					err_set(err, HSM_E_AUTH, 401,
						"the service answered 401 without a Bearer challenge");
					st = HSM_E_AUTH;
					goto out;
				}
				continue;
			}
			err_set(err, HSM_E_UNAUTHORIZED, 401,
				"the service refused a fresh token (401)");
			if (x.buf)
				jm_parse_error(x.buf, x.len, err);
			st = HSM_E_UNAUTHORIZED;
			goto out;
		} else if (probe && status >= 200 && status < 300 && req->body) {
			/* No challenge: this service takes requests without
			 * a token.  Send the real request now. */
			no_token = true;
			continue;
		} else if (status >= 200 && status < 300) {
			if (xport_take(&x, req->secret, resp) != HSM_OK) {
				err_set(err, HSM_E_NOMEM, 0, "out of memory");
				st = HSM_E_NOMEM;
				goto out;
			}
			st = HSM_OK;
			goto out;
		} else {
			st = HSM_E_IO;
			err_set(err, HSM_E_IO, status, "HTTP %ld", status);
			if (x.buf && jm_parse_error(x.buf, x.len, err) == HSM_OK)
				st = status_from_http(status, err->code,
						      err->inner_code);
			else
				st = status_from_http(status, NULL, NULL);
			err->status = st;
			if (!status_retryable(status))
				goto out;
			have_last = true;
			if (status == 429)
				__atomic_fetch_add(&c->n_throttled, 1,
						   __ATOMIC_RELAXED);
			if (status >= 500) {
				__atomic_fetch_add(&c->n_server_errors, 1,
						   __ATOMIC_RELAXED);
				failover(c, idx);
			}
			/* 408 and 429 say the request was not processed; an
			 * unauthenticated probe cannot have been applied. */
			retryable = req->replay_safe || probe ||
				    status == 408 || status == 429;
			srv = xport_retry_after(&x);
			if (!err->message[0] || !strncmp(err->message, "HTTP ", 5))
				snprintf(err->message, sizeof(err->message),
					 "HTTP %ld from %s", status, c->urls[idx]);
		}
		st = err->status;
		if (!retryable)
			goto out;
		if (retries >= c->retries) {
			sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: giving up after %u retries: %s",
				   req->method, (int)plen, req->path, retries,
				   err->message);
			goto out;
		}
		delay = backoff_ms(retries, srv, rand32(), BACKOFF_BASE_MS,
				   BACKOFF_MAX_MS);
		if (!retry_fits(now_ms(), delay, deadline)) {
			sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: no retry, the deadline would pass first (%s)",
				   req->method, (int)plen, req->path,
				   err->message);
			goto out;
		}
		sink_log(&c->log, HSM_LOG_WARN, "%s %.*s: %s; retry %u/%u in %lld ms",
			   req->method, (int)plen, req->path, err->message,
			   retries + 1, c->retries, (long long)delay);
		for (int64_t end = now_ms() + delay; now_ms() < end;) {
			struct timespec ts;
			int64_t left = end - now_ms();

			if (cancelled(call)) {
				err_set(err, HSM_E_CANCELLED, 0,
					"operation cancelled");
				st = HSM_E_CANCELLED;
				goto out;
			}
			if (left > SLEEP_SLICE_MS)
				left = SLEEP_SLICE_MS;
			ts.tv_sec = 0;
			ts.tv_nsec = (long)left * 1000000;
			nanosleep(&ts, NULL);
		}
		retries++;
		__atomic_fetch_add(&c->n_retries, 1, __ATOMIC_RELAXED);
	}
out:
	xport_reply_reset(&x);
	xport_put(&c->xp, h);
	if (call)
		call->retries += retries;
	if (st != HSM_OK)
		err->status = st;
	return st;
}

