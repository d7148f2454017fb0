/*
 * server.c - hsm-emulator's HTTP(S) front: libmicrohttpd, request bodies,
 * routing, the 401 challenge, roles, api-versions, faults, response
 * headers and the request log.
 *
 * Order for data-plane requests (docs/contracts.md): challenge / token
 * check first, then statistics, role, api-version, faults, keys_handle().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "admin_api_i.h"
#include "admin_i.h"
#include "codec.h"
#include "http_i.h"
#include "identities_i.h"
#include "keys_i.h"
#include "keys_route_i.h"
#include "secret.h"
#include "server_i.h"
#include "jwt_i.h"
#include "tokens_i.h"
#include "uuid_i.h"

#define IDLE_TIMEOUT_S 300	/* idle keep-alive connections are closed */
#define EMU_BODY_MAX (1024 * 1024)	/* larger request bodies: 413 */
#define BUILD_VERSION "1.0.20260320-1-emulator"
#define VAULT_SERVICE_VERSION "1.9.0.0-emulator"

static const char *const api_versions[] = {
	"7.0", "7.1", "7.2", "7.3", "7.4", "7.4-preview.1", "7.5", "7.6",
	"7.6-preview.1", "7.6-preview.2", "2025-07-01", "2026-01-01-preview",
	"2026-03-01-preview",
};

/* Per-connection-request state kept by MHD between handler calls. */
struct req_ctx {
	char *buf;
	size_t len, cap;
	bool too_big;
	struct timespec t0;
};

