/*
 * hsm-load - the load generator behind scripts/bench.
 *
 * It runs N caller threads for a fixed time and prints one JSON object with
 * the operations per second and the p50/p99 latency taken from per-operation
 * timings.  Modes:
 *
 *   client  each thread hashes the message and calls hsm_sign() from the
 *           client library in-process: the reference (a) of the benchmark
 *   fs      each thread opens a mounted operation file read-write, writes the
 *           input, reads the output to EOF and closes: hsmfs (b), one handle
 *           per operation
 *   raw     each thread posts a prebuilt sign request over its own keep-alive
 *           libcurl handle, with no client library in between: the emulator's
 *           ceiling (e)
 *   create  creates --count EC P-256 keys named PREFIX-NNNNN with
 *           hsm_create_key(), spread over the threads (benchmark set-up)
 *
 * With --stats it reads the emulator's admin counters (GET /_emulator/stats)
 * just before and just after the measured window and reports the deltas, so
 * a caller can check that the operations it counted are the requests the
 * emulator saw.
 *
 * Credentials come from the usual environment (AZURE_TENANT_ID,
 * AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST), never argv.
 * The raw mode fetches its token itself with the client secret; the token
 * lives in one header buffer per thread, wiped at the end.
 *
 * This is a benchmark tool, not part of the product: it may use libcurl and
 * json-c directly (the layering rule binds fs/, crypto/ and emulator/).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "alg.h"
#include "codec.h"
#include "digest.h"
#include "hsm_client.h"
#include "secret.h"

#define DEFAULT_TENANT "00000000-0000-0000-0000-000000000000"
#define DEFAULT_MESSAGE "hsmfs benchmark message: the quick brown fox jumps over the lazy dog"
#define OUT_MAX (64 * 1024)
#define REPLY_MAX (64 * 1024)

enum mode { MODE_CLIENT, MODE_FS, MODE_RAW, MODE_CREATE };

struct opts {
	enum mode mode;
	const char *url;
	const char *cafile;
	const char *key;
	const char *alg;
	const char *path;		/* fs: the operation file */
	const char *input_file;		/* fs: bytes written per operation */
	const char *expect_file;	/* fs: expected output, exactly */
	const char *lat_out;		/* write every latency (µs), one a line */
	const char *prefix;		/* create */
	unsigned threads;
	double duration;		/* seconds of measurement */
	double warmup;			/* seconds of unmeasured load first */
	unsigned count;			/* create */
	bool stats;
	/* --cpu LABEL=PID: CPU time of other processes over the window */
	const char *cpu_label[4];
	int cpu_pid[4];
	unsigned n_cpu;
};

/* Emulator counters of interest. */
struct emu_stats {
	long long sign, verify, list, get, create, tokens, total;
	long long connections;		/* accepted by the emulator (TLS handshakes) */
};

/* What one caller thread did. */
struct worker {
	pthread_t tid;
	unsigned idx;
	struct shared *sh;
	uint32_t *lat;			/* µs per measured operation */
	size_t n_lat, cap_lat;
	unsigned long long ops, errors;
	double end;			/* monotonic time its last op ended */
	char first_error[1024];
	/* raw mode */
	CURL *curl;
	struct curl_slist *hdrs;
	char *auth_hdr;			/* "Authorization: Bearer ..." (secret) */
	size_t auth_len;
	char errbuf[CURL_ERROR_SIZE];
	char reply[REPLY_MAX];
	size_t reply_len;
	bool reply_overflow;
};

struct shared {
	const struct opts *o;
	struct hsm_client *client;
	const struct alg_info *alg;
	uint8_t *input;			/* fs: input bytes; others: message */
	size_t input_len;
	uint8_t *expect;
	size_t expect_len;
	char *raw_url;			/* raw: the sign URL */
	char *raw_body;			/* raw: the JSON body */
	char *token;			/* raw: the access token (wiped) */
	pthread_barrier_t start;
	double t_warm_end;		/* monotonic: measurement starts */
	double t_end;			/* monotonic: measurement stops */
	atomic_uint next_key;		/* create */
	atomic_ullong created;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
	__attribute__((format(printf, 1, 0), noreturn));

/* Print "hsm-load: " and fmt (with at most one %s, arg) and exit 2. */
static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "hsm-load: ");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	fprintf(stderr, fmt, arg);
#pragma GCC diagnostic pop
	fputc('\n', stderr);
	exit(2);
}

