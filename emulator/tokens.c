/*
 * tokens.c - JWT access tokens and the token endpoints (Entra ID client
 * credentials with a secret, a certificate assertion or a federated token;
 * IMDS; App Service), as in docs/contracts.md and managed-hsm-api.md §6.
 *
 * Tokens and secrets never reach the log or an error message; decoded
 * form values that may hold a secret are wiped before they are freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "admin_i.h"
#include "alg.h"
#include "codec.h"
#include "digest.h"
#include "pkey.h"
#include "pkop.h"
#include "secret.h"
#include "http_i.h"
#include "keys_json_i.h"
#include "tls_i.h"
#include "tokens_i.h"
#include "uuid_i.h"

#define CLOCK_SKEW 300		/* seconds of nbf/iat tolerance, as Entra */
#define FEDERATED_LIFETIME 3600
#define FEDERATED_AUD "api://AzureADTokenExchange"
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define JWT_MAX 16384		/* longer bearer tokens are not ours */

/* Tokens this worker thread validated lately: a bearer token is reused
 * for an hour, and checking it again (base64, RSA verify, JSON) would cost
 * more than the operation it authorises.  Per thread, so no lock. */
#define TOK_CACHE 4
struct tok_cache {
	struct {
		char *jwt;		/* wiped when evicted */
		size_t len;
		int64_t nbf, exp;
		const struct emu_identity *who;
	} e[TOK_CACHE];
	unsigned next;
};

struct tokens {
	pthread_key_t cache_key;	/* struct tok_cache * per thread */
	bool has_key;
	EVP_PKEY *key;			/* RS256 signing key */
	const struct alg_info *rs256;
	const struct alg_info *ps256;
	char kid[48];
};

/* ---- key ---------------------------------------------------------------- */

static void cache_free(void *p)
{
	struct tok_cache *c = p;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < TOK_CACHE; i++)
		if (c->e[i].jwt != NULL)
			secret_wipe_free(c->e[i].jwt, c->e[i].len);
	free(c);
}

struct tokens *tokens_new(const char *dir, char *err, size_t errlen)
{
	struct tokens *tk = calloc(1, sizeof(*tk));
	char path[4200];
	uint8_t *der = NULL, h[DIGEST_MAX];
	size_t len = 0;
	char *file = NULL, *kid;
	int rc;

