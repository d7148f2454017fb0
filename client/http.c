/*
 * http.c - one logical request: authentication, retries, failover, the
 * deadline, cancellation and size caps, on pooled keep-alive curl handles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "auth_i.h"
#include "client_i.h"
#include "json_map_i.h"
#include "secret.h"

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 60000
#define SLEEP_SLICE_MS 50

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

static uint32_t rand32(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)now_ms() * 2654435761u;
	return r;
}

void make_guid(char buf[37])
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(rand32() >> 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

void client_log(struct hsm_client *c, enum hsm_log_level lvl,
		const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c || !c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->log(c->log_arg, lvl, line);
}

/* ---------------------------------------------------------------- URLs */

static bool host_is_loopback(const char *h)
{
	if (!strcasecmp(h, "localhost") || !strcmp(h, "::1") ||
	    !strcmp(h, "[::1]"))
		return true;
	if (!strncmp(h, "127.", 4)) {
		/* a dotted quad, nothing else ("127.evil.com" is not) */
		unsigned a, b, c2, d;
		char extra;

		return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c2, &d, &extra) == 4 &&
		       a == 127 && b < 256 && c2 < 256 && d < 256;
	}
	return false;
}

int url_check(const char *url, bool allow_http, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL,
	     *frag = NULL;
	int rc = -1;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!url || !*url ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "'%s' is not a valid URL (expected https://HOST[:PORT])",
			 url ? url : "");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		snprintf(err, errlen, "URL '%s' must not contain user info, a query or a fragment",
			 url);
		goto out;
	}
	if (!strcasecmp(scheme, "https")) {
		rc = 0;
	} else if (!strcasecmp(scheme, "http")) {
		if (!allow_http)
			snprintf(err, errlen, "URL '%s' is plain http: use https (http is allowed only to loopback with allow_http)",
				 url);
		else if (!host_is_loopback(host))
			snprintf(err, errlen, "URL '%s': plain http is allowed only to a loopback address",
				 url);
		else
			rc = 0;
	} else {
		snprintf(err, errlen, "URL '%s' has scheme '%s': only https is supported",
			 url, scheme);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return rc;
}

bool url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool r = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		r = host_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* ------------------------------------------------------------- backoff */

