/*
 * hsm_call.c - a small driver of the client library for the integration
 * tests: one operation (optionally repeated, optionally from several
 * threads), each result printed as one JSON line on stdout, then a
 * {"stats": ...} line.  Debug log lines (--debug) go to stderr.
 *
 *   hsm-call [options] OP [ARGS...]
 *   options: --url URL (repeatable) --cafile F --auth NAME --token-file F
 *            --allow-http --timeout MS --connect-timeout MS --retries N
 *            --api-version V --max-reply N --repeat N --interval-ms MS
 *            --threads N --cancel-after-ms MS --debug
 *
 * Exit status: 0 when every call succeeded, else the hsm_status of the
 * last failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "hsm_client.h"
#include "secret.h"

static const char *status_names[] = {
	"HSM_OK", "HSM_E_NOMEM", "HSM_E_INVALID", "HSM_E_NOT_FOUND",
	"HSM_E_CONFLICT", "HSM_E_UNSUPPORTED", "HSM_E_KEY_EXPIRED",
	"HSM_E_FORBIDDEN", "HSM_E_UNAUTHORIZED", "HSM_E_AUTH",
	"HSM_E_THROTTLED", "HSM_E_SERVER", "HSM_E_TIMEOUT",
	"HSM_E_UNREACHABLE", "HSM_E_CANCELLED", "HSM_E_PROTOCOL", "HSM_E_IO",
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_client *cli;
static int op_argc;
static char **op_argv;
static int repeat = 1, interval_ms, cancel_after_ms = -1;
static int last_fail;

/* ------------------------------------------------------------ output */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void jstr(struct buf *b, const char *s)
{
	puts_(b, "\"");
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };

			put(b, e, 2);
		} else if (ch < 0x20) {
			putf(b, "\\u%04x", ch);
		} else {
			put(b, (const char *)&ch, 1);
		}
	}
	puts_(b, "\"");
}

static void jkey(struct buf *b, const char *k)
{
	puts_(b, ",");
	jstr(b, k);
	puts_(b, ":");
}

static void jhex(struct buf *b, const char *k, const uint8_t *p, size_t n)
{
	char *h = hex_encode(p ? p : (const uint8_t *)"", n);

	jkey(b, k);
	jstr(b, h);
	free(h);
}

static void jtags(struct buf *b, const struct hsm_tag *t, size_t n)
{
	jkey(b, "tags");
	puts_(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(b, ",");
		jstr(b, t[i].name);
		puts_(b, ":");
		jstr(b, t[i].value);
	}
	puts_(b, "}");
}

static void jattrs(struct buf *b, const struct hsm_attrs *a)
{
	putf(b, ",\"enabled\":%s,\"exportable\":%s,\"created\":%lld,\"updated\":%lld,"
	     "\"nbf\":%lld,\"exp\":%lld,\"recoverable_days\":%d",
	     a->enabled ? "true" : "false", a->exportable ? "true" : "false",
	     (long long)a->created, (long long)a->updated, (long long)a->nbf,
	     (long long)a->exp, a->recoverable_days);
	jkey(b, "recovery_level");
	jstr(b, a->recovery_level);
}

static void jkeybundle(struct buf *b, const struct hsm_key *k)
{
	static const char *const ops[] = { "encrypt", "decrypt", "sign", "verify",
		"wrapKey", "unwrapKey", "import", "export", "deriveKey" };
	bool first = true;

	jkey(b, "key");
	puts_(b, "{\"name\":");
	jstr(b, k->name);
	jkey(b, "version");
	jstr(b, k->version);
	jkey(b, "kid");
	jstr(b, k->kid);
	jkey(b, "kty");
	jstr(b, k->kty_name);
	putf(b, ",\"bits\":%u,\"crv\":%d", k->bits, (int)k->crv);
	jkey(b, "ops");
	puts_(b, "[");
	for (unsigned i = 0; i < 9; i++)
		if (k->ops & (1u << i)) {
			if (!first)
				puts_(b, ",");
			jstr(b, ops[i]);
			first = false;
		}
	puts_(b, "]");
	jhex(b, "n", k->n, k->n_len);
	jhex(b, "e", k->e, k->e_len);
	jhex(b, "x", k->x, k->x_len);
	jhex(b, "y", k->y, k->y_len);
	jattrs(b, &k->attrs);
	jtags(b, k->tags, k->n_tags);
	jkey(b, "recovery_id");
	jstr(b, k->recovery_id);
	putf(b, ",\"deleted_date\":%lld,\"scheduled_purge_date\":%lld",
	     (long long)k->deleted_date, (long long)k->scheduled_purge_date);
	/* Both are JSON texts: embed them as they are. */
	jkey(b, "bundle");
	puts_(b, k->bundle_json);
	jkey(b, "jwk");
	puts_(b, k->jwk_json);
	puts_(b, "}");
}