static void note_error(struct worker *w, const char *what, const char *detail)
{
	w->errors++;
	if (!w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s",
			 what, detail);
}

static void record(struct worker *w, double t0, double t1)
{
	if (w->n_lat == w->cap_lat) {
		size_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
		uint32_t *p = realloc(w->lat, cap * sizeof(*p));

		if (!p) {
			note_error(w, "record", "out of memory");
			return;
		}
		w->lat = p;
		w->cap_lat = cap;
	}
	w->lat[w->n_lat++] = (uint32_t)((t1 - t0) * 1e6 + 0.5);
}

/* Read a whole small file; exits on failure (set-up only). */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		die("cannot open %s", path);
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory reading %s", path);
		}
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f))
		die("cannot read %s", path);
	fclose(f);
	*len = n;
	return buf;
}

/* ----------------------------------------------------------- curl helpers */

static size_t on_reply(char *p, size_t sz, size_t nm, void *arg)
{
	struct worker *w = arg;
	size_t n = sz * nm;

	if (w->reply_len + n >= sizeof(w->reply)) {
		w->reply_overflow = true;
		return 0;		/* makes curl fail the transfer */
	}
	memcpy(w->reply + w->reply_len, p, n);
	w->reply_len += n;
	w->reply[w->reply_len] = '\0';
	return n;
}

/* One request on w's handle; returns the HTTP status, 0 on transport
 * failure (detail in w->first_error via the caller). */
static long http_do(struct worker *w, const char *method, const char *url,
		    const char *body, const char *content_type,
		    char *errbuf)
{
	CURL *h = w->curl;
	struct curl_slist *hdrs = NULL;
	long status = 0;
	CURLcode rc;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (content_type) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(NULL, ct);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	w->reply_len = 0;
	w->reply[0] = '\0';
	w->reply_overflow = false;
	errbuf[0] = '\0';
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else if (!errbuf[0])
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return status;
}

static CURL *curl_new(const struct opts *o, struct worker *w, char *errbuf)
{
	CURL *h = curl_easy_init();

	if (!h)
		die("%s", "curl_easy_init failed");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (o->cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
	return h;
}

static long long json_ll(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v))
		return 0;
	return json_object_get_int64(v);
}

/* GET /_emulator/stats; exits on failure. */
static void emu_stats_get(const struct opts *o, struct emu_stats *s)
{
	struct worker *w = calloc(1, sizeof(*w));
	char errbuf[CURL_ERROR_SIZE];
	char url[1024];
	struct json_object *root, *req = NULL;
	long st;

	if (!w)
		die("%s", "out of memory");
	w->curl = curl_new(o, w, errbuf);
	snprintf(url, sizeof(url), "%s/_emulator/stats", o->url);
	st = http_do(w, "GET", url, NULL, NULL, errbuf);
	if (st != 200) {
		fprintf(stderr, "hsm-load: GET %s: status %ld %s\n", url, st, errbuf);
		exit(2);
	}
	root = json_tokener_parse(w->reply);
	if (!root)
		die("%s", "the emulator's stats are not JSON");
	json_object_object_get_ex(root, "requests", &req);
	s->sign = json_ll(req, "sign");
	s->verify = json_ll(req, "verify");
	s->list = json_ll(req, "list");
	s->get = json_ll(req, "get");
	s->create = json_ll(req, "create");
	s->tokens = json_ll(root, "tokens");
	s->total = json_ll(root, "total");
	s->connections = json_ll(root, "connections");
	json_object_put(root);
	curl_easy_cleanup(w->curl);
	free(w);
}

