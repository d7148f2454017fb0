/*
 * auth.c - the bearer token: its cache, the refresh schedule, the
 * service's challenge and the header line handed to call.c.
 *
 * This file is the only holder of the token.  It leaves here only inside
 * an "Authorization: Bearer ..." line that the caller wipes.  The
 * credential that fetches it (cred.c) is chosen in auth_new().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_i.h"
#include "cred_i.h"
#include "secret.h"
#include "util_i.h"

#define DEFAULT_RESOURCE "https://managedhsm.azure.net"

struct auth {
	struct cred *cred;		/* fetches the tokens */
	const struct log_sink *log;	/* the client's */
	uint64_t n_fetches;		/* token fetches; __atomic builtins */

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t cond;		/* signalled when a fetch ends */
	bool ready;			/* a challenge was seen */
	char tenant[128];
	char resource[256];
	char scope[300];
	struct secret *token;
	int64_t expires, refresh_at;	/* unix seconds */
	uint64_t gen;
	bool fetching;
};

enum hsm_status auth_new(const struct hsm_config *cfg, struct xport *xp,
			 const struct log_sink *log, struct auth **out,
			 char *err, size_t errlen)
{
	struct cred *c;
	struct auth *a;
	enum hsm_status st;

	*out = NULL;
	st = cred_new(cfg, xp, log, &c, err, errlen);
	if (st != HSM_OK)
		return st;
	if (!(a = calloc(1, sizeof(*a)))) {
		cred_free(c);
		snprintf(err, errlen, "out of memory");
		return HSM_E_NOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->cred = c;
	a->log = log;
	snprintf(a->resource, sizeof(a->resource), "%s", DEFAULT_RESOURCE);
	snprintf(a->scope, sizeof(a->scope), "%s/.default", DEFAULT_RESOURCE);
	*out = a;
	return HSM_OK;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	cred_free(a->cred);
	secret_free(a->token);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}

bool auth_ready(struct auth *a)
{
	bool r;

	/* Even a static token waits for a challenge: only the challenge's
	 * resource says which hosts may see it. */
	pthread_mutex_lock(&a->lock);
	r = a->ready;
	pthread_mutex_unlock(&a->lock);
	return r;
}

bool auth_resource(struct auth *a, char *out, size_t len)
{
	bool r;

	pthread_mutex_lock(&a->lock);
	r = a->ready;
	snprintf(out, len, "%s", r ? a->resource : "");
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* ---------------------------------------------------------- challenge */

/* Next auth-param of a challenge; false at the end. */
static bool next_param(const char **pp, char *name, size_t nlen, char *val,
		       size_t vlen)
{
	const char *p = *pp;
	size_t i = 0;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (!*p)
		return false;
	while (*p && *p != '=' && *p != ' ' && *p != ',') {
		if (i + 1 < nlen)
			name[i++] = *p;
		p++;
	}
	name[i] = 0;
	while (*p == ' ')
		p++;
	if (*p != '=') {
		val[0] = 0;
		*pp = p;
		return true;
	}
	p++;
	while (*p == ' ')
		p++;
	i = 0;
	if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			if (i + 1 < vlen)
				val[i++] = *p;
			p++;
		}
		if (*p == '"')
			p++;
	} else {
		while (*p && *p != ',' && *p != ' ') {
			if (i + 1 < vlen)
				val[i++] = *p;
			p++;
		}
	}
	val[i] = 0;
	*pp = p;
	return true;
}

