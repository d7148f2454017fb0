/*
 * test_transport.c - the pure parts of client/util.c and client/auth.c:
 * the WWW-Authenticate challenge parser, backoff arithmetic, Retry-After
 * headers, URL validation and request ids; the token refresh of a static
 * token file; a request whose deadline passed; the handle pool's bounds
 * and the TLS context's settings.  No network.
 *
 * argv[1] (optional): the recordings directory, for the recorded
 * challenge header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/ssl.h>

#include "auth_i.h"
#include "call_i.h"
#include "client_i.h"
#include "codec.h"
#include "hsm_client.h"
#include "secret.h"
#include "tap.h"

static void challenge(const char *hdr, int want_rc, const char *tenant,
		      const char *resource, const char *scope)
{
	char t[128] = "", r[256] = "", s[300] = "";
	int rc = auth_parse_challenge(hdr, t, sizeof(t), r, sizeof(r), s,
				      sizeof(s));

	if (want_rc)
		ok(rc == want_rc, "challenge refused: %s", hdr);
	else
		ok(rc == 0 && !strcmp(t, tenant) && !strcmp(r, resource) &&
		   !strcmp(s, scope), "challenge %s -> tenant %s scope %s", hdr,
		   t, s);
}

static void test_recorded_challenge(const char *dir)
{
	char path[1024];
	struct json_object *root, *ents, *e, *h, *v;
	const char *hdr = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir,
		 "test_challenge_auth.pyTestChallengeAuthtest_multitenant_authentication[2025-07-01_mhsm].json");
	root = json_object_from_file(path);
	if (root && json_object_object_get_ex(root, "Entries", &ents)) {
		e = json_object_array_get_idx(ents, 0);
		if (json_object_object_get_ex(e, "ResponseHeaders", &h) &&
		    json_object_object_get_ex(h, "WWW-Authenticate", &v))
			hdr = json_object_get_string(v);
	}
	ok(hdr != NULL, "recorded 401 has WWW-Authenticate");
	if (hdr)
		challenge(hdr, 0, "00000000-0000-0000-0000-000000000000",
			  "https://managedhsm.azure.net",
			  "https://managedhsm.azure.net/.default");
	json_object_put(root);
}

static void test_challenges(void)
{
	challenge("Bearer authorization=\"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47\", resource=\"https://managedhsm.azure.net\"",
		  0, "72f988bf-86f1-41af-91ab-2d7cd011db47",
		  "https://managedhsm.azure.net", "https://managedhsm.azure.net/.default");
	challenge("Bearer authorization_uri=\"https://login.windows.net/tid/\", scope=\"https://vault.azure.net/.default\"",
		  0, "tid", "https://vault.azure.net", "https://vault.azure.net/.default");
	challenge("Bearer authorization=https://127.0.0.1:8443/t1,resource=https://managedhsm.azure.net/",
		  0, "t1", "https://managedhsm.azure.net",
		  "https://managedhsm.azure.net/.default");
	challenge("bearer  resource=\"https://x.example/\" , authorization=\"https://a.example/t2/oauth2\", error=\"insufficient_claims\", claims=\"e30=\"",
		  0, "t2", "https://x.example", "https://x.example/.default");
	challenge("Bearer authorization=\"https://a/t3\", resource=\"https://r\\\"q\"",
		  0, "t3", "https://r\"q", "https://r\"q/.default");
	challenge("Basic realm=\"x\"", -1, NULL, NULL, NULL);
	challenge("Bearer resource=\"https://managedhsm.azure.net\"", -1, NULL, NULL, NULL);
	challenge("Bearer authorization=\"https://login.microsoftonline.com/t\"", -1, NULL, NULL, NULL);
	challenge("Bearer authorization=\"https://login.microsoftonline.com\", resource=\"r\"",
		  -1, NULL, NULL, NULL);
	challenge("Bearer authorization=\"https://login.microsoftonline.com/t\", resource=\"/\"",
		  -1, NULL, NULL, NULL);
	challenge("Bearerx authorization=\"https://l/t\", resource=\"r\"", -1, NULL, NULL, NULL);
	challenge("", -1, NULL, NULL, NULL);
}

/* A Managed HSM or Key Vault audience, and the Azure SDK's rule: the
 * request's host ends with "." + the resource's host; loopback URLs (the
 * emulator) are the one exception to the suffix, not to the audience. */
