/*
 * cred.c - the credentials of DESIGN.md §5: reading each one's settings
 * from the environment (cred_new()) and fetching a token with it
 * (cred_fetch()): the token endpoint request and its reply for each kind.
 *
 * Settings are read once, in cred_new(), except the federated token file
 * (re-read at each token request, since kubelet rotates it) and the token
 * file (re-read at each fetch).  A fetched token goes straight to the
 * caller (auth.c, its only holder); nothing here keeps one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "alg.h"
#include "codec.h"
#include "cred_i.h"
#include "digest.h"
#include "json_map_i.h"
#include "pkop.h"
#include "secret.h"
#include "transport_i.h"
#include "util_i.h"

extern char **environ;

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS "http://169.254.169.254"
#define MAX_TOKEN_FILE 65536

struct cred {
	enum hsm_auth kind;
	bool azcli_fallback;		/* auto with nothing configured: IMDS, then az */
	struct xport *xp;		/* the client's: token requests go here */
	const struct log_sink *log;	/* the client's */
	char identity[128];		/* kind and client id, for logs and stats */

	char *token_file;		/* HSM_AUTH_TOKEN */
	struct secret *env_token;	/* AZURE_ACCESS_TOKEN's copy */
	struct secret *client_secret;
	char *client_id, *tenant_env, *authority;
	EVP_PKEY *cert_key;		/* HSM_AUTH_CERT */
	char *x5t;			/* base64url SHA-1 of the cert DER */
	char *fed_file;			/* HSM_AUTH_WORKLOAD */
	char *id_endpoint;		/* HSM_AUTH_APPSERVICE */
	struct secret *id_header;
	char *imds_host;
	char *az;			/* path of the az program */
	char **az_env;			/* its environment: az_env_keep[] */
};

/* What az may see of our environment: where it is, whose it is, how to
 * reach the network.  No AZURE_* credential: az signs in on its own. */
static const char *const az_env_keep[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE",
	"TZ", "TMPDIR", "AZURE_CONFIG_DIR", "HTTPS_PROXY", "https_proxy",
	"HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
	"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
};

/* Every variable this file reads to find or prove an identity: what
 * cred_scrub_environment() removes once the client has its copies. */
