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
#include "cred_i.h"
#include "curlmem.h"
#include "hsm_client.h"
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
	return curlmem_global_init(CURL_GLOBAL_DEFAULT) == 0 ? HSM_OK :
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

/* The service URLs, checked, without trailing '/'. */
static enum hsm_status set_urls(struct hsm_client *c,
				const struct hsm_config *cfg, char *errbuf,
				size_t errlen)
{
	c->urls = calloc(cfg->n_urls, sizeof(*c->urls));
	if (!c->urls)
		return HSM_E_NOMEM;
	c->n_urls = cfg->n_urls;
	for (size_t i = 0; i < cfg->n_urls; i++) {
		size_t n;

		if (url_check(cfg->urls[i], cfg->allow_http, errbuf, errlen))
			return HSM_E_INVALID;
		c->urls[i] = strdup(cfg->urls[i]);
		if (!c->urls[i])
			return HSM_E_NOMEM;
		n = strlen(c->urls[i]);
		while (n && c->urls[i][n - 1] == '/')
			c->urls[i][--n] = 0;
	}
	return HSM_OK;
}

/* The settings of cfg other than the URLs and the credential, checked,
 * with their defaults; the transport set up. */
static enum hsm_status set_options(struct hsm_client *c,
				   const struct hsm_config *cfg, char *errbuf,
				   size_t errlen)
{
	if (cfg->cafile && access(cfg->cafile, R_OK) != 0) {
		snprintf(errbuf, errlen, "cafile '%s': %s", cfg->cafile,
			 strerror(errno));
		return HSM_E_INVALID;
	}
	if (cfg->api_version && !valid_api_version(cfg->api_version)) {
		snprintf(errbuf, errlen, "api_version '%s' is not a version string",
			 cfg->api_version);
		return HSM_E_INVALID;
	}
	c->api_version = strdup(cfg->api_version ? cfg->api_version :
				DEFAULT_API_VERSION);
	if (!c->api_version)
		return HSM_E_NOMEM;
	if (cfg->timeout_ms < 0 || cfg->connect_timeout_ms < 0) {
		snprintf(errbuf, errlen, "timeouts must not be negative");
		return HSM_E_INVALID;
	}
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	switch (xport_init(&c->xp, cfg->cafile, cfg->connect_timeout_ms ?
			   cfg->connect_timeout_ms : DEFAULT_CONNECT_MS)) {
	case 0:
		break;
	case -2:
		snprintf(errbuf, errlen, "cafile %.200s: no CA certificate "
			 "could be read from it (a PEM bundle is expected)",
			 cfg->cafile);
		return HSM_E_INVALID;
	default:
		return HSM_E_NOMEM;
	}
	c->have_xp = true;
	if (cfg->retries < HSM_NO_RETRIES) {
		snprintf(errbuf, errlen, "retries must not be negative");
		return HSM_E_INVALID;
	}
	c->retries = cfg->retries == HSM_NO_RETRIES ? 0 :
		     cfg->retries ? (unsigned)cfg->retries : DEFAULT_RETRIES;
	c->allow_http = cfg->allow_http;
	c->max_reply = cfg->max_reply ? cfg->max_reply : DEFAULT_MAX_REPLY;
	c->log.fn = cfg->log;
	c->log.arg = cfg->log_arg;
	if ((unsigned)cfg->auth > HSM_AUTH_AZCLI) {
		snprintf(errbuf, errlen, "unknown auth kind");
		return HSM_E_INVALID;
	}
	return HSM_OK;
}