static void test_resource_allowed(void)
{
	const char *svc = "https://myhsm.managedhsm.azure.net";

	ok(auth_resource_allowed("https://managedhsm.azure.net", svc) &&
	   auth_resource_allowed("https://managedhsm.azure.net/", svc) &&
	   auth_resource_allowed("https://MANAGEDHSM.azure.net", "https://MyHSM.ManagedHSM.Azure.NET:443/") &&
	   auth_resource_allowed("https://managedhsm.usgovcloudapi.net", "https://h.managedhsm.usgovcloudapi.net") &&
	   auth_resource_allowed("https://managedhsm.azure.cn", "https://h.managedhsm.azure.cn") &&
	   auth_resource_allowed("https://vault.azure.net", "https://myvault.vault.azure.net"),
	   "the request host is a subdomain of the resource's host: allowed");
	ok(!auth_resource_allowed("https://azure.net", svc) &&
	   !auth_resource_allowed("https://example.test", "https://hsm.example.test") &&
	   !auth_resource_allowed("https://com", "https://evil.com") &&
	   !auth_resource_allowed("https://managedhsm-azure.net", "https://myhsm.managedhsm-azure.net"),
	   "a host naming its own parent as the resource: refused (a static token is an HSM's)");
	ok(!auth_resource_allowed("https://managedhsm.azure.net", "https://evil.example.com") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://managedhsm.azure.net") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://evilmanagedhsm.azure.net") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://myhsm.managedhsm.azure.net.evil.com") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://myhsm.managedhsm.azure.net@evil.com") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://127.0.0.1.managedhsm.example") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://localhost.evil.com") &&
	   !auth_resource_allowed("https://vault.azure.net", svc) &&
	   !auth_resource_allowed("https://management.azure.com", svc) &&
	   !auth_resource_allowed("https://graph.microsoft.com", svc) &&
	   !auth_resource_allowed("https://evilmanagedhsm.azure.net", svc) &&
	   !auth_resource_allowed("https://managedhsm.azure.net.evil.com", svc) &&
	   !auth_resource_allowed("https://hsm.local", "https://hsm.local/") &&
	   !auth_resource_allowed("http://managedhsm.azure.net", svc) &&
	   !auth_resource_allowed("storage", svc) &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "not a url") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", NULL),
	   "any other host refused");
	ok(auth_resource_allowed("https://managedhsm.azure.net", "https://127.0.0.1:8443") &&
	   auth_resource_allowed("https://managedhsm.azure.net", "http://127.4.5.6:80/") &&
	   auth_resource_allowed("https://managedhsm.azure.net", "https://[::1]:8443") &&
	   auth_resource_allowed("https://managedhsm.azure.net", "https://LOCALHOST:8443"),
	   "a URL written as a loopback address: allowed");
	ok(!auth_resource_allowed("https://127.0.0.1:9999", "https://127.0.0.1:8443") &&
	   !auth_resource_allowed("https://management.azure.com", "https://127.0.0.1:8443") &&
	   !auth_resource_allowed("https://graph.microsoft.com", "http://[::1]:80"),
	   "... for an HSM or vault audience only (any local user may listen there)");
	ok(!auth_resource_allowed("https://managedhsm.azure.net", "https://127.0.0.1.nip.io") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://128.0.0.1") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://[::2]") &&
	   !auth_resource_allowed("https://managedhsm.azure.net", "https://localhost@evil.com"),
	   "... only as the URL writes it");
	ok(auth_resource_allowed("https://vault.azure.net", "https://myv.vault.azure.net") &&
	   auth_resource_allowed("https://vault.azure.net/", "https://MYV.vault.azure.net:443/") &&
	   auth_resource_allowed("https://vault.azure.cn", "https://v.vault.azure.cn") &&
	   auth_resource_allowed("https://vault.azure.net", "https://127.0.0.1:8443"),
	   "a vault's audience for a vault or loopback URL");
	ok(!auth_resource_allowed("https://vault.azure.net", "https://vault.azure.net.evil.com") &&
	   !auth_resource_allowed("https://vault.azure.net", "https://evilvault.azure.net") &&
	   !auth_resource_allowed("https://vault.azure.net", "https://hsm.example.com") &&
	   !auth_resource_allowed("https://vault.azure.net", "https://v.vault.azure.cn") &&
	   !auth_resource_allowed("https://vault.azure.net", NULL),
	   "a vault's audience refused for any other host");
}

