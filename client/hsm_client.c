/*
 * hsm_client.c - the public API (hsm_client.h) on top of call.c, auth.c
 * and json_map.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth_i.h"
#include "call_i.h"
#include "client_i.h"
#include "json_map_i.h"
#include "names.h"
#include "secret.h"

#define DEFAULT_API_VERSION "7.5"
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_RETRIES 5
#define DEFAULT_MAX_REPLY (4u << 20)
#define PAGE_SIZE "25"
#define RNG_CHUNK 128

const char *hsm_strerror(enum hsm_status st)
{
	switch (st) {
	case HSM_OK: return "success";
	case HSM_E_NOMEM: return "out of memory";
	case HSM_E_INVALID: return "invalid argument or request";
	case HSM_E_NOT_FOUND: return "key not found";
	case HSM_E_CONFLICT: return "conflict with the key's current state";
	case HSM_E_UNSUPPORTED: return "operation or algorithm not supported by the key";
	case HSM_E_KEY_EXPIRED: return "key disabled, not yet valid or expired";
	case HSM_E_FORBIDDEN: return "access denied";
	case HSM_E_UNAUTHORIZED: return "not authorized (token refused)";
	case HSM_E_AUTH: return "authentication failed";
	case HSM_E_THROTTLED: return "throttled by the service";
	case HSM_E_SERVER: return "service error";
	case HSM_E_TIMEOUT: return "operation timed out";
	case HSM_E_UNREACHABLE: return "service unreachable";
	case HSM_E_CANCELLED: return "operation cancelled";
	case HSM_E_PROTOCOL: return "malformed reply from the service";
	case HSM_E_IO: return "input/output error";
	}
	return "unknown error";
}

static const char *const auth_names[] = {
	[HSM_AUTH_AUTO] = "auto", [HSM_AUTH_TOKEN] = "token",
	[HSM_AUTH_SECRET] = "secret", [HSM_AUTH_CERT] = "cert",
	[HSM_AUTH_WORKLOAD] = "workload", [HSM_AUTH_APPSERVICE] = "appservice",
	[HSM_AUTH_IMDS] = "imds", [HSM_AUTH_AZCLI] = "azcli",
};

int hsm_auth_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(auth_names) / sizeof(auth_names[0]); i++)
		if (!strcmp(name, auth_names[i]))
			return (int)i;
	return -1;
}

const char *hsm_auth_name(enum hsm_auth a)
{
	return (unsigned)a < sizeof(auth_names) / sizeof(auth_names[0]) ?
	       auth_names[a] : "unknown";
}

enum hsm_status hsm_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? HSM_OK :
	       HSM_E_IO;
}

void hsm_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ------------------------------------------------------------ lifecycle */

static bool valid_api_version(const char *v)
{
	if (!*v || strlen(v) > 32)
		return false;
	for (; *v; v++)
		if (!((*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'z') ||
		      *v == '.' || *v == '-'))
			return false;
	return true;
}

