/*
 * auth.c - the bearer token and every credential of DESIGN.md §5.
 *
 * This file is the only holder of the token.  It leaves here only inside
 * an "Authorization: Bearer ..." line that the caller wipes.  Credentials
 * are read from the environment once, in auth_new(), except the federated
 * token file (re-read at each token request, since kubelet rotates it) and
 * the token file (re-read when the token is dropped or expires).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "alg.h"
#include "auth_i.h"
#include "codec.h"
#include "digest.h"
#include "json_map_i.h"
#include "pkop.h"
#include "secret.h"
#include "transport_i.h"
#include "util_i.h"

extern char **environ;

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS "http://169.254.169.254"
#define DEFAULT_RESOURCE "https://managedhsm.azure.net"
#define MAX_TOKEN_FILE 65536

struct auth {
	enum hsm_auth kind;
	bool azcli_fallback;		/* auto with nothing configured: IMDS, then az */
	struct xport *xp;		/* the client's: token requests go here */
	const struct log_sink *log;	/* the client's */
	uint64_t n_fetches;		/* token fetches; __atomic builtins */

	char *token_file;		/* HSM_AUTH_TOKEN */
	char *env_token;		/* AZURE_ACCESS_TOKEN copy; secret */
	char *client_id, *tenant_env, *client_secret, *authority;
	EVP_PKEY *cert_key;		/* HSM_AUTH_CERT */
	char *x5t;			/* base64url SHA-1 of the cert DER */
	char *fed_file;			/* HSM_AUTH_WORKLOAD */
	char *id_endpoint, *id_header;	/* HSM_AUTH_APPSERVICE; header secret */
	char *imds_host;
	char *az;			/* path of the az program */

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t cond;		/* signalled when a fetch ends */
	bool ready;			/* a challenge was seen */
	char tenant[128];
	char resource[256];
	char scope[300];
	char *token;			/* secret */
	size_t token_len;
	int64_t expires, refresh_at;	/* unix seconds */
	uint64_t gen;
	bool fetching;
	char identity[128];
};

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

static void free_secret_str(char *s)
{
	if (s)
		secret_wipe_free(s, strlen(s));
}

static void trim_slash(char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n && s[n - 1] == '/')
		s[--n] = 0;
}

/* Find prog on PATH; malloc()ed path or NULL. */
static char *which(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? strdup(prog) : NULL;
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n && n + strlen(prog) + 2 < sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
			if (access(buf, X_OK) == 0)
				return strdup(buf);
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}

/*
 * Read a token file: a regular file, owned by us, mode 0600 or stricter
 * (house style §4.5: anything looser means someone else may read it).
 */
