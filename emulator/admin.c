/*
 * admin.c - statistics and fault injection (the /_emulator/ admin API
 * that controls them is admin_api.c).
 *
 * Counters are atomics (every data-plane request bumps one); the fault set
 * is small and changes rarely, so one mutex guards it, and each decision
 * takes it briefly (count and rate need a consistent view).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin_i.h"
#include "http_i.h"

#define DEFAULT_TOKEN_LIFETIME 3600

static const char *const op_names[] = {
	"create", "import", "get", "update", "delete", "list", "list_versions",
	"list_deleted", "get_deleted", "recover", "purge", "backup", "restore",
	"rotate", "get_rotation_policy", "set_rotation_policy", "sign", "verify",
	"encrypt", "decrypt", "wrapkey", "unwrapkey", "rng", "unknown",
};
#define NOPS (sizeof(op_names) / sizeof(op_names[0]))

struct faults {
	unsigned ops;		/* bit per op_names index; 0: every op */
	long latency_ms;
	long stall_ms;
	int status;
	bool drop;
	double rate;
	long count;		/* matching requests left; -1: no limit */
	long retry_after;
	long retry_after_ms;
	long token_lifetime;
};

struct admin {
	atomic_ulong requests[NOPS];
	atomic_ulong tokens;
	atomic_ulong challenges;
	atomic_ulong connections;	/* accepted (TLS: one handshake each) */
	atomic_long open_connections;	/* accepted and not yet closed */

	pthread_mutex_t lock;
	struct faults f;
	uint64_t rng;		/* xorshift state for "rate" (not security) */
};

static void faults_clear(struct faults *f)
{
	memset(f, 0, sizeof(*f));
	f->rate = 1.0;
	f->count = -1;
	f->retry_after = -1;
	f->retry_after_ms = -1;
	f->token_lifetime = DEFAULT_TOKEN_LIFETIME;
}

struct admin *admin_new(void)
{
	struct admin *adm = calloc(1, sizeof(*adm));

	if (adm == NULL)
		return NULL;
	pthread_mutex_init(&adm->lock, NULL);
	faults_clear(&adm->f);
	adm->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull | 1;
	return adm;
}

void admin_free(struct admin *adm)
{
	if (adm == NULL)
		return;
	pthread_mutex_destroy(&adm->lock);
	free(adm);
}

static int op_index(const char *op)
{
	for (size_t i = 0; i < NOPS; i++)
		if (strcmp(op_names[i], op) == 0)
			return (int)i;
	return (int)NOPS - 1;
}

void admin_count_op(struct admin *adm, const char *op)
{
	atomic_fetch_add_explicit(&adm->requests[op_index(op)], 1, memory_order_relaxed);
}

void admin_count_token(struct admin *adm)
{
	atomic_fetch_add_explicit(&adm->tokens, 1, memory_order_relaxed);
}

void admin_count_connection(struct admin *adm)
{
	atomic_fetch_add_explicit(&adm->connections, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&adm->open_connections, 1, memory_order_relaxed);
}

void admin_count_connection_closed(struct admin *adm)
{
	atomic_fetch_sub_explicit(&adm->open_connections, 1, memory_order_relaxed);
}

void admin_count_challenge(struct admin *adm)
{
	atomic_fetch_add_explicit(&adm->challenges, 1, memory_order_relaxed);
}

long admin_token_lifetime(struct admin *adm)
{
	long v;

	pthread_mutex_lock(&adm->lock);
	v = adm->f.token_lifetime;
	pthread_mutex_unlock(&adm->lock);
	return v;
}

static double next_unit(struct admin *adm)
{
	uint64_t x = adm->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	adm->rng = x;
	return (double)(x >> 11) / 9007199254740992.0;
}

void admin_fault_decide(struct admin *adm, const char *op,
			struct fault_action *out)
{
	struct faults *f = &adm->f;
	int i = op_index(op);

	memset(out, 0, sizeof(*out));
	out->retry_after = out->retry_after_ms = -1;
	pthread_mutex_lock(&adm->lock);
	if (f->ops != 0 && !(f->ops & (1u << i)))
		goto out;
	out->latency_ms = f->latency_ms;
	if (f->status == 0 && !f->drop && f->stall_ms == 0)
		goto out;
	if (f->count == 0)
		goto out;
	if (f->count > 0)
		f->count--;
	if (f->rate < 1.0 && next_unit(adm) >= f->rate)
		goto out;
	out->stall_ms = f->stall_ms;
	out->status = f->status;
	out->drop = f->drop;
	out->retry_after = f->retry_after;
	out->retry_after_ms = f->retry_after_ms;
out:
	pthread_mutex_unlock(&adm->lock);
}

/* ---- statistics and the fault set as JSON (the admin API's) ------------ */

void admin_stats_get(struct admin *adm, struct http_resp *resp)
{
	json_object *o = json_object_new_object(), *r = json_object_new_object();
	unsigned long total = 0, n;

	if (o == NULL || r == NULL) {
		json_object_put(o);
		json_object_put(r);
		http_resp_json(resp, 500, NULL);
		return;
	}
	for (size_t i = 0; i < NOPS; i++) {
		n = atomic_load_explicit(&adm->requests[i], memory_order_relaxed);
		total += n;
		if (n != 0 || i + 1 < NOPS)
			json_object_object_add(r, op_names[i], json_object_new_int64((int64_t)n));
	}
	json_object_object_add(o, "requests", r);
	json_object_object_add(o, "tokens", json_object_new_int64(
		(int64_t)atomic_load_explicit(&adm->tokens, memory_order_relaxed)));
	json_object_object_add(o, "challenges", json_object_new_int64(
		(int64_t)atomic_load_explicit(&adm->challenges, memory_order_relaxed)));
	json_object_object_add(o, "connections", json_object_new_int64(
		(int64_t)atomic_load_explicit(&adm->connections, memory_order_relaxed)));
	/* A gauge, not reset with the counters. */
	json_object_object_add(o, "open_connections", json_object_new_int64(
		(int64_t)atomic_load_explicit(&adm->open_connections, memory_order_relaxed)));
	json_object_object_add(o, "total", json_object_new_int64((int64_t)total));
	http_resp_json(resp, 200, o);
}