static void test_backoff(void)
{
	const int64_t base = 500, max = 60000;
	bool mono = true, bounds = true;
	int64_t prev = 0;

	for (unsigned a = 0; a < 12; a++) {
		int64_t nominal = base << a;
		int64_t lo, hi, mid;

		if (nominal > max)
			nominal = max;
		lo = backoff_ms(a, -1, 0, base, max);
		hi = backoff_ms(a, -1, UINT32_MAX, base, max);
		mid = backoff_ms(a, -1, UINT32_MAX / 2, base, max);
		bounds &= lo == nominal * 8 / 10 && hi < nominal * 12 / 10 &&
			  hi >= nominal * 12 / 10 - 1 - nominal / 1000 &&
			  mid > lo && mid < hi;
		mono &= lo >= prev;
		prev = lo;
	}
	ok(bounds, "jitter within [0.8, 1.2) of base*2^n");
	ok(mono, "exponential growth, monotonic");
	ok(backoff_ms(0, -1, 0, base, max) == 400 &&
	   backoff_ms(1, -1, 0, base, max) == 800 &&
	   backoff_ms(2, -1, 0, base, max) == 1600, "doubling: 400, 800, 1600 at the low bound");
	ok(backoff_ms(30, -1, UINT32_MAX, base, max) < max * 12 / 10 &&
	   backoff_ms(30, -1, 0, base, max) == max * 8 / 10, "capped at max (x jitter)");
	ok(backoff_ms(0, 2000, 12345, base, max) == 2000 &&
	   backoff_ms(5, 0, UINT32_MAX, base, max) == 0,
	   "a server delay is used as given, not jittered");
	/* Distribution: 1000 draws stay within bounds and spread out. */
	{
		int64_t mn = INT64_MAX, mx = 0;
		uint32_t r = 1;

		for (int i = 0; i < 1000; i++) {
			int64_t d;

			r = r * 1664525u + 1013904223u;
			d = backoff_ms(3, -1, r, base, max);
			mn = d < mn ? d : mn;
			mx = d > mx ? d : mx;
		}
		ok(mn >= 3200 && mx < 4800 && mx - mn > 1000,
		   "jitter spread over 1000 draws: %lld..%lld", (long long)mn,
		   (long long)mx);
	}
	ok(retry_fits(1000, 500, 2000) && !retry_fits(1000, 1000, 2000) &&
	   !retry_fits(1000, 5000, 2000) && !retry_fits(1000, -1, 2000),
	   "a retry is tried only if it starts before the deadline");
}

