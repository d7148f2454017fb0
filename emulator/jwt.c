/*
 * jwt.c - the emulator's JWTs: the token signing key (kept in
 * DIR/tls/token-signing.key), issuing and validating access tokens,
 * federated tokens, and checking client assertions, as in
 * docs/contracts.md and managed-hsm-api.md §6.  The token endpoints that
 * use them are in tokens.c.
 *
 * Tokens never reach the log or an error message; cached ones are wiped
 * when evicted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "admin_i.h"
#include "alg.h"
#include "codec.h"
#include "digest.h"
#include "jwt_i.h"
#include "keys_json_i.h"
#include "pkey.h"
#include "pkop.h"
#include "secret.h"
#include "tls_i.h"

#define CLOCK_SKEW 300		/* seconds of nbf/iat tolerance, as Entra */
#define FEDERATED_LIFETIME 3600
#define FEDERATED_AUD "api://AzureADTokenExchange"
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

struct tokens *jwt_new(const char *dir, char *err, size_t errlen)
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
	jwt_free(tk);
	return NULL;
}

void jwt_free(struct tokens *tk)
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

const char *jwt_resource(const struct emu_server *srv)
{
	return srv->flavor == FLAVOR_VAULT ? EMU_RESOURCE_VAULT : EMU_RESOURCE;
}

static void issuer(struct emu_server *srv, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s/v2.0", srv->base_url, EMU_TENANT);
}

/* Issue an access token for who with audience aud.  *lifetime receives
 * its lifetime and *now the issue time. */
char *jwt_issue(struct emu_server *srv, const struct emu_identity *who,
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
	if ((s = jmember_str(c, "aud")) == NULL || !same_resource(s, jwt_resource(srv)))
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

enum tok_result jwt_validate(struct emu_server *srv, const char *jwt,
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

char *jwt_federated(struct emu_server *srv, const char *subject)
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
const char *jwt_check_assertion(struct emu_server *srv,
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

json_object *jwt_jwks(struct tokens *tk)
{
	struct bytes n = { 0 }, e = { 0 };
	json_object *o = NULL, *keys, *k;
	char *n64 = NULL, *e64 = NULL;

	if (pkey_rsa_public(tk->key, &n, &e) != 0 ||
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
	json_object_object_add(k, "kid", json_object_new_string(tk->kid));
	json_object_object_add(k, "n", json_object_new_string(n64));
	json_object_object_add(k, "e", json_object_new_string(e64));
	json_object_array_add(keys, k);
	json_object_object_add(o, "keys", keys);
out:
	bytes_free(&n);
	bytes_free(&e);
	free(n64);
	free(e64);
	return o;
}