/* The raw mode's token: client credentials from the environment, posted to
 * the emulator's token endpoint (AZURE_AUTHORITY_HOST, else the URL). */
static char *fetch_token(const struct opts *o)
{
	const char *tenant = getenv("AZURE_TENANT_ID");
	const char *cid = getenv("AZURE_CLIENT_ID");
	const char *secret = getenv("AZURE_CLIENT_SECRET");
	const char *authority = getenv("AZURE_AUTHORITY_HOST");
	struct worker *w = calloc(1, sizeof(*w));
	char errbuf[CURL_ERROR_SIZE];
	char url[1024];
	char *form, *e_cid, *e_secret, *token = NULL;
	struct json_object *root, *v;
	long st;
	size_t flen;

	if (!w)
		die("%s", "out of memory");
	if (!cid || !secret)
		die("%s", "raw mode needs AZURE_CLIENT_ID and AZURE_CLIENT_SECRET");
	w->curl = curl_new(o, w, errbuf);
	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token",
		 authority && *authority ? authority : o->url,
		 tenant && *tenant ? tenant : DEFAULT_TENANT);
	e_cid = curl_easy_escape(w->curl, cid, 0);
	e_secret = curl_easy_escape(w->curl, secret, 0);
	flen = strlen(e_cid) + strlen(e_secret) + 200;
	form = malloc(flen);
	if (!form || !e_cid || !e_secret)
		die("%s", "out of memory");
	snprintf(form, flen, "grant_type=client_credentials&client_id=%s"
		 "&client_secret=%s&scope=https%%3A%%2F%%2Fmanagedhsm.azure.net%%2F.default",
		 e_cid, e_secret);
	st = http_do(w, "POST", url, form, "application/x-www-form-urlencoded",
		     errbuf);
	secret_wipe(form, strlen(form));
	secret_wipe(e_secret, strlen(e_secret));
	free(form);
	curl_free(e_cid);
	curl_free(e_secret);
	if (st != 200) {
		fprintf(stderr, "hsm-load: token request: status %ld %s\n", st, errbuf);
		exit(2);
	}
	root = json_tokener_parse(w->reply);
	if (root && json_object_object_get_ex(root, "access_token", &v))
		token = strdup(json_object_get_string(v));
	if (root)
		json_object_put(root);
	secret_wipe(w->reply, sizeof(w->reply));
	curl_easy_cleanup(w->curl);
	free(w);
	if (!token)
		die("%s", "the token endpoint's answer has no access_token");
	return token;
}

/* -------------------------------------------------------- one operation */

static void op_client(struct worker *w)
{
	struct shared *sh = w->sh;
	uint8_t dg[DIGEST_MAX];
	struct hsm_result res = { 0 };
	struct hsm_call call = { 0 };
	enum hsm_status st;
	int dlen;

	/* Hash per operation, as hsmfs does for each sign. */
	dlen = digest_oneshot(sh->alg, sh->input, sh->input_len, dg);
	if (dlen < 0) {
		note_error(w, "digest", strerror(-dlen));
		return;
	}
	st = hsm_sign(sh->client, &call, sh->o->key, NULL, sh->o->alg, dg,
		      (size_t)dlen, &res);
	if (st != HSM_OK) {
		note_error(w, hsm_strerror(st), call.err.message);
		return;
	}
	if (!res.value || secret_len(res.value) == 0)
		note_error(w, "hsm_sign", "empty signature");
	hsm_result_cleanup(&res);
}