static void test_retry_after(void)
{
	time_t now = time(NULL);
	char date[64];
	struct tm tm;

	ok(retry_after_ms("2", NULL, NULL, now) == 2000, "Retry-After: 2 -> 2000 ms");
	ok(retry_after_ms(" 120 ", NULL, NULL, now) == 120000, "Retry-After with spaces");
	ok(retry_after_ms(NULL, "1500", NULL, now) == 1500, "retry-after-ms");
	ok(retry_after_ms(NULL, NULL, "700", now) == 700, "x-ms-retry-after-ms");
	ok(retry_after_ms("2", "1500", "700", now) == 1500,
	   "retry-after-ms wins over the others");
	ok(retry_after_ms("2", NULL, "700", now) == 700,
	   "x-ms-retry-after-ms wins over Retry-After");
	ok(retry_after_ms("soon", NULL, NULL, now) == -1 &&
	   retry_after_ms("-1", NULL, NULL, now) == -1 &&
	   retry_after_ms("", "", "", now) == -1 &&
	   retry_after_ms(NULL, NULL, NULL, now) == -1, "unusable values ignored");
	ok(retry_after_ms("3", "x", NULL, now) == 3000, "bad ms header falls back to seconds");
	gmtime_r(&(time_t){ now + 5 }, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ok(retry_after_ms(date, NULL, NULL, now) == 5000, "HTTP date %s -> 5000 ms", date);
	gmtime_r(&(time_t){ now - 50 }, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ok(retry_after_ms(date, NULL, NULL, now) == 0, "past HTTP date -> 0");
}

static void test_refresh_schedule(void)
{
	ok(token_refresh_at(1000, 1000 + 3600) == 1000 + 1800,
	   "1 h token: refreshed at half its lifetime");
	ok(token_refresh_at(1000, 1000 + 86400) == 1000 + 43200,
	   "24 h token: refreshed at half its lifetime");
	ok(token_refresh_at(1000, 1000 + 500) == 1000 + 200,
	   "500 s token: refreshed 300 s before expiry");
	ok(token_refresh_at(1000, 1002) == 1001, "2 s token: after 1 s");
	ok(token_refresh_at(1000, 900) == 1000, "expired token: now");
}

/* Sleep until ms milliseconds past the start of the next second of the
 * wall clock (time() may lag CLOCK_REALTIME by a tick). */
static void sleep_into_next_second(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec = 1000000000L - ts.tv_nsec + ms * 1000000L;
	ts.tv_sec = ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	nanosleep(&ts, NULL);
}

/* A token file holding an unsigned JWT that expires at exp. */
static char *write_token_file(char *path, int64_t exp)
{
	char claims[64], *b64, *jwt;
	size_t n;
	int fd = mkstemp(path);

	snprintf(claims, sizeof(claims), "{\"exp\":%lld}", (long long)exp);
	b64 = b64url_encode((const uint8_t *)claims, strlen(claims));
	n = strlen(b64) + 32;
	jwt = malloc(n);
	snprintf(jwt, n, "eyJhbGciOiJub25lIn0.%s.c2ln", b64);
	free(b64);
	ok(fd >= 0 && write(fd, jwt, strlen(jwt)) == (ssize_t)strlen(jwt) &&
	   close(fd) == 0, "token file %s", path);
	return jwt;
}

/*
 * A refresh that fails while the token is still valid keeps the token and
 * leaves err alone: err holds the call's last failure, which call.c
 * reports if the deadline passes before the next attempt.  Clearing it
 * made such a call return HSM_OK without a reply.
 */
static void test_failed_refresh_keeps_err(void)
{
	char path[] = "/tmp/hsmfs-test-token-XXXXXX", why[300], *jwt, *hdr;
	struct hsm_config cfg = { .auth = HSM_AUTH_TOKEN, .token_file = path };
	struct hsm_error err = { 0 };
	struct auth *a = NULL;
	enum hsm_status st;
	uint64_t gen;
	int64_t exp;

	/* Early in a second: a token that expires at its end is due for
	 * refresh at once and valid for most of a second still. */
	sleep_into_next_second(20);
	exp = (int64_t)time(NULL) + 1;
	jwt = write_token_file(path, exp);
	st = auth_new(&cfg, NULL, NULL, &a, why, sizeof(why));
	ok(st == HSM_OK, "static token credential: %s",
	   st == HSM_OK ? "configured" : why);
	if (st != HSM_OK) {
		unlink(path);
		free(jwt);
		return;
	}
	st = auth_header(a, "https://x.managedhsm.azure.net", now_ms() + 1000,
			 &hdr, &gen, &err);
	ok(st == HSM_OK && hdr && strstr(hdr, jwt), "token read");
	if (hdr)
		secret_wipe_free(hdr, strlen(hdr));
	unlink(path);
	err_set(&err, HSM_E_SERVER, 503, "HTTP 503 from https://a.example");
	st = auth_header(a, "https://x.managedhsm.azure.net", now_ms() + 1000,
			 &hdr, &gen, &err);
	ok(st == HSM_OK && hdr && strstr(hdr, jwt) && time(NULL) < exp,
	   "failed refresh keeps the valid token");
	ok(err.status == HSM_E_SERVER && err.http_status == 503 &&
	   !strcmp(err.message, "HTTP 503 from https://a.example"),
	   "... and leaves err as it was: %d %s", err.status, err.message);
	if (hdr)
		secret_wipe_free(hdr, strlen(hdr));
	/* Once it expired the failed refresh is the answer. */
	while (time(NULL) < exp)
		sleep_into_next_second(20);
	st = auth_header(a, "https://x.managedhsm.azure.net", now_ms() + 1000,
			 &hdr, &gen, &err);
	ok(st == HSM_E_AUTH && !hdr && err.status == HSM_E_AUTH &&
	   strstr(err.message, path), "expired: the refresh failure: %s",
	   err.message);
	auth_free(a);
	free(jwt);
}

static void url(const char *u, bool allow_http, int want)
{
	char err[300] = "";
	int rc = url_check(u, allow_http, err, sizeof(err));

	ok(rc == want && (want == 0 || err[0]), "url %s (allow_http=%d) -> %d%s%s", u,
	   allow_http, rc, err[0] ? ": " : "", err);
}

static void test_urls(void)
{
	url("https://myhsm.managedhsm.azure.net", false, 0);
	url("https://myhsm.managedhsm.azure.net/", false, 0);
	url("https://127.0.0.1:8443", false, 0);
	url("HTTPS://EXAMPLE.COM", false, 0);
	url("http://127.0.0.1:8080", false, -1);
	url("http://127.0.0.1:8080", true, 0);
	url("http://127.1.2.3", true, 0);
	url("http://localhost:9", true, 0);
	url("http://[::1]:8080", true, 0);
	url("http://10.0.0.1", true, -1);
	url("http://myhsm.managedhsm.azure.net", true, -1);
	url("http://127.evil.com", true, -1);
	url("http://127.0.0.1.evil.com", true, -1);
	url("https://user:pw@myhsm.managedhsm.azure.net", false, -1);
	url("http://127.0.0.1@evil.com", true, -1);
	url("https://h.example/?api-version=1", false, -1);
	url("https://h.example/#x", false, -1);
	url("ftp://h.example", true, -1);
	url("file:///etc/passwd", true, -1);
	url("not a url", true, -1);
	url("", true, -1);
	ok(url_is_loopback("http://127.0.0.1:5") && url_is_loopback("https://localhost") &&
	   !url_is_loopback("https://example.com"), "url_is_loopback");
}

static void test_guid(void)
{
	char a[37], b[37];
	bool shape = true;

	make_guid(a);
	make_guid(b);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			shape &= a[i] == '-';
		else
			shape &= (a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f');
	}
	ok(strlen(a) == 36 && shape && a[14] == '4' && strchr("89ab", a[19]),
	   "request id is a v4 GUID: %s", a);
	ok(strcmp(a, b) != 0, "request ids differ");
}

static void test_names(void)
{
	ok(hsm_auth_from_name("auto") == HSM_AUTH_AUTO &&
	   hsm_auth_from_name("azcli") == HSM_AUTH_AZCLI &&
	   hsm_auth_from_name("imds") == HSM_AUTH_IMDS &&
	   hsm_auth_from_name("bogus") == -1 && hsm_auth_from_name(NULL) == -1,
	   "auth names");
	ok(!strcmp(hsm_auth_name(HSM_AUTH_WORKLOAD), "workload"), "auth name");
	for (int s = HSM_OK; s <= HSM_E_IO; s++)
		if (!hsm_strerror((enum hsm_status)s)[0] ||
		    !strcmp(hsm_strerror((enum hsm_status)s), "unknown error"))
			ok(0, "strerror %d", s);
	ok(!strcmp(hsm_strerror(HSM_E_NOT_FOUND), "key not found"), "strerror");
}

static void test_client_new(void)
{
	const char *urls[] = { "http://10.1.1.1" };
	struct hsm_config cfg = { .urls = urls, .n_urls = 1, .allow_http = true,
				  .auth = HSM_AUTH_SECRET };
	struct hsm_client *c = (struct hsm_client *)1;
	char err[300];

	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_INVALID && !c &&
	   strstr(err, "loopback"), "client_new refuses http to a remote host: %s", err);
	urls[0] = "https://127.0.0.1:1";
	unsetenv("AZURE_CLIENT_SECRET");
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH && !c &&
	   strstr(err, "AZURE_CLIENT_SECRET") && !strchr(err, '\n'),
	   "secret credential not configured: %s", err);
	setenv("AZURE_CLIENT_ID", "app", 1);
	setenv("AZURE_CLIENT_SECRET", "s3cr3t", 1);
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_OK && c,
	   "secret credential configured");
	hsm_client_free(c);
	cfg.auth = HSM_AUTH_TOKEN;
	cfg.token_file = "/nonexistent/token";
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH && !c &&
	   strstr(err, "/nonexistent/token"), "missing token file: %s", err);
	cfg.token_file = NULL;
	cfg.cafile = "/nonexistent/ca.pem";
	setenv("AZURE_ACCESS_TOKEN", "abc", 1);
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_INVALID && !c &&
	   strstr(err, "cafile"), "missing cafile: %s", err);
	cfg.cafile = NULL;
	cfg.auth = HSM_AUTH_WORKLOAD;
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH &&
	   strstr(err, "AZURE_FEDERATED_TOKEN_FILE"), "workload not configured: %s", err);
	cfg.auth = HSM_AUTH_APPSERVICE;
	unsetenv("IDENTITY_ENDPOINT");
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH &&
	   strstr(err, "IDENTITY_ENDPOINT"), "appservice not configured: %s", err);
	cfg.auth = HSM_AUTH_CERT;
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/c.pem", 1);
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH &&
	   strstr(err, "/nonexistent/c.pem"), "certificate unreadable: %s", err);
	cfg.auth = HSM_AUTH_AZCLI;
	setenv("PATH", "/nonexistent", 1);
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_E_AUTH &&
	   strstr(err, "az"), "az not on PATH: %s", err);
	cfg.auth = HSM_AUTH_IMDS;
	ok(hsm_client_new(&cfg, &c, err, sizeof(err)) == HSM_OK, "imds needs nothing");
	hsm_client_free(c);
}