enum hsm_status hsm_client_new(const struct hsm_config *cfg,
			       struct hsm_client **out, char *errbuf,
			       size_t errlen)
{
	struct hsm_client *c;
	enum hsm_status st;
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
	st = set_urls(c, cfg, errbuf, errlen);
	if (st == HSM_OK)
		st = set_options(c, cfg, errbuf, errlen);
	if (st == HSM_OK)
		st = auth_new(cfg, &c->xp, &c->log, &c->auth, errbuf, errlen);
	if (st != HSM_OK) {
		if (st == HSM_E_NOMEM)
			snprintf(errbuf, errlen, "out of memory");
		hsm_client_free(c);
		return st;
	}
	*out = c;
	return HSM_OK;
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

void hsm_scrub_environment(void)
{
	cred_scrub_environment();
}

size_t hsm_client_tidy(struct hsm_client *c)
{
	return xport_tidy(&c->xp);
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

/* ------------------------------------------------------------ the table */

/* How a reply is read: its parser (NULL: nothing to read), the size of
 * the output (emptied before the call), the reply's name in messages
 * (NULL: the parser can only run out of memory). */
struct reply_kind {
	enum hsm_status (*parse)(const char *text, size_t len, void *out);
	size_t out_size;
	const char *what;
};

/* hsm_random()'s output: one chunk. */
struct rng_out {
	uint8_t *buf;
	size_t n;
};

static enum hsm_status parse_key(const char *t, size_t n, void *out)
{
	return jm_parse_key(t, n, out);
}

static enum hsm_status parse_result(const char *t, size_t n, void *out)
{
	return jm_parse_result(t, n, out);
}

static enum hsm_status parse_verify(const char *t, size_t n, void *out)
{
	return jm_parse_verify(t, n, out);
}

static enum hsm_status parse_value(const char *t, size_t n, void *out)
{
	return jm_parse_value(t, n, out);
}

/* The reply as it came (rotation policies). */
static enum hsm_status parse_text(const char *t, size_t n, void *out)
{
	char **s = out;

	*s = strndup(t, n);
	return *s ? HSM_OK : HSM_E_NOMEM;
}

static enum hsm_status parse_random(const char *t, size_t n, void *out)
{
	struct rng_out *r = out;

	return jm_parse_random(t, n, r->buf, r->n);
}

enum reply { R_NONE, R_KEY, R_LIST, R_RESULT, R_VERIFY, R_VALUE, R_TEXT,
	     R_RANDOM };

static const struct reply_kind replies[] = {
	[R_NONE] =	{ NULL, 0, NULL },
	[R_KEY] =	{ parse_key, sizeof(struct hsm_key), "key bundle" },
	/* pages: list_all() reads them */
	[R_LIST] =	{ NULL, sizeof(struct hsm_key_list), "list" },
	[R_RESULT] =	{ parse_result, sizeof(struct hsm_result), "operation" },
	[R_VERIFY] =	{ parse_verify, sizeof(bool), "verify" },
	[R_VALUE] =	{ parse_value, sizeof(char *), "backup" },
	[R_TEXT] =	{ parse_text, sizeof(char *), NULL },
	[R_RANDOM] =	{ parse_random, 0, "random bytes" },
};

/*
 * One REST operation.  path: %n the key name, %v the version ("" for the
 * latest), %V "/version" (nothing for the latest: /keys/NAME/OP is the
 * latest version, managed-hsm-api.md §1.1).  An operation whose path has
 * no %n needs no name.
 */
struct op {
	const char *method;
	const char *path;
	bool replay_safe;	/* may be sent again after it may have been
				 * applied: create, import, restore and
				 * rotate may not (hsm_client.h) */
	bool secret;		/* body or reply carry key material: wiped */
	bool body;		/* has a body: a NULL one is out of memory */
	enum reply reply;
};

enum op_id {
	OP_LIST_KEYS, OP_LIST_VERSIONS, OP_LIST_DELETED, OP_GET, OP_GET_DELETED,
	OP_CREATE, OP_IMPORT, OP_UPDATE, OP_DELETE, OP_RECOVER, OP_PURGE,
	OP_BACKUP, OP_RESTORE, OP_ROTATE, OP_SET_POLICY, OP_GET_POLICY,
	OP_SIGN, OP_VERIFY, OP_ENCRYPT, OP_DECRYPT, OP_WRAP, OP_UNWRAP,
	OP_RANDOM,
};

#define LIST_PAGE "?maxresults=" PAGE_SIZE
static const struct op ops[] = {
	/*                     method    path                            replay secret body   reply */
	[OP_LIST_KEYS] =     { "GET",    "/keys" LIST_PAGE,              true,  false, false, R_LIST },
	[OP_LIST_VERSIONS] = { "GET",    "/keys/%n/versions" LIST_PAGE,  true,  false, false, R_LIST },
	[OP_LIST_DELETED] =  { "GET",    "/deletedkeys" LIST_PAGE,       true,  false, false, R_LIST },
	[OP_GET] =           { "GET",    "/keys/%n/%v",                  true,  false, false, R_KEY },
	[OP_GET_DELETED] =   { "GET",    "/deletedkeys/%n",              true,  false, false, R_KEY },
	[OP_CREATE] =        { "POST",   "/keys/%n/create",              false, false, true,  R_KEY },
	[OP_IMPORT] =        { "PUT",    "/keys/%n",                     false, true,  true,  R_KEY },
	[OP_UPDATE] =        { "PATCH",  "/keys/%n/%v",                  true,  false, true,  R_KEY },
	[OP_DELETE] =        { "DELETE", "/keys/%n",                     true,  false, false, R_KEY },
	[OP_RECOVER] =       { "POST",   "/deletedkeys/%n/recover",      true,  false, false, R_KEY },
	[OP_PURGE] =         { "DELETE", "/deletedkeys/%n",              true,  false, false, R_NONE },
	[OP_BACKUP] =        { "POST",   "/keys/%n/backup",              true,  false, false, R_VALUE },
	[OP_RESTORE] =       { "POST",   "/keys/restore",                false, false, true,  R_KEY },
	[OP_ROTATE] =        { "POST",   "/keys/%n/rotate",              false, false, false, R_KEY },
	[OP_SET_POLICY] =    { "PUT",    "/keys/%n/rotationpolicy",      true,  false, true,  R_TEXT },
	[OP_GET_POLICY] =    { "GET",    "/keys/%n/rotationpolicy",      true,  false, false, R_TEXT },
	[OP_SIGN] =          { "POST",   "/keys/%n%V/sign",              true,  false, true,  R_RESULT },
	[OP_VERIFY] =        { "POST",   "/keys/%n%V/verify",            true,  false, true,  R_VERIFY },
	[OP_ENCRYPT] =       { "POST",   "/keys/%n%V/encrypt",           true,  true,  true,  R_RESULT },
	[OP_DECRYPT] =       { "POST",   "/keys/%n%V/decrypt",           true,  true,  true,  R_RESULT },
	[OP_WRAP] =          { "POST",   "/keys/%n%V/wrapkey",           true,  true,  true,  R_RESULT },
	[OP_UNWRAP] =        { "POST",   "/keys/%n%V/unwrapkey",         true,  true,  true,  R_RESULT },
	[OP_RANDOM] =        { "POST",   "/rng",                         true,  true,  true,  R_RANDOM },
};
#undef LIST_PAGE

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

/* The path of op for name and version (checked already). */
static void op_path(char *buf, size_t n, const struct op *op,
		    const char *name, const char *version)
{
	const char *v = version ? version : "";
	size_t len = 0;

	buf[0] = 0;
	for (const char *p = op->path; *p && len + 1 < n; p++) {
		if (*p != '%') {
			buf[len++] = *p;
			buf[len] = 0;
			continue;
		}
		p++;
		if (*p == 'n')
			snprintf(buf + len, n - len, "%s", name);
		else if (*p == 'v' || (*p == 'V' && *v))
			snprintf(buf + len, n - len, "%s%s", *p == 'V' ? "/" : "",
				 v);
		len = strlen(buf);
	}
}

static enum hsm_status request(struct ctx *x, const struct op *op,
			       const char *path, const char *body,
			       struct http_resp *resp)
{
	struct http_req req = {
		.method = op->method, .path = path, .body = body,
		.body_len = body ? strlen(body) : 0, .secret = op->secret,
		.replay_safe = op->replay_safe,
	};

	return call_request(x->c, x->call, &req, resp, x->err, x->deadline);
}

/*
 * The opening of every typed call: the context, the output emptied, and
 * the client, key name and version checked (the name only when the path
 * has one).
 */
static enum hsm_status op_open(struct ctx *x, struct hsm_client *c,
			       struct hsm_call *call, enum op_id id,
			       const char *name, const char *version, void *out)
{
	const struct op *op = &ops[id];

	ctx_init(x, c, call);
	if (out)
		memset(out, 0, replies[op->reply].out_size);
	if (!strstr(op->path, "%n"))
		return c ? HSM_OK : bad(x, HSM_E_INVALID, "no client");
	return check_name(x, name, version);
}

/*
 * The rest of it: send op with body (which this frees, wiped when the op
 * is secret; NULL when it has none) and read the reply into out.
 */
static enum hsm_status op_run(struct ctx *x, enum op_id id, const char *name,
			      const char *version, char *body, void *out)
{
	const struct op *op = &ops[id];
	const struct reply_kind *rk = &replies[op->reply];
	struct http_resp r;
	char path[256];
	enum hsm_status st;

	if (op->body && !body)
		return bad(x, HSM_E_NOMEM, "out of memory");
	op_path(path, sizeof(path), op, name, version);
	st = request(x, op, path, body, &r);
	if (body && op->secret)
		secret_wipe_free(body, strlen(body));
	else
		free(body);
	if (st != HSM_OK)
		return st;
	st = rk->parse ? rk->parse(r.body, r.len, out) : HSM_OK;
	http_resp_cleanup(&r);
	if (st == HSM_OK)
		return HSM_OK;
	return rk->what ? parse_failed(x, st, rk->what) :
			  bad(x, st, "out of memory");
}

/*
 * nextLink is absolute on the service's host.  Follow it only when it
 * starts with one of our base URLs (the bearer token goes nowhere else),
 * as a path relative to the URL in use, so failover keeps working.
 */
const char *client_link_path(const struct hsm_client *c, const char *link)
{
	for (size_t i = 0; i < c->n_urls; i++) {
		size_t n = strlen(c->urls[i]);

		if (!strncasecmp(link, c->urls[i], n) &&
		    (link[n] == '/' || link[n] == '?'))
			return link + n;
	}
	return NULL;
}

/* Every page of a list operation, from its first path on. */
static enum hsm_status list_all(struct ctx *x, enum op_id id, const char *name,
				struct hsm_key_list *out)
{
	char *path = malloc(256), *next = NULL;
	enum hsm_status st = HSM_OK;

	memset(out, 0, sizeof(*out));
	if (!path)
		return bad(x, HSM_E_NOMEM, "out of memory");
	op_path(path, 256, &ops[id], name, NULL);
	while (path) {
		struct http_resp r;
		const char *p;

		st = request(x, &ops[id], path, NULL, &r);
		free(path);
		path = NULL;
		if (st != HSM_OK)
			break;
		st = jm_parse_list(r.body, r.len, out, &next);
		http_resp_cleanup(&r);
		if (st != HSM_OK) {
			parse_failed(x, st, replies[R_LIST].what);
			break;
		}
		if (!next)
			break;
		p = client_link_path(x->c, next);
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

static enum hsm_status list_op(struct hsm_client *c, struct hsm_call *call,
			       enum op_id id, const char *name,
			       struct hsm_key_list *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, id, name, NULL, out);

	return st == HSM_OK ? list_all(&x, id, name, out) : st;
}

enum hsm_status hsm_list_keys(struct hsm_client *c, struct hsm_call *call,
			      struct hsm_key_list *out)
{
	return list_op(c, call, OP_LIST_KEYS, NULL, out);
}

enum hsm_status hsm_list_versions(struct hsm_client *c, struct hsm_call *call,
				  const char *name, struct hsm_key_list *out)
{
	return list_op(c, call, OP_LIST_VERSIONS, name, out);
}

enum hsm_status hsm_list_deleted(struct hsm_client *c, struct hsm_call *call,
				 struct hsm_key_list *out)
{
	return list_op(c, call, OP_LIST_DELETED, NULL, out);
}

/* The operations on one key that send nothing but its name (and
 * version). */
static enum hsm_status key_op(struct hsm_client *c, struct hsm_call *call,
			      enum op_id id, const char *name,
			      const char *version, void *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, id, name, version, out);

	return st == HSM_OK ? op_run(&x, id, name, version, NULL, out) : st;
}

enum hsm_status hsm_get_key(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    struct hsm_key *out)
{
	return key_op(c, call, OP_GET, name, version, out);
}

enum hsm_status hsm_get_deleted(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out)
{
	return key_op(c, call, OP_GET_DELETED, name, NULL, out);
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
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_CREATE, name, NULL, out);

	if (st != HSM_OK)
		return st;
	if (!valid_create(p))
		return bad(&x, HSM_E_INVALID,
			   "invalid key parameters (type, size or tags)");
	return op_run(&x, OP_CREATE, name, NULL, jm_build_create(p), out);
}

enum hsm_status hsm_import_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *jwk_json,
			       const struct hsm_create *attrs,
			       struct hsm_key *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_IMPORT, name, NULL, out);
	bool badjson = false;
	char *body;

	if (st != HSM_OK)
		return st;
	if (!jwk_json || (attrs && !valid_create(attrs)))
		return bad(&x, HSM_E_INVALID, "invalid import parameters");
	body = jm_build_import(jwk_json, attrs, &badjson);
	if (!body && badjson)
		return bad(&x, HSM_E_INVALID, "the key to import is not a JSON object (JWK)");
	return op_run(&x, OP_IMPORT, name, NULL, body, out);
}