static void op_fs(struct worker *w)
{
	struct shared *sh = w->sh;
	uint8_t out[OUT_MAX];
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = open(sh->o->path, O_RDWR);
	if (fd < 0) {
		note_error(w, "open", strerror(errno));
		return;
	}
	n = write(fd, sh->input, sh->input_len);
	if (n != (ssize_t)sh->input_len) {
		note_error(w, "write", n < 0 ? strerror(errno) : "short write");
		close(fd);
		return;
	}
	for (;;) {
		n = read(fd, out + got, sizeof(out) - got);
		if (n < 0) {
			note_error(w, "read", strerror(errno));
			close(fd);
			return;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(out)) {
			note_error(w, "read", "output larger than 64 KiB");
			close(fd);
			return;
		}
	}
	if (close(fd) != 0) {
		note_error(w, "close", strerror(errno));
		return;
	}
	if (sh->expect) {
		if (got != sh->expect_len || memcmp(out, sh->expect, got) != 0)
			note_error(w, "read", "output differs from --expect");
	} else if (got == 0) {
		note_error(w, "read", "empty output");
	}
}

static void op_raw(struct worker *w)
{
	long st;

	w->reply_len = 0;
	w->reply_overflow = false;
	w->errbuf[0] = '\0';
	if (curl_easy_perform(w->curl) != CURLE_OK) {
		note_error(w, "transport", w->errbuf);
		return;
	}
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &st);
	w->reply[w->reply_len] = '\0';
	if (st != 200 || !strstr(w->reply, "\"value\"")) {
		char d[64];

		snprintf(d, sizeof(d), "status %ld", st);
		note_error(w, "sign", d);
	}
}

static void raw_setup(struct worker *w)
{
	struct shared *sh = w->sh;
	size_t tl = strlen(sh->token);

	w->curl = curl_new(sh->o, w, w->errbuf);
	w->auth_len = tl + 32;
	w->auth_hdr = malloc(w->auth_len);
	if (!w->auth_hdr)
		die("%s", "out of memory");
	snprintf(w->auth_hdr, w->auth_len, "Authorization: Bearer %s", sh->token);
	w->hdrs = curl_slist_append(NULL, w->auth_hdr);
	w->hdrs = curl_slist_append(w->hdrs, "Content-Type: application/json");
	curl_easy_setopt(w->curl, CURLOPT_URL, sh->raw_url);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, sh->raw_body);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(sh->raw_body));
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->hdrs);
}

static void raw_teardown(struct worker *w)
{
	struct curl_slist *p;

	if (w->curl)
		curl_easy_cleanup(w->curl);
	/* curl_slist_append copied the header: wipe that copy too. */
	for (p = w->hdrs; p; p = p->next)
		secret_wipe(p->data, strlen(p->data));
	curl_slist_free_all(w->hdrs);
	if (w->auth_hdr)
		secret_wipe_free(w->auth_hdr, w->auth_len);
	w->auth_hdr = NULL;
}

static void op_create(struct worker *w, unsigned i)
{
	struct shared *sh = w->sh;
	struct hsm_create p = { .kty = KEY_EC, .crv = CRV_P256 };
	struct hsm_key k = { 0 };
	struct hsm_call call = { 0 };
	enum hsm_status st;
	char name[128];

	snprintf(name, sizeof(name), "%s-%05u", sh->o->prefix, i);
	st = hsm_create_key(sh->client, &call, name, &p, &k);
	if (st != HSM_OK) {
		note_error(w, hsm_strerror(st), call.err.message);
		return;
	}
	hsm_key_cleanup(&k);
	atomic_fetch_add(&sh->created, 1);
}

/* ------------------------------------------------------------ the threads */