/* A request whose deadline passed before it started fails HSM_E_TIMEOUT
 * with an empty reply, sending nothing; never HSM_OK without a reply. */
static void test_call_past_deadline(void)
{
	const char *urls[] = { "https://127.0.0.1:1" };
	struct hsm_config cfg = { .urls = urls, .n_urls = 1,
				  .auth = HSM_AUTH_TOKEN };
	struct http_req req = { .method = "GET", .path = "/keys",
				.replay_safe = true };
	struct http_resp resp;
	struct hsm_error err;
	struct hsm_client *c;
	enum hsm_status st;
	char why[300];

	setenv("AZURE_ACCESS_TOKEN", "abc", 1);
	st = hsm_client_new(&cfg, &c, why, sizeof(why));
	ok(st == HSM_OK, "client: %s", st == HSM_OK ? "made" : why);
	if (st != HSM_OK)
		return;
	st = call_request(c, NULL, &req, &resp, &err, now_ms() - 1);
	ok(st == HSM_E_TIMEOUT && err.status == HSM_E_TIMEOUT && !resp.body &&
	   c->xp.n_requests == 0, "past deadline: %d %s", st, err.message);
	http_resp_cleanup(&resp);
	hsm_client_free(c);
}

/* The pool keeps at most XPORT_IDLE_MAX idle handles, and above
 * XPORT_IDLE_KEEP only those used within idle_ms; it hands out the most
 * recently used one. */