enum hsm_status hsm_update_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_update *u, struct hsm_key *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_UPDATE, name, version, out);

	if (st != HSM_OK)
		return st;
	if (!u)
		return bad(&x, HSM_E_INVALID, "nothing to update");
	for (size_t i = 0; u->has_tags && i < u->n_tags; i++)
		if (!u->tags || !u->tags[i].name)
			return bad(&x, HSM_E_INVALID, "tag without a name");
	return op_run(&x, OP_UPDATE, name, version, jm_build_update(u), out);
}

enum hsm_status hsm_delete_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out_deleted)
{
	struct hsm_key tmp;
	enum hsm_status st;

	st = key_op(c, call, OP_DELETE, name, NULL,
		    out_deleted ? out_deleted : &tmp);
	if (st == HSM_OK && !out_deleted)
		hsm_key_cleanup(&tmp);
	return st;
}

enum hsm_status hsm_recover_key(struct hsm_client *c, struct hsm_call *call,
				const char *name, struct hsm_key *out)
{
	return key_op(c, call, OP_RECOVER, name, NULL, out);
}

enum hsm_status hsm_purge_key(struct hsm_client *c, struct hsm_call *call,
			      const char *name)
{
	return key_op(c, call, OP_PURGE, name, NULL, NULL);
}