enum hsm_status hsm_client_new(const struct hsm_config *cfg,
			       struct hsm_client **out, char *errbuf,
			       size_t errlen)
{
	struct hsm_client *c;
	enum hsm_status st = HSM_E_INVALID;
	char dummy[2];

	*out = NULL;
	if (!errbuf || !errlen) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = 0;
	if (!cfg || !cfg->urls || cfg->n_urls == 0) {
		snprintf(errbuf, errlen, "no service URL given");
		return HSM_E_INVALID;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return HSM_E_NOMEM;
	}
	c->urls = calloc(cfg->n_urls, sizeof(*c->urls));
	if (!c->urls)
		goto nomem;
	c->n_urls = cfg->n_urls;
	for (size_t i = 0; i < cfg->n_urls; i++) {
		size_t n;

		if (url_check(cfg->urls[i], cfg->allow_http, errbuf, errlen))
			goto fail;
		c->urls[i] = strdup(cfg->urls[i]);
		if (!c->urls[i])
			goto nomem;
		n = strlen(c->urls[i]);
		while (n && c->urls[i][n - 1] == '/')
			c->urls[i][--n] = 0;
	}
	if (cfg->cafile && access(cfg->cafile, R_OK) != 0) {
		snprintf(errbuf, errlen, "cafile '%s': %s", cfg->cafile,
			 strerror(errno));
		goto fail;
	}
	if (cfg->api_version && !valid_api_version(cfg->api_version)) {
		snprintf(errbuf, errlen, "api_version '%s' is not a version string",
			 cfg->api_version);
		goto fail;
	}
	c->api_version = strdup(cfg->api_version ? cfg->api_version :
				DEFAULT_API_VERSION);
	if (!c->api_version)
		goto nomem;
	if (cfg->timeout_ms < 0 || cfg->connect_timeout_ms < 0) {
		snprintf(errbuf, errlen, "timeouts must not be negative");
		goto fail;
	}
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (xport_init(&c->xp, cfg->cafile, cfg->connect_timeout_ms ?
		       cfg->connect_timeout_ms : DEFAULT_CONNECT_MS) != 0)
		goto nomem;
	c->have_xp = true;
	if (cfg->retries < HSM_NO_RETRIES) {
		snprintf(errbuf, errlen, "retries must not be negative");
		goto fail;
	}
	c->retries = cfg->retries == HSM_NO_RETRIES ? 0 :
		     cfg->retries ? (unsigned)cfg->retries : DEFAULT_RETRIES;
	c->allow_http = cfg->allow_http;
	c->max_reply = cfg->max_reply ? cfg->max_reply : DEFAULT_MAX_REPLY;
	c->log.fn = cfg->log;
	c->log.arg = cfg->log_arg;
	if ((unsigned)cfg->auth > HSM_AUTH_AZCLI) {
		snprintf(errbuf, errlen, "unknown auth kind");
		goto fail;
	}
	st = auth_new(cfg, &c->xp, &c->log, &c->auth, errbuf, errlen);
	if (st != HSM_OK)
		goto fail;
	*out = c;
	return HSM_OK;
nomem:
	st = HSM_E_NOMEM;
	snprintf(errbuf, errlen, "out of memory");
fail:
	hsm_client_free(c);
	return st;
}

void hsm_client_free(struct hsm_client *c)
{
	if (!c)
		return;
	auth_free(c->auth);
	if (c->have_xp)
		xport_destroy(&c->xp);
	for (size_t i = 0; c->urls && i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->urls);
	free(c->api_version);
	free(c);
}

void hsm_client_stats(struct hsm_client *c, struct hsm_stats *out)
{
	unsigned idx;

	memset(out, 0, sizeof(*out));
#define LOAD(f) __atomic_load_n(&c->f, __ATOMIC_RELAXED)
	out->requests = LOAD(xp.n_requests);
	out->retries = LOAD(n_retries);
	out->throttled = LOAD(n_throttled);
	out->server_errors = LOAD(n_server_errors);
	out->failovers = LOAD(n_failovers);
	idx = LOAD(cur_url);
#undef LOAD
	auth_describe(c->auth, &out->token_expires, out->identity,
		      sizeof(out->identity), &out->token_requests);
	snprintf(out->endpoint, sizeof(out->endpoint), "%s", c->urls[idx]);
}

/* ------------------------------------------------------------- helpers */

/* Names and versions are checked before they go into a URL, so that no
 * caller can inject a path (crypto/names.h has the rules). */
static bool valid_name(const char *s)
{
	return s != NULL && key_name_valid(s, strlen(s));
}

/* NULL or "" is the latest version. */
static bool valid_version(const char *s)
{
	return s == NULL || s[0] == '\0' || key_version_valid(s, strlen(s));
}

/* Where the error detail goes: the caller's, or a scratch one. */
struct ctx {
	struct hsm_client *c;
	struct hsm_call *call;
	struct hsm_error scratch;
	struct hsm_error *err;
	int64_t deadline;	/* one for the whole API call */
};

static void ctx_init(struct ctx *x, struct hsm_client *c,
		     struct hsm_call *call)
{
	memset(&x->scratch, 0, sizeof(x->scratch));
	x->c = c;
	x->call = call;
	x->err = call ? &call->err : &x->scratch;
	memset(x->err, 0, sizeof(*x->err));
	if (call)
		call->retries = 0;
	x->deadline = c ? call_deadline(c, call) : 0;
}

