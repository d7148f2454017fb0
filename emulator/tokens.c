/*
 * tokens.c - the token endpoints (Entra ID client credentials with a
 * secret, a certificate assertion or a federated token; IMDS; App
 * Service; the JWKS and OpenID discovery documents), as in
 * docs/contracts.md and managed-hsm-api.md §6.  The JWTs they hand out
 * and the assertions they check are jwt.c's.
 *
 * Tokens and secrets never reach the log or an error message; decoded
 * form values that may hold a secret are wiped before they are freed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "codec.h"
#include "http_i.h"
#include "jwt_i.h"
#include "secret.h"
#include "tokens_i.h"
#include "uuid_i.h"

#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---- form bodies -------------------------------------------------------- */

/* The decoded value of name in an application/x-www-form-urlencoded body,
 * malloc()ed (wipe it when it may be a secret); NULL when absent. */
static char *form_get(const char *body, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(fe - p));

		if (eq != NULL && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
			char *out = malloc((size_t)(fe - eq)), *o = out;
			if (out == NULL)
				return NULL;
			for (const char *q = eq + 1; q < fe; q++) {
				int h, l;
				if (*q == '+') {
					*o++ = ' ';
				} else if (*q == '%' && fe - q > 2 &&
					   (h = hex_digit_value(q[1])) >= 0 && (l = hex_digit_value(q[2])) >= 0) {
					*o++ = (char)(h * 16 + l);
					q += 2;
				} else {
					*o++ = *q;
				}
			}
			*o = '\0';
			return out;
		}
		p = fe + 1;
	}
	return NULL;
}

static void wipe_free(char *s)
{
	if (s != NULL)
		secret_wipe_free(s, strlen(s));
}

/* ---- responses ---------------------------------------------------------- */

/* Entra's error shape: error, error_description "AADSTSnnn: ...",
 * error_codes, timestamp, trace_id, correlation_id. */
static void aad_error(struct http_resp *resp, int status, const char *error,
		      long code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void aad_error(struct http_resp *resp, int status, const char *error,
		      long code, const char *fmt, ...)
{
	json_object *o = json_object_new_object(), *codes = json_object_new_array();
	char msg[600], desc[900], trace[37], corr[37], ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emu_uuid(trace);
	emu_uuid(corr);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%SZ", &tm);
	snprintf(desc, sizeof(desc), "AADSTS%ld: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
		 code, msg, trace, corr, ts);
	resp->token_style = true;
	if (o == NULL || codes == NULL) {
		json_object_put(o);
		json_object_put(codes);
		http_resp_json(resp, 500, NULL);
		return;
	}
	json_object_array_add(codes, json_object_new_int64(code));
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "error_description", json_object_new_string(desc));
	json_object_object_add(o, "error_codes", codes);
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "trace_id", json_object_new_string(trace));
	json_object_object_add(o, "correlation_id", json_object_new_string(corr));
	http_resp_json(resp, status, o);
}

/* The simpler {"error","error_description"} of IMDS and App Service. */
static void mi_error(struct http_resp *resp, int status, const char *error,
		     const char *desc)
{
	json_object *o = json_object_new_object();

	resp->token_style = true;
	if (o != NULL) {
		json_object_object_add(o, "error", json_object_new_string(error));
		json_object_object_add(o, "error_description", json_object_new_string(desc));
	}
	http_resp_json(resp, status, o);
}
/* ---- endpoints ---------------------------------------------------------- */

/* The members of a client credentials request (decoded; the secret and
 * the assertion are wiped when freed). */
struct entra_form {
	char *grant, *client_id, *scope, *secret, *atype, *assertion;
};

static void form_read(const struct http_req *req, struct entra_form *f)
{
	f->grant = form_get(req->body, req->body_len, "grant_type");
	f->client_id = form_get(req->body, req->body_len, "client_id");
	f->scope = form_get(req->body, req->body_len, "scope");
	f->secret = form_get(req->body, req->body_len, "client_secret");
	f->atype = form_get(req->body, req->body_len, "client_assertion_type");
	f->assertion = form_get(req->body, req->body_len, "client_assertion");
}

static void form_free(struct entra_form *f)
{
	free(f->grant);
	free(f->client_id);
	free(f->scope);
	free(f->atype);
	wipe_free(f->secret);
	wipe_free(f->assertion);
}

/* Check grant_type, client_id and scope; returns the audience the scope
 * names (malloc()ed), or NULL with resp filled. */