static void jlist(struct buf *b, const struct hsm_key_list *l)
{
	jkey(b, "keys");
	puts_(b, "[");
	for (size_t i = 0; i < l->n; i++) {
		const struct hsm_key_item *it = &l->items[i];

		puts_(b, i ? ",{\"name\":" : "{\"name\":");
		jstr(b, it->name);
		jkey(b, "version");
		if (it->version)
			jstr(b, it->version);
		else
			puts_(b, "null");
		jattrs(b, &it->attrs);
		jtags(b, it->tags, it->n_tags);
		putf(b, ",\"deleted_date\":%lld,\"scheduled_purge_date\":%lld}",
		     (long long)it->deleted_date, (long long)it->scheduled_purge_date);
	}
	puts_(b, "]");
}

static void jresult(struct buf *b, const struct hsm_result *r)
{
	jhex(b, "value", secret_bytes(r->value), secret_len(r->value));
	jhex(b, "iv", r->iv, r->iv_len);
	jhex(b, "tag", r->tag, r->tag_len);
	jkey(b, "kid");
	jstr(b, r->kid);
}

/* ------------------------------------------------------------- input */

static uint8_t *unhex(const char *s, size_t *len)
{
	uint8_t *p = NULL;

	*len = 0;
	if (!s)
		return NULL;
	if (hex_decode(s, strlen(s), 0, &p, len) != 0) {
		fprintf(stderr, "hsm-call: bad hex '%s'\n", s);
		exit(99);
	}
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = { 0 };
	char tmp[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "hsm-call: %s: %s\n", path, strerror(errno));
		exit(99);
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		put(&b, tmp, n);
	fclose(f);
	if (!b.p)
		put(&b, "", 0);
	while (b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
		b.p[--b.len] = 0;
	return b.p;
}

static unsigned parse_ops(const char *s)
{
	static const char *const ops[] = { "encrypt", "decrypt", "sign", "verify",
		"wrapKey", "unwrapKey", "import", "export", "deriveKey" };
	unsigned r = 0;
	char *copy = strdup(s), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		for (unsigned i = 0; i < 9; i++)
			if (!strcasecmp(t, ops[i]))
				r |= 1u << i;
	free(copy);
	return r;
}

/* Optional NAME=VALUE arguments after the positional ones. */
static const char *opt(int from, const char *name)
{
	size_t n = strlen(name);

	for (int i = from; i < op_argc; i++)
		if (!strncmp(op_argv[i], name, n) && op_argv[i][n] == '=')
			return op_argv[i] + n + 1;
	return NULL;
}

static bool flag(int from, const char *name)
{
	for (int i = from; i < op_argc; i++)
		if (!strcmp(op_argv[i], name))
			return true;
	return false;
}

static struct hsm_tag tagv[32];
static size_t n_tagv;

/* Parsed once in main(), before any thread runs. */
static size_t collect_tags(int from)
{
	(void)from;
	return n_tagv;
}

static void parse_tags(void)
{
	size_t n = 0;

	for (int i = 1; i < op_argc && n < 32; i++)
		if (!strncmp(op_argv[i], "tag:", 4)) {
			char *eq = strchr(op_argv[i] + 4, '=');

			if (!eq)
				continue;
			tagv[n].name = strndup(op_argv[i] + 4, (size_t)(eq - op_argv[i] - 4));
			tagv[n].value = eq + 1;
			n++;
		}
	n_tagv = n;
}

static void create_params(int from, struct hsm_create *p)
{
	const char *v;

	if ((v = opt(from, "crv"))) {
		p->crv = !strcmp(v, "P-256") ? CRV_P256 : !strcmp(v, "P-256K") ? CRV_P256K :
			 !strcmp(v, "P-384") ? CRV_P384 : !strcmp(v, "P-521") ? CRV_P521 :
			 CRV_NONE;
	}
	if ((v = opt(from, "size")))
		p->bits = (unsigned)atoi(v);
	if ((v = opt(from, "ops")))
		p->ops = parse_ops(v);
	if ((v = opt(from, "exp")))
		p->exp = atoll(v);
	if ((v = opt(from, "nbf")))
		p->nbf = atoll(v);
	if ((v = opt(from, "e")))
		p->public_exponent = strtoul(v, NULL, 10);
	p->disabled = flag(from, "disabled");
	p->exportable = flag(from, "exportable");
	p->tags = tagv;
	p->n_tags = collect_tags(from);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cancel_state {
	int64_t at;
};

static bool is_cancelled(void *arg)
{
	struct cancel_state *cs = arg;

	return mono_ms() >= cs->at;
}

#define ARG(i) (op_argc > (i) ? op_argv[i] : NULL)

/* Run the operation once; append its JSON fields to b. */
static enum hsm_status run(struct hsm_call *call, struct buf *b)
{
	const char *op = op_argv[0];
	enum hsm_status st = HSM_E_INVALID;

	if (!strcmp(op, "list") || !strcmp(op, "deleted") || !strcmp(op, "versions")) {
		struct hsm_key_list l;

		st = !strcmp(op, "list") ? hsm_list_keys(cli, call, &l) :
		     !strcmp(op, "deleted") ? hsm_list_deleted(cli, call, &l) :
		     hsm_list_versions(cli, call, ARG(1), &l);
		if (st == HSM_OK)
			jlist(b, &l);
		hsm_key_list_cleanup(&l);
	} else if (!strcmp(op, "get") || !strcmp(op, "get-deleted") ||
		   !strcmp(op, "create") || !strcmp(op, "import") ||
		   !strcmp(op, "update") || !strcmp(op, "delete") ||
		   !strcmp(op, "recover") || !strcmp(op, "restore") ||
		   !strcmp(op, "rotate")) {
		struct hsm_key k;

		if (!strcmp(op, "get")) {
			const char *ver = ARG(2);

			st = hsm_get_key(cli, call, ARG(1),
					 ver && !strchr(ver, '=') ? ver : NULL, &k);
		} else if (!strcmp(op, "get-deleted")) {
			st = hsm_get_deleted(cli, call, ARG(1), &k);
		} else if (!strcmp(op, "create")) {
			struct hsm_create p = { 0 };
			const char *kty = ARG(2) ? ARG(2) : "EC";

			p.kty = !strncasecmp(kty, "RSA", 3) ? KEY_RSA :
				!strncasecmp(kty, "oct", 3) ? KEY_OCT : KEY_EC;
			create_params(3, &p);
			st = hsm_create_key(cli, call, ARG(1), &p, &k);
		} else if (!strcmp(op, "import")) {
			struct hsm_create p = { 0 };
			char *jwk = slurp(ARG(2));

			create_params(3, &p);
			st = hsm_import_key(cli, call, ARG(1), jwk, &p, &k);
			secret_wipe(jwk, strlen(jwk));
			free(jwk);
		} else if (!strcmp(op, "update")) {
			struct hsm_update u = { 0 };
			const char *v;

			if ((v = opt(2, "enabled"))) {
				u.has_enabled = true;
				u.enabled = atoi(v) != 0;
			}
			if ((v = opt(2, "exp"))) {
				u.has_exp = true;
				u.exp = atoll(v);
			}
			if ((v = opt(2, "nbf"))) {
				u.has_nbf = true;
				u.nbf = atoll(v);
			}
			if ((v = opt(2, "ops"))) {
				u.has_ops = true;
				u.ops = parse_ops(v);
			}
			u.tags = tagv;
			u.n_tags = collect_tags(2);
			u.has_tags = u.n_tags > 0 || flag(2, "notags");
			st = hsm_update_key(cli, call, ARG(1), opt(2, "version"), &u, &k);
		} else if (!strcmp(op, "delete")) {
			st = hsm_delete_key(cli, call, ARG(1), &k);
		} else if (!strcmp(op, "recover")) {
			st = hsm_recover_key(cli, call, ARG(1), &k);
		} else if (!strcmp(op, "restore")) {
			char *blob = slurp(ARG(1));

			st = hsm_restore_key(cli, call, blob, &k);
			free(blob);
		} else {
			st = hsm_rotate_key(cli, call, ARG(1), &k);
		}
		if (st == HSM_OK)
			jkeybundle(b, &k);
		hsm_key_cleanup(&k);
	} else if (!strcmp(op, "purge")) {
		st = hsm_purge_key(cli, call, ARG(1));
	} else if (!strcmp(op, "backup")) {
		char *blob = NULL;

		st = hsm_backup_key(cli, call, ARG(1), &blob);
		if (st == HSM_OK) {
			if (ARG(2)) {
				FILE *f = fopen(ARG(2), "w");

				if (f) {
					fputs(blob, f);
					fclose(f);
				}
			}
			putf(b, ",\"blob_len\":%zu", strlen(blob));
		}
		free(blob);
	} else if (!strcmp(op, "policy-get") || !strcmp(op, "policy-set")) {
		char *pol = NULL;

		st = !strcmp(op, "policy-get") ?
		     hsm_get_rotation_policy(cli, call, ARG(1), &pol) :
		     hsm_set_rotation_policy(cli, call, ARG(1), ARG(2), &pol);
		if (st == HSM_OK) {
			jkey(b, "policy");
			puts_(b, pol);
		}
		free(pol);
	} else if (!strcmp(op, "sign")) {
		size_t dlen;
		uint8_t *d = unhex(ARG(3), &dlen);
		struct hsm_result r;

		st = hsm_sign(cli, call, ARG(1), opt(4, "version"), ARG(2), d, dlen, &r);
		if (st == HSM_OK)
			jresult(b, &r);
		hsm_result_cleanup(&r);
		free(d);
	} else if (!strcmp(op, "verify")) {
		size_t dlen, slen;
		uint8_t *d = unhex(ARG(3), &dlen), *s = unhex(ARG(4), &slen);
		bool valid = false;

		st = hsm_verify(cli, call, ARG(1), opt(5, "version"), ARG(2), d, dlen,
				s, slen, &valid);
		if (st == HSM_OK)
			putf(b, ",\"valid\":%s", valid ? "true" : "false");
		free(d);
		free(s);
	} else if (!strcmp(op, "encrypt") || !strcmp(op, "decrypt") ||
		   !strcmp(op, "wrap") || !strcmp(op, "unwrap")) {
		struct hsm_crypt in = { .alg = ARG(2) };
		struct hsm_result r;
		uint8_t *v, *iv, *aad, *tag;

		v = unhex(ARG(3), &in.len);
		iv = unhex(opt(4, "iv"), &in.iv_len);
		aad = unhex(opt(4, "aad"), &in.aad_len);
		tag = unhex(opt(4, "tag"), &in.tag_len);
		in.value = v;
		in.iv = iv;
		in.aad = aad;
		in.tag = tag;
		st = !strcmp(op, "encrypt") ? hsm_encrypt(cli, call, ARG(1), opt(4, "version"), &in, &r) :
		     !strcmp(op, "decrypt") ? hsm_decrypt(cli, call, ARG(1), opt(4, "version"), &in, &r) :
		     !strcmp(op, "wrap") ? hsm_wrap_key(cli, call, ARG(1), opt(4, "version"), &in, &r) :
		     hsm_unwrap_key(cli, call, ARG(1), opt(4, "version"), &in, &r);
		if (st == HSM_OK)
			jresult(b, &r);
		hsm_result_cleanup(&r);
		free(v);
		free(iv);
		free(aad);
		free(tag);
	} else if (!strcmp(op, "random")) {
		const char *cnt = ARG(1);
		size_t n = cnt ? (size_t)atol(cnt) : 0;
		uint8_t *p = malloc(n + 1);

		st = hsm_random(cli, call, p, n);
		if (st == HSM_OK)
			jhex(b, "value", p, n);
		free(p);
	} else if (!strcmp(op, "none")) {
		st = HSM_OK;
	} else {
		fprintf(stderr, "hsm-call: unknown operation '%s'\n", op);
		exit(99);
	}
	return st;
}

static void *worker(void *arg)
{
	for (int i = 0; i < repeat; i++) {
		struct cancel_state cs = { mono_ms() + cancel_after_ms };
		struct hsm_call call = { 0 };
		struct buf b = { 0 };
		int64_t t0 = mono_ms();
		enum hsm_status st;

		if (cancel_after_ms >= 0) {
			call.cancelled = is_cancelled;
			call.cancel_arg = &cs;
		}
		st = run(&call, &b);
		pthread_mutex_lock(&out_lock);
		printf("{\"op\":\"%s\",\"ok\":%s,\"status\":\"%s\",\"retries\":%u,\"elapsed_ms\":%lld",
		       op_argv[0], st == HSM_OK ? "true" : "false", status_names[st],
		       call.retries, (long long)(mono_ms() - t0));
		if (st != HSM_OK) {
			struct buf e = { 0 };

			jkey(&e, "strerror");
			jstr(&e, hsm_strerror(st));
			jkey(&e, "code");
			jstr(&e, call.err.code);
			jkey(&e, "inner");
			jstr(&e, call.err.inner_code);
			jkey(&e, "message");
			jstr(&e, call.err.message);
			jkey(&e, "request_id");
			jstr(&e, call.err.request_id);
			putf(&e, ",\"http\":%d,\"err_status\":\"%s\"", call.err.http_status,
			     status_names[call.err.status]);
			fputs(e.p, stdout);
			free(e.p);
			last_fail = (int)st;
		}
		jkey(&b, "client_request_id");
		jstr(&b, call.err.client_request_id);
		fputs(b.p ? b.p : "", stdout);
		puts("}");
		fflush(stdout);
		pthread_mutex_unlock(&out_lock);
		free(b.p);
		if (interval_ms && i + 1 < repeat)
			usleep((useconds_t)interval_ms * 1000);
	}
	return arg;
}

static const char *lvl_name[] = { "error", "warning", "info", "debug" };

static void log_sink(void *arg, enum hsm_log_level lvl, const char *msg)
{
	(void)arg;
	fprintf(stderr, "hsm-call: %s: %s\n", lvl_name[lvl], msg);
}

int main(int argc, char **argv)
{
	const char *urls[8];
	struct hsm_config cfg = { .urls = urls };
	struct hsm_stats s;
	pthread_t th[64];
	int threads = 1, i;
	char err[512];
	bool debug = false;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--allow-http")) { cfg.allow_http = true; continue; }
		if (!strcmp(o, "--debug")) { debug = true; continue; }
		if (!v) {
			fprintf(stderr, "hsm-call: %s needs a value\n", o);
			return 99;
		}
		i++;
		if (!strcmp(o, "--url") && cfg.n_urls < 8)
			urls[cfg.n_urls++] = v;
		else if (!strcmp(o, "--cafile")) cfg.cafile = v;
		else if (!strcmp(o, "--auth")) {
			int a = hsm_auth_from_name(v);

			if (a < 0) {
				fprintf(stderr, "hsm-call: unknown auth '%s'\n", v);
				return 99;
			}
			cfg.auth = (enum hsm_auth)a;
		} else if (!strcmp(o, "--token-file")) cfg.token_file = v;
		else if (!strcmp(o, "--timeout")) cfg.timeout_ms = atoi(v);
		else if (!strcmp(o, "--connect-timeout")) cfg.connect_timeout_ms = atoi(v);
		else if (!strcmp(o, "--retries")) cfg.retries = atoi(v) ? atoi(v) : HSM_NO_RETRIES;
		else if (!strcmp(o, "--api-version")) cfg.api_version = v;
		else if (!strcmp(o, "--max-reply")) cfg.max_reply = (size_t)atol(v);
		else if (!strcmp(o, "--repeat")) repeat = atoi(v);
		else if (!strcmp(o, "--interval-ms")) interval_ms = atoi(v);
		else if (!strcmp(o, "--threads")) threads = atoi(v);
		else if (!strcmp(o, "--cancel-after-ms")) cancel_after_ms = atoi(v);
		else {
			fprintf(stderr, "hsm-call: unknown option %s\n", o);
			return 99;
		}
	}
	if (i >= argc || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: hsm-call [options] OP [ARGS...]\n");
		return 99;
	}
	op_argc = argc - i;
	op_argv = argv + i;
	parse_tags();
	if (debug) {
		cfg.log = log_sink;
	}
	if (hsm_global_init() != HSM_OK)
		return 98;
	if (hsm_client_new(&cfg, &cli, err, sizeof(err)) != HSM_OK) {
		fprintf(stderr, "hsm-call: %s\n", err);
		printf("{\"op\":\"new\",\"ok\":false,\"message\":");
		{
			struct buf b = { 0 };

			jstr(&b, err);
			fputs(b.p, stdout);
			free(b.p);
		}
		puts("}");
		hsm_global_cleanup();
		return 97;
	}
	for (int t = 0; t < threads; t++)
		pthread_create(&th[t], NULL, worker, NULL);
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	hsm_client_stats(cli, &s);
	printf("{\"stats\":{\"requests\":%llu,\"retries\":%llu,\"throttled\":%llu,"
	       "\"server_errors\":%llu,\"token_requests\":%llu,\"failovers\":%llu,"
	       "\"token_expires\":%lld,\"identity\":\"%s\",\"endpoint\":\"%s\"}}\n",
	       (unsigned long long)s.requests, (unsigned long long)s.retries,
	       (unsigned long long)s.throttled, (unsigned long long)s.server_errors,
	       (unsigned long long)s.token_requests, (unsigned long long)s.failovers,
	       (long long)s.token_expires, s.identity, s.endpoint);
	hsm_client_free(cli);
	hsm_global_cleanup();
	for (size_t t = 0; t < 32; t++)
		free(tagv[t].name);
	return last_fail;
}