int auth_parse_challenge(const char *hdr, char *tenant, size_t tlen,
			 char *resource, size_t rlen, char *scope, size_t slen)
{
	char name[64], val[512], authz[512] = "", res[512] = "", scp[512] = "";
	const char *p = hdr, *s;
	size_t n;

	while (*p == ' ')
		p++;
	if (strncasecmp(p, "Bearer", 6) || (p[6] != ' ' && p[6] != '\t'))
		return -1;
	p += 6;
	while (next_param(&p, name, sizeof(name), val, sizeof(val))) {
		if (!strcasecmp(name, "authorization") ||
		    !strcasecmp(name, "authorization_uri"))
			snprintf(authz, sizeof(authz), "%s", val);
		else if (!strcasecmp(name, "resource"))
			snprintf(res, sizeof(res), "%s", val);
		else if (!strcasecmp(name, "scope"))
			snprintf(scp, sizeof(scp), "%s", val);
	}
	/* tenant = first path segment of the authority URL */
	s = strstr(authz, "://");
	s = s ? strchr(s + 3, '/') : NULL;
	if (!s)
		return -1;
	s++;
	n = strcspn(s, "/?#");
	if (n == 0 || n >= tlen)
		return -1;
	memcpy(tenant, s, n);
	tenant[n] = 0;
	if (res[0]) {
		url_trim_slash(res);
		if (!res[0])
			return -1;
		snprintf(resource, rlen, "%s", res);
		snprintf(scope, slen, "%s/.default", res);
	} else if (scp[0]) {
		const char *suffix = "/.default";
		size_t sl = strlen(scp), fl = strlen(suffix);

		snprintf(scope, slen, "%s", scp);
		if (sl > fl && !strcmp(scp + sl - fl, suffix))
			scp[sl - fl] = 0;
		url_trim_slash(scp);
		snprintf(resource, rlen, "%s", scp);
	} else {
		return -1;
	}
	return 0;
}

/*
 * The audiences a token may be for: Managed HSM and Key Vault, in each
 * cloud.  The suffix rule alone lets the host being judged choose its
 * own resource (https://hsm.example.test naming https://example.test):
 * harmless for a token minted for that audience, fatal for a static
 * token (token_file, AZURE_ACCESS_TOKEN), which is for an HSM whatever
 * the challenge says, and for a loopback URL, where any local user may
 * listen and ask for a management or Graph token.
 */
static bool known_audience(const char *host)
{
	static const char *const audiences[] = {
		"managedhsm.azure.net", "managedhsm.usgovcloudapi.net",
		"managedhsm.azure.cn",
		"vault.azure.net", "vault.usgovcloudapi.net", "vault.azure.cn",
	};

	for (size_t i = 0; i < sizeof(audiences) / sizeof(audiences[0]); i++)
		if (strcmp(host, audiences[i]) == 0)
			return true;
	return false;
}

bool auth_resource_allowed(const char *resource, const char *service_url)
{
	char rh[256], sh[256];
	size_t rl, sl;

	if (strncasecmp(resource, "https://", 8) ||
	    !url_host(resource, rh, sizeof(rh)) ||
	    !url_host(service_url, sh, sizeof(sh)) || !known_audience(rh))
		return false;
	/* The emulator: the admin wrote a loopback address in the URL, so
	 * no name lookup can send this anywhere else. */
	if (url_is_loopback(service_url))
		return true;
	rl = strlen(rh);
	sl = strlen(sh);
	return sl > rl + 1 && sh[sl - rl - 1] == '.' && !strcmp(sh + sl - rl, rh);
}

/* The refusal of a token for resource to service_url, in err. */
static enum hsm_status refuse(const char *resource, const char *service_url,
			      struct hsm_error *err)
{
	err_set(err, HSM_E_AUTH, 401,
		"%.200s asks for a token for %.200s, which is not a Managed HSM or Key Vault audience or not one its host is under: refused, no token fetched or sent (check the URL: a Managed HSM is https://NAME.managedhsm.azure.net, a vault https://NAME.vault.azure.net)",
		service_url ? service_url : "?", resource);
	return HSM_E_AUTH;
}