enum hsm_status hsm_backup_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, char **blob)
{
	return key_op(c, call, OP_BACKUP, name, NULL, blob);
}

enum hsm_status hsm_restore_key(struct hsm_client *c, struct hsm_call *call,
				const char *blob, struct hsm_key *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_RESTORE, NULL, NULL, out);

	if (st != HSM_OK)
		return st;
	if (!blob || !*blob)
		return bad(&x, HSM_E_INVALID, "empty backup blob");
	return op_run(&x, OP_RESTORE, NULL, NULL, jm_build_value(blob), out);
}

enum hsm_status hsm_rotate_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, struct hsm_key *out)
{
	return key_op(c, call, OP_ROTATE, name, NULL, out);
}

enum hsm_status hsm_set_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					const char *policy_json, char **out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_SET_POLICY, name, NULL,
				     out);
	bool badjson = false;
	char *body;

	if (st != HSM_OK)
		return st;
	body = policy_json ? jm_normalize(policy_json, &badjson) : NULL;
	if (!body && (badjson || !policy_json))
		return bad(&x, HSM_E_INVALID, "the rotation policy is not JSON");
	return op_run(&x, OP_SET_POLICY, name, NULL, body, out);
}

enum hsm_status hsm_get_rotation_policy(struct hsm_client *c,
					struct hsm_call *call, const char *name,
					char **out)
{
	return key_op(c, call, OP_GET_POLICY, name, NULL, out);
}