static int read_private_file(const char *path, bool check_mode, char **out,
			     size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		goto fail;
	}
	if (check_mode && st.st_uid != geteuid()) {
		snprintf(err, errlen, "token file '%s' is not owned by uid %u: refused",
			 path, (unsigned)geteuid());
		goto fail;
	}
	if (check_mode && (st.st_mode & 077)) {
		snprintf(err, errlen, "token file '%s' has mode %04o: refused, it must be 0600 or stricter (chmod 600)",
			 path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_size > MAX_TOKEN_FILE) {
		snprintf(err, errlen, "'%s' is larger than %d bytes", path,
			 MAX_TOKEN_FILE);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	/* Trim white space (echo adds a newline). */
	while (got && strchr(" \t\r\n", buf[got - 1]))
		buf[--got] = 0;
	{
		size_t lead = strspn(buf, " \t\r\n");

		memmove(buf, buf + lead, got - lead + 1);
		got -= lead;
	}
	if (!got) {
		snprintf(err, errlen, "'%s' is empty", path);
		secret_wipe_free(buf, (size_t)st.st_size + 1);
		return -1;
	}
	*out = buf;
	*len = got;
	return 0;
fail:
	close(fd);
	return -1;
}

/* Load the PEM certificate + unencrypted key; compute x5t. */
static int load_cert(struct auth *a, const char *path, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *x = NULL;
	BIO *b;
	int rc = -1;

	b = BIO_new_file(path, "r");
	if (!b) {
		snprintf(err, errlen, "AZURE_CLIENT_CERTIFICATE_PATH '%s' cannot be read",
			 path);
		goto out;
	}
	/* Certificate and key may come in either order: read twice. */
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!x) {
		snprintf(err, errlen, "'%s' holds no PEM certificate", path);
		goto out;
	}
	(void)BIO_reset(b);
	a->cert_key = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	if (!a->cert_key || EVP_PKEY_get_base_id(a->cert_key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "'%s' holds no unencrypted RSA private key (PEM, next to the certificate)",
			 path);
		goto out;
	}
	if (X509_check_private_key(x, a->cert_key) != 1) {
		snprintf(err, errlen, "the private key in '%s' does not match its certificate",
			 path);
		goto out;
	}
	if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1 ||
	    !(a->x5t = b64url_encode(md, mdlen))) {
		snprintf(err, errlen, "cannot hash the certificate in '%s'", path);
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

static const char *kind_label(enum hsm_auth k)
{
	switch (k) {
	case HSM_AUTH_TOKEN: return "static token";
	case HSM_AUTH_SECRET: return "client secret";
	case HSM_AUTH_CERT: return "client certificate";
	case HSM_AUTH_WORKLOAD: return "workload identity";
	case HSM_AUTH_APPSERVICE: return "App Service managed identity";
	case HSM_AUTH_IMDS: return "VM managed identity (IMDS)";
	case HSM_AUTH_AZCLI: return "Azure CLI";
	default: return "auto";
	}
}

/* The static token: token_file (readable and private now) or
 * AZURE_ACCESS_TOKEN. */
static int configure_token(struct auth *a, const struct hsm_config *cfg,
			   char *err, size_t errlen)
{
	char *tok = NULL;
	size_t len;

	if (cfg->token_file) {
		if (read_private_file(cfg->token_file, true, &tok, &len, err,
				      errlen) != 0)
			return -1;
		secret_wipe_free(tok, len);
		a->token_file = strdup(cfg->token_file);
		return a->token_file ? 0 : -1;
	}
	if ((a->env_token = env_dup("AZURE_ACCESS_TOKEN")))
		return 0;
	snprintf(err, errlen, "auth=token needs token_file=PATH or AZURE_ACCESS_TOKEN");
	return -1;
}

/* The client certificate: AZURE_CLIENT_ID and a PEM with the key. */
static int configure_cert(struct auth *a, char *err, size_t errlen)
{
	char *path = env_dup("AZURE_CLIENT_CERTIFICATE_PATH");
	int rc;

	a->client_id = env_dup("AZURE_CLIENT_ID");
	if (!path || !a->client_id) {
		free(path);
		snprintf(err, errlen, "auth=cert needs AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (PEM with certificate and unencrypted key)");
		return -1;
	}
	rc = load_cert(a, path, err, errlen);
	free(path);
	return rc;
}

/* Is kind configured?  Fills a on success, err on failure. */
static int configure(struct auth *a, enum hsm_auth kind,
		     const struct hsm_config *cfg, char *err, size_t errlen)
{
	switch (kind) {
	case HSM_AUTH_TOKEN:
		return configure_token(a, cfg, err, errlen);
	case HSM_AUTH_SECRET:
		a->client_id = env_dup("AZURE_CLIENT_ID");
		a->client_secret = env_dup("AZURE_CLIENT_SECRET");
		if (!a->client_id || !a->client_secret) {
			snprintf(err, errlen, "auth=secret needs AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (and AZURE_TENANT_ID, else the tenant of the service's challenge)");
			return -1;
		}
		return 0;
	case HSM_AUTH_CERT:
		return configure_cert(a, err, errlen);
	case HSM_AUTH_WORKLOAD:
		a->client_id = env_dup("AZURE_CLIENT_ID");
		a->fed_file = env_dup("AZURE_FEDERATED_TOKEN_FILE");
		if (!a->client_id || !a->fed_file) {
			snprintf(err, errlen, "auth=workload needs AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE");
			return -1;
		}
		if (access(a->fed_file, R_OK) != 0) {
			snprintf(err, errlen, "AZURE_FEDERATED_TOKEN_FILE '%s': %s",
				 a->fed_file, strerror(errno));
			return -1;
		}
		return 0;
	case HSM_AUTH_APPSERVICE:
		a->id_endpoint = env_dup("IDENTITY_ENDPOINT");
		a->id_header = env_dup("IDENTITY_HEADER");
		if (!a->id_endpoint || !a->id_header) {
			snprintf(err, errlen, "auth=appservice needs IDENTITY_ENDPOINT and IDENTITY_HEADER");
			return -1;
		}
		a->client_id = env_dup("AZURE_CLIENT_ID");
		return 0;
	case HSM_AUTH_IMDS:
		a->imds_host = env_dup("AZURE_POD_IDENTITY_AUTHORITY_HOST");
		if (!a->imds_host)
			a->imds_host = strdup(DEFAULT_IMDS);
		trim_slash(a->imds_host);
		a->client_id = env_dup("AZURE_CLIENT_ID");
		return a->imds_host ? 0 : -1;
	case HSM_AUTH_AZCLI:
		a->az = which("az");
		if (!a->az) {
			snprintf(err, errlen, "auth=azcli: the az program is not on PATH");
			return -1;
		}
		return 0;
	default:
		snprintf(err, errlen, "unknown auth kind");
		return -1;
	}
}

/* Which kind auto picks: the first one whose settings are present. */
static enum hsm_auth auto_kind(const struct hsm_config *cfg)
{
	if (cfg->token_file || getenv("AZURE_ACCESS_TOKEN"))
		return HSM_AUTH_TOKEN;
	if (getenv("AZURE_CLIENT_ID") && getenv("AZURE_CLIENT_SECRET"))
		return HSM_AUTH_SECRET;
	if (getenv("AZURE_CLIENT_ID") && getenv("AZURE_CLIENT_CERTIFICATE_PATH"))
		return HSM_AUTH_CERT;
	if (getenv("AZURE_CLIENT_ID") && getenv("AZURE_FEDERATED_TOKEN_FILE"))
		return HSM_AUTH_WORKLOAD;
	if (getenv("IDENTITY_ENDPOINT") && getenv("IDENTITY_HEADER"))
		return HSM_AUTH_APPSERVICE;
	return HSM_AUTH_IMDS;
}

enum hsm_status auth_new(const struct hsm_config *cfg, struct xport *xp,
			 const struct log_sink *log, struct auth **out,
			 char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	enum hsm_auth kind = cfg->auth;

	*out = NULL;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return HSM_E_NOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->xp = xp;
	a->log = log;
	if (kind == HSM_AUTH_AUTO) {
		kind = auto_kind(cfg);
		/* Nothing configured: like DefaultAzureCredential, try the
		 * VM identity and then the Azure CLI when it is installed. */
		if (kind == HSM_AUTH_IMDS && !getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST"))
			a->azcli_fallback = (a->az = which("az")) != NULL;
	}
	a->kind = kind;
	if (configure(a, kind, cfg, err, errlen) != 0)
		goto fail;
	a->tenant_env = env_dup("AZURE_TENANT_ID");
	a->authority = env_dup("AZURE_AUTHORITY_HOST");
	if (!a->authority)
		a->authority = strdup(DEFAULT_AUTHORITY);
	trim_slash(a->authority);
	if (kind == HSM_AUTH_SECRET || kind == HSM_AUTH_CERT ||
	    kind == HSM_AUTH_WORKLOAD) {
		char why[256];

		if (url_check(a->authority, cfg->allow_http, why, sizeof(why))) {
			snprintf(err, errlen, "AZURE_AUTHORITY_HOST: %s", why);
			goto fail;
		}
	}
	snprintf(a->resource, sizeof(a->resource), "%s", DEFAULT_RESOURCE);
	snprintf(a->scope, sizeof(a->scope), "%s/.default", DEFAULT_RESOURCE);
	snprintf(a->identity, sizeof(a->identity), "%s%s%s", kind_label(kind),
		 a->client_id ? " " : "", a->client_id ? a->client_id : "");
	if (a->azcli_fallback)
		snprintf(a->identity, sizeof(a->identity),
			 "VM managed identity (IMDS), else Azure CLI");
	*out = a;
	return HSM_OK;
fail:
	auth_free(a);
	return HSM_E_AUTH;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	free(a->token_file);
	free_secret_str(a->env_token);
	free(a->client_id);
	free(a->tenant_env);
	free_secret_str(a->client_secret);
	free(a->authority);
	EVP_PKEY_free(a->cert_key);
	free(a->x5t);
	free(a->fed_file);
	free(a->id_endpoint);
	free_secret_str(a->id_header);
	free(a->imds_host);
	free(a->az);
	if (a->token)
		secret_wipe_free(a->token, a->token_len);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}

bool auth_ready(struct auth *a)
{
	bool r;

	/* A static token needs nothing from the challenge. */
	if (a->kind == HSM_AUTH_TOKEN)
		return true;
	pthread_mutex_lock(&a->lock);
	r = a->ready;
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
		trim_slash(res);
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
		trim_slash(scp);
		snprintf(resource, rlen, "%s", scp);
	} else {
		return -1;
	}
	return 0;
}

/* Scheme + host[:port] of a URL, lower-cased, into out. */
static bool origin_of(const char *url, char *out, size_t len, char *host,
		      size_t hlen)
{
	const char *p = strstr(url, "://"), *h, *end;
	size_t n;

	if (!p)
		return false;
	h = p + 3;
	end = h + strcspn(h, "/?#");
	n = (size_t)(end - url);
	if (n >= len || (size_t)(end - h) >= hlen)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(url[i] >= 'A' && url[i] <= 'Z' ? url[i] + 32 : url[i]);
	out[n] = 0;
	memcpy(host, out + (h - url), (size_t)(end - h) + 1);
	host[strcspn(host, ":")] = 0;
	return true;
}

bool auth_resource_allowed(const char *resource, const char *service_url)
{
	static const char *const domains[] = {
		"managedhsm.azure.net", "managedhsm.usgovcloudapi.net",
		"managedhsm.azure.cn",
	};
	char ro[300], rh[256], so[300], sh[256];

	if (!origin_of(resource, ro, sizeof(ro), rh, sizeof(rh)) ||
	    strncmp(ro, "https://", 8))
		return false;
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		size_t dl = strlen(domains[i]), hl = strlen(rh);

		if (!strcmp(rh, domains[i]) ||
		    (hl > dl && rh[hl - dl - 1] == '.' &&
		     !strcmp(rh + hl - dl, domains[i])))
			return true;
	}
	return service_url && origin_of(service_url, so, sizeof(so), sh, sizeof(sh)) &&
	       !strcmp(ro, so);
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
	if (!auth_resource_allowed(resource, service_url)) {
		err->status = HSM_E_AUTH;
		err->http_status = 401;
		snprintf(err->message, sizeof(err->message),
			 "the service at %.200s asks for a token for '%.200s', which is not a Managed HSM audience: refused",
			 service_url ? service_url : "?", resource);
		return HSM_E_AUTH;
	}
	pthread_mutex_lock(&a->lock);
	if (strcmp(a->tenant, tenant) || strcmp(a->scope, scope)) {
		/* A different authority or audience: the old token is not
		 * for it. */
		if (a->token && a->ready) {
			secret_wipe_free(a->token, a->token_len);
			a->token = NULL;
			a->token_len = 0;
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

/* -------------------------------------------------------------- fetch */

struct want {			/* a snapshot of the challenge for a fetch */
	char tenant[128];
	char resource[256];
	char scope[300];
};

/*
 * Send rq with a couple of quick retries (transport errors, 408/429/5xx):
 * token endpoints get three tries at most, then the caller reports.
 */
static void token_tries(struct auth *a, CURL *h, const struct xport_req *rq,
			struct xport_reply *rp)
{
	for (unsigned attempt = 0;; attempt++) {
		struct timespec ts;
		int64_t delay;

		if (now_ms() >= rq->deadline) {
			rp->cc = CURLE_OPERATION_TIMEDOUT;
			return;
		}
		if (xport_send(a->xp, h, rq, rp) == CURLE_OK &&
		    !status_retryable(rp->status))
			return;
		if ((rp->cc != CURLE_OK && (xport_fatal(rp->cc) || rp->too_big)) ||
		    attempt >= 2)
			return;
		delay = backoff_ms(attempt, rp->cc == CURLE_OK ?
				   xport_retry_after(rp) : -1, rand32(), 200, 2000);
		if (now_ms() + delay >= rq->deadline)
			return;
		ts.tv_sec = (time_t)(delay / 1000);
		ts.tv_nsec = (long)(delay % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
}

/*
 * A request to a token endpoint (no bearer token): url absolute, headers
 * a NULL-terminated list of "Name: value" lines, body form text or NULL
 * (then GET), no_proxy for local endpoints (managed identity).  Returns
 * HSM_OK with any HTTP status in resp->status (the reply is wiped when
 * freed), or a transport status with a message in err.
 */
static enum hsm_status token_http(struct auth *a, const char *url,
				  const char *const *headers, const char *body,
				  bool no_proxy, int64_t deadline,
				  struct http_resp *resp, struct hsm_error *err)
{
	/* Token replies are small; the service's reply cap does not apply. */
	struct xport_req rq = {
		.method = body ? "POST" : "GET", .url = url, .body = body,
		.body_len = body ? strlen(body) : 0, .deadline = deadline,
		.max_reply = 65536, .allow_http = true, .no_proxy = no_proxy,
	};
	struct xport_reply rp;
	CURL *h = xport_get(a->xp);
	enum hsm_status st;

	memset(resp, 0, sizeof(*resp));
	memset(&rp, 0, sizeof(rp));
	if (!h || !xport_headers(&rq.hdrs, headers)) {
		xport_put(a->xp, h);
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	}
	token_tries(a, h, &rq, &rp);
	xport_headers_free(rq.hdrs);
	if (rp.cc != CURLE_OK) {
		st = rp.cc == CURLE_OPERATION_TIMEDOUT ? HSM_E_TIMEOUT :
		     rp.too_big ? HSM_E_PROTOCOL : HSM_E_AUTH;
		err_set(err, st, 0, "token endpoint: %s",
			rp.too_big ? "reply too large" : xport_strerror(&rp));
	} else if ((st = xport_take(&rp, true, resp)) != HSM_OK) {
		err_set(err, st, 0, "out of memory");
	}
	xport_reply_reset(&rp);
	xport_put(a->xp, h);
	return st;
}

/* Turn a token endpoint reply into a token. */
static enum hsm_status take_reply(struct http_resp *r, const char *what,
				  char **tok, size_t *len, int64_t *exp,
				  struct hsm_error *err)
{
	char msg[400];
	enum hsm_status st;

	if (r->status != 200) {
		if (!jm_token_error(r->body, r->len, msg, sizeof(msg)))
			snprintf(msg, sizeof(msg), "no error description");
		return err_set(err, HSM_E_AUTH, (int)r->status,
			    "%s refused the token request (HTTP %ld): %s", what,
			    r->status, msg);
	}
	st = jm_parse_token(r->body, r->len, now_unix(), tok, len, exp);
	if (st != HSM_OK)
		return err_set(err, st == HSM_E_NOMEM ? st : HSM_E_AUTH, 200,
			    "%s sent a reply without an access token", what);
	return HSM_OK;
}

static char *form_escape(const char *s)
{
	return curl_easy_escape(NULL, s, 0);
}

static void free_escaped(char *s)
{
	if (s) {
		secret_wipe(s, strlen(s));
		curl_free(s);
	}
}

/* RS256 client assertion for the certificate credential. */
static char *make_assertion(struct auth *a, const char *aud)
{
	const struct alg_info *alg = alg_by_name("RS256");
	char jti[37], *hdr = NULL, *claims = NULL, *h64 = NULL, *c64 = NULL,
	     *s64 = NULL, *input = NULL, *jwt = NULL;
	uint8_t md[DIGEST_MAX], *sig = NULL;
	size_t sig_len = 0, n;
	int64_t now = now_unix();
	int dl;

	make_guid(jti);
	hdr = jm_build_jwt_header("RS256", "x5t", a->x5t);
	claims = jm_build_jwt_claims(aud, a->client_id, jti, now, now + 600);
	if (!alg || !hdr || !claims)
		goto out;
	h64 = b64url_encode((const uint8_t *)hdr, strlen(hdr));
	c64 = b64url_encode((const uint8_t *)claims, strlen(claims));
	if (!h64 || !c64)
		goto out;
	n = strlen(h64) + strlen(c64) + 2;
	input = malloc(n);
	if (!input)
		goto out;
	snprintf(input, n, "%s.%s", h64, c64);
	dl = digest_oneshot(alg, input, strlen(input), md);
	if (dl <= 0 || pk_sign(a->cert_key, alg, md, (size_t)dl, &sig, &sig_len))
		goto out;
	s64 = b64url_encode(sig, sig_len);
	if (!s64)
		goto out;
	n = strlen(input) + strlen(s64) + 2;
	jwt = malloc(n);
	if (jwt)
		snprintf(jwt, n, "%s.%s", input, s64);
out:
	ERR_clear_error();
	free(hdr);
	free(claims);
	free(h64);
	free(c64);
	free(s64);
	free(input);
	free(sig);
	return jwt;
}

/* Client credentials grant (secret, certificate, federated assertion). */
static enum hsm_status fetch_entra(struct auth *a, const struct want *w, int64_t deadline,
				   char **tok, size_t *len, int64_t *exp,
				   struct hsm_error *err)
{
	const char *tenant = a->tenant_env ? a->tenant_env : w->tenant;
	static const char *const hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL,
	};
	char url[1024], what[1100];
	char *cred = NULL, *e_id = NULL, *e_scope = NULL, *e_cred = NULL,
	     *body = NULL;
	size_t cred_len = 0, blen;
	struct http_resp r;
	enum hsm_status st;

	if (!tenant || !*tenant)
		return err_set(err, HSM_E_AUTH, 0,
			    "no tenant: set AZURE_TENANT_ID (the service sent no challenge yet)");
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", a->authority,
		 tenant);
	snprintf(what, sizeof(what), "token endpoint %s", url);
	if (a->kind == HSM_AUTH_SECRET) {
		cred = strdup(a->client_secret);
		cred_len = cred ? strlen(cred) : 0;
	} else if (a->kind == HSM_AUTH_CERT) {
		cred = make_assertion(a, url);
		cred_len = cred ? strlen(cred) : 0;
		if (!cred)
			return err_set(err, HSM_E_AUTH, 0,
				    "cannot sign the client assertion with the certificate's key");
	} else {
		char why[300];

		/* Re-read at every request: kubelet rotates the file. */
		if (read_private_file(a->fed_file, false, &cred, &cred_len, why,
				      sizeof(why)) != 0)
			return err_set(err, HSM_E_AUTH, 0,
				    "AZURE_FEDERATED_TOKEN_FILE: %s", why);
	}
	st = HSM_E_NOMEM;
	e_id = form_escape(a->client_id);
	e_scope = form_escape(w->scope);
	e_cred = cred ? form_escape(cred) : NULL;
	if (!e_id || !e_scope || !e_cred)
		goto out;
	blen = strlen(e_id) + strlen(e_scope) + strlen(e_cred) + 256;
	body = malloc(blen);
	if (!body)
		goto out;
	if (a->kind == HSM_AUTH_SECRET)
		snprintf(body, blen, "grant_type=client_credentials&client_id=%s&scope=%s&client_secret=%s",
			 e_id, e_scope, e_cred);
	else
		snprintf(body, blen, "grant_type=client_credentials&client_id=%s&scope=%s&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s",
			 e_id, e_scope, e_cred);
	st = token_http(a, url, hdrs, body, false, deadline, &r, err);
	if (st == HSM_OK) {
		st = take_reply(&r, what, tok, len, exp, err);
		http_resp_cleanup(&r);
	}
out:
	if (body)
		secret_wipe_free(body, strlen(body));
	if (cred)
		secret_wipe_free(cred, cred_len);
	free_escaped(e_id);
	free_escaped(e_scope);
	free_escaped(e_cred);
	if (st == HSM_E_NOMEM)
		err_set(err, st, 0, "out of memory");
	return st;
}

/* Managed identity: App Service or IMDS. */
static enum hsm_status fetch_mi(struct auth *a, bool imds, const struct want *w,
				int64_t deadline, char **tok, size_t *len,
				int64_t *exp, struct hsm_error *err)
{
	char *e_res = form_escape(w->resource);
	char *e_id = a->client_id ? form_escape(a->client_id) : NULL;
	char url[2048], hline[600], what[2100];
	const char *hdrs[3] = { hline, "Accept: application/json", NULL };
	struct http_resp r;
	enum hsm_status st;

	if (!e_res || (a->client_id && !e_id)) {
		free_escaped(e_res);
		free_escaped(e_id);
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	}
	if (imds) {
		snprintf(url, sizeof(url),
			 "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=%s%s%s",
			 a->imds_host, e_res, e_id ? "&client_id=" : "",
			 e_id ? e_id : "");
		snprintf(hline, sizeof(hline), "Metadata: true");
	} else {
		snprintf(url, sizeof(url), "%s%capi-version=2019-08-01&resource=%s%s%s",
			 a->id_endpoint, strchr(a->id_endpoint, '?') ? '&' : '?',
			 e_res, e_id ? "&client_id=" : "", e_id ? e_id : "");
		snprintf(hline, sizeof(hline), "X-IDENTITY-HEADER: %s",
			 a->id_header);
	}
	free_escaped(e_res);
	free_escaped(e_id);
	snprintf(what, sizeof(what), "managed identity endpoint %.*s",
		 (int)strcspn(url, "?"), url);
	st = token_http(a, url, hdrs, NULL, true, deadline, &r, err);
	secret_wipe(hline, sizeof(hline));
	if (st != HSM_OK) {
		if (st == HSM_E_AUTH)
			snprintf(err->message, sizeof(err->message),
				 "%.400s is unreachable", what);
		return st;
	}
	st = take_reply(&r, what, tok, len, exp, err);
	http_resp_cleanup(&r);
	return st;
}

/* Read the child's output from fd until EOF (at most 1 MiB) into *r
 * (capacity *cap; wiped when freed).  False when the deadline passed
 * first. */
static bool read_child(int fd, int64_t deadline, struct http_resp *r,
		       size_t *cap)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		if (r->len + 4096 + 1 > *cap) {
			size_t ncap = *cap ? *cap * 2 : 8192;
			char *nb;

			if (ncap > 1 << 20)
				return true;
			nb = malloc(ncap);
			if (!nb)
				return true;
			if (r->body) {
				memcpy(nb, r->body, r->len);
				secret_wipe_free(r->body, *cap);
			}
			r->body = nb;
			*cap = ncap;
		}
		n = read(fd, r->body + r->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		r->len += (size_t)n;
	}
}

/* Start az with argv, its stdout into *out (read end); stdin and stderr
 * /dev/null. */
static enum hsm_status spawn_az(struct auth *a, char *const argv[],
				pid_t *pid, int *out, struct hsm_error *err)
{
	posix_spawn_file_actions_t fa;
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return err_set(err, HSM_E_AUTH, 0, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(pid, a->az, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return err_set(err, HSM_E_AUTH, 0, "cannot run %s: %s", a->az,
			       strerror(errno));
	}
	*out = fds[0];
	return HSM_OK;
}

/* az account get-access-token, run without a shell. */
static enum hsm_status fetch_azcli(struct auth *a, const struct want *w,
				   int64_t deadline, char **tok, size_t *len,
				   int64_t *exp, struct hsm_error *err)
{
	char *argv[] = { (char *)"az", (char *)"account",
			 (char *)"get-access-token", (char *)"--resource",
			 (char *)w->resource, (char *)"-o", (char *)"json", NULL };
	struct http_resp r = { .secret = true };
	size_t cap = 0;
	int fd = -1, status = 0;
	pid_t pid;
	enum hsm_status st;
	bool timed_out;

	st = spawn_az(a, argv, &pid, &fd, err);
	if (st != HSM_OK)
		return st;
	timed_out = !read_child(fd, deadline, &r, &cap);
	close(fd);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		st = err_set(err, HSM_E_TIMEOUT, 0, "az account get-access-token did not answer in time");
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		st = err_set(err, HSM_E_AUTH, 0,
			     "az account get-access-token failed (exit %d): run 'az login'",
			     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	} else if (!r.body || jm_parse_token(r.body, r.len, now_unix(), tok,
					     len, exp) != HSM_OK) {
		st = err_set(err, HSM_E_AUTH, 0,
			     "az account get-access-token printed no accessToken");
	}
	if (r.body)
		secret_wipe_free(r.body, cap);
	return st;
}

static enum hsm_status fetch_static(struct auth *a, char **tok, size_t *len,
				    int64_t *exp, struct hsm_error *err)
{
	char why[300];

	if (a->token_file) {
		if (read_private_file(a->token_file, true, tok, len, why,
				      sizeof(why)) != 0)
			return err_set(err, HSM_E_AUTH, 0, "%s", why);
	} else {
		*len = strlen(a->env_token);
		*tok = malloc(*len + 1);
		if (!*tok)
			return err_set(err, HSM_E_NOMEM, 0, "out of memory");
		memcpy(*tok, a->env_token, *len + 1);
	}
	*exp = jm_jwt_exp(*tok, *len);
	return HSM_OK;
}

static enum hsm_status fetch(struct auth *a, const struct want *w, int64_t deadline,
			     char **tok, size_t *len, int64_t *exp,
			     struct hsm_error *err)
{
	enum hsm_status st;

	__atomic_fetch_add(&a->n_fetches, 1, __ATOMIC_RELAXED);
	switch (a->kind) {
	case HSM_AUTH_TOKEN:
		return fetch_static(a, tok, len, exp, err);
	case HSM_AUTH_SECRET:
	case HSM_AUTH_CERT:
	case HSM_AUTH_WORKLOAD:
		return fetch_entra(a, w, deadline, tok, len, exp, err);
	case HSM_AUTH_APPSERVICE:
		return fetch_mi(a, false, w, deadline, tok, len, exp, err);
	case HSM_AUTH_IMDS:
		if (!a->azcli_fallback)
			return fetch_mi(a, true, w, deadline, tok, len, exp,
					err);
		/* Probe IMDS briefly; the CLI is the last resort. */
		st = fetch_mi(a, true, w, now_ms() + 2000 < deadline ?
			      now_ms() + 2000 : deadline, tok, len, exp, err);
		if (st == HSM_OK)
			return st;
		sink_log(a->log, HSM_LOG_INFO, "managed identity unavailable (%s); trying the Azure CLI",
			   err->message);
		return fetch_azcli(a, w, deadline, tok, len, exp, err);
	case HSM_AUTH_AZCLI:
		return fetch_azcli(a, w, deadline, tok, len, exp, err);
	default:
		return err_set(err, HSM_E_AUTH, 0, "no credential");
	}
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
	char *h = malloc(sizeof(pre) + a->token_len);

	if (h) {
		memcpy(h, pre, sizeof(pre) - 1);
		memcpy(h + sizeof(pre) - 1, a->token, a->token_len + 1);
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
static int64_t store_token(struct auth *a, char *tok, size_t len, int64_t exp)
{
	int64_t now = now_unix();

	if (a->token)
		secret_wipe_free(a->token, a->token_len);
	a->token = tok;
	a->token_len = len;
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
	struct want w;
	char *tok = NULL;
	size_t len = 0;
	int64_t exp = 0, now;
	enum hsm_status st;

	a->fetching = true;
	memcpy(w.tenant, a->tenant, sizeof(w.tenant));
	memcpy(w.resource, a->resource, sizeof(w.resource));
	memcpy(w.scope, a->scope, sizeof(w.scope));
	pthread_mutex_unlock(&a->lock);

	st = fetch(a, &w, deadline_ms, &tok, &len, &exp, &why);

	pthread_mutex_lock(&a->lock);
	a->fetching = false;
	pthread_cond_broadcast(&a->cond);
	if (st != HSM_OK)
		return keep_old(a, st, hdr, gen, &why, err);
	now = store_token(a, tok, len, exp);
	/* Use what we just fetched even if it is already due for refresh
	 * (a short or expired static token): looping back would fetch
	 * forever. */
	if (!hand_out(a, hdr, gen))
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	sink_log(a->log, HSM_LOG_INFO, "got a token (%s), valid for %lld s",
		 a->identity, (long long)(exp > 0 ? exp - now : -1));
	return HSM_OK;
}

enum hsm_status auth_header(struct auth *a, int64_t deadline_ms, char **hdr,
			    uint64_t *gen, struct hsm_error *err)
{
	*hdr = NULL;
	pthread_mutex_lock(&a->lock);
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
		secret_wipe_free(a->token, a->token_len);
		a->token = NULL;
		a->token_len = 0;
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
	snprintf(identity, len, "%s", a->identity);
	pthread_mutex_unlock(&a->lock);
}