static enum hsm_status bad(struct ctx *x, enum hsm_status st, const char *msg)
{
	x->err->status = st;
	snprintf(x->err->message, sizeof(x->err->message), "%s", msg);
	return st;
}

static enum hsm_status check_name(struct ctx *x, const char *name,
				  const char *version)
{
	if (!x->c)
		return bad(x, HSM_E_INVALID, "no client");
	if (!valid_name(name))
		return bad(x, HSM_E_INVALID,
			   "invalid key name: use 1-127 letters, digits and '-'");
	if (!valid_version(version))
		return bad(x, HSM_E_INVALID,
			   "invalid key version: 32 hexadecimal digits expected");
	return HSM_OK;
}

/* After a reply could not be mapped. */
static enum hsm_status parse_failed(struct ctx *x, enum hsm_status st,
				    const char *what)
{
	x->err->status = st;
	x->err->http_status = 200;
	snprintf(x->err->message, sizeof(x->err->message),
		 st == HSM_E_NOMEM ? "out of memory" :
		 "the service's %s reply is not what the API promises", what);
	return st;
}

static enum hsm_status request(struct ctx *x, const char *method,
			       const char *path, const char *body,
			       bool secret, bool replay_safe,
			       struct http_resp *resp)
{
	struct http_req req = {
		.method = method, .path = path, .body = body,
		.body_len = body ? strlen(body) : 0, .secret = secret,
		.replay_safe = replay_safe,
	};

	return call_request(x->c, x->call, &req, resp, x->err, x->deadline);
}

/* GET/POST returning a key bundle. */
static enum hsm_status key_request(struct ctx *x, const char *method,
				   const char *path, const char *body,
				   bool secret, bool replay_safe,
				   struct hsm_key *out)
{
	struct http_resp r;
	enum hsm_status st;

	st = request(x, method, path, body, secret, replay_safe, &r);
	if (st != HSM_OK)
		return st;
	st = jm_parse_key(r.body, r.len, out);
	http_resp_cleanup(&r);
	if (st != HSM_OK)
		return parse_failed(x, st, "key bundle");
	return HSM_OK;
}

/*
 * nextLink is absolute on the service's host.  Follow it only when it
 * starts with one of our base URLs (the bearer token goes nowhere else),
 * as a path relative to the URL in use, so failover keeps working.
 */
static const char *link_path(struct hsm_client *c, const char *link)
{
	for (size_t i = 0; i < c->n_urls; i++) {
		size_t n = strlen(c->urls[i]);

		if (!strncasecmp(link, c->urls[i], n) &&
		    (link[n] == '/' || link[n] == '?'))
			return link + n;
	}
	return NULL;
}

static enum hsm_status list_all(struct ctx *x, const char *first,
				struct hsm_key_list *out)
{
	char *path = strdup(first), *next = NULL;
	enum hsm_status st = HSM_OK;

	memset(out, 0, sizeof(*out));
	if (!path)
		return bad(x, HSM_E_NOMEM, "out of memory");
	while (path) {
		struct http_resp r;
		const char *p;

		st = request(x, "GET", path, NULL, false, true, &r);
		free(path);
		path = NULL;
		if (st != HSM_OK)
			break;
		st = jm_parse_list(r.body, r.len, out, &next);
		http_resp_cleanup(&r);
		if (st != HSM_OK) {
			parse_failed(x, st, "list");
			break;
		}
		if (!next)
			break;
		p = link_path(x->c, next);
		if (!p) {
			st = bad(x, HSM_E_PROTOCOL,
				 "the service's nextLink points to another host; not followed");
			break;
		}
		/* The service omits api-version from nextLink; make_url()
		 * adds it when absent. */
		path = strdup(p);
		free(next);
		next = NULL;
		if (!path) {
			st = bad(x, HSM_E_NOMEM, "out of memory");
			break;
		}
	}
	free(next);
	free(path);
	if (st != HSM_OK)
		hsm_key_list_cleanup(out);
	return st;
}

/* ---------------------------------------------------------------- keys */