	if (tk == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (pthread_key_create(&tk->cache_key, cache_free) != 0) {
		snprintf(err, errlen, "cannot create a thread key");
		goto fail;
	}
	tk->has_key = true;
	tk->rs256 = alg_by_name("RS256");
	tk->ps256 = alg_by_name("PS256");
	if (tk->rs256 == NULL || tk->ps256 == NULL) {
		snprintf(err, errlen, "the algorithm table lacks RS256/PS256");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/tls", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	/* PKCS#8 DER, kept so that tokens survive a restart. */
	snprintf(path, sizeof(path), "%s/tls/token-signing.key", dir);
	file = tls_read_file(path, &len);
	if (file != NULL) {
		rc = pkey_from_private_der((const uint8_t *)file, len, &tk->key);
		secret_wipe_free(file, len);
		if (rc != 0) {
			snprintf(err, errlen, "%s is not a PKCS#8 key (delete it to make a new one)", path);
			goto fail;
		}
	} else if (errno == ENOENT) {
		rc = pkey_generate_rsa(2048, 65537, &tk->key);
		if (rc == 0)
			rc = pkey_private_der(tk->key, &der, &len);
		if (rc != 0) {
			snprintf(err, errlen, "cannot create the token signing key: %s", strerror(-rc));
			goto fail;
		}
		rc = tls_write_file(path, der, len, 0600);
		secret_wipe_free(der, len);
		der = NULL;
		if (rc != 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			goto fail;
		}
	} else {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	/* kid: a thumbprint of the public key, as Entra's are. */
	if (pkey_public_der(tk->key, &der, &len) != 0 ||
	    digest_oneshot(tk->rs256, der, len, h) < 0 ||
	    (kid = b64url_encode(h, 16)) == NULL) {
		free(der);
		snprintf(err, errlen, "cannot derive the token key id");
		goto fail;
	}
	free(der);
	snprintf(tk->kid, sizeof(tk->kid), "%s", kid);
	free(kid);
	return tk;
fail:
	tokens_free(tk);
	return NULL;
}

void tokens_free(struct tokens *tk)
{
	if (tk == NULL)
		return;
	if (tk->has_key) {
		/* Worker threads have exited (their caches are freed by the
		 * key's destructor); the calling thread may hold one too. */
		cache_free(pthread_getspecific(tk->cache_key));
		pthread_key_delete(tk->cache_key);
	}
	EVP_PKEY_free(tk->key);
	free(tk);
}

/* ---- JWT ---------------------------------------------------------------- */

static const char *json_str(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	return s;
}

/* header.payload.signature with RS256; takes ownership of claims. */
static char *jwt_sign(struct tokens *tk, json_object *claims)
{
	json_object *hdr = json_object_new_object();
	char *h64 = NULL, *p64 = NULL, *s64 = NULL, *out = NULL, *input = NULL;
	uint8_t d[DIGEST_MAX], *sig = NULL;
	size_t sig_len = 0, n;
	const char *s;
	int dl;

	if (hdr == NULL || claims == NULL)
		goto out;
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	json_object_object_add(hdr, "kid", json_object_new_string(tk->kid));
	s = json_str(hdr);
	h64 = s ? b64url_encode((const uint8_t *)s, strlen(s)) : NULL;
	s = json_str(claims);
	p64 = s ? b64url_encode((const uint8_t *)s, strlen(s)) : NULL;
	if (h64 == NULL || p64 == NULL)
		goto out;
	n = strlen(h64) + 1 + strlen(p64);
	input = malloc(n + 1);
	if (input == NULL)
		goto out;
	snprintf(input, n + 1, "%s.%s", h64, p64);
	dl = digest_oneshot(tk->rs256, input, n, d);
	if (dl < 0 || pk_sign(tk->key, tk->rs256, d, (size_t)dl, &sig, &sig_len) != 0)
		goto out;
	s64 = b64url_encode(sig, sig_len);
	if (s64 == NULL)
		goto out;
	out = malloc(n + 1 + strlen(s64) + 1);
	if (out != NULL)
		sprintf(out, "%s.%s", input, s64);
out:
	json_object_put(hdr);
	json_object_put(claims);
	free(h64);
	free(p64);
	free(s64);
	free(sig);
	free(input);
	return out;
}

static json_object *parse_json(const uint8_t *p, size_t len)
{
	json_tokener *t = json_tokener_new();
	json_object *o;

	if (t == NULL)
		return NULL;
	o = json_tokener_parse_ex(t, (const char *)p, (int)len);
	if (o != NULL && (json_tokener_get_error(t) != json_tokener_success ||
			  json_tokener_get_parse_end(t) != len ||
			  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(t);
	return o;
}

/* Split and decode a compact JWS.  On success *hdr and *claims are json-c
 * objects (put them), and the signature is verified with key and one of
 * the allowed algorithms (named in the header).  Returns 0 or -1. */
static int jwt_open(struct tokens *tk, const char *jwt, size_t len,
		    EVP_PKEY *key, bool allow_ps256,
		    json_object **hdr, json_object **claims)
{
	const char *d1, *d2;
	uint8_t *hb = NULL, *pb = NULL, *sb = NULL, dg[DIGEST_MAX];
	size_t hl, pl, sl;
	const struct alg_info *alg;
	const char *name;
	json_object *v;
	int dl, rc = -1;

	*hdr = *claims = NULL;
	if (len == 0 || len > JWT_MAX)
		return -1;
	d1 = memchr(jwt, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL)
		return -1;
	if (b64url_decode(jwt, (size_t)(d1 - jwt), &hb, &hl) != 0 ||
	    (*hdr = parse_json(hb, hl)) == NULL)
		goto out;
	if (!json_object_object_get_ex(*hdr, "alg", &v) ||
	    (name = json_object_get_string(v)) == NULL)
		goto out;
	if (strcmp(name, "RS256") == 0)
		alg = tk->rs256;
	else if (allow_ps256 && strcmp(name, "PS256") == 0)
		alg = tk->ps256;
	else
		goto out;
	if (b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), &sb, &sl) != 0)
		goto out;
	dl = digest_oneshot(alg, jwt, (size_t)(d2 - jwt), dg);
	if (dl < 0 || pk_verify(key, alg, dg, (size_t)dl, sb, sl) != 0)
		goto out;
	if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pb, &pl) != 0 ||
	    (*claims = parse_json(pb, pl)) == NULL)
		goto out;
	rc = 0;
out:
	free(hb);
	free(pb);
	free(sb);
	if (rc != 0) {
		json_object_put(*hdr);
		json_object_put(*claims);
		*hdr = *claims = NULL;
	}
	return rc;
}

static bool claim_time(json_object *c, const char *name, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(c, name, &v))
		return false;
	/* NumericDate may have a fraction (RFC 7519 §2); MSAL sends one. */
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!(d > -1e15 && d < 1e15))
			return false;
		*out = (int64_t)d;
		return true;
	}
	if (!json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* a == b, ignoring one trailing '/' on either (resource URIs). */
static bool same_resource(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '/')
		la--;
	if (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

static void issuer(struct emu_server *srv, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s/v2.0", srv->base_url, EMU_TENANT);
}

/* Issue an access token for who with audience aud.  *lifetime receives
 * its lifetime and *now the issue time. */
static char *issue(struct emu_server *srv, const struct emu_identity *who,
		   const char *aud, long *lifetime, int64_t *now)
{
	json_object *c = json_object_new_object();
	char iss[256];
	char *jwt;

	*now = (int64_t)time(NULL);
	*lifetime = admin_token_lifetime(srv->adm);
	if (c == NULL)
		return NULL;
	issuer(srv, iss, sizeof(iss));
	json_object_object_add(c, "aud", json_object_new_string(aud));
	json_object_object_add(c, "iss", json_object_new_string(iss));
	json_object_object_add(c, "iat", json_object_new_int64(*now));
	json_object_object_add(c, "nbf", json_object_new_int64(*now));
	json_object_object_add(c, "exp", json_object_new_int64(*now + *lifetime));
	json_object_object_add(c, "appid", json_object_new_string(who->client_id));
	json_object_object_add(c, "appidacr", json_object_new_string(who->managed ? "2" : "1"));
	json_object_object_add(c, "idtyp", json_object_new_string("app"));
	json_object_object_add(c, "oid", json_object_new_string(who->oid));
	json_object_object_add(c, "sub", json_object_new_string(who->oid));
	json_object_object_add(c, "tid", json_object_new_string(EMU_TENANT));
	json_object_object_add(c, "ver", json_object_new_string("1.0"));
	if (who->managed) {
		char mirid[200];
		snprintf(mirid, sizeof(mirid),
			 "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/local/providers/Microsoft.ManagedIdentity/userAssignedIdentities/%s",
			 who->client_id);
		json_object_object_add(c, "xms_mirid", json_object_new_string(mirid));
	}
	jwt = jwt_sign(srv->tok, c);
	if (jwt != NULL)
		admin_count_token(srv->adm);
	return jwt;
}

static enum tok_result validate_full(struct emu_server *srv, const char *jwt,
				     size_t len, const struct emu_identity **who,
				     int64_t *nbf_out, int64_t *exp_out)
{
	json_object *hdr, *c;
	enum tok_result r = TOK_INVALID;
	const char *s, *appid;
	char iss[256];
	int64_t exp, nbf, now = (int64_t)time(NULL);

	*who = NULL;
	if (jwt_open(srv->tok, jwt, len, srv->tok->key, false, &hdr, &c) != 0)
		return TOK_INVALID;
	issuer(srv, iss, sizeof(iss));
	if ((s = jmember_str(c, "iss")) == NULL || strcmp(s, iss) != 0)
		goto out;
	if ((s = jmember_str(c, "aud")) == NULL || !same_resource(s, EMU_RESOURCE))
		goto out;
	if ((s = jmember_str(c, "tid")) == NULL || strcmp(s, EMU_TENANT) != 0)
		goto out;
	if ((appid = jmember_str(c, "appid")) == NULL)
		goto out;
	if (!claim_time(c, "exp", &exp) || !claim_time(c, "nbf", &nbf))
		goto out;
	*nbf_out = nbf;
	*exp_out = exp;
	if (nbf > now + CLOCK_SKEW)
		goto out;
	if (exp <= now) {
		r = TOK_EXPIRED;
		goto out;
	}
	*who = jmember_str(c, "xms_mirid") ? identities_managed(srv->ids, appid)
					 : identities_client(srv->ids, appid);
	if (*who != NULL)
		r = TOK_OK;
out:
	json_object_put(hdr);
	json_object_put(c);
	return r;
}

enum tok_result tokens_validate(struct emu_server *srv, const char *jwt,
				size_t len, const struct emu_identity **who)
{
	struct tokens *tk = srv->tok;
	struct tok_cache *c = pthread_getspecific(tk->cache_key);
	int64_t now = (int64_t)time(NULL), nbf = 0, exp = 0;
	enum tok_result r;
	unsigned i;

	if (c != NULL) {
		for (i = 0; i < TOK_CACHE; i++) {
			if (c->e[i].jwt == NULL || c->e[i].len != len ||
			    memcmp(c->e[i].jwt, jwt, len) != 0)
				continue;
			*who = NULL;
			if (c->e[i].nbf > now + CLOCK_SKEW)
				return TOK_INVALID;
			if (c->e[i].exp <= now)
				return TOK_EXPIRED;
			*who = c->e[i].who;
			return TOK_OK;
		}
	}
	r = validate_full(srv, jwt, len, who, &nbf, &exp);
	if (r != TOK_OK)
		return r;
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL || pthread_setspecific(tk->cache_key, c) != 0) {
			free(c);
			return r;	/* no cache: still a good answer */
		}
	}
	i = c->next++ % TOK_CACHE;
	if (c->e[i].jwt != NULL)
		secret_wipe_free(c->e[i].jwt, c->e[i].len);
	c->e[i].jwt = malloc(len);
	if (c->e[i].jwt != NULL) {
		memcpy(c->e[i].jwt, jwt, len);
		c->e[i].len = len;
		c->e[i].nbf = nbf;
		c->e[i].exp = exp;
		c->e[i].who = *who;
	}
	return r;
}

