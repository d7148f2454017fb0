/*
 * util_i.h - small helpers shared by the files of client/ (internal):
 * clocks, random ids, the log sink, URL checks, the retry arithmetic and
 * filling a struct hsm_error.  util.c calls nothing else of client/, so
 * every other file may use it.
 */
#ifndef HSMFS_CLIENT_UTIL_I_H
#define HSMFS_CLIENT_UTIL_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_types.h"

/* Monotonic and wall clocks in milliseconds / seconds. */
int64_t now_ms(void);
int64_t now_unix(void);

/* 32 random bits (getrandom(), else a clock hash: for jitter only). */
uint32_t rand32(void);

/* A fresh random GUID ("xxxxxxxx-xxxx-4xxx-...") into buf[37]. */
void make_guid(char buf[37]);

/* Where log lines go (hsm_config's log and log_arg); fn NULL: nowhere. */
struct log_sink {
	void (*fn)(void *arg, enum hsm_log_level lvl, const char *msg);
	void *arg;
};

/* Log one line at lvl through sink (printf format); NULL sink: nothing. */
void sink_log(const struct log_sink *sink, enum hsm_log_level lvl,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Fill err: status st, HTTP status http, no service codes, the message
 * (printf format).  Returns st, so that failures read "return
 * err_set(...)".
 */
enum hsm_status err_set(struct hsm_error *err, enum hsm_status st, int http,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Check a service (or token endpoint) base URL: https://host[:port][/path]
 * with no user info, query or fragment; http:// only when allow_http and
 * the host is loopback (127.0.0.0/8, ::1, localhost).  Returns 0, or -1
 * with a one-line reason in err.
 */
int url_check(const char *url, bool allow_http, char *err, size_t errlen);

/* The host of url, lower-cased (an IPv6 address in brackets), into out;
 * false when url does not parse or the host does not fit. */
bool url_host(const char *url, char *out, size_t len);

/* True when the URL's host is written as a loopback address (127.x.x.x,
 * [::1], localhost): what the URL says, not what a name resolves to. */
bool url_is_loopback(const char *url);

/* Drop the trailing '/'s of s in place (NULL: nothing). */
void url_trim_slash(char *s);

/* HTTP statuses that say "try again": 408, 429, 500, 502, 503, 504. */
bool status_retryable(long status);

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

#endif