/* ---------------------------------------------------------- operations */

enum hsm_status hsm_sign(struct hsm_client *c, struct hsm_call *call,
			 const char *name, const char *version, const char *alg,
			 const uint8_t *digest, size_t len,
			 struct hsm_result *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_SIGN, name, version, out);

	if (st != HSM_OK)
		return st;
	if (!alg || !*alg || (!digest && len))
		return bad(&x, HSM_E_INVALID, "sign needs an algorithm and a digest");
	return op_run(&x, OP_SIGN, name, version,
		      jm_build_sign(alg, digest ? digest : (const uint8_t *)"",
				    len, NULL, 0), out);
}

enum hsm_status hsm_verify(struct hsm_client *c, struct hsm_call *call,
			   const char *name, const char *version,
			   const char *alg, const uint8_t *digest, size_t dlen,
			   const uint8_t *sig, size_t sig_len, bool *valid)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, OP_VERIFY, name, version,
				     valid);

	if (st != HSM_OK)
		return st;
	if (!alg || !*alg || (!digest && dlen) || (!sig && sig_len))
		return bad(&x, HSM_E_INVALID, "verify needs an algorithm, a digest and a signature");
	return op_run(&x, OP_VERIFY, name, version,
		      jm_build_sign(alg, digest ? digest : (const uint8_t *)"",
				    dlen, sig ? sig : (const uint8_t *)"",
				    sig_len), valid);
}