static const char *const cred_env[] = {
	"AZURE_ACCESS_TOKEN", "AZURE_CLIENT_SECRET",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_HEADER", "MSI_SECRET",
	"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	"AZURE_POD_IDENTITY_AUTHORITY_HOST", "IDENTITY_ENDPOINT",
	"MSI_ENDPOINT",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

/* A credential from the environment: in secret memory (secret.h). */
static struct secret *env_secret(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? secret_new(v, strlen(v)) : NULL;
}

static const char *str_of(const struct secret *s)
{
	return (const char *)secret_bytes(s);
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* az's environment: az_env_keep[] as set now, PATH at least. */
static char **make_az_env(void)
{
	char **env = calloc(NELEM(az_env_keep) + 2, sizeof(*env));
	size_t n = 0;

	if (!env)
		return NULL;
	for (size_t i = 0; i < NELEM(az_env_keep); i++) {
		const char *v = getenv(az_env_keep[i]);

		if (!v)
			continue;
		if (asprintf(&env[n], "%s=%s", az_env_keep[i], v) < 0)
			goto fail;
		n++;
	}
	if (!getenv("PATH") && !(env[n++] = strdup("PATH=/usr/bin:/bin")))
		goto fail;
	return env;
fail:
	free_env(env);
	return NULL;
}

void cred_scrub_environment(void)
{
	for (size_t i = 0; i < NELEM(cred_env); i++) {
		size_t nl = strlen(cred_env[i]);
		char *victim;

		do {
			victim = NULL;
			for (char **e = environ; e && *e && !victim; e++)
				if (!strncmp(*e, cred_env[i], nl) && (*e)[nl] == '=')
					victim = *e;
			if (!victim)
				break;
			unsetenv(cred_env[i]);
			/* The string itself stays where it was (the original
			 * block, which /proc/PID/environ shows, or setenv()'s
			 * copy): wipe it, name and all. */
			secret_wipe(victim, strlen(victim));
		} while (victim);
	}
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
static int load_cert(struct cred *c, const char *path, char *err, size_t errlen)
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
	c->cert_key = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	if (!c->cert_key || EVP_PKEY_get_base_id(c->cert_key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "'%s' holds no unencrypted RSA private key (PEM, next to the certificate)",
			 path);
		goto out;
	}
	if (X509_check_private_key(x, c->cert_key) != 1) {
		snprintf(err, errlen, "the private key in '%s' does not match its certificate",
			 path);
		goto out;
	}
	if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1 ||
	    !(c->x5t = b64url_encode(md, mdlen))) {
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
static int configure_token(struct cred *c, const struct hsm_config *cfg,
			   char *err, size_t errlen)
{
	char *tok = NULL;
	size_t len;

	if (cfg->token_file) {
		if (read_private_file(cfg->token_file, true, &tok, &len, err,
				      errlen) != 0)
			return -1;
		secret_wipe_free(tok, len);
		c->token_file = strdup(cfg->token_file);
		return c->token_file ? 0 : -1;
	}
	if ((c->env_token = env_secret("AZURE_ACCESS_TOKEN")))
		return 0;
	snprintf(err, errlen, "auth=token needs token_file=PATH or AZURE_ACCESS_TOKEN");
	return -1;
}

/* The client certificate: AZURE_CLIENT_ID and a PEM with the key. */
static int configure_cert(struct cred *c, char *err, size_t errlen)
{
	char *path = env_dup("AZURE_CLIENT_CERTIFICATE_PATH");
	int rc;

	c->client_id = env_dup("AZURE_CLIENT_ID");
	if (!path || !c->client_id) {
		free(path);
		snprintf(err, errlen, "auth=cert needs AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (PEM with certificate and unencrypted key)");
		return -1;
	}
	rc = load_cert(c, path, err, errlen);
	free(path);
	return rc;
}

/* Is kind configured?  Fills c on success, err on failure. */
static int configure(struct cred *c, enum hsm_auth kind,
		     const struct hsm_config *cfg, char *err, size_t errlen)
{
	switch (kind) {
	case HSM_AUTH_TOKEN:
		return configure_token(c, cfg, err, errlen);
	case HSM_AUTH_SECRET:
		c->client_id = env_dup("AZURE_CLIENT_ID");
		c->client_secret = env_secret("AZURE_CLIENT_SECRET");
		if (!c->client_id || !c->client_secret) {
			snprintf(err, errlen, "auth=secret needs AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (and AZURE_TENANT_ID, else the tenant of the service's challenge)");
			return -1;
		}
		return 0;
	case HSM_AUTH_CERT:
		return configure_cert(c, err, errlen);
	case HSM_AUTH_WORKLOAD:
		c->client_id = env_dup("AZURE_CLIENT_ID");
		c->fed_file = env_dup("AZURE_FEDERATED_TOKEN_FILE");
		if (!c->client_id || !c->fed_file) {
			snprintf(err, errlen, "auth=workload needs AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE");
			return -1;
		}
		if (access(c->fed_file, R_OK) != 0) {
			snprintf(err, errlen, "AZURE_FEDERATED_TOKEN_FILE '%s': %s",
				 c->fed_file, strerror(errno));
			return -1;
		}
		return 0;
	case HSM_AUTH_APPSERVICE:
		c->id_endpoint = env_dup("IDENTITY_ENDPOINT");
		c->id_header = env_secret("IDENTITY_HEADER");
		if (!c->id_endpoint || !c->id_header) {
			snprintf(err, errlen, "auth=appservice needs IDENTITY_ENDPOINT and IDENTITY_HEADER");
			return -1;
		}
		c->client_id = env_dup("AZURE_CLIENT_ID");
		return 0;
	case HSM_AUTH_IMDS:
		c->imds_host = env_dup("AZURE_POD_IDENTITY_AUTHORITY_HOST");
		if (!c->imds_host)
			c->imds_host = strdup(DEFAULT_IMDS);
		url_trim_slash(c->imds_host);
		c->client_id = env_dup("AZURE_CLIENT_ID");
		return c->imds_host ? 0 : -1;
	case HSM_AUTH_AZCLI:
		c->az = which("az");
		if (!c->az) {
			snprintf(err, errlen, "auth=azcli: the az program is not on PATH");
			return -1;
		}
		return (c->az_env = make_az_env()) ? 0 : -1;
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

enum hsm_status cred_new(const struct hsm_config *cfg, struct xport *xp,
			 const struct log_sink *log, struct cred **out,
			 char *err, size_t errlen)
{
	struct cred *c = calloc(1, sizeof(*c));
	enum hsm_auth kind = cfg->auth;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return HSM_E_NOMEM;
	}
	c->xp = xp;
	c->log = log;
	if (kind == HSM_AUTH_AUTO) {
		kind = auto_kind(cfg);
		/* Nothing configured: like DefaultAzureCredential, try the
		 * VM identity and then the Azure CLI when it is installed. */
		if (kind == HSM_AUTH_IMDS && !getenv("AZURE_POD_IDENTITY_AUTHORITY_HOST"))
			c->azcli_fallback = (c->az = which("az")) != NULL &&
					    (c->az_env = make_az_env()) != NULL;
	}
	c->kind = kind;
	if (configure(c, kind, cfg, err, errlen) != 0)
		goto fail;
	c->tenant_env = env_dup("AZURE_TENANT_ID");
	c->authority = env_dup("AZURE_AUTHORITY_HOST");
	if (!c->authority)
		c->authority = strdup(DEFAULT_AUTHORITY);
	url_trim_slash(c->authority);
	if (kind == HSM_AUTH_SECRET || kind == HSM_AUTH_CERT ||
	    kind == HSM_AUTH_WORKLOAD) {
		char why[256];

		if (url_check(c->authority, cfg->allow_http, why, sizeof(why))) {
			snprintf(err, errlen, "AZURE_AUTHORITY_HOST: %s", why);
			goto fail;
		}
	}
	snprintf(c->identity, sizeof(c->identity), "%s%s%s", kind_label(kind),
		 c->client_id ? " " : "", c->client_id ? c->client_id : "");
	if (c->azcli_fallback)
		snprintf(c->identity, sizeof(c->identity),
			 "VM managed identity (IMDS), else Azure CLI");
	*out = c;
	return HSM_OK;
fail:
	cred_free(c);
	return HSM_E_AUTH;
}

void cred_free(struct cred *c)
{
	if (!c)
		return;
	free(c->token_file);
	secret_free(c->env_token);
	free(c->client_id);
	free(c->tenant_env);
	secret_free(c->client_secret);
	free(c->authority);
	EVP_PKEY_free(c->cert_key);
	free(c->x5t);
	free(c->fed_file);
	free(c->id_endpoint);
	secret_free(c->id_header);
	free(c->imds_host);
	free(c->az);
	free_env(c->az_env);
	free(c);
}

enum hsm_auth cred_kind(const struct cred *c)
{
	return c->kind;
}

const char *cred_identity(const struct cred *c)
{
	return c->identity;
}

/* -------------------------------------------------------------- fetch */

/*
 * Send rq with a couple of quick retries (transport errors, 408/429/5xx):
 * token endpoints get three tries at most, then the caller reports.
 */
static void token_tries(struct cred *c, CURL *h, const struct xport_req *rq,
			struct xport_reply *rp)
{
	for (unsigned attempt = 0;; attempt++) {
		struct timespec ts;
		int64_t delay;

		if (now_ms() >= rq->deadline) {
			rp->cc = CURLE_OPERATION_TIMEDOUT;
			return;
		}
		if (xport_send(c->xp, h, rq, rp) == CURLE_OK &&
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
static enum hsm_status token_http(struct cred *c, const char *url,
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
	CURL *h = xport_get(c->xp);
	enum hsm_status st;

	memset(resp, 0, sizeof(*resp));
	memset(&rp, 0, sizeof(rp));
	if (!h || !xport_headers(&rq.hdrs, headers)) {
		xport_put(c->xp, h);
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	}
	token_tries(c, h, &rq, &rp);
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
	xport_put(c->xp, h);
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
			    "%s sent a reply without a usable access token", what);
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
static char *make_assertion(struct cred *c, const char *aud)
{
	const struct alg_info *alg = alg_by_name("RS256");
	char jti[37], *hdr = NULL, *claims = NULL, *h64 = NULL, *c64 = NULL,
	     *s64 = NULL, *input = NULL, *jwt = NULL;
	uint8_t md[DIGEST_MAX], *sig = NULL;
	size_t sig_len = 0, n;
	int64_t now = now_unix();
	int dl;

	make_guid(jti);
	hdr = jm_build_jwt_header("RS256", "x5t", c->x5t);
	claims = jm_build_jwt_claims(aud, c->client_id, jti, now, now + 600);
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
	if (dl <= 0 || pk_sign(c->cert_key, alg, md, (size_t)dl, &sig, &sig_len))
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
static enum hsm_status fetch_entra(struct cred *c, const struct cred_want *w,
				   int64_t deadline,
				   char **tok, size_t *len, int64_t *exp,
				   struct hsm_error *err)
{
	const char *tenant = c->tenant_env ? c->tenant_env : w->tenant;
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
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", c->authority,
		 tenant);
	snprintf(what, sizeof(what), "token endpoint %s", url);
	if (c->kind == HSM_AUTH_SECRET) {
		cred = strdup(str_of(c->client_secret));
		cred_len = cred ? strlen(cred) : 0;
	} else if (c->kind == HSM_AUTH_CERT) {
		cred = make_assertion(c, url);
		cred_len = cred ? strlen(cred) : 0;
		if (!cred)
			return err_set(err, HSM_E_AUTH, 0,
				    "cannot sign the client assertion with the certificate's key");
	} else {
		char why[300];

		/* Re-read at every request: kubelet rotates the file. */
		if (read_private_file(c->fed_file, false, &cred, &cred_len, why,
				      sizeof(why)) != 0)
			return err_set(err, HSM_E_AUTH, 0,
				    "AZURE_FEDERATED_TOKEN_FILE: %s", why);
	}
	st = HSM_E_NOMEM;
	e_id = form_escape(c->client_id);
	e_scope = form_escape(w->scope);
	e_cred = cred ? form_escape(cred) : NULL;
	if (!e_id || !e_scope || !e_cred)
		goto out;
	blen = strlen(e_id) + strlen(e_scope) + strlen(e_cred) + 256;
	body = malloc(blen);
	if (!body)
		goto out;
	if (c->kind == HSM_AUTH_SECRET)
		snprintf(body, blen, "grant_type=client_credentials&client_id=%s&scope=%s&client_secret=%s",
			 e_id, e_scope, e_cred);
	else
		snprintf(body, blen, "grant_type=client_credentials&client_id=%s&scope=%s&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s",
			 e_id, e_scope, e_cred);
	st = token_http(c, url, hdrs, body, false, deadline, &r, err);
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
static enum hsm_status fetch_mi(struct cred *c, bool imds, const struct cred_want *w,
				int64_t deadline, char **tok, size_t *len,
				int64_t *exp, struct hsm_error *err)
{
	char *e_res = form_escape(w->resource);
	char *e_id = c->client_id ? form_escape(c->client_id) : NULL;
	char url[2048], hline[600], what[2100];
	const char *hdrs[3] = { hline, "Accept: application/json", NULL };
	struct http_resp r;
	enum hsm_status st;

	if (!e_res || (c->client_id && !e_id)) {
		free_escaped(e_res);
		free_escaped(e_id);
		return err_set(err, HSM_E_NOMEM, 0, "out of memory");
	}
	if (imds) {
		snprintf(url, sizeof(url),
			 "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=%s%s%s",
			 c->imds_host, e_res, e_id ? "&client_id=" : "",
			 e_id ? e_id : "");
		snprintf(hline, sizeof(hline), "Metadata: true");
	} else {
		snprintf(url, sizeof(url), "%s%capi-version=2019-08-01&resource=%s%s%s",
			 c->id_endpoint, strchr(c->id_endpoint, '?') ? '&' : '?',
			 e_res, e_id ? "&client_id=" : "", e_id ? e_id : "");
		snprintf(hline, sizeof(hline), "X-IDENTITY-HEADER: %s",
			 str_of(c->id_header));
	}
	free_escaped(e_res);
	free_escaped(e_id);
	snprintf(what, sizeof(what), "managed identity endpoint %.*s",
		 (int)strcspn(url, "?"), url);
	st = token_http(c, url, hdrs, NULL, true, deadline, &r, err);
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
static enum hsm_status spawn_az(struct cred *c, char *const argv[],
				pid_t *pid, int *out, struct hsm_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return err_set(err, HSM_E_AUTH, 0, "pipe: %s", strerror(errno));
	/* az starts as from a shell: no signal blocked (a worker thread may
	 * block some) and every one at its default (the daemon ignores
	 * SIGPIPE, for one). */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* Whatever we have open (the service's sockets, /dev/fuse, the
	 * audit file) is none of az's business, close-on-exec or not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(pid, c->az, &fa, &at, argv, c->az_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return err_set(err, HSM_E_AUTH, 0, "cannot run %s: %s", c->az,
			       strerror(rc));
	}
	*out = fds[0];
	return HSM_OK;
}

/* az account get-access-token, run without a shell. */
static enum hsm_status fetch_azcli(struct cred *c, const struct cred_want *w,
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

	st = spawn_az(c, argv, &pid, &fd, err);
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

static enum hsm_status fetch_static(struct cred *c, char **tok, size_t *len,
				    int64_t *exp, struct hsm_error *err)
{
	char why[300];

	if (c->token_file) {
		if (read_private_file(c->token_file, true, tok, len, why,
				      sizeof(why)) != 0)
			return err_set(err, HSM_E_AUTH, 0, "%s", why);
	} else {
		*len = secret_len(c->env_token);
		*tok = malloc(*len + 1);
		if (!*tok)
			return err_set(err, HSM_E_NOMEM, 0, "out of memory");
		memcpy(*tok, str_of(c->env_token), *len + 1);
	}
	*exp = jm_jwt_exp(*tok, *len);
	return HSM_OK;
}

enum hsm_status cred_fetch(struct cred *c, const struct cred_want *w,
			   int64_t deadline, char **tok, size_t *len,
			   int64_t *exp, struct hsm_error *err)
{
	enum hsm_status st;

	switch (c->kind) {
	case HSM_AUTH_TOKEN:
		return fetch_static(c, tok, len, exp, err);
	case HSM_AUTH_SECRET:
	case HSM_AUTH_CERT:
	case HSM_AUTH_WORKLOAD:
		return fetch_entra(c, w, deadline, tok, len, exp, err);
	case HSM_AUTH_APPSERVICE:
		return fetch_mi(c, false, w, deadline, tok, len, exp, err);
	case HSM_AUTH_IMDS:
		if (!c->azcli_fallback)
			return fetch_mi(c, true, w, deadline, tok, len, exp,
					err);
		/* Probe IMDS briefly; the CLI is the last resort. */
		st = fetch_mi(c, true, w, now_ms() + 2000 < deadline ?
			      now_ms() + 2000 : deadline, tok, len, exp, err);
		if (st == HSM_OK)
			return st;
		sink_log(c->log, HSM_LOG_INFO, "managed identity unavailable (%s); trying the Azure CLI",
			   err->message);
		return fetch_azcli(c, w, deadline, tok, len, exp, err);
	case HSM_AUTH_AZCLI:
		return fetch_azcli(c, w, deadline, tok, len, exp, err);
	default:
		return err_set(err, HSM_E_AUTH, 0, "no credential");
	}
}