enum hsm_status hsm_list_keys(struct hsm_client *c, struct hsm_call *call,
			      struct hsm_key_list *out)
{
	struct ctx x;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if (!c)
		return bad(&x, HSM_E_INVALID, "no client");
	return list_all(&x, "/keys?maxresults=" PAGE_SIZE, out);
}

enum hsm_status hsm_list_versions(struct hsm_client *c, struct hsm_call *call,
				  const char *name, struct hsm_key_list *out)
{
	char path[200];
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s/versions?maxresults=" PAGE_SIZE,
		 name);
	return list_all(&x, path, out);
}

enum hsm_status hsm_list_deleted(struct hsm_client *c, struct hsm_call *call,
				 struct hsm_key_list *out)
{
	struct ctx x;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if (!c)
		return bad(&x, HSM_E_INVALID, "no client");
	return list_all(&x, "/deletedkeys?maxresults=" PAGE_SIZE, out);
}

enum hsm_status hsm_get_key(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    struct hsm_key *out)
{
	char path[256];
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, version)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s/%s", name, version ? version : "");
	return key_request(&x, "GET", path, NULL, false, true, out);
}

enum hsm_status hsm_get_deleted(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out)
{
	char path[200];
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/deletedkeys/%s", name);
	return key_request(&x, "GET", path, NULL, false, true, out);
}

static bool valid_create(const struct hsm_create *p)
{
	if (!p || (unsigned)p->kty > KEY_OCT)
		return false;
	if (p->kty == KEY_EC && p->bits)
		return false;
	if (p->kty == KEY_RSA && p->bits && p->bits != 2048 && p->bits != 3072 &&
	    p->bits != 4096)
		return false;
	if (p->kty == KEY_OCT && p->bits && p->bits != 128 && p->bits != 192 &&
	    p->bits != 256)
		return false;
	for (size_t i = 0; i < p->n_tags; i++)
		if (!p->tags || !p->tags[i].name)
			return false;
	return true;
}

enum hsm_status hsm_create_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const struct hsm_create *p,
			       struct hsm_key *out)
{
	char path[200], *body;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	if (!valid_create(p))
		return bad(&x, HSM_E_INVALID,
			   "invalid key parameters (type, size or tags)");
	body = jm_build_create(p);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "/keys/%s/create", name);
	st = key_request(&x, "POST", path, body, false, false, out);
	free(body);
	return st;
}

enum hsm_status hsm_import_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *jwk_json,
			       const struct hsm_create *attrs,
			       struct hsm_key *out)
{
	char path[200], *body;
	bool badjson = false;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	if (!jwk_json || (attrs && !valid_create(attrs)))
		return bad(&x, HSM_E_INVALID, "invalid import parameters");
	body = jm_build_import(jwk_json, attrs, &badjson);
	if (!body)
		return badjson ? bad(&x, HSM_E_INVALID, "the key to import is not a JSON object (JWK)") :
				 bad(&x, HSM_E_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "/keys/%s", name);
	st = key_request(&x, "PUT", path, body, true, false, out);
	secret_wipe_free(body, strlen(body));
	return st;
}

enum hsm_status hsm_update_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_update *u, struct hsm_key *out)
{
	char path[256], *body;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, version)) != HSM_OK)
		return st;
	if (!u)
		return bad(&x, HSM_E_INVALID, "nothing to update");
	for (size_t i = 0; u->has_tags && i < u->n_tags; i++)
		if (!u->tags || !u->tags[i].name)
			return bad(&x, HSM_E_INVALID, "tag without a name");
	body = jm_build_update(u);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "/keys/%s/%s", name, version ? version : "");
	st = key_request(&x, "PATCH", path, body, false, true, out);
	free(body);
	return st;
}

enum hsm_status hsm_delete_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out_deleted)
{
	char path[200];
	struct hsm_key tmp;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	if (out_deleted)
		memset(out_deleted, 0, sizeof(*out_deleted));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s", name);
	st = key_request(&x, "DELETE", path, NULL, false, true,
			 out_deleted ? out_deleted : &tmp);
	if (st == HSM_OK && !out_deleted)
		hsm_key_cleanup(&tmp);
	return st;
}

enum hsm_status hsm_recover_key(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out)
{
	char path[200];
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/deletedkeys/%s/recover", name);
	return key_request(&x, "POST", path, NULL, false, true, out);
}