static void test_pool_bounds(void)
{
	enum { N = XPORT_IDLE_MAX + 40 };
	static CURL *h[N];
	struct xport xp;
	CURL *again;
	size_t closed;

	if (xport_init(&xp, NULL, 1000) != 0)
		abort();
	for (int i = 0; i < N; i++)
		h[i] = xport_get(&xp);
	for (int i = 0; i < N; i++)
		xport_put(&xp, h[i]);
	ok(xp.n_pool == XPORT_IDLE_MAX && xp.n_closed == N - XPORT_IDLE_MAX,
	   "%d handles put back: %zu kept, %llu closed", N, xp.n_pool,
	   (unsigned long long)xp.n_closed);
	again = xport_get(&xp);
	ok(again == h[N - 1], "the most recently used handle comes back");
	xport_put(&xp, again);
	xp.idle_ms = 30;
	usleep(60 * 1000);
	again = xport_get(&xp);
	ok(xp.n_pool == XPORT_IDLE_KEEP - 1 && again == h[N - 1],
	   "after idle_ms: %zu idle kept besides the one handed out",
	   xp.n_pool);
	xport_put(&xp, again);
	/* A quiet pool: the tick closes what expired, with no request. */
	for (int i = 0; i < N; i++)
		h[i] = xport_get(&xp);
	for (int i = 0; i < N; i++)
		xport_put(&xp, h[i]);
	closed = xport_tidy(&xp);
	ok(closed == 0 && xp.n_pool == XPORT_IDLE_MAX,
	   "tidy before idle_ms: %zu closed, %zu idle", closed, xp.n_pool);
	usleep(60 * 1000);
	closed = xport_tidy(&xp);
	ok(closed == XPORT_IDLE_MAX - XPORT_IDLE_KEEP &&
	   xp.n_pool == XPORT_IDLE_KEEP,
	   "tidy after idle_ms: %zu closed, %zu idle kept", closed, xp.n_pool);
	xport_destroy(&xp);
}

