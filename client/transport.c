/*
 * transport.c - one HTTP exchange on a pooled keep-alive curl handle,
 * within a deadline, with a reply cap and a cancel hook (transport_i.h).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "secret.h"
#include "transport_i.h"
#include "util_i.h"

/* --------------------------------------------------------------- pool */

/* The CA certificates every connection trusts, read once: curl would
 * give each handle its own copy of the store (~850 KiB for the system's
 * bundle).  Without cafile, the bundle and directory curl was built to
 * use.  NULL when a source is unreadable. */
static X509_STORE *load_store(const char *cafile)
{
	char *file = (char *)cafile, *dir = NULL;
	X509_STORE *st = X509_STORE_new();
	CURL *h = NULL;
	bool ok;

	if (!cafile && (h = curl_easy_init())) {
		curl_easy_getinfo(h, CURLINFO_CAINFO, &file);
		curl_easy_getinfo(h, CURLINFO_CAPATH, &dir);
	}
	ok = st && (cafile || h) &&
	     (!file || X509_STORE_load_file(st, file) == 1) &&
	     (!dir || X509_STORE_load_path(st, dir) == 1) &&
	     /* a curl built with no default bundle: OpenSSL's defaults, as
	      * curl itself would use */
	     (file || dir || X509_STORE_set_default_paths(st) == 1);
	/* What curl sets on the store of every connection (partial chains:
	 * a cafile holding only an intermediate), set once here: the store
	 * is shared, and curl's per-connection writes to it would race. */
	if (ok)
		X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN |
				     X509_V_FLAG_TRUSTED_FIRST);
	if (h)
		curl_easy_cleanup(h);
	if (!ok) {
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

int xport_init(struct xport *xp, const char *cafile, int connect_timeout_ms)
{
	memset(xp, 0, sizeof(*xp));
	if (cafile && !(xp->cafile = strdup(cafile)))
		return -1;
	xp->store = load_store(cafile);
	if (cafile && !xp->store) {
		/* Said now, once, rather than by every connection later. */
		free(xp->cafile);
		xp->cafile = NULL;
		return -2;
	}
	xp->connect_timeout_ms = connect_timeout_ms;
	xp->idle_ms = XPORT_IDLE_MS;
	pthread_mutex_init(&xp->lock, NULL);
	return 0;
}

void xport_destroy(struct xport *xp)
{
	for (size_t i = 0; i < xp->n_pool; i++)
		curl_easy_cleanup(xp->pool[i].h);
	X509_STORE_free(xp->store);
	free(xp->cafile);
	pthread_mutex_destroy(&xp->lock);
	memset(xp, 0, sizeof(*xp));
}

/* Under the lock: move the n oldest idle handles out of the pool into
 * out[] (closed by the caller, outside the lock). */
static size_t take_oldest(struct xport *xp, size_t n, CURL **out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = xp->pool[i].h;
	xp->n_pool -= n;
	memmove(xp->pool, xp->pool + n, xp->n_pool * sizeof(xp->pool[0]));
	xp->n_closed += n;
	return n;
}

/* Under the lock: the handles idle for longer than idle_ms, beyond the
 * XPORT_IDLE_KEEP most recently used. */
static size_t take_expired(struct xport *xp, int64_t now, CURL **out)
{
	size_t n = 0;

	while (xp->n_pool - n > XPORT_IDLE_KEEP &&
	       now - xp->pool[n].since > xp->idle_ms)
		n++;
	return n ? take_oldest(xp, n, out) : 0;
}

/* Close what take_*() removed.  Their connections' memory is spread over
 * the malloc arenas of the threads that used them: give the free pages
 * back once a burst's connections are gone. */
static void close_handles(CURL **hs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		curl_easy_cleanup(hs[i]);
	if (n >= XPORT_IDLE_KEEP)
		malloc_trim(0);
}

CURL *xport_get(struct xport *xp)
{
	CURL *h = NULL, *old[XPORT_IDLE_MAX];
	size_t n;

	pthread_mutex_lock(&xp->lock);
	n = take_expired(xp, now_ms(), old);
	if (xp->n_pool)
		h = xp->pool[--xp->n_pool].h;
	pthread_mutex_unlock(&xp->lock);
	close_handles(old, n);
	if (!h)
		h = curl_easy_init();
	return h;
}

size_t xport_tidy(struct xport *xp)
{
	CURL *old[XPORT_IDLE_MAX];
	size_t n;

	pthread_mutex_lock(&xp->lock);
	n = take_expired(xp, now_ms(), old);
	pthread_mutex_unlock(&xp->lock);
	for (size_t i = 0; i < n; i++)
		curl_easy_cleanup(old[i]);
	/*
	 * Trimmed whether or not a handle went: what a burst freed (its
	 * connections, seal's buffers, the replies of 256 callers) stays in
	 * the arenas of the threads that freed it, and glibc gives back only
	 * the top of each heap by itself.  A few milliseconds per tick.
	 */
	malloc_trim(0);
	return n;
}

void xport_put(struct xport *xp, CURL *h)
{
	CURL *old[XPORT_IDLE_MAX];
	int64_t now = now_ms();
	size_t n;

	if (!h)
		return;
	pthread_mutex_lock(&xp->lock);
	n = take_expired(xp, now, old);
	if (xp->n_pool == XPORT_IDLE_MAX)
		n += take_oldest(xp, 1, old + n);
	xp->pool[xp->n_pool].h = h;
	xp->pool[xp->n_pool++].since = now;
	pthread_mutex_unlock(&xp->lock);
	close_handles(old, n);
}

/* ------------------------------------------------------------ headers */

bool xport_headers(struct curl_slist **out, const char *const *lines)
{
	struct curl_slist *l = NULL, *t;

	for (size_t i = 0; lines[i]; i++) {
		t = curl_slist_append(l, lines[i]);
		if (!t) {
			xport_headers_free(l);
			*out = NULL;
			return false;
		}
		l = t;
	}
	*out = l;
	return true;
}

void xport_headers_free(struct curl_slist *l)
{
	for (struct curl_slist *n = l; n; n = n->next)
		if (n->data)
			secret_wipe(n->data, strlen(n->data));
	curl_slist_free_all(l);
}

/* ----------------------------------------------------------- callbacks */

/* What curl's callbacks see of one exchange. */
struct xfer {
	const struct xport_req *rq;
	struct xport_reply *rp;
};

static size_t on_write(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct xport_reply *r = x->rp;
	size_t add = sz * n, max = x->rq->max_reply;

	if (add > max || r->len > max - add) {
		r->too_big = true;
		return 0;	/* makes curl fail the transfer */
	}
	if (r->len + add + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 1024;
		char *nb;

		while (cap < r->len + add + 1)
			cap *= 2;
		/* Grow by copy-and-wipe so no stale copy of a reply that may
		 * hold plaintext stays in freed memory. */
		nb = malloc(cap);
		if (!nb)
			return 0;
		if (r->buf) {
			memcpy(nb, r->buf, r->len);
			secret_wipe_free(r->buf, r->cap);
		}
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, add);
	r->len += add;
	r->buf[r->len] = 0;
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
	struct xport_reply *r = ((struct xfer *)arg)->rp;
	size_t len = sz * n;
	const char *colon = memchr(p, ':', len);
	size_t nlen;

	if (!colon)
		return len;
	nlen = (size_t)(colon - p);
#define IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(p, name, nlen))
#define KEEP(field) copy_value(field, sizeof(field), colon + 1, len - nlen - 1)
	if (IS("x-ms-request-id"))
		KEEP(r->request_id);
	else if (IS("retry-after"))
		KEEP(r->retry_after);
	else if (IS("retry-after-ms"))
		KEEP(r->ra_ms);
	else if (IS("x-ms-retry-after-ms"))
		KEEP(r->x_ra_ms);
	else if (IS("www-authenticate"))
		KEEP(r->www_auth);
#undef KEEP
#undef IS
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		       curl_off_t un)
{
	const struct hsm_call *call = ((struct xfer *)arg)->rq->call;

	(void)dt; (void)dn; (void)ut; (void)un;
	return call && call->cancelled && call->cancelled(call->cancel_arg) ?
	       1 : 0;
}

/* ------------------------------------------------------------ exchange */

void xport_reply_reset(struct xport_reply *rp)
{
	if (rp->buf)
		secret_wipe_free(rp->buf, rp->cap);
	memset(rp, 0, sizeof(*rp));
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

bool xport_fatal(CURLcode cc)
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

/* curl's own socket() leaves the descriptor open across exec: a child
 * (the Azure CLI) would inherit our connections to the service. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
				 struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* OpenSSL wipes a record's plaintext from its buffers once we read it:
 * replies carry tokens and key material.  It frees the read and write
 * buffers (~17 KiB each) of a connection with nothing in them: most of
 * the pool's connections are idle most of the time. */
CURLcode xport_tune_ssl_ctx(struct xport *xp, void *ctx)
{
	if (!xp->store)
		return CURLE_SSL_CACERT_BADFILE;
	SSL_CTX_set1_cert_store(ctx, xp->store);
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

static CURLcode on_ssl_ctx(CURL *h, void *ctx, void *arg)
{
	(void)h;
	return xport_tune_ssl_ctx(arg, ctx);
}

/* The options every exchange sets: TLS, timeouts, callbacks. */
static void set_common(struct xport *xp, CURL *h, const struct xport_req *rq,
		       struct xfer *x)
{
	int64_t left = rq->deadline - now_ms();
	long ct = xp->connect_timeout_ms;

	if (left < 1)
		left = 1;
	if (ct > left)
		ct = (long)left;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			 rq->allow_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	/* No file for curl to load: on_ssl_ctx() gives xp's store. */
	curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, xp);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ct);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->rp->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->hdrs);
	/* curl's smallest upload buffer (default 64 KiB): it is allocated and
	 * freed, so wiped (client/curlmem.c), on every request, and our
	 * bodies are sent from memory (CURLOPT_POSTFIELDS). */
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
}

