/*
 * metrics.h - the daemon's counters and the `metrics` file: Prometheus
 * text exposition format 0.0.4 (DESIGN.md §3.2), valid for
 * `promtool check metrics` and node_exporter's textfile collector.
 *
 * Operations are counted by operation and result (errno name, or "ok"),
 * by key too when per_key is set, with a latency histogram per
 * operation.  Counting never takes a lock, except the per-key table's
 * (held for a lookup, never across a call); rendering reads the counters
 * one by one, so a text is consistent per counter, not across them.
 */
#ifndef HSMFS_FS_METRICS_H
#define HSMFS_FS_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hsm_client.h"
#include "keycache.h"

/* The histogram's upper bounds (seconds), +Inf aside. */
#define MET_BUCKETS 14

struct metrics;

/* NULL when out of memory. */
struct metrics *metrics_new(bool per_key);
void metrics_free(struct metrics *m);

/*
 * An operation ended: count it by op and result (err: 0 or -errno) and
 * observe its latency.  key: the key it used, or NULL (random).  op is
 * one of metrics_ops[] ("sign", ..., "create", "rotate", "delete", ...);
 * any other name is counted as "other".  Safe from any thread.
 */
void metrics_op_done(struct metrics *m, const char *key, const char *op,
		     int err, uint64_t latency_us);

/* A remote call starts (+1) or ends (-1): the calls-in-flight gauge. */
void metrics_calls_add(struct metrics *m, int delta);

/* What other modules count, read when the text is made. */
struct metrics_ext {
	struct hsm_stats hs;
	struct kc_stats ks;
	unsigned pending;		/* two-command requests kept */
	int64_t start_time;		/* unix seconds */
	const char *version;
};

/* The exposition text (malloc()ed).  0 or -ENOMEM. */
int metrics_render(struct metrics *m, const struct metrics_ext *x,
		   char **out, size_t *len);

/* The operation names counted, NULL-terminated ("other" last). */
extern const char *const metrics_ops[];

/* Pure helpers, exposed for the unit test. */
/* A label value as 0.0.4 wants it: \ " and newline escaped. */
void metrics_escape(FILE *f, const char *s);
/* The index of the first bucket whose bound holds latency_us, or
 * MET_BUCKETS (+Inf). */
unsigned metrics_bucket(uint64_t latency_us);
/* "ok" for 0, the errno's name ("EINVAL") for -errno. */
const char *metrics_result(int err);

#endif