static enum hsm_status crypt_op(struct hsm_client *c, struct hsm_call *call,
				enum op_id id, const char *name,
				const char *version, const struct hsm_crypt *in,
				struct hsm_result *out)
{
	struct ctx x;
	enum hsm_status st = op_open(&x, c, call, id, name, version, out);

	if (st != HSM_OK)
		return st;
	if (!in || !in->alg || !*in->alg || (!in->value && in->len) ||
	    (in->iv_len && !in->iv) || (in->aad_len && !in->aad) ||
	    (in->tag_len && !in->tag))
		return bad(&x, HSM_E_INVALID, "missing algorithm or input");
	return op_run(&x, id, name, version, jm_build_crypt(in), out);
}

enum hsm_status hsm_encrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, OP_ENCRYPT, name, version, in, out);
}

enum hsm_status hsm_decrypt(struct hsm_client *c, struct hsm_call *call,
			    const char *name, const char *version,
			    const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, OP_DECRYPT, name, version, in, out);
}

enum hsm_status hsm_wrap_key(struct hsm_client *c, struct hsm_call *call,
			     const char *name, const char *version,
			     const struct hsm_crypt *in, struct hsm_result *out)
{
	return crypt_op(c, call, OP_WRAP, name, version, in, out);
}

enum hsm_status hsm_unwrap_key(struct hsm_client *c, struct hsm_call *call,
			       const char *name, const char *version,
			       const struct hsm_crypt *in,
			       struct hsm_result *out)
{
	return crypt_op(c, call, OP_UNWRAP, name, version, in, out);
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
		struct rng_out chunk = {
			buf + done, count - done > RNG_CHUNK ? RNG_CHUNK :
			count - done,
		};

		st = op_run(&x, OP_RANDOM, NULL, NULL,
			    jm_build_count((unsigned)chunk.n), &chunk);
		if (st != HSM_OK)
			break;
		done += chunk.n;
	}
	if (st != HSM_OK && buf)
		secret_wipe(buf, count);
	return st;
}