/* The method and the body. */
static void set_method(CURL *h, const struct xport_req *rq)
{
	if (!strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(rq->method, "POST"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (rq->body || strcmp(rq->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(rq->body ? rq->body_len : 0));
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 rq->body ? rq->body : "");
	}
}

CURLcode xport_send(struct xport *xp, CURL *h, const struct xport_req *rq,
		    struct xport_reply *rp)
{
	struct xfer x = { .rq = rq, .rp = rp };
	long sent = 0;

	xport_reply_reset(rp);
	set_common(xp, h, rq, &x);
	/* libcurl silently re-sends a request once when a reused connection
	 * turns out dead; for requests that must not be replayed, a fresh
	 * connection rules that out. */
	if (rq->fresh)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	if (rq->no_proxy)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	set_method(h, rq);
	rp->cc = curl_easy_perform(h);
	if (rp->cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rp->status);
	} else {
		/* Nothing of the request left us (e.g. a connect timeout):
		 * safe to send again, whatever it is. */
		if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) !=
		    CURLE_OK)
			sent = 1;
		rp->unsent = never_sent(rp->cc) || sent == 0;
	}
	/* Do not leave pointers to our stack in a pooled handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	__atomic_fetch_add(&xp->n_requests, 1, __ATOMIC_RELAXED);
	return rp->cc;
}

const char *xport_strerror(const struct xport_reply *rp)
{
	return rp->errbuf[0] ? rp->errbuf : curl_easy_strerror(rp->cc);
}

int64_t xport_retry_after(const struct xport_reply *rp)
{
	return retry_after_ms(rp->retry_after, rp->ra_ms, rp->x_ra_ms,
			      now_unix());
}

/* ------------------------------------------------------------- replies */

enum hsm_status xport_take(struct xport_reply *rp, bool secret,
			   struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->body = rp->buf ? rp->buf : calloc(1, 1);
	if (!resp->body)
		return HSM_E_NOMEM;
	resp->status = rp->status;
	resp->len = rp->len;
	resp->secret = secret;
	rp->buf = NULL;
	rp->len = rp->cap = 0;
	return HSM_OK;
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