static char *check_form(const struct entra_form *f, struct http_resp *resp)
{
	char *aud;
	size_t sl;

	if (f->grant == NULL || strcmp(f->grant, "client_credentials") != 0) {
		aad_error(resp, 400, f->grant ? "unsupported_grant_type" : "invalid_request",
			  f->grant ? 70003L : 900144L,
			  f->grant ? "The app requested an unsupported grant type; only client_credentials is supported."
				   : "The request body must contain the following parameter: 'grant_type'.");
		return NULL;
	}
	if (f->client_id == NULL || *f->client_id == '\0') {
		aad_error(resp, 400, "invalid_request", 900144,
			  "The request body must contain the following parameter: 'client_id'.");
		return NULL;
	}
	if (f->scope == NULL) {
		aad_error(resp, 400, "invalid_request", 900144,
			  "The request body must contain the following parameter: 'scope'.");
		return NULL;
	}
	sl = strlen(f->scope);
	if (sl <= 9 || strcmp(f->scope + sl - 9, "/.default") != 0 ||
	    strchr(f->scope, ' ') != NULL || strncmp(f->scope, "https://", 8) != 0) {
		aad_error(resp, 400, "invalid_scope", 1002012,
			  "The provided value for scope %.128s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
			  f->scope);
		return NULL;
	}
	aud = strndup(f->scope, sl - 9);
	if (aud == NULL)
		http_resp_json(resp, 500, NULL);
	return aud;
}

/* Check client e's credential: its secret or a client assertion.  0, or
 * -1 with resp filled. */
static int check_credential(struct emu_server *srv, const struct emu_identity *e,
			    const struct entra_form *f, const char *tenant,
			    struct http_resp *resp)
{
	const char *why;
	long code;

	if (f->secret != NULL) {
		if (e->secret == NULL || strlen(f->secret) != strlen(e->secret) ||
		    CRYPTO_memcmp(f->secret, e->secret, strlen(f->secret)) != 0) {
			aad_error(resp, 401, "invalid_client", 7000215,
				  "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%.64s'.",
				  e->client_id);
			return -1;
		}
		return 0;
	}
	if (f->assertion == NULL) {
		aad_error(resp, 401, "invalid_client", 7000216,
			  "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
		return -1;
	}
	if (f->atype == NULL || strcmp(f->atype, JWT_BEARER) != 0) {
		aad_error(resp, 400, "invalid_request", 50027,
			  "client_assertion_type must be " JWT_BEARER ".");
		return -1;
	}
	why = jwt_check_assertion(srv, e, f->assertion, tenant, &code);
	if (why != NULL) {
		aad_error(resp, 401, "invalid_client", code, "%s", why);
		return -1;
	}
	return 0;
}

void tokens_handle_entra(struct emu_server *srv, const struct http_req *req,
			 const char *tenant, struct http_resp *resp)
{
	struct entra_form f;
	const struct emu_identity *e;
	char *jwt = NULL, *aud = NULL;
	json_object *o;
	long lifetime;
	int64_t now;

	if (strcmp(tenant, EMU_TENANT) != 0) {
		aad_error(resp, 400, "invalid_request", 90002,
			  "Tenant '%.64s' not found. Check to make sure you have the correct tenant ID.",
			  tenant);
		return;
	}
	form_read(req, &f);
	aud = check_form(&f, resp);
	if (aud == NULL)
		goto out;
	e = identities_client(srv->ids, f.client_id);
	if (e == NULL) {
		aad_error(resp, 400, "unauthorized_client", 700016,
			  "Application with identifier '%.64s' was not found in the directory '%s'.",
			  f.client_id, EMU_TENANT);
		goto out;
	}
	if (check_credential(srv, e, &f, tenant, resp) != 0)
		goto out;
	jwt = jwt_issue(srv, e, aud, &lifetime, &now);
	o = json_object_new_object();
	if (jwt == NULL || o == NULL) {
		json_object_put(o);
		http_resp_json(resp, 500, NULL);
		goto out;
	}
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(lifetime));
	json_object_object_add(o, "ext_expires_in", json_object_new_int64(lifetime));
	json_object_object_add(o, "access_token", json_object_new_string(jwt));
	resp->token_style = true;
	http_resp_json(resp, 200, o);
out:
	form_free(&f);
	free(aud);
	wipe_free(jwt);
}