/* Every TLS context gets the transport's one CA store, cleansing and
 * buffers released when idle; no store (an unreadable cafile): refused. */
static void test_ssl_ctx(const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct xport xp, bad;

	if (!ctx || xport_init(&xp, cafile, 1000) != 0)
		abort();
	ok(xp.store && xport_tune_ssl_ctx(&xp, ctx) == CURLE_OK &&
	   SSL_CTX_get_cert_store(ctx) == xp.store,
	   "TLS context: the transport's CA store (%s)", cafile);
	ok(SSL_CTX_get_options(ctx) & SSL_OP_CLEANSE_PLAINTEXT,
	   "TLS context: plaintext cleansed");
	ok(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS,
	   "TLS context: idle buffers released");
	ok(xport_init(&bad, "/nonexistent/ca.pem", 1000) == -2,
	   "unreadable cafile: refused at once");
	/* A system store that could not be read: no store, every
	 * connection refused. */
	memset(&bad, 0, sizeof(bad));
	ok(xport_tune_ssl_ctx(&bad, ctx) == CURLE_SSL_CACERT_BADFILE,
	   "no CA store: every connection refused");
	SSL_CTX_free(ctx);
	xport_destroy(&xp);
}

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc > 1)
		test_recorded_challenge(argv[1]);
	test_challenges();
	test_resource_allowed();
	test_backoff();
	test_retry_after();
	test_refresh_schedule();
	test_failed_refresh_keeps_err();
	test_urls();
	test_guid();
	test_names();
	test_client_new();
	test_call_past_deadline();
	test_pool_bounds();
	test_ssl_ctx("/etc/ssl/certs/ca-certificates.crt");
	curl_global_cleanup();
	return done_testing();
}
