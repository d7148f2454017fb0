/*
 * metrics.c - counters, histograms and their Prometheus exposition.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "syslogger.h"

/* Results: 0 is "ok", 1..MET_ERRNO_MAX-1 an errno, MET_ERRNO_MAX "other". */
#define MET_ERRNO_MAX 134
#define MET_RESULTS (MET_ERRNO_MAX + 1)
/* Per-key series: a fixed table, so that no caller can grow the
 * daemon's memory; series past it are counted as dropped. */
#define KEY_SLOTS 4096
#define KEY_MAX_USED 3072

const char *const metrics_ops[] = {
	"sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "seal",
	"unseal", "random", "create", "import", "rotate", "enable", "disable",
	"set", "tag", "untag", "rotation_policy", "delete", "recover",
	"purge", "backup", "restore", "flush", "other", NULL
};
#define MET_OPS (sizeof(metrics_ops) / sizeof(metrics_ops[0]) - 1)

static const uint64_t bucket_us[MET_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};
static const char *const bucket_le[MET_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10", "30",
};

struct key_series {
	char key[128];			/* "" : free slot */
	uint16_t op, res;
	uint64_t n;
};

struct metrics {
	uint64_t ops[MET_OPS][MET_RESULTS];
	uint64_t hist[MET_OPS][MET_BUCKETS + 1];	/* not cumulative */
	uint64_t sum_us[MET_OPS];
	int64_t in_flight;
	bool per_key;
	pthread_mutex_t key_lock;	/* the table below */
	struct key_series *keys;
	unsigned keys_used;
	uint64_t keys_dropped;
};

struct metrics *metrics_new(bool per_key)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->per_key = per_key;
	if (per_key) {
		m->keys = calloc(KEY_SLOTS, sizeof(*m->keys));
		if (m->keys == NULL) {
			free(m);
			return NULL;
		}
	}
	pthread_mutex_init(&m->key_lock, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->key_lock);
	free(m->keys);
	free(m);
}

static unsigned op_index(const char *op)
{
	unsigned i;

	for (i = 0; i < MET_OPS - 1; i++)
		if (strcmp(metrics_ops[i], op) == 0)
			return i;
	return MET_OPS - 1;	/* "other" */
}

static unsigned res_index(int err)
{
	int e = -err;

	if (e < 0 || e >= MET_ERRNO_MAX)
		return MET_ERRNO_MAX;
	return (unsigned)e;
}

const char *metrics_result(int err)
{
	const char *name;

	if (err == 0)
		return "ok";
	name = err < 0 ? strerrorname_np(-err) : NULL;
	return name ? name : "other";
}

unsigned metrics_bucket(uint64_t latency_us)
{
	unsigned i;

	for (i = 0; i < MET_BUCKETS; i++)
		if (latency_us <= bucket_us[i])
			return i;
	return MET_BUCKETS;
}

static uint64_t hash_series(const char *key, unsigned op, unsigned res)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return (h ^ (op << 16 | res)) * 1099511628211ull;
}

/* Count one operation of key (the table's lock is held). */
static void key_count(struct metrics *m, const char *key, unsigned op,
		      unsigned res)
{
	size_t i = hash_series(key, op, res) % KEY_SLOTS, n;
	struct key_series *s;

	for (n = 0; n < KEY_SLOTS; n++, i = (i + 1) % KEY_SLOTS) {
		s = &m->keys[i];
		if (s->key[0] == '\0')
			break;
		if (s->op == op && s->res == res && strcmp(s->key, key) == 0) {
			s->n++;
			return;
		}
	}
	if (n == KEY_SLOTS || m->keys_used >= KEY_MAX_USED ||
	    strlen(key) >= sizeof(s->key)) {
		m->keys_dropped++;
		return;
	}
	strcpy(s->key, key);
	s->op = (uint16_t)op;
	s->res = (uint16_t)res;
	s->n = 1;
	m->keys_used++;
}