void admin_stats_reset(struct admin *adm)
{
	for (size_t i = 0; i < NOPS; i++)
		atomic_store(&adm->requests[i], 0);
	atomic_store(&adm->tokens, 0);
	atomic_store(&adm->challenges, 0);
	atomic_store(&adm->connections, 0);
}

static bool get_long(json_object *v, long lo, long hi, long *out)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return false;
	*out = (long)x;
	return true;
}

/* Parse a PUT faults body into f; on error fills resp and returns -1. */
static int faults_parse(const struct http_req *req, struct faults *f,
			struct http_resp *resp)
{
	json_object *root = json_tokener_parse(req->body), *v;
	long x;
	int rc = -1;

	faults_clear(f);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		http_error(resp, 400, "BadParameter", "The fault set must be a JSON object.");
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		v = val;
		if (strcmp(key, "ops") == 0) {
			if (!json_object_is_type(v, json_type_array))
				goto bad;
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				json_object *e = json_object_array_get_idx(v, i);
				const char *name = json_object_get_string(e);
				int k;
				if (!json_object_is_type(e, json_type_string))
					goto bad;
				k = op_index(name);
				if (strcmp(op_names[k], name) != 0) {
					http_error(resp, 400, "BadParameter",
						   "Unknown operation '%.64s' in \"ops\".", name);
					goto out;
				}
				f->ops |= 1u << k;
			}
		} else if (strcmp(key, "latency_ms") == 0) {
			if (!get_long(v, 0, 3600000, &f->latency_ms))
				goto bad;
		} else if (strcmp(key, "stall_ms") == 0) {
			if (!get_long(v, 0, 3600000, &f->stall_ms))
				goto bad;
		} else if (strcmp(key, "status") == 0) {
			if (!get_long(v, 400, 599, &x))
				goto bad;
			f->status = (int)x;
		} else if (strcmp(key, "rate") == 0) {
			if (!json_object_is_type(v, json_type_double) &&
			    !json_object_is_type(v, json_type_int))
				goto bad;
			f->rate = json_object_get_double(v);
			if (!(f->rate >= 0.0 && f->rate <= 1.0))
				goto bad;
		} else if (strcmp(key, "count") == 0) {
			if (!get_long(v, 0, 1000000000, &x))
				goto bad;
			f->count = x ? x : -1;
		} else if (strcmp(key, "retry_after") == 0) {
			if (!get_long(v, 0, 86400, &f->retry_after))
				goto bad;
		} else if (strcmp(key, "retry_after_ms") == 0) {
			if (!get_long(v, 0, 86400000, &f->retry_after_ms))
				goto bad;
		} else if (strcmp(key, "drop") == 0) {
			if (!json_object_is_type(v, json_type_boolean))
				goto bad;
			f->drop = json_object_get_boolean(v);
		} else if (strcmp(key, "token_lifetime") == 0) {
			if (!get_long(v, 1, 86400 * 30, &f->token_lifetime))
				goto bad;
		} else {
			http_error(resp, 400, "BadParameter",
				   "Unknown fault field \"%.64s\" (see emulator/README.md).", key);
			goto out;
		}
		continue;
bad:
		http_error(resp, 400, "BadParameter",
			   "Invalid value for fault field \"%.64s\" (see emulator/README.md).", key);
		goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

void admin_faults_get(struct admin *adm, struct http_resp *resp)
{
	json_object *o = json_object_new_object(), *ops;
	struct faults f;

	pthread_mutex_lock(&adm->lock);
	f = adm->f;
	pthread_mutex_unlock(&adm->lock);
	if (o == NULL) {
		http_resp_json(resp, 500, NULL);
		return;
	}
	if (f.ops != 0 && (ops = json_object_new_array()) != NULL) {
		for (size_t i = 0; i < NOPS; i++)
			if (f.ops & (1u << i))
				json_object_array_add(ops, json_object_new_string(op_names[i]));
		json_object_object_add(o, "ops", ops);
	}
	json_object_object_add(o, "latency_ms", json_object_new_int64(f.latency_ms));
	json_object_object_add(o, "stall_ms", json_object_new_int64(f.stall_ms));
	json_object_object_add(o, "status", json_object_new_int(f.status));
	json_object_object_add(o, "rate", json_object_new_double(f.rate));
	json_object_object_add(o, "count", json_object_new_int64(f.count < 0 ? 0 : f.count));
	json_object_object_add(o, "drop", json_object_new_boolean(f.drop));
	json_object_object_add(o, "token_lifetime", json_object_new_int64(f.token_lifetime));
	http_resp_json(resp, 200, o);
}

int admin_faults_put(struct admin *adm, const struct http_req *req,
		     struct http_resp *resp)
{
	struct faults f;

	if (faults_parse(req, &f, resp) != 0)
		return -1;
	pthread_mutex_lock(&adm->lock);
	adm->f = f;
	pthread_mutex_unlock(&adm->lock);
	return 0;
}

void admin_faults_clear(struct admin *adm)
{
	pthread_mutex_lock(&adm->lock);
	faults_clear(&adm->f);
	pthread_mutex_unlock(&adm->lock);
}
