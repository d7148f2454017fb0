/*
 * transport_i.h - one HTTP exchange on a pooled keep-alive curl handle
 * (internal to client/): the pool, the reply cap, the deadline and
 * cancellation.  No retries, no tokens, no JSON: the call layer (call.c)
 * and the token requests (auth.c) build on this.
 */
#ifndef HSMFS_CLIENT_TRANSPORT_I_H
#define HSMFS_CLIENT_TRANSPORT_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "hsm_types.h"

/* How many idle handles (each with its keep-alive TLS connection, ~100
 * KiB) the pool keeps: at most XPORT_IDLE_MAX, the excess closed when it
 * is put back; and above XPORT_IDLE_KEEP, only those used within the last
 * idle_ms (XPORT_IDLE_MS).  HTTP/1.1 needs one connection per request in
 * flight, so the bound is well above what 64 callers keep busy (no
 * reconnects there), and a burst's connections go once it is over. */
#define XPORT_IDLE_MAX	128
#define XPORT_IDLE_KEEP	16
#define XPORT_IDLE_MS	10000

/* An idle handle and since when (now_ms()). */
struct xport_idle {
	CURL *h;
	int64_t since;
};

/* The transport of one client, shared by all its threads. */
struct xport {
	pthread_mutex_t lock;		/* protects pool, n_pool */
	struct xport_idle pool[XPORT_IDLE_MAX];	/* oldest first */
	size_t n_pool;
	int64_t idle_ms;		/* XPORT_IDLE_MS; tests shorten it */
	uint64_t n_closed;		/* idle handles closed; under lock */
	char *cafile;			/* NULL: the system store */
	X509_STORE *store;		/* cafile's (or curl's default) CA
					 * certificates, one copy for every
					 * connection; NULL: unreadable */
	long connect_timeout_ms;
	uint64_t n_requests;		/* exchanges run; __atomic builtins */
};

/* Set up xp (cafile copied; NULL: the system store) and load the CA
 * certificates once.  Returns 0; -1 when out of memory; -2 when cafile
 * holds no readable certificate (without cafile, a system store that
 * cannot be read fails every connection with CURLE_SSL_CACERT_BADFILE).
 * On failure xp needs no xport_destroy(). */
int xport_init(struct xport *xp, const char *cafile, int connect_timeout_ms);
/* Close the idle handles and free. */
void xport_destroy(struct xport *xp);

/* A handle from the pool (the most recently used, or a new one; NULL
 * when out of memory), and back into it (NULL is a no-op; closed when the
 * pool is full); both close handles idle for longer than idle_ms beyond
 * XPORT_IDLE_KEEP.  A logical request keeps one handle for all its
 * attempts. */
CURL *xport_get(struct xport *xp);
void xport_put(struct xport *xp, CURL *h);

/* The same closing without a request to trigger it (a quiet daemon would
 * otherwise keep a burst's connections until its next request), then the
 * free pages of every malloc arena back to the kernel.  Returns how many
 * handles were closed. */
size_t xport_tidy(struct xport *xp);

/* A header list from NULL-terminated "Name: value" lines; false when out
 * of memory (nothing to free then).  Free with xport_headers_free(),
 * which wipes every line (one may be the Authorization line). */
bool xport_headers(struct curl_slist **out, const char *const *lines);
void xport_headers_free(struct curl_slist *l);

/* One exchange. */
struct xport_req {
	const char *method;		/* "GET", "POST", ... */
	const char *url;
	struct curl_slist *hdrs;
	const char *body;		/* NULL: none */
	size_t body_len;
	int64_t deadline;		/* now_ms() clock */
	size_t max_reply;		/* larger replies are refused */
	bool allow_http;		/* http:// as well as https:// */
	bool fresh;			/* a new connection, so that libcurl
					 * cannot re-send it on its own */
	bool no_proxy;			/* local endpoints: never via a proxy */
	const struct hsm_call *call;	/* its cancel hook is polled; NULL */
};

/* What came back: curl's verdict, the status, the body and the headers
 * the layers above need. */
struct xport_reply {
	CURLcode cc;
	long status;			/* 0 unless cc is CURLE_OK */
	char *buf;			/* the body, NUL-terminated; wiped */
	size_t len, cap;
	bool too_big;			/* over max_reply: refused */
	bool unsent;			/* cc failed before any byte of the
					 * request left us */
	char request_id[64];		/* x-ms-request-id */
	char retry_after[64], ra_ms[32], x_ra_ms[32];
	char www_auth[1024];
	char errbuf[CURL_ERROR_SIZE];
};

/* Run rq on h into rp (reset first).  Counts the exchange.  Returns
 * rp->cc. */
CURLcode xport_send(struct xport *xp, CURL *h, const struct xport_req *rq,
		    struct xport_reply *rp);
/* Wipe and free the body, clear the headers. */
void xport_reply_reset(struct xport_reply *rp);
/* curl's message for a failed exchange. */
const char *xport_strerror(const struct xport_reply *rp);
/* The delay the reply's Retry-After headers ask for, -1 when none. */
int64_t xport_retry_after(const struct xport_reply *rp);
/* Transport errors that a retry cannot cure (configuration or local). */
bool xport_fatal(CURLcode cc);
/* What every TLS context of xp gets (an SSL_CTX *): xp's CA store; wipe
 * plaintext from OpenSSL's buffers, free them while the connection is
 * idle.  CURLE_SSL_CACERT_BADFILE when xp has no store. */
CURLcode xport_tune_ssl_ctx(struct xport *xp, void *ssl_ctx);

/* A reply handed to the caller. */
struct http_resp {
	long status;
	char *body;			/* NUL-terminated, malloc()ed */
	size_t len;
	bool secret;			/* wipe body when freed */
};
/* Move rp's body (an empty string when none) into resp.  HSM_OK, or
 * HSM_E_NOMEM with resp empty. */
enum hsm_status xport_take(struct xport_reply *rp, bool secret,
			   struct http_resp *resp);
/* Free the body (wiped when secret). */
void http_resp_cleanup(struct http_resp *r);

#endif