static void run_one(struct worker *w)
{
	switch (w->sh->o->mode) {
	case MODE_CLIENT:
		op_client(w);
		break;
	case MODE_FS:
		op_fs(w);
		break;
	case MODE_RAW:
		op_raw(w);
		break;
	case MODE_CREATE:
		break;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	double t0, t1;

	if (sh->o->mode == MODE_RAW)
		raw_setup(w);
	if (sh->o->mode == MODE_CREATE) {
		/* Keys are handed out one at a time, so a slow thread never
		 * leaves a tail of work behind. */
		pthread_barrier_wait(&sh->start);
		for (;;) {
			unsigned i = atomic_fetch_add(&sh->next_key, 1);

			if (i >= sh->o->count)
				break;
			op_create(w, i);
		}
		w->end = now();
		return NULL;
	}

	/* One operation outside the clock: the connection, the token and any
	 * cache fill are set-up, not steady state. */
	run_one(w);
	w->errors = 0;
	w->first_error[0] = '\0';
	pthread_barrier_wait(&sh->start);
	while (now() < sh->t_warm_end)
		run_one(w);
	w->errors = 0;
	w->first_error[0] = '\0';
	/* Every thread ends its warm-up, the main thread takes the "before"
	 * counters with no request in flight, then all start measuring. */
	pthread_barrier_wait(&sh->start);
	pthread_barrier_wait(&sh->start);
	for (;;) {
		t0 = now();
		if (t0 >= sh->t_end)
			break;
		unsigned long long e = w->errors;

		run_one(w);
		t1 = now();
		w->end = t1;
		if (w->errors == e) {
			w->ops++;
			record(w, t0, t1);
		}
	}
	if (sh->o->mode == MODE_RAW)
		raw_teardown(w);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static uint32_t pct(const uint32_t *v, size_t n, double p)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

/* CPU seconds (user + system, all threads) of process pid, from
 * /proc/PID/stat fields 14 and 15; -1 when it cannot be read. */
static double proc_cpu(int pid)
{
	char path[64], line[2048], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	/* comm may hold spaces and parentheses: fields count from the last ')'. */
	p = strrchr(line, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Write-type syscalls of process pid so far (syscw of /proc/PID/io); -1
 * when unreadable.  For the hsmfs daemon these are exactly its replies to
 * the kernel (writev on /dev/fuse; its sockets use sendto, not counted). */
static long long proc_syscw(int pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/io", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "syscw:");
	if (p)
		v = strtoll(p + 6, NULL, 10);
	return v;
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hsm-load MODE --url URL [options]\n"
"modes: client | fs | raw | create\n"
"  --url URL          the emulator (or Managed HSM) base URL\n"
"  --cafile PATH      CA certificate to trust (the emulator's tls/ca.pem)\n"
"  --key NAME         key to sign with (client, raw)\n"
"  --alg ALG          ES256, RS256, ... (client, raw; default ES256)\n"
"  --path FILE        operation file, e.g. MNT/keys/k/sign (fs)\n"
"  --input FILE       bytes written per operation (fs; default a fixed message)\n"
"  --expect FILE      the exact output each operation must give (fs)\n"
"  --threads N        concurrent callers (default 1)\n"
"  --duration SEC     measured time (default 3)\n"
"  --warmup SEC       unmeasured load before it (default 0.3)\n"
"  --count N --prefix P   keys to create (create)\n"
"  --stats            report the emulator's counters over the measured window\n"
"  --lat-out FILE     write each operation's latency in microseconds\n"
"  --cpu LABEL=PID    report PID's CPU time and write syscalls (up to 4)\n"
"Credentials: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,\n"
"AZURE_AUTHORITY_HOST from the environment.  Prints one JSON object.\n");
}

static double parse_pos(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e6)
		die("bad value for %s", what);
	return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "cafile", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "alg", required_argument, NULL, 'a' },
		{ "path", required_argument, NULL, 'p' },
		{ "input", required_argument, NULL, 'i' },
		{ "expect", required_argument, NULL, 'e' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "stats", no_argument, NULL, 's' },
		{ "lat-out", required_argument, NULL, 'l' },
		{ "cpu", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .alg = "ES256", .threads = 1, .duration = 3,
			    .warmup = 0.3, .prefix = "bulk" };
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		exit(argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2);
	}
	if (!strcmp(argv[1], "client"))
		o->mode = MODE_CLIENT;
	else if (!strcmp(argv[1], "fs"))
		o->mode = MODE_FS;
	else if (!strcmp(argv[1], "raw"))
		o->mode = MODE_RAW;
	else if (!strcmp(argv[1], "create"))
		o->mode = MODE_CREATE;
	else
		die("unknown mode %s (client, fs, raw or create)", argv[1]);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 'c': o->cafile = optarg; break;
		case 'k': o->key = optarg; break;
		case 'a': o->alg = optarg; break;
		case 'p': o->path = optarg; break;
		case 'i': o->input_file = optarg; break;
		case 'e': o->expect_file = optarg; break;
		case 't': o->threads = (unsigned)parse_pos(optarg, "--threads"); break;
		case 'd': o->duration = parse_pos(optarg, "--duration"); break;
		case 'w': o->warmup = parse_pos(optarg, "--warmup"); break;
		case 'n': o->count = (unsigned)parse_pos(optarg, "--count"); break;
		case 'P': o->prefix = optarg; break;
		case 's': o->stats = true; break;
		case 'l': o->lat_out = optarg; break;
		case 'C': {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || o->n_cpu == 4)
				die("bad --cpu %s (LABEL=PID, at most 4)", optarg);
			*eq = '\0';
			o->cpu_label[o->n_cpu] = optarg;
			o->cpu_pid[o->n_cpu++] = (int)parse_pos(eq + 1, "--cpu");
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument %s", argv[optind]);
	if (o->threads < 1 || o->threads > 256)
		die("%s", "--threads must be 1..256");
	if (o->mode != MODE_FS && !o->url)
		die("%s", "--url is required");
	if (o->stats && !o->url)
		die("%s", "--stats needs --url");
	if ((o->mode == MODE_CLIENT || o->mode == MODE_RAW) && !o->key)
		die("%s", "--key is required");
	if (o->mode == MODE_FS && !o->path)
		die("%s", "--path is required in fs mode");
	if (o->mode == MODE_CREATE && o->count == 0)
		die("%s", "--count is required in create mode");
}