enum hsm_status auth_challenge(struct auth *a, const char *www_auth,
			       const char *service_url, struct hsm_error *err)
{
	char tenant[128], resource[256], scope[300];

	if (auth_parse_challenge(www_auth, tenant, sizeof(tenant), resource,
				 sizeof(resource), scope, sizeof(scope)) != 0) {
		err->status = HSM_E_AUTH;
		err->http_status = 401;
		snprintf(err->message, sizeof(err->message),
			 "the service's 401 challenge is not a usable Bearer challenge");
		return HSM_E_AUTH;
	}
	if (!auth_resource_allowed(resource, service_url))
		return refuse(resource, service_url, err);
	pthread_mutex_lock(&a->lock);
	if (strcmp(a->tenant, tenant) || strcmp(a->scope, scope)) {
		/* A different authority or audience: the old token is not
		 * for it. */
		if (a->token && a->ready) {
			secret_free(a->token);
			a->token = NULL;
			a->expires = a->refresh_at = 0;
		}
	}
	snprintf(a->tenant, sizeof(a->tenant), "%s", tenant);
	snprintf(a->resource, sizeof(a->resource), "%s", resource);
	snprintf(a->scope, sizeof(a->scope), "%s", scope);
	a->ready = true;
	pthread_mutex_unlock(&a->lock);
	return HSM_OK;
}

int64_t token_refresh_at(int64_t now, int64_t exp)
{
	int64_t life = exp - now, early = life - 300, half = life / 2;

	if (life <= 0)
		return now;
	/* For short lifetimes (tests shorten them to seconds) "expiry -
	 * 300 s" is already past: then half the lifetime. */
	return now + (early > 0 && early < half ? early : half);
}

static char *make_header(const struct auth *a)
{
	static const char pre[] = "Authorization: Bearer ";
	size_t n = secret_len(a->token);
	char *h = malloc(sizeof(pre) + n);

	if (h) {
		memcpy(h, pre, sizeof(pre) - 1);
		/* with the secret's terminating 0 */
		memcpy(h + sizeof(pre) - 1, secret_bytes(a->token), n + 1);
	}
	return h;
}

/* Give out the token as a header line: called with a->lock held, returns
 * with it released.  False when out of memory. */
static bool hand_out(struct auth *a, char **hdr, uint64_t *gen)
{
	*hdr = make_header(a);
	*gen = a->gen;
	pthread_mutex_unlock(&a->lock);
	return *hdr != NULL;
}

/* Take tok (fetched, expiring at exp; 0: unknown) as the token, under
 * a->lock.  Returns the time it was taken at. */
static int64_t store_token(struct auth *a, struct secret *tok, int64_t exp)
{
	int64_t now = now_unix();

	secret_free(a->token);
	a->token = tok;
	a->expires = exp > 0 ? exp : INT64_MAX / 2;
	if (exp > now) {
		a->refresh_at = token_refresh_at(now, exp);
	} else if (exp > 0) {
		/* Already expired as issued: use it once anyway and let the
		 * service decide. */
		a->expires = now + 1;
		a->refresh_at = now;
	} else {
		a->refresh_at = INT64_MAX / 2;
	}
	a->gen++;
	return now;
}

/*
 * A refresh failed (st, why).  Called with a->lock held, returns with it
 * released.  err gets why only when the failure is the answer: while the
 * old token is still valid err keeps what it held, the call's last
 * failure, which call.c reports if its deadline passes before the next
 * attempt (clearing it made that call return HSM_OK without a reply).
 */
static enum hsm_status keep_old(struct auth *a, enum hsm_status st,
				char **hdr, uint64_t *gen,
				const struct hsm_error *why,
				struct hsm_error *err)
{
	if (!a->token || now_unix() >= a->expires) {
		pthread_mutex_unlock(&a->lock);
		*err = *why;
		return st;
	}
	/* The old token still works: use it, try again in 10 s. */
	a->refresh_at = now_unix() + 10;
	if (!hand_out(a, hdr, gen))
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	sink_log(a->log, HSM_LOG_WARN, "token refresh failed, keeping the current token: %s",
		 why->message);
	return HSM_OK;
}

/* Fetch a token for the challenge seen so far and give it out.  Called
 * with a->lock held, returns with it released; the lock is dropped during
 * the fetch, which other threads wait for (a->fetching). */