/* Shared part of IMDS and App Service: pick the identity, issue. */
static void managed_token(struct emu_server *srv, const struct http_req *req,
			  bool imds, struct http_resp *resp)
{
	const char *resource = http_query(req, "resource");
	const char *client_id = http_query(req, "client_id");
	const struct emu_identity *e;
	json_object *o;
	char num[24], *jwt;
	long lifetime;
	int64_t now;

	if (http_query(req, "api-version") == NULL) {
		mi_error(resp, 400, "invalid_request", "Required query variable 'api-version' is missing");
		return;
	}
	if (resource == NULL || *resource == '\0') {
		mi_error(resp, 400, "invalid_request", "Required query variable 'resource' is missing");
		return;
	}
	if (http_query(req, "object_id") || http_query(req, "msi_res_id") ||
	    http_query(req, "mi_res_id") || http_query(req, "principal_id")) {
		mi_error(resp, 400, "invalid_request",
			 "Identity not found: the emulator selects managed identities by client_id only");
		return;
	}
	e = identities_managed(srv->ids, client_id);
	if (e == NULL) {
		mi_error(resp, 400, "invalid_request", "Identity not found");
		return;
	}
	jwt = jwt_issue(srv, e, resource, &lifetime, &now);
	o = json_object_new_object();
	if (jwt == NULL || o == NULL) {
		json_object_put(o);
		wipe_free(jwt);
		http_resp_json(resp, 500, NULL);
		return;
	}
	json_object_object_add(o, "access_token", json_object_new_string(jwt));
	if (imds) {
		json_object_object_add(o, "refresh_token", json_object_new_string(""));
		snprintf(num, sizeof(num), "%ld", lifetime);
		json_object_object_add(o, "expires_in", json_object_new_string(num));
	}
	snprintf(num, sizeof(num), "%lld", (long long)(now + lifetime));
	json_object_object_add(o, "expires_on", json_object_new_string(num));
	if (imds) {
		snprintf(num, sizeof(num), "%lld", (long long)now);
		json_object_object_add(o, "not_before", json_object_new_string(num));
	}
	json_object_object_add(o, "resource", json_object_new_string(resource));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "client_id", json_object_new_string(e->client_id));
	resp->token_style = true;
	http_resp_json(resp, 200, o);
	wipe_free(jwt);
}

void tokens_handle_imds(struct emu_server *srv, const struct http_req *req,
			struct http_resp *resp)
{
	const char *md = http_header(req, "Metadata");

	if (md == NULL || strcmp(md, "true") != 0) {
		mi_error(resp, 400, "bad_request_102", "Required metadata header not specified");
		return;
	}
	managed_token(srv, req, true, resp);
}

void tokens_handle_appservice(struct emu_server *srv,
			      const struct http_req *req,
			      struct http_resp *resp)
{
	const char *h = http_header(req, "X-IDENTITY-HEADER");
	const char *want = identities_header(srv->ids);

	if (h == NULL) {
		mi_error(resp, 400, "invalid_request",
			 "The X-IDENTITY-HEADER request header is required.");
		return;
	}
	if (strlen(h) != strlen(want) || CRYPTO_memcmp(h, want, strlen(h)) != 0) {
		mi_error(resp, 401, "unauthorized_client",
			 "The X-IDENTITY-HEADER request header does not match the identity header of this environment.");
		return;
	}
	managed_token(srv, req, false, resp);
}
void tokens_handle_jwks(struct emu_server *srv, struct http_resp *resp)
{
	json_object *o = jwt_jwks(srv->tok);

	resp->token_style = true;
	http_resp_json(resp, o ? 200 : 500, o);
}

void tokens_handle_openid(struct emu_server *srv, const char *tenant,
			  struct http_resp *resp)
{
	/* Enough of the discovery document for MSAL-based credentials that
	 * look the token endpoint up before using it. */
	json_object *o = json_object_new_object();
	char buf[400];

	if (o == NULL) {
		http_resp_json(resp, 500, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%s/%s/oauth2/v2.0/token", srv->base_url, tenant);
	json_object_object_add(o, "token_endpoint", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%s/%s/oauth2/v2.0/authorize", srv->base_url, tenant);
	json_object_object_add(o, "authorization_endpoint", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%s/%s/v2.0", srv->base_url, tenant);
	json_object_object_add(o, "issuer", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%s/%s/discovery/v2.0/keys", srv->base_url, tenant);
	json_object_object_add(o, "jwks_uri", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%s/%s/oauth2/v2.0/devicecode", srv->base_url, tenant);
	json_object_object_add(o, "device_authorization_endpoint", json_object_new_string(buf));
	json_object_object_add(o, "tenant_region_scope", json_object_new_string("EU"));
	resp->token_style = true;
	http_resp_json(resp, 200, o);
}