int64_t backoff_ms(unsigned attempt, int64_t server_ms, uint32_t rnd,
		   int64_t base_ms, int64_t max_ms)
{
	int64_t d = base_ms;

	if (server_ms >= 0)
		return server_ms;
	for (unsigned i = 0; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* jitter factor 0.8 + 0.4 * rnd / 2^32, in [0.8, 1.2) */
	return d * 8 / 10 + (int64_t)(((uint64_t)d * 4 / 10 * rnd) >> 32);
}

bool retry_fits(int64_t now, int64_t delay_ms, int64_t deadline)
{
	return delay_ms >= 0 && now + delay_ms < deadline;
}

static bool parse_uint(const char *s, int64_t *out)
{
	char *end;
	long long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int64_t retry_after_ms(const char *retry_after, const char *ra_ms,
		       const char *x_ms_ra_ms, int64_t now_s)
{
	int64_t v;

	if (ra_ms && parse_uint(ra_ms, &v))
		return v;
	if (x_ms_ra_ms && parse_uint(x_ms_ra_ms, &v))
		return v;
	if (retry_after && *retry_after) {
		time_t t;

		if (parse_uint(retry_after, &v))
			return v > INT64_MAX / 1000 ? INT64_MAX : v * 1000;
		t = curl_getdate(retry_after, NULL);
		if (t != (time_t)-1)
			return (int64_t)t > now_s ? ((int64_t)t - now_s) * 1000 : 0;
	}
	return -1;
}

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

/* --------------------------------------------------------------- pool */

static CURL *handle_get(struct hsm_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->n_pool)
		h = c->pool[--c->n_pool];
	pthread_mutex_unlock(&c->pool_lock);
	if (!h)
		h = curl_easy_init();
	return h;
}

static void handle_put(struct hsm_client *c, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&c->pool_lock);
	if (c->n_pool == c->cap_pool) {
		size_t cap = c->cap_pool ? c->cap_pool * 2 : 8;
		void **p = realloc(c->pool, cap * sizeof(*p));

		if (p) {
			c->pool = p;
			c->cap_pool = cap;
		}
	}
	if (c->n_pool < c->cap_pool) {
		c->pool[c->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

void http_resp_cleanup(struct http_resp *r)
{
	if (!r)
		return;
	if (r->body && r->secret)
		secret_wipe(r->body, r->len);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ transfer */

struct xfer {
	struct hsm_call *call;
	char *buf;
	size_t len, cap, max;
	bool too_big;
	char request_id[64];
	char retry_after[64], ra_ms[32], x_ra_ms[32];
	char www_auth[1024];
};

static size_t on_write(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t add = sz * n;

	if (add > x->max || x->len > x->max - add) {
		x->too_big = true;
		return 0;	/* makes curl fail the transfer */
	}
	if (x->len + add + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 1024;
		char *nb;

		while (cap < x->len + add + 1)
			cap *= 2;
		/* Grow by copy-and-wipe so no stale copy of a reply that may
		 * hold plaintext stays in freed memory. */
		nb = malloc(cap);
		if (!nb)
			return 0;
		if (x->buf) {
			memcpy(nb, x->buf, x->len);
			secret_wipe_free(x->buf, x->cap);
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, add);
	x->len += add;
	x->buf[x->len] = 0;
	return add;
}

static void copy_value(char *dst, size_t dlen, const char *v, size_t vlen)
{
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' '))
		vlen--;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	if (vlen >= dlen)
		vlen = dlen - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;
	const char *colon = memchr(p, ':', len);
	size_t nlen;

	if (!colon)
		return len;
	nlen = (size_t)(colon - p);
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(p, name, nlen))
	if (IS("x-ms-request-id"))
		copy_value(x->request_id, sizeof(x->request_id), colon + 1,
			   len - nlen - 1);
	else if (IS("retry-after"))
		copy_value(x->retry_after, sizeof(x->retry_after), colon + 1,
			   len - nlen - 1);
	else if (IS("retry-after-ms"))
		copy_value(x->ra_ms, sizeof(x->ra_ms), colon + 1, len - nlen - 1);
	else if (IS("x-ms-retry-after-ms"))
		copy_value(x->x_ra_ms, sizeof(x->x_ra_ms), colon + 1,
			   len - nlen - 1);
	else if (IS("www-authenticate"))
		copy_value(x->www_auth, sizeof(x->www_auth), colon + 1,
			   len - nlen - 1);
#undef IS
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	return x->call && x->call->cancelled &&
	       x->call->cancelled(x->call->cancel_arg) ? 1 : 0;
}

static void xfer_reset(struct xfer *x)
{
	if (x->buf)
		secret_wipe_free(x->buf, x->cap);
	x->buf = NULL;
	x->len = x->cap = 0;
	x->too_big = false;
	x->request_id[0] = x->retry_after[0] = x->ra_ms[0] = x->x_ra_ms[0] = 0;
	x->www_auth[0] = 0;
}

/* Wipe each node of a header list (the Authorization line) and free it. */
static void slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *n = l; n; n = n->next)
		if (n->data)
			secret_wipe(n->data, strlen(n->data));
	curl_slist_free_all(l);
}

/* Set up and run one HTTP exchange on h.  Returns the curl code. */
static CURLcode perform(struct hsm_client *c, CURL *h, const char *method,
			const char *url, struct curl_slist *hdrs,
			const char *body, size_t body_len, int64_t deadline,
			struct xfer *x, char *errbuf, long *status,
			bool allow_http, bool fresh, bool no_proxy)
{
	int64_t left = deadline - now_ms();
	long ct = c->connect_timeout_ms;
	CURLcode cc;

	*status = 0;
	errbuf[0] = 0;
	if (left < 1)
		left = 1;
	if (ct > left)
		ct = (long)left;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, allow_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ct);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	/* libcurl silently re-sends a request once when a reused connection
	 * turns out dead; for requests that must not be replayed, a fresh
	 * connection rules that out. */
	if (fresh)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	/* Managed identity endpoints are local; never via a proxy. */
	if (no_proxy)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (!strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "DELETE")) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(body ? body_len : 0));
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		}
	}
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* Do not leave pointers to our stack in a pooled handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	return cc;
}