void metrics_op_done(struct metrics *m, const char *key, const char *op,
		     int err, uint64_t latency_us)
{
	unsigned o = op_index(op), r = res_index(err);

	__atomic_add_fetch(&m->ops[o][r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->hist[o][metrics_bucket(latency_us)], 1,
			   __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->sum_us[o], latency_us, __ATOMIC_RELAXED);
	if (m->per_key && key != NULL && key[0] != '\0') {
		pthread_mutex_lock(&m->key_lock);
		key_count(m, key, o, r);
		pthread_mutex_unlock(&m->key_lock);
	}
}

void metrics_calls_add(struct metrics *m, int delta)
{
	__atomic_add_fetch(&m->in_flight, delta, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ exposition */

void metrics_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void result_label(FILE *f, unsigned r)
{
	fprintf(f, "result=\"%s\"", r == MET_ERRNO_MAX ? "other" :
		metrics_result(-(int)r));
}

static void render_ops(struct metrics *m, FILE *f)
{
	unsigned o, r;
	uint64_t v;

	family(f, "hsmfs_operations_total", "counter",
	       "Operations by operation and result (errno name or ok).");
	for (o = 0; o < MET_OPS; o++)
		for (r = 0; r < MET_RESULTS; r++) {
			if ((v = load(&m->ops[o][r])) == 0)
				continue;
			fprintf(f, "hsmfs_operations_total{op=\"%s\",",
				metrics_ops[o]);
			result_label(f, r);
			fprintf(f, "} %llu\n", (unsigned long long)v);
		}
}

static void render_hist(struct metrics *m, FILE *f)
{
	uint64_t cum, n[MET_BUCKETS + 1];
	unsigned o, b;

	family(f, "hsmfs_operation_duration_seconds", "histogram",
	       "Time from the start of an operation to its result.");
	for (o = 0; o < MET_OPS; o++) {
		for (b = 0, cum = 0; b <= MET_BUCKETS; b++)
			cum += n[b] = load(&m->hist[o][b]);
		if (cum == 0)
			continue;
		for (b = 0, cum = 0; b <= MET_BUCKETS; b++) {
			cum += n[b];
			fprintf(f, "hsmfs_operation_duration_seconds_bucket"
				"{op=\"%s\",le=\"%s\"} %llu\n", metrics_ops[o],
				b < MET_BUCKETS ? bucket_le[b] : "+Inf",
				(unsigned long long)cum);
		}
		fprintf(f, "hsmfs_operation_duration_seconds_sum{op=\"%s\"} "
			"%.6f\nhsmfs_operation_duration_seconds_count"
			"{op=\"%s\"} %llu\n", metrics_ops[o],
			(double)load(&m->sum_us[o]) / 1e6, metrics_ops[o],
			(unsigned long long)cum);
	}
}

static void render_keys(struct metrics *m, FILE *f)
{
	const struct key_series *s;
	size_t i;

	family(f, "hsmfs_key_operations_total", "counter",
	       "Operations by key, operation and result (metrics_per_key).");
	pthread_mutex_lock(&m->key_lock);
	for (i = 0; i < KEY_SLOTS; i++) {
		s = &m->keys[i];
		if (s->key[0] == '\0')
			continue;
		fputs("hsmfs_key_operations_total{key=\"", f);
		metrics_escape(f, s->key);
		fprintf(f, "\",op=\"%s\",", metrics_ops[s->op]);
		result_label(f, s->res);
		fprintf(f, "} %llu\n", (unsigned long long)s->n);
	}
	family(f, "hsmfs_key_series_dropped_total", "counter",
	       "Per-key series not kept because the table was full.");
	fprintf(f, "hsmfs_key_series_dropped_total %llu\n",
		(unsigned long long)m->keys_dropped);
	pthread_mutex_unlock(&m->key_lock);
}

/* What the client and the caches count: name, type, help, value. */
static void render_ext(struct metrics *m, const struct metrics_ext *x,
		       FILE *f)
{
	const struct {
		const char *name, *type, *help;
		long long v;
	} t[] = {
		{ "hsmfs_requests_total", "counter",
		  "HTTP requests sent to the service, all kinds.",
		  (long long)x->hs.requests },
		{ "hsmfs_retries_total", "counter",
		  "Requests sent again after a retryable failure.",
		  (long long)x->hs.retries },
		{ "hsmfs_throttled_total", "counter",
		  "Throttled answers (429) received.",
		  (long long)x->hs.throttled },
		{ "hsmfs_server_errors_total", "counter",
		  "Server errors (5xx) received.",
		  (long long)x->hs.server_errors },
		{ "hsmfs_failovers_total", "counter",
		  "Moves to the next service URL.",
		  (long long)x->hs.failovers },
		{ "hsmfs_token_requests_total", "counter",
		  "Access tokens fetched (the first and each refresh).",
		  (long long)x->hs.token_requests },
		{ "hsmfs_token_expiry_timestamp_seconds", "gauge",
		  "When the current access token expires (0: no token).",
		  (long long)x->hs.token_expires },
		{ "hsmfs_cache_hits_total", "counter",
		  "Key cache lookups answered from the cache.",
		  (long long)x->ks.hits },
		{ "hsmfs_cache_misses_total", "counter",
		  "Key cache lookups that asked the service.",
		  (long long)x->ks.misses },
		{ "hsmfs_cache_stale_served_total", "counter",
		  "Stale cache entries served because the service was "
		  "unreachable.", (long long)x->ks.stale_served },
		{ "hsmfs_pending_requests", "gauge",
		  "Two-command requests and results kept.",
		  (long long)x->pending },
		{ "hsmfs_syslog_dropped_total", "counter",
		  "Log and audit messages dropped because the syslog socket "
		  "stayed full or had no reader.",
		  (long long)syslogger_dropped() },
		{ "hsmfs_calls_in_flight", "gauge",
		  "Operations on keys and random reads in progress.",
		  (long long)__atomic_load_n(&m->in_flight,
					     __ATOMIC_RELAXED) },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		family(f, t[i].name, t[i].type, t[i].help);
		fprintf(f, "%s %lld\n", t[i].name, t[i].v);
	}
}

int metrics_render(struct metrics *m, const struct metrics_ext *x,
		   char **out, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (f == NULL)
		return -ENOMEM;
	family(f, "hsmfs_build_info", "gauge", "The hsmfs version; always 1.");
	fputs("hsmfs_build_info{version=\"", f);
	metrics_escape(f, x->version);
	fputs("\"} 1\n", f);
	family(f, "hsmfs_start_time_seconds", "gauge",
	       "When the file system was mounted (unix time).");
	fprintf(f, "hsmfs_start_time_seconds %lld\n", (long long)x->start_time);
	render_ops(m, f);
	render_hist(m, f);
	if (m->per_key)
		render_keys(m, f);
	render_ext(m, x, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}
