/*
 * util.c - the small helpers of util_i.h: clocks, random ids, the log
 * sink, URL checks and the retry arithmetic.  Nothing here calls back
 * into the rest of client/.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "util_i.h"

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

uint32_t rand32(void)
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

void sink_log(const struct log_sink *sink, enum hsm_log_level lvl,
	      const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!sink || !sink->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sink->fn(sink->arg, lvl, line);
}

enum hsm_status err_set(struct hsm_error *err, enum hsm_status st, int http,
			const char *fmt, ...)
{
	va_list ap;

	err->status = st;
	err->http_status = http;
	err->code[0] = err->inner_code[0] = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return st;
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

void url_trim_slash(char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n && s[n - 1] == '/')
		s[--n] = 0;
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

bool url_host(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool r = false;

	/* curl's parser, the one the transport uses: "https://a@b" is b. */
	if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    *host && strlen(host) < len) {
		for (size_t i = 0; host[i]; i++)
			out[i] = (char)tolower((unsigned char)host[i]);
		out[strlen(host)] = 0;
		r = true;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

bool url_is_loopback(const char *url)
{
	char host[256];

	return url_host(url, host, sizeof(host)) && host_is_loopback(host);
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

bool status_retryable(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 ||
	       s == 504;
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