static bool append(struct curl_slist **l, const char *line)
{
	struct curl_slist *t = curl_slist_append(*l, line);

	if (!t)
		return false;
	*l = t;
	return true;
}

static bool cancelled(struct hsm_call *call)
{
	return call && call->cancelled && call->cancelled(call->cancel_arg);
}

/* Transport errors that prove the request never reached the service. */
static bool never_sent(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Errors that a retry cannot cure (configuration or local). */
static bool fatal_transport(CURLcode cc)
{
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_OUT_OF_MEMORY:
		return true;
	default:
		return false;
	}
}

static void set_err(struct hsm_error *err, enum hsm_status st, long http,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_err(struct hsm_error *err, enum hsm_status st, long http,
		    const char *fmt, ...)
{
	va_list ap;

	err->status = st;
	err->http_status = (int)http;
	err->code[0] = err->inner_code[0] = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
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
		client_log(c, HSM_LOG_WARN, "switching to endpoint %s",
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

static bool retry_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 ||
	       s == 504;
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
	struct xfer x = { .call = call, .max = c->max_reply };
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = handle_get(c);
	enum hsm_status st;
	size_t plen = strcspn(req->path, "?");

	memset(resp, 0, sizeof(*resp));
	memset(err, 0, sizeof(*err));
	if (!h) {
		set_err(err, HSM_E_NOMEM, 0, "out of memory (curl handle)");
		return HSM_E_NOMEM;
	}
	for (;;) {
		unsigned idx = __atomic_load_n(&c->cur_url, __ATOMIC_SEQ_CST);
		bool probe = !no_token && !auth_ready(c->auth);
		struct curl_slist *hdrs = NULL;
		char *hdr = NULL, *url;
		char idline[80];
		uint64_t gen = 0;
		int64_t t0, delay, srv;
		long status = 0, sent = 0;
		bool retryable;
		CURLcode cc;

		if (cancelled(call)) {
			set_err(err, HSM_E_CANCELLED, 0, "operation cancelled");
			st = HSM_E_CANCELLED;
			goto out;
		}
		if (now_ms() >= deadline) {
			if (!have_last)
				set_err(err, HSM_E_TIMEOUT, 0,
					"deadline of %lld ms passed",
					(long long)(deadline - start));
			st = err->status;
			goto out;
		}
		if (!probe && !no_token) {
			st = auth_header(c->auth, c, deadline, &hdr, &gen, err);
			if (st != HSM_OK)
				goto out;
		}
		url = make_url(c, c->urls[idx], req->path);
		make_guid(err->client_request_id);
		snprintf(idline, sizeof(idline), "x-ms-client-request-id: %s",
			 err->client_request_id);
		if (!url || !append(&hdrs, "Accept: application/json") ||
		    !append(&hdrs, "Content-Type: application/json") ||
		    !append(&hdrs, "Expect:") || !append(&hdrs, idline) ||
		    (hdr && !append(&hdrs, hdr))) {
			free(url);
			slist_free_wiped(hdrs);
			if (hdr)
				secret_wipe_free(hdr, strlen(hdr));
			set_err(err, HSM_E_NOMEM, 0, "out of memory");
			st = HSM_E_NOMEM;
			goto out;
		}
		/* curl copied the Authorization line; our copy goes now. */
		if (hdr)
			secret_wipe_free(hdr, strlen(hdr));
		xfer_reset(&x);
		t0 = now_ms();
		/* The challenge probe carries no body: nothing, least of all
		 * key material, goes out before we know whom we talk to. */
		cc = perform(c, h, req->method, url, hdrs,
			     probe ? NULL : req->body,
			     probe ? 0 : req->body_len, deadline, &x, errbuf,
			     &status, c->allow_http, !probe && !req->replay_safe,
			     false);
		slist_free_wiped(hdrs);
		free(url);
		__atomic_fetch_add(&c->n_requests, 1, __ATOMIC_RELAXED);
		client_log(c, HSM_LOG_DEBUG,
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
				set_err(err, HSM_E_CANCELLED, 0,
					"operation cancelled");
				st = HSM_E_CANCELLED;
				goto out;
			}
			if (x.too_big) {
				set_err(err, HSM_E_PROTOCOL, 0,
					"reply larger than %zu bytes refused",
					c->max_reply);
				st = HSM_E_PROTOCOL;
				goto out;
			}
			if (cc == CURLE_OPERATION_TIMEDOUT &&
			    now_ms() >= deadline - 5) {
				set_err(err, HSM_E_TIMEOUT, 0,
					"no answer within the deadline of %lld ms",
					(long long)(deadline - start));
				st = HSM_E_TIMEOUT;
				goto out;
			}
			if (fatal_transport(cc)) {
				set_err(err, HSM_E_UNREACHABLE, 0,
					"%s: %s (check the URL and cafile)",
					c->urls[idx], errbuf[0] ? errbuf :
					curl_easy_strerror(cc));
				st = HSM_E_UNREACHABLE;
				goto out;
			}
			failover(c, idx);
			have_last = true;
			/* Nothing of the request left us (e.g. a connect
			 * timeout): safe to send again, whatever it is. */
			if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE,
					      &sent) != CURLE_OK)
				sent = 1;
			if (never_sent(cc) || sent == 0 || req->replay_safe ||
			    probe) {
				set_err(err, HSM_E_UNREACHABLE, 0, "%s: %s",
					c->urls[idx], errbuf[0] ? errbuf :
					curl_easy_strerror(cc));
				retryable = true;
			} else {
				set_err(err, HSM_E_IO, 0,
					"%s: %s after the request was sent; not retried because the service may have applied it",
					c->urls[idx], errbuf[0] ? errbuf :
					curl_easy_strerror(cc));
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
					set_err(err, HSM_E_AUTH, 401,
						"the service answered 401 without a Bearer challenge");
					st = HSM_E_AUTH;
					goto out;
				}
				continue;
			}
			set_err(err, HSM_E_UNAUTHORIZED, 401,
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
			resp->status = status;
			resp->body = x.buf ? x.buf : calloc(1, 1);
			resp->len = x.len;
			resp->secret = req->secret;
			x.buf = NULL;
			x.cap = 0;
			if (!resp->body) {
				set_err(err, HSM_E_NOMEM, 0, "out of memory");
				st = HSM_E_NOMEM;
				goto out;
			}
			st = HSM_OK;
			goto out;
		} else {
			st = HSM_E_IO;
			set_err(err, HSM_E_IO, status, "HTTP %ld", status);
			if (x.buf && jm_parse_error(x.buf, x.len, err) == HSM_OK)
				st = status_from_http(status, err->code,
						      err->inner_code);
			else
				st = status_from_http(status, NULL, NULL);
			err->status = st;
			if (!retry_status(status))
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
			srv = retry_after_ms(x.retry_after, x.ra_ms, x.x_ra_ms,
					     now_unix());
			if (!err->message[0] || !strncmp(err->message, "HTTP ", 5))
				snprintf(err->message, sizeof(err->message),
					 "HTTP %ld from %s", status, c->urls[idx]);
		}
		st = err->status;
		if (!retryable)
			goto out;
		if (retries >= c->retries) {
			client_log(c, HSM_LOG_WARN, "%s %.*s: giving up after %u retries: %s",
				   req->method, (int)plen, req->path, retries,
				   err->message);
			goto out;
		}
		delay = backoff_ms(retries, srv, rand32(), BACKOFF_BASE_MS,
				   BACKOFF_MAX_MS);
		if (!retry_fits(now_ms(), delay, deadline)) {
			client_log(c, HSM_LOG_WARN, "%s %.*s: no retry, the deadline would pass first (%s)",
				   req->method, (int)plen, req->path,
				   err->message);
			goto out;
		}
		client_log(c, HSM_LOG_WARN, "%s %.*s: %s; retry %u/%u in %lld ms",
			   req->method, (int)plen, req->path, err->message,
			   retries + 1, c->retries, (long long)delay);
		for (int64_t end = now_ms() + delay; now_ms() < end;) {
			struct timespec ts;
			int64_t left = end - now_ms();

			if (cancelled(call)) {
				set_err(err, HSM_E_CANCELLED, 0,
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
	xfer_reset(&x);
	handle_put(c, h);
	if (call)
		call->retries += retries;
	if (st != HSM_OK)
		err->status = st;
	return st;
}

enum hsm_status http_plain(struct hsm_client *c, const char *url,
			   const char *const *headers, const char *body,
			   bool no_proxy, int64_t deadline_ms,
			   struct http_resp *resp, struct hsm_error *err)
{
	/* Token replies are small; the service's reply cap does not apply. */
	struct xfer x = { .max = 65536 };
	struct curl_slist *hdrs = NULL, *t;
	char errbuf[CURL_ERROR_SIZE];
	enum hsm_status st = HSM_E_NOMEM;
	CURL *h = handle_get(c);
	long status = 0;
	CURLcode cc = CURLE_OK;

	memset(resp, 0, sizeof(*resp));
	if (!h)
		goto fail_nomem;
	for (size_t i = 0; headers && headers[i]; i++) {
		t = curl_slist_append(hdrs, headers[i]);
		if (!t)
			goto fail_nomem;
		hdrs = t;
	}
	for (unsigned attempt = 0;; attempt++) {
		int64_t delay;

		xfer_reset(&x);
		if (now_ms() >= deadline_ms) {
			cc = CURLE_OPERATION_TIMEDOUT;
			break;
		}
		cc = perform(c, h, body ? "POST" : "GET", url, hdrs, body,
			     body ? strlen(body) : 0, deadline_ms, &x, errbuf,
			     &status, true, false, no_proxy);
		__atomic_fetch_add(&c->n_requests, 1, __ATOMIC_RELAXED);
		if (cc == CURLE_OK && !retry_status(status))
			break;
		if ((cc != CURLE_OK && (fatal_transport(cc) || x.too_big)) ||
		    attempt >= 2)
			break;
		/* Token endpoints: a couple of quick retries, then report. */
		delay = backoff_ms(attempt, cc == CURLE_OK ?
				   retry_after_ms(x.retry_after, x.ra_ms,
						  x.x_ra_ms, now_unix()) : -1,
				   rand32(), 200, 2000);
		if (now_ms() + delay >= deadline_ms)
			break;
		{
			struct timespec ts = { delay / 1000,
					       (long)(delay % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	slist_free_wiped(hdrs);
	hdrs = NULL;
	if (cc != CURLE_OK) {
		st = cc == CURLE_OPERATION_TIMEDOUT ? HSM_E_TIMEOUT :
		     x.too_big ? HSM_E_PROTOCOL : HSM_E_AUTH;
		set_err(err, st, 0, "token endpoint: %s",
			x.too_big ? "reply too large" :
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		xfer_reset(&x);
		handle_put(c, h);
		return st;
	}
	resp->status = status;
	resp->body = x.buf ? x.buf : calloc(1, 1);
	resp->len = x.len;
	resp->secret = true;
	x.buf = NULL;
	x.cap = 0;
	handle_put(c, h);
	h = NULL;
	if (!resp->body)
		goto fail_nomem;
	return HSM_OK;
fail_nomem:
	slist_free_wiped(hdrs);
	xfer_reset(&x);
	handle_put(c, h);
	set_err(err, HSM_E_NOMEM, 0, "out of memory");
	return HSM_E_NOMEM;
}