/* Sleep ms milliseconds, waking early when the server stops. */
static void sleep_ms(struct emu_server *srv, long ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&srv->sleep_lock);
	while (!srv->stopping &&
	       pthread_cond_timedwait(&srv->sleep_cond, &srv->sleep_lock,
				      &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&srv->sleep_lock);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L +
	       (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* ---- data plane --------------------------------------------------------- */

static bool is_data_path(const char *p)
{
	static const char *const roots[] = { "/keys", "/deletedkeys", "/rng" };

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = strlen(roots[i]);
		if (strncmp(p, roots[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return true;
	}
	return false;
}

/* The 401 challenge as each service words it (reference §5.3): Managed
 * HSM with an empty body, a vault with login.windows.net and an error
 * body [rec-vault]. */
static void challenge(struct emu_server *srv, struct http_resp *resp)
{
	bool vault = srv->flavor == FLAVOR_VAULT;

	admin_count_challenge(srv->adm);
	if (vault && resp->body == NULL)
		http_error(resp, 401, "Unauthorized",
			 "Request is missing a Bearer or PoP token.");
	resp->status = 401;
	http_resp_header(resp, "WWW-Authenticate",
			 "Bearer authorization=\"https://%s/%s\", resource=\"%s\"",
			 vault ? "login.windows.net" : "login.microsoftonline.com",
			 EMU_TENANT, jwt_resource(srv));
}

/* The scope in AccessDenied messages, as the key side words it:
 * "/keys/<name>", "/keys", "/deletedkeys" (list) or "/rng".
 * Open question: for POST /keys/restore this gives "/keys/restore" while
 * keys.c's refused() says "/keys"; neither tests/recordings/ nor
 * reference/managed-hsm-api.md shows the service's AccessDenied on a keys
 * path (the one recorded names roleAssignments "on /"), so both are left
 * as they were and pinned by tests (test_restore_denied_scope, test_keys.c's
 * test_roles) until a recording settles it. */
static void scope_of(const char *path, char *out, size_t outlen)
{
	const char *name, *end;

	if (strncmp(path, "/rng", 4) == 0) {
		snprintf(out, outlen, "/rng");
		return;
	}
	name = strchr(path + 1, '/');
	if (name == NULL || name[1] == '\0') {
		snprintf(out, outlen, "%s",
			 strncmp(path, "/deletedkeys", 12) == 0 ? "/deletedkeys" : "/keys");
		return;
	}
	name++;
	end = strchr(name, '/');
	snprintf(out, outlen, "/keys/%.*s",
		 (int)(end ? (size_t)(end - name) : strlen(name)), name);
}

static bool api_version_known(const char *v)
{
	for (size_t i = 0; i < sizeof(api_versions) / sizeof(api_versions[0]); i++)
		if (strcmp(api_versions[i], v) == 0)
			return true;
	return false;
}

static void inject(struct emu_server *srv, const struct fault_action *fa,
		   struct http_resp *resp)
{
	switch (fa->status) {
	case 429:
		http_error(resp, 429, "Throttled",
			 "Request was not processed because too many requests were received. Reason: HsmRequestTypeLimitReached");
		break;
	case 503:
		http_error(resp, 503, "ServiceUnavailable",
			 "The service is temporarily unavailable (injected fault). Retry the request.");
		break;
	case 500:
		http_error(resp, 500, "InternalServerError",
			 "An internal server error occurred (injected fault). Retry the request.");
		break;
	default:
		http_error(resp, fa->status, "InjectedFault",
			 "Injected fault with status %d.", fa->status);
		break;
	}
	if (fa->retry_after >= 0)
		http_resp_header(resp, "Retry-After", "%ld", fa->retry_after);
	if (fa->retry_after_ms >= 0)
		http_resp_header(resp, "retry-after-ms", "%ld", fa->retry_after_ms);
}

/* The caller of a data-plane request, by its bearer token; NULL after
 * answering 401. */
static const struct emu_identity *authenticate(struct emu_server *srv,
					       const struct http_req *req,
					       struct http_resp *resp)
{
	const char *auth = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const struct emu_identity *who = NULL;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		challenge(srv, resp);
		return NULL;
	}
	auth += 7;
	while (*auth == ' ')
		auth++;
	switch (jwt_validate(srv, auth, strlen(auth), &who)) {
	case TOK_OK:
		return who;
	case TOK_EXPIRED:
		http_error(resp, 401, "Unauthorized",
			 "[TokenExpired] Error validating token: 'S2S12086'.");
		challenge(srv, resp);
		return NULL;
	default:
		challenge(srv, resp);
		return NULL;
	}
}

/* The api-version query parameter, or NULL after answering 400. */
static const char *api_version(const struct http_req *req,
			       struct http_resp *resp)
{
	const char *ver = http_query(req, "api-version");

	if (ver == NULL) {
		http_error(resp, 400, "BadParameter",
			 "The api-version query parameter is missing. Consider using the latest supported version (2025-07-01).");
		return NULL;
	}
	if (!api_version_known(ver)) {
		http_error(resp, 400, "BadParameter",
			 "The specified version (%.64s) is not recognized. Consider using the latest supported version (2025-07-01).",
			 ver);
		return NULL;
	}
	return ver;
}

/* Apply the fault set's decision for op: true when it has answered (or
 * dropped) the request. */
static bool faulted(struct emu_server *srv, const char *op,
		    struct http_resp *resp)
{
	struct fault_action fa;

	admin_fault_decide(srv->adm, op, &fa);
	sleep_ms(srv, fa.latency_ms);
	sleep_ms(srv, fa.stall_ms);
	if (fa.drop) {
		resp->drop = true;
		return true;
	}
	if (fa.status != 0) {
		inject(srv, &fa, resp);
		return true;
	}
	return false;
}

/* Hand the request to the key side and its answer to resp. */
static void to_keys(struct emu_server *srv, const struct http_req *req,
		    const struct emu_identity *who, const char *ver,
		    struct http_resp *resp)
{
	struct emu_request er;
	struct emu_response kr = { 0 };
	const char *mr = http_query(req, "maxresults");
	char *end;
	long v;

	memset(&er, 0, sizeof(er));
	er.maxresults = -1;
	if (mr != NULL) {
		errno = 0;
		v = strtol(mr, &end, 10);
		if (errno || end == mr || *end != '\0' || v < 0 || v > 1000000) {
			http_error(resp, 400, "BadParameter",
				 "The value of parameter maxresults (%.32s) is not a valid integer.",
				 mr);
			return;
		}
		er.maxresults = (int)v;
	}
	er.method = req->method;
	er.path = req->path;
	er.api_version = ver;
	er.skiptoken = http_query(req, "$skiptoken");
	er.body = req->body;
	er.body_len = req->body_len;
	er.base_url = srv->base_url;
	er.role = who->role;
	er.flavor = srv->flavor;
	er.principal = who->client_id;
	keys_handle(srv->ks, &er, &kr);
	resp->status = kr.status;
	resp->body = kr.body;
	resp->body_len = kr.body ? kr.body_len : 0;
}

static void data_plane(struct emu_server *srv, const struct http_req *req,
		       struct http_resp *resp)
{
	const struct emu_identity *who;
	const struct keys_op_info *info;
	const char *ver;
	char activity[37], scope[160];

	who = authenticate(srv, req, resp);
	if (who == NULL)
		return;
	info = keys_route_info(req->method, req->path);
	admin_count_op(srv->adm, info->name);
	if (who->role < info->role) {
		emu_uuid(activity);
		scope_of(req->path, scope, sizeof(scope));
		http_error(resp, 403, "AccessDenied",
			 "Not authorized to access Microsoft.KeyVault/managedHsm/keys/%s on %s (Activity ID: %s)",
			 info->action, scope, activity);
		return;
	}
	ver = api_version(req, resp);
	if (ver == NULL || faulted(srv, info->name, resp))
		return;
	to_keys(srv, req, who, ver, resp);
}

/* ---- routing ------------------------------------------------------------ */

static void dispatch(struct emu_server *srv, const struct http_req *req,
		     struct http_resp *resp)
{
	const char *p = req->path;
	const char *slash;

	if (strncmp(p, "/_emulator/", 11) == 0) {
		if (!req->loopback) {
			http_error(resp, 403, "Forbidden",
				 "The emulator's admin API is served to loopback peers only.");
			return;
		}
		admin_handle(srv, req, p + 11, resp);
		return;
	}
	if (is_data_path(p)) {
		data_plane(srv, req, resp);
		return;
	}
	if (strcmp(p, "/metadata/identity/oauth2/token") == 0) {
		if (http_method_ok(req, "GET", resp))
			tokens_handle_imds(srv, req, resp);
		return;
	}
	if (strcmp(p, "/msi/token") == 0) {
		if (http_method_ok(req, "GET", resp))
			tokens_handle_appservice(srv, req, resp);
		return;
	}
	/* /{tenant}/oauth2/v2.0/token and the discovery document. */
	slash = strchr(p + 1, '/');
	if (slash != NULL && slash - p > 1 && slash - p < 100) {
		char tenant[100];

		snprintf(tenant, sizeof(tenant), "%.*s", (int)(slash - p - 1), p + 1);
		if (strcmp(slash, "/oauth2/v2.0/token") == 0) {
			if (http_method_ok(req, "POST", resp))
				tokens_handle_entra(srv, req, tenant, resp);
			return;
		}
		if (strcmp(slash, "/discovery/v2.0/keys") == 0) {
			if (http_method_ok(req, "GET", resp))
				tokens_handle_jwks(srv, resp);
			return;
		}
		if (strcmp(slash, "/v2.0/.well-known/openid-configuration") == 0) {
			if (http_method_ok(req, "GET", resp))
				tokens_handle_openid(srv, tenant, resp);
			return;
		}
	}
	http_error(resp, 404, "NotFound",
		 "The requested path was not found on this %s: %.200s",
		 srv->flavor == FLAVOR_VAULT ? "key vault" : "Managed HSM", p);
}

/* ---- libmicrohttpd glue ------------------------------------------------- */

static bool peer_is_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		       in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void add_headers(struct emu_server *srv, struct MHD_Response *r,
			const struct http_resp *resp, long latency)
{
	char uuid[37], num[24];

	emu_uuid(uuid);
	snprintf(num, sizeof(num), "%ld", latency);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json; charset=utf-8");
	if (resp->token_style) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
					"no-store, no-cache");
		MHD_add_response_header(r, "Pragma", "no-cache");
		MHD_add_response_header(r, "x-ms-request-id", uuid);
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	} else {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'");
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(r, "X-Frame-Options", "SAMEORIGIN");
		MHD_add_response_header(r, "x-ms-server-latency", num);
		MHD_add_response_header(r, "x-ms-request-id", uuid);
		MHD_add_response_header(r, "x-ms-keyvault-region", "local");
		MHD_add_response_header(r, "x-ms-keyvault-network-info",
					"conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=Ipv4;");
		if (srv->flavor == FLAVOR_VAULT) {
			/* What a vault adds [rec-vault]; it has no build version. */
			MHD_add_response_header(r, "Pragma", "no-cache");
			MHD_add_response_header(r, "Expires", "-1");
			MHD_add_response_header(r, "x-ms-keyvault-service-version",
						VAULT_SERVICE_VERSION);
			MHD_add_response_header(r, "X-Powered-By", "ASP.NET");
		} else {
			MHD_add_response_header(r, "x-ms-build-version", BUILD_VERSION);
		}
	}
	if (!srv->plain_http)
		MHD_add_response_header(r, "Strict-Transport-Security",
					"max-age=31536000; includeSubDomains");
	for (size_t i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name,
					resp->headers[i].value);
}

/* Log one line per request: never headers, tokens or bodies.  The path is
 * the client's, so control characters are replaced. */
static void log_request(const char *method, const char *path, int status,
			long ms)
{
	char clean[201];
	size_t i;

	for (i = 0; path[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = (path[i] < 0x20 || path[i] == 0x7f) ? '?' : path[i];
	clean[i] = '\0';
	if (status == 0)
		fprintf(stderr, "hsm-emulator: %s %s dropped %ldms\n", method, clean, ms);
	else
		fprintf(stderr, "hsm-emulator: %s %s %d %ldms\n", method, clean, status, ms);
}

/* Token endpoint answers hold access tokens: wipe them once sent. */
struct wiped_body {
	char *p;
	size_t len;
};

static void wipe_body(void *cls)
{
	struct wiped_body *w = cls;

	secret_wipe_free(w->p, w->len);
	free(w);
}

static struct MHD_Response *secret_response(struct http_resp *resp)
{
	struct wiped_body *w = malloc(sizeof(*w));
	struct MHD_Response *r;

	if (w == NULL)
		return NULL;
	w->p = resp->body;
	w->len = resp->body_len;
	r = MHD_create_response_from_buffer_with_free_callback_cls(
		resp->body_len, resp->body, wipe_body, w);
	if (r == NULL)
		free(w);	/* the caller frees resp->body */
	return r;
}

/* Append a piece of the request body; past EMU_BODY_MAX only remember
 * that it is too big.  MHD_NO when out of memory. */
static enum MHD_Result collect_body(struct req_ctx *ctx, const char *data,
				    size_t n)
{
	if (ctx->too_big || ctx->len + n > EMU_BODY_MAX) {
		ctx->too_big = true;
		return MHD_YES;
	}
	if (ctx->len + n + 1 > ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap : 4096;
		char *nb;

		while (cap < ctx->len + n + 1)
			cap *= 2;
		nb = realloc(ctx->buf, cap);
		if (nb == NULL)
			return MHD_NO;
		ctx->buf = nb;
		ctx->cap = cap;
	}
	memcpy(ctx->buf + ctx->len, data, n);
	ctx->len += n;
	ctx->buf[ctx->len] = '\0';
	return MHD_YES;
}

/* Queue resp (its body is handed over) on conn and log the request. */
static enum MHD_Result answer(struct emu_server *srv, struct MHD_Connection *conn,
			      const struct http_req *req, struct http_resp *resp,
			      long ms)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (resp->drop) {
		log_request(req->method, req->path, 0, ms);
		free(resp->body);
		return MHD_NO;	/* MHD closes the connection without answering */
	}
	if (resp->body != NULL && resp->token_style)
		r = secret_response(resp);
	else if (resp->body != NULL)
		r = MHD_create_response_from_buffer_with_free_callback(
			resp->body_len, resp->body, free);
	else
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		free(resp->body);
		return MHD_NO;
	}
	add_headers(srv, r, resp, ms);
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	log_request(req->method, req->path, resp->status, ms);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct emu_server *srv = cls;
	struct req_ctx *ctx = *con_cls;
	struct http_resp resp;
	struct http_req req;
	size_t n;

	if (ctx == NULL) {
		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		return collect_body(ctx, upload_data, n);
	}

	memset(&resp, 0, sizeof(resp));
	memset(&req, 0, sizeof(req));
	req.conn = conn;
	req.method = method;
	/* Clients that join a base URL ending in '/' send "//rng": only the
	 * leading slashes are collapsed, "/keys/n//sign" keeps its empty
	 * version segment. */
	req.path = url;
	while (req.path[0] == '/' && req.path[1] == '/')
		req.path++;
	req.body = ctx->buf ? ctx->buf : "";
	req.body_len = ctx->len;
	req.loopback = peer_is_loopback(conn);

	if (ctx->too_big)
		http_error(&resp, 413, "RequestEntityTooLarge",
			 "The request body is larger than %d bytes.", EMU_BODY_MAX);
	else
		dispatch(srv, &req, &resp);
	return answer(srv, conn, &req, &resp, ms_since(&ctx->t0));
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	if (ctx == NULL)
		return;
	free(ctx->buf);
	free(ctx);
	*con_cls = NULL;
}

/* Percent-decode paths and query values in place, except %00: a decoded
 * NUL would cut "/keys/%00x" short to "/keys/" (a list request).  Left
 * encoded, it reaches the key side as an invalid name. */
/* Count accepted connections: over TLS each one is a full handshake, so
 * a client that does not reuse its connections shows here (scripts/bench). */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_ctx, enum MHD_ConnectionNotificationCode code)
{
	struct emu_server *srv = cls;

	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		admin_count_connection(srv->adm);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		admin_count_connection_closed(srv->adm);
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;
	int h, l;

	while (*r != '\0') {
		if (r[0] == '%' && (h = hex_digit_value(r[1])) >= 0 &&
		    (l = hex_digit_value(r[2])) >= 0 &&
		    (h | l) != 0) {
			*w++ = (char)(h * 16 + l);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	fprintf(stderr, "hsm-emulator: libmicrohttpd: %s\n", line);
}

int server_start(struct emu_server *srv, const char *host, unsigned port,
		 const char *key_pem, const char *cert_pem,
		 char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct MHD_OptionItem opts[12];
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *d;
	/* One thread per connection, not a pool: latency and stall faults
	 * sleep in the handler, and in a pool every keep-alive connection
	 * that shares the sleeping worker would wait with it. */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	const char *url_host = host;
	char hostbuf[80];
	size_t n = 0;

	memset(&ss, 0, sizeof(ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
			url_host = "127.0.0.1";
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
		snprintf(hostbuf, sizeof(hostbuf), "[%s]",
			 IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ? "::1" : host);
		url_host = hostbuf;
	} else {
		snprintf(err, errlen, "--listen: '%s' is not an IP address (use e.g. 127.0.0.1:8443)", host);
		return -1;
	}
	if (key_pem != NULL)
		flags |= MHD_USE_TLS;

	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER,
		(intptr_t)mhd_log, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &ss };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_UNESCAPE_CALLBACK,
		(intptr_t)unescape, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
		(intptr_t)completed, srv };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		(intptr_t)on_connection, srv };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, NULL };
	if (key_pem != NULL) {
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
			(void *)(uintptr_t)key_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
			(void *)(uintptr_t)cert_pem };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, srv,
			     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (d == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%u (address in use, or not a local address?)",
			 host, port);
		return -1;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (di == NULL || di->port == 0) {
		MHD_stop_daemon(d);
		snprintf(err, errlen, "cannot find the port the server listens on");
		return -1;
	}
	snprintf(srv->base_url, sizeof(srv->base_url), "%s://%s:%u",
		 key_pem ? "https" : "http", url_host, (unsigned)di->port);
	srv->plain_http = key_pem == NULL;
	srv->mhd = d;
	return 0;
}

void server_stop(struct emu_server *srv)
{
	if (srv->mhd == NULL)
		return;
	pthread_mutex_lock(&srv->sleep_lock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->sleep_cond);
	pthread_mutex_unlock(&srv->sleep_lock);
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
}