enum hsm_status hsm_purge_key(struct hsm_client *c, struct hsm_call *call,
			      const char *name)
{
	char path[200];
	struct http_resp r;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/deletedkeys/%s", name);
	st = request(&x, "DELETE", path, NULL, false, true, &r);
	http_resp_cleanup(&r);
	return st;
}

enum hsm_status hsm_backup_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, char **blob)
{
	char path[200];
	struct http_resp r;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	*blob = NULL;
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s/backup", name);
	st = request(&x, "POST", path, NULL, false, true, &r);
	if (st != HSM_OK)
		return st;
	st = jm_parse_value(r.body, r.len, blob);
	http_resp_cleanup(&r);
	return st == HSM_OK ? st : parse_failed(&x, st, "backup");
}

enum hsm_status hsm_restore_key(struct hsm_client *c, struct hsm_call *call,
				const char *blob, struct hsm_key *out)
{
	char *body;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if (!c)
		return bad(&x, HSM_E_INVALID, "no client");
	if (!blob || !*blob)
		return bad(&x, HSM_E_INVALID, "empty backup blob");
	body = jm_build_value(blob);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	st = key_request(&x, "POST", "/keys/restore", body, false, false, out);
	free(body);
	return st;
}

enum hsm_status hsm_rotate_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out)
{
	char path[200];
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s/rotate", name);
	return key_request(&x, "POST", path, NULL, false, false, out);
}

static enum hsm_status text_reply(struct ctx *x, struct http_resp *r,
				  char **out)
{
	*out = strndup(r->body, r->len);
	http_resp_cleanup(r);
	return *out ? HSM_OK : bad(x, HSM_E_NOMEM, "out of memory");
}

enum hsm_status hsm_set_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					const char *policy_json, char **out)
{
	char path[200], *body;
	struct http_resp r;
	bool badjson = false;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	*out = NULL;
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	body = policy_json ? jm_normalize(policy_json, &badjson) : NULL;
	if (!body)
		return bad(&x, badjson || !policy_json ? HSM_E_INVALID : HSM_E_NOMEM,
			   badjson || !policy_json ? "the rotation policy is not JSON" :
			   "out of memory");
	snprintf(path, sizeof(path), "/keys/%s/rotationpolicy", name);
	st = request(&x, "PUT", path, body, false, true, &r);
	free(body);
	return st == HSM_OK ? text_reply(&x, &r, out) : st;
}

enum hsm_status hsm_get_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					char **out)
{
	char path[200];
	struct http_resp r;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	*out = NULL;
	if ((st = check_name(&x, name, NULL)) != HSM_OK)
		return st;
	snprintf(path, sizeof(path), "/keys/%s/rotationpolicy", name);
	st = request(&x, "GET", path, NULL, false, true, &r);
	return st == HSM_OK ? text_reply(&x, &r, out) : st;
}

/* ---------------------------------------------------------- operations */

static void op_path(char *path, size_t n, const char *name,
		    const char *version, const char *op)
{
	/* Without a version: /keys/NAME/OP, which the service takes as the
	 * latest version (see managed-hsm-api.md §1.1). */
	if (version && *version)
		snprintf(path, n, "/keys/%s/%s/%s", name, version, op);
	else
		snprintf(path, n, "/keys/%s/%s", name, op);
}

static enum hsm_status result_request(struct ctx *x, const char *path,
				      const char *body, bool secret,
				      struct hsm_result *out)
{
	struct http_resp r;
	enum hsm_status st;

	st = request(x, "POST", path, body, secret, true, &r);
	if (st != HSM_OK)
		return st;
	st = jm_parse_result(r.body, r.len, out);
	http_resp_cleanup(&r);
	return st == HSM_OK ? st : parse_failed(x, st, "operation");
}

enum hsm_status hsm_sign(struct hsm_client *c, struct hsm_call *call,
			 const char *name, const char *version, const char *alg,
			 const uint8_t *digest, size_t len,
			 struct hsm_result *out)
{
	char path[256], *body;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, version)) != HSM_OK)
		return st;
	if (!alg || !*alg || (!digest && len))
		return bad(&x, HSM_E_INVALID, "sign needs an algorithm and a digest");
	body = jm_build_sign(alg, digest ? digest : (const uint8_t *)"", len,
			     NULL, 0);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	op_path(path, sizeof(path), name, version, "sign");
	st = result_request(&x, path, body, false, out);
	free(body);
	return st;
}