char *tokens_federated(struct emu_server *srv, const char *subject)
{
	json_object *c = json_object_new_object();
	int64_t now = (int64_t)time(NULL);
	char iss[200];

	if (c == NULL)
		return NULL;
	snprintf(iss, sizeof(iss), "%s/federation", srv->base_url);
	json_object_object_add(c, "iss", json_object_new_string(iss));
	json_object_object_add(c, "sub", json_object_new_string(subject));
	json_object_object_add(c, "aud", json_object_new_string(FEDERATED_AUD));
	json_object_object_add(c, "iat", json_object_new_int64(now));
	json_object_object_add(c, "nbf", json_object_new_int64(now));
	json_object_object_add(c, "exp", json_object_new_int64(now + FEDERATED_LIFETIME));
	return jwt_sign(srv->tok, c);
}

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

/* ---- client assertions -------------------------------------------------- */

static bool thumb_matches(const char *b64, const uint8_t *want, size_t wlen)
{
	uint8_t *got = NULL;
	size_t gl = 0;
	bool ok;

	if (b64 == NULL || b64url_decode(b64, strlen(b64), &got, &gl) != 0)
		return false;
	ok = gl == wlen && memcmp(got, want, wlen) == 0;
	free(got);
	return ok;
}

/* Check a certificate-signed client assertion or a federated token for
 * client e.  Returns NULL when it is good, else the AADSTS reason (with
 * *code set). */