static struct hsm_client *client_open(const struct opts *o)
{
	const char *urls[1] = { o->url };
	struct hsm_config cfg = {
		.urls = urls, .n_urls = 1, .cafile = o->cafile,
		.auth = HSM_AUTH_AUTO,
	};
	struct hsm_client *c = NULL;
	char err[512];
	enum hsm_status st;

	st = hsm_client_new(&cfg, &c, err, sizeof(err));
	if (st != HSM_OK) {
		fprintf(stderr, "hsm-load: %s\n", err);
		exit(2);
	}
	return c;
}

static void raw_prepare(struct shared *sh)
{
	const struct opts *o = sh->o;
	uint8_t dg[DIGEST_MAX];
	char *b64;
	size_t len;
	int dlen;

	dlen = digest_oneshot(sh->alg, sh->input, sh->input_len, dg);
	if (dlen < 0)
		die("%s", "cannot hash the message");
	b64 = b64url_encode(dg, (size_t)dlen);
	if (!b64)
		die("%s", "out of memory");
	len = strlen(o->url) + strlen(o->key) + 64;
	sh->raw_url = malloc(len);
	if (!sh->raw_url)
		die("%s", "out of memory");
	/* No version segment: the latest version, as the OpenSSL provider
	 * posts it (reference §1.1). */
	snprintf(sh->raw_url, len, "%s/keys/%s/sign?api-version=7.5", o->url, o->key);
	len = strlen(b64) + strlen(o->alg) + 32;
	sh->raw_body = malloc(len);
	if (!sh->raw_body)
		die("%s", "out of memory");
	snprintf(sh->raw_body, len, "{\"alg\":\"%s\",\"value\":\"%s\"}", o->alg, b64);
	free(b64);
	sh->token = fetch_token(o);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct shared sh = { 0 };
	struct worker *w;
	struct emu_stats s0 = { 0 }, s1 = { 0 };
	struct hsm_stats cst = { 0 };
	double cpu0[5] = { 0 }, cpu1[5] = { 0 };
	long long syscw0[4] = { 0 }, syscw1[4] = { 0 };
	unsigned long long ops = 0, errors = 0;
	const char *first_error = "";
	double t_start, t_last = 0, secs;
	uint32_t *all;
	size_t n_all = 0;

	parse(argc, argv, &o);
	sh.o = &o;
	if (hsm_global_init() != HSM_OK)
		die("%s", "hsm_global_init failed");
	sh.alg = alg_by_name(o.alg);
	if (!sh.alg || !sh.alg->md)
		die("unknown signing algorithm %s", o.alg);
	if (o.mode == MODE_FS && o.input_file) {
		sh.input = slurp(o.input_file, &sh.input_len);
	} else {
		sh.input_len = strlen(DEFAULT_MESSAGE);
		sh.input = malloc(sh.input_len);
		if (!sh.input)
			die("%s", "out of memory");
		memcpy(sh.input, DEFAULT_MESSAGE, sh.input_len);
	}
	if (o.expect_file)
		sh.expect = slurp(o.expect_file, &sh.expect_len);
	if (o.mode == MODE_CLIENT || o.mode == MODE_CREATE)
		sh.client = client_open(&o);
	if (o.mode == MODE_RAW)
		raw_prepare(&sh);

	w = calloc(o.threads, sizeof(*w));
	if (!w)
		die("%s", "out of memory");
	pthread_barrier_init(&sh.start, NULL, o.threads + 1);
	for (unsigned i = 0; i < o.threads; i++) {
		w[i].idx = i;
		w[i].sh = &sh;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			die("%s", "pthread_create failed");
	}
	if (o.mode == MODE_CREATE) {
		if (o.stats)
			emu_stats_get(&o, &s0);
		t_start = now();
		pthread_barrier_wait(&sh.start);
	} else {
		/* Every thread finished its set-up operation. */
		sh.t_warm_end = now() + o.warmup;
		pthread_barrier_wait(&sh.start);
		pthread_barrier_wait(&sh.start);
		if (o.stats)
			emu_stats_get(&o, &s0);
		for (unsigned i = 0; i < o.n_cpu; i++) {
			cpu0[i] = proc_cpu(o.cpu_pid[i]);
			syscw0[i] = proc_syscw(o.cpu_pid[i]);
		}
		cpu0[4] = self_cpu();
		t_start = now();
		sh.t_end = t_start + o.duration;
		pthread_barrier_wait(&sh.start);
	}
	for (unsigned i = 0; i < o.threads; i++) {
		pthread_join(w[i].tid, NULL);
		ops += w[i].ops;
		errors += w[i].errors;
		n_all += w[i].n_lat;
		if (w[i].end > t_last)
			t_last = w[i].end;
		if (!first_error[0] && w[i].first_error[0])
			first_error = w[i].first_error;
	}
	cpu1[4] = self_cpu();
	for (unsigned i = 0; i < o.n_cpu; i++) {
		cpu1[i] = proc_cpu(o.cpu_pid[i]);
		syscw1[i] = proc_syscw(o.cpu_pid[i]);
	}
	if (o.stats)
		emu_stats_get(&o, &s1);
	if (sh.client)
		hsm_client_stats(sh.client, &cst);
	secs = t_last > t_start ? t_last - t_start : 0;

	all = malloc((n_all ? n_all : 1) * sizeof(*all));
	if (!all)
		die("%s", "out of memory");
	n_all = 0;
	for (unsigned i = 0; i < o.threads; i++) {
		if (w[i].n_lat)
			memcpy(all + n_all, w[i].lat, w[i].n_lat * sizeof(*all));
		n_all += w[i].n_lat;
	}
	qsort(all, n_all, sizeof(*all), cmp_u32);
	if (o.lat_out) {
		FILE *f = fopen(o.lat_out, "w");

		if (!f)
			die("cannot write %s", o.lat_out);
		for (size_t i = 0; i < n_all; i++)
			fprintf(f, "%" PRIu32 "\n", all[i]);
		if (fclose(f) != 0)
			die("cannot write %s", o.lat_out);
	}

	{
		static const char *names[] = { "client", "fs", "raw", "create" };
		struct json_object *r = json_object_new_object();
		char *esc_err;

		json_object_object_add(r, "mode", json_object_new_string(names[o.mode]));
		json_object_object_add(r, "threads", json_object_new_int((int)o.threads));
		json_object_object_add(r, "seconds", json_object_new_double(secs));
		if (o.mode == MODE_CREATE) {
			ops = atomic_load(&sh.created);
			json_object_object_add(r, "created", json_object_new_int64((int64_t)ops));
		}
		json_object_object_add(r, "ops", json_object_new_int64((int64_t)ops));
		json_object_object_add(r, "errors", json_object_new_int64((int64_t)errors));
		json_object_object_add(r, "ops_per_s",
			json_object_new_double(secs > 0 ? (double)ops / secs : 0));
		json_object_object_add(r, "p50_us", json_object_new_int64(pct(all, n_all, 50)));
		json_object_object_add(r, "p99_us", json_object_new_int64(pct(all, n_all, 99)));
		json_object_object_add(r, "max_us",
			json_object_new_int64(n_all ? all[n_all - 1] : 0));
		esc_err = strdup(first_error);
		json_object_object_add(r, "first_error",
			json_object_new_string(esc_err ? esc_err : ""));
		free(esc_err);
		if (sh.client) {
			json_object_object_add(r, "client_requests",
				json_object_new_int64((int64_t)cst.requests));
			json_object_object_add(r, "client_token_requests",
				json_object_new_int64((int64_t)cst.token_requests));
			json_object_object_add(r, "client_retries",
				json_object_new_int64((int64_t)cst.retries));
		}
		if (o.mode == MODE_RAW)
			json_object_object_add(r, "client_token_requests",
					       json_object_new_int64(1));
		if (o.mode != MODE_CREATE) {
			/* CPU seconds over the measured window: this process
			 * (the callers) and each --cpu process. */
			struct json_object *c = json_object_new_object();

			json_object_object_add(c, "self",
				json_object_new_double(cpu1[4] - cpu0[4]));
			for (unsigned i = 0; i < o.n_cpu; i++)
				json_object_object_add(c, o.cpu_label[i],
					json_object_new_double(cpu0[i] < 0 || cpu1[i] < 0 ?
							       -1 : cpu1[i] - cpu0[i]));
			json_object_object_add(r, "cpu_s", c);
			c = json_object_new_object();
			for (unsigned i = 0; i < o.n_cpu; i++)
				json_object_object_add(c, o.cpu_label[i],
					json_object_new_int64(syscw0[i] < 0 || syscw1[i] < 0 ?
							      -1 : syscw1[i] - syscw0[i]));
			json_object_object_add(r, "syscw", c);
		}
		if (o.stats) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "sign", json_object_new_int64(s1.sign - s0.sign));
			json_object_object_add(e, "verify", json_object_new_int64(s1.verify - s0.verify));
			json_object_object_add(e, "list", json_object_new_int64(s1.list - s0.list));
			json_object_object_add(e, "get", json_object_new_int64(s1.get - s0.get));
			json_object_object_add(e, "create", json_object_new_int64(s1.create - s0.create));
			json_object_object_add(e, "tokens", json_object_new_int64(s1.tokens - s0.tokens));
			json_object_object_add(e, "total", json_object_new_int64(s1.total - s0.total));
			/* Less the connection of the second stats request. */
			json_object_object_add(e, "connections",
				json_object_new_int64(s1.connections - s0.connections - 1));
			json_object_object_add(r, "emulator", e);
		}
		puts(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
		json_object_put(r);
	}

	for (unsigned i = 0; i < o.threads; i++)
		free(w[i].lat);
	free(w);
	free(all);
	free(sh.input);
	free(sh.expect);
	free(sh.raw_url);
	free(sh.raw_body);
	if (sh.token)
		secret_wipe_free(sh.token, strlen(sh.token));
	if (sh.client)
		hsm_client_free(sh.client);
	pthread_barrier_destroy(&sh.start);
	hsm_global_cleanup();
	return errors ? 1 : 0;
}