enum hsm_status hsm_verify(struct hsm_client *c, struct hsm_call *call,
			   const char *name, const char *version,
			   const char *alg, const uint8_t *digest, size_t dlen,
			   const uint8_t *sig, size_t sig_len, bool *valid)
{
	char path[256], *body;
	struct http_resp r;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	*valid = false;
	if ((st = check_name(&x, name, version)) != HSM_OK)
		return st;
	if (!alg || !*alg || (!digest && dlen) || (!sig && sig_len))
		return bad(&x, HSM_E_INVALID, "verify needs an algorithm, a digest and a signature");
	body = jm_build_sign(alg, digest ? digest : (const uint8_t *)"", dlen,
			     sig ? sig : (const uint8_t *)"", sig_len);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	op_path(path, sizeof(path), name, version, "verify");
	st = request(&x, "POST", path, body, false, true, &r);
	free(body);
	if (st != HSM_OK)
		return st;
	st = jm_parse_verify(r.body, r.len, valid);
	http_resp_cleanup(&r);
	return st == HSM_OK ? st : parse_failed(&x, st, "verify");
}

static enum hsm_status crypt_op(struct hsm_client *c, struct hsm_call *call,
				const char *name, const char *version,
				const struct hsm_crypt *in, const char *op,
				bool reply_secret, struct hsm_result *out)
{
	char path[256], *body;
	struct ctx x;
	enum hsm_status st;

	ctx_init(&x, c, call);
	memset(out, 0, sizeof(*out));
	if ((st = check_name(&x, name, version)) != HSM_OK)
		return st;
	if (!in || !in->alg || !*in->alg || (!in->value && in->len) ||
	    (in->iv_len && !in->iv) || (in->aad_len && !in->aad) ||
	    (in->tag_len && !in->tag))
		return bad(&x, HSM_E_INVALID, "missing algorithm or input");
	body = jm_build_crypt(in);
	if (!body)
		return bad(&x, HSM_E_NOMEM, "out of memory");
	op_path(path, sizeof(path), name, version, op);
	st = result_request(&x, path, body, true, out);
	(void)reply_secret;
	secret_wipe_free(body, strlen(body));
	return st;
}

enum hsm_status hsm_encrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, name, version, in, "encrypt", false, out);
}

enum hsm_status hsm_decrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, name, version, in, "decrypt", true, out);
}

enum hsm_status hsm_wrap_key(struct hsm_client *c, struct hsm_call *call,
			     const char *name, const char *version,
			     const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, name, version, in, "wrapkey", false, out);
}

enum hsm_status hsm_unwrap_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_crypt *in,
			       struct hsm_result *out)
{
	return crypt_op(c, call, name, version, in, "unwrapkey", true, out);
}

enum hsm_status hsm_random(struct hsm_client *c, struct hsm_call *call,
			   uint8_t *buf, size_t count)
{
	struct ctx x;
	enum hsm_status st = HSM_OK;
	size_t done = 0;

	ctx_init(&x, c, call);
	if (!c || (!buf && count))
		return bad(&x, HSM_E_INVALID, "no client or buffer");
	while (done < count) {
		size_t n = count - done > RNG_CHUNK ? RNG_CHUNK : count - done;
		char *body = jm_build_count((unsigned)n);
		struct http_resp r;

		if (!body) {
			st = bad(&x, HSM_E_NOMEM, "out of memory");
			break;
		}
		st = request(&x, "POST", "/rng", body, true, true, &r);
		free(body);
		if (st != HSM_OK)
			break;
		st = jm_parse_random(r.body, r.len, buf + done, n);
		http_resp_cleanup(&r);
		if (st != HSM_OK) {
			parse_failed(&x, st, "random bytes");
			break;
		}
		done += n;
	}
	if (st != HSM_OK && buf)
		secret_wipe(buf, count);
	return st;
}