static const char *check_assertion(struct emu_server *srv,
				   const struct emu_identity *e,
				   const char *assertion, const char *tenant,
				   long *code)
{
	json_object *hdr = NULL, *c = NULL;
	const char *why = NULL, *s;
	char want[400];
	int64_t exp, nbf, now = (int64_t)time(NULL);

	*code = 700027;
	if (e->cert_key != NULL &&
	    jwt_open(srv->tok, assertion, strlen(assertion), e->cert_key, true, &hdr, &c) == 0) {
		/* Matched the signature: the header must name this cert too. */
		if (!thumb_matches(jmember_str(hdr, "x5t#S256"), e->x5t_s256, 32) &&
		    !thumb_matches(jmember_str(hdr, "x5t"), e->x5t, 20)) {
			why = "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: the x5t or x5t#S256 header does not match the registered certificate.]";
			goto out;
		}
		snprintf(want, sizeof(want), "%s/%s/oauth2/v2.0/token", srv->base_url, tenant);
		if ((s = jmember_str(c, "aud")) == NULL || strcmp(s, want) != 0) {
			*code = 700016;
			why = "Invalid audience in the client assertion: it must be the token endpoint URL.";
			goto out;
		}
		if ((s = jmember_str(c, "iss")) == NULL || strcmp(s, e->client_id) != 0 ||
		    (s = jmember_str(c, "sub")) == NULL || strcmp(s, e->client_id) != 0) {
			*code = 700021;
			why = "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must be the client id).";
			goto out;
		}
	} else if (e->federated_subject != NULL &&
		   jwt_open(srv->tok, assertion, strlen(assertion), srv->tok->key, false, &hdr, &c) == 0) {
		snprintf(want, sizeof(want), "%s/federation", srv->base_url);
		if ((s = jmember_str(c, "iss")) == NULL || strcmp(s, want) != 0 ||
		    (s = jmember_str(c, "aud")) == NULL || strcmp(s, FEDERATED_AUD) != 0) {
			*code = 700211;
			why = "No matching federated identity record found for presented assertion issuer or audience.";
			goto out;
		}
		if ((s = jmember_str(c, "sub")) == NULL || strcmp(s, e->federated_subject) != 0) {
			*code = 700213;
			why = "No matching federated identity record found for presented assertion subject.";
			goto out;
		}
	} else {
		why = "Client assertion contains an invalid signature (or is not a JWT signed by the client's registered certificate or a federated token).";
		goto out;
	}
	if (!claim_time(c, "exp", &exp)) {
		why = "The client assertion has no exp claim.";
		goto out;
	}
	if (exp <= now) {
		*code = 700024;
		why = "Client assertion is not within its valid time range.";
		goto out;
	}
	if (claim_time(c, "nbf", &nbf) && nbf > now + CLOCK_SKEW) {
		*code = 700024;
		why = "Client assertion is not within its valid time range.";
		goto out;
	}
out:
	json_object_put(hdr);
	json_object_put(c);
	return why;
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
	why = check_assertion(srv, e, f->assertion, tenant, &code);
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
	jwt = issue(srv, e, aud, &lifetime, &now);
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
	jwt = issue(srv, e, resource, &lifetime, &now);
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
	struct bytes n = { 0 }, e = { 0 };
	json_object *o = NULL, *keys, *k;
	char *n64 = NULL, *e64 = NULL;

	if (pkey_rsa_public(srv->tok->key, &n, &e) != 0 ||
	    (n64 = b64url_encode(n.p, n.len)) == NULL ||
	    (e64 = b64url_encode(e.p, e.len)) == NULL)
		goto out;
	o = json_object_new_object();
	keys = json_object_new_array();
	k = json_object_new_object();
	if (o == NULL || keys == NULL || k == NULL) {
		json_object_put(keys);
		json_object_put(k);
		goto out;
	}
	json_object_object_add(k, "kty", json_object_new_string("RSA"));
	json_object_object_add(k, "use", json_object_new_string("sig"));
	json_object_object_add(k, "kid", json_object_new_string(srv->tok->kid));
	json_object_object_add(k, "n", json_object_new_string(n64));
	json_object_object_add(k, "e", json_object_new_string(e64));
	json_object_array_add(keys, k);
	json_object_object_add(o, "keys", keys);
out:
	bytes_free(&n);
	bytes_free(&e);
	free(n64);
	free(e64);
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