static enum hsm_status refresh(struct auth *a, int64_t deadline_ms,
			       char **hdr, uint64_t *gen, struct hsm_error *err)
{
	struct hsm_error why = *err;	/* err again unless the old token is kept */
	struct cred_want w;
	char *tok = NULL;
	struct secret *kept = NULL;
	size_t len = 0;
	int64_t exp = 0, now;
	enum hsm_status st;

	a->fetching = true;
	memcpy(w.tenant, a->tenant, sizeof(w.tenant));
	memcpy(w.resource, a->resource, sizeof(w.resource));
	memcpy(w.scope, a->scope, sizeof(w.scope));
	pthread_mutex_unlock(&a->lock);

	__atomic_fetch_add(&a->n_fetches, 1, __ATOMIC_RELAXED);
	st = cred_fetch(a->cred, &w, deadline_ms, &tok, &len, &exp, &why);
	if (st == HSM_OK) {
		/* Kept in secret memory (no core dump, no swap). */
		kept = secret_new(tok, len);
		secret_wipe_free(tok, len);
		if (!kept)
			st = err_set(&why, HSM_E_NOMEM, 0, "out of memory");
	}

	pthread_mutex_lock(&a->lock);
	a->fetching = false;
	pthread_cond_broadcast(&a->cond);
	if (st != HSM_OK)
		return keep_old(a, st, hdr, gen, &why, err);
	now = store_token(a, kept, exp);
	/* Use what we just fetched even if it is already due for refresh
	 * (a short or expired static token): looping back would fetch
	 * forever. */
	if (!hand_out(a, hdr, gen))
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	sink_log(a->log, HSM_LOG_INFO, "got a token (%s), valid for %lld s",
		 cred_identity(a->cred), (long long)(exp > 0 ? exp - now : -1));
	return HSM_OK;
}

enum hsm_status auth_header(struct auth *a, const char *url,
			    int64_t deadline_ms, char **hdr, uint64_t *gen,
			    struct hsm_error *err)
{
	char resource[sizeof(a->resource)];

	*hdr = NULL;
	pthread_mutex_lock(&a->lock);
	/* Checked per request, not only per challenge: another of the
	 * configured URLs must not get the token a first one's challenge
	 * let us fetch. */
	if (!auth_resource_allowed(a->resource, url)) {
		memcpy(resource, a->resource, sizeof(resource));
		pthread_mutex_unlock(&a->lock);
		return refuse(resource, url, err);
	}
	for (;;) {
		int64_t now = now_unix(), wake;
		bool valid = a->token && now < a->expires;
		struct timespec ts;

		if (valid && (now < a->refresh_at || a->fetching)) {
			/* Fresh, or another thread is refreshing it. */
			if (!hand_out(a, hdr, gen))
				return err_set(err, HSM_E_NOMEM, 0, "out of memory");
			return HSM_OK;
		}
		if (!a->fetching)
			return refresh(a, deadline_ms, hdr, gen, err);
		/* Wait for the other thread's fetch. */
		if (deadline_ms <= now_ms()) {
			pthread_mutex_unlock(&a->lock);
			return err_set(err, HSM_E_TIMEOUT, 0,
				       "deadline passed waiting for a token");
		}
		wake = now_unix() * 1000 + (deadline_ms - now_ms());
		ts.tv_sec = (time_t)(wake / 1000);
		ts.tv_nsec = (long)(wake % 1000) * 1000000;
		pthread_cond_timedwait(&a->cond, &a->lock, &ts);
	}
}

void auth_drop(struct auth *a, uint64_t gen)
{
	pthread_mutex_lock(&a->lock);
	if (a->token && a->gen == gen) {
		secret_free(a->token);
		a->token = NULL;
		a->expires = a->refresh_at = 0;
	}
	pthread_mutex_unlock(&a->lock);
}

void auth_describe(struct auth *a, int64_t *expires, char *identity,
		   size_t len, uint64_t *fetches)
{
	*fetches = __atomic_load_n(&a->n_fetches, __ATOMIC_RELAXED);
	pthread_mutex_lock(&a->lock);
	*expires = a->token && a->expires < INT64_MAX / 2 ? a->expires : 0;
	snprintf(identity, len, "%s", cred_identity(a->cred));
	pthread_mutex_unlock(&a->lock);
}
