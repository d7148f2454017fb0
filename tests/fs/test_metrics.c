/* Unit tests: metrics exposition (escaping, buckets, result names,
 * counters by op and key). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tap.h"

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	metrics_escape(f, s);
	fclose(f);
	return buf;
}

static void test_escape(void)
{
	char *e = escaped("a\\b\"c\nd");

	ok(strcmp(e, "a\\\\b\\\"c\\nd") == 0, "backslash, quote, newline escaped: %s", e);
	free(e);
	e = escaped("plain-key-1");
	ok(strcmp(e, "plain-key-1") == 0, "plain text unchanged");
	free(e);
}

static void test_buckets(void)
{
	is_int(metrics_bucket(0), 0, "0 us: first bucket");
	is_int(metrics_bucket(1000), 0, "1 ms: le=0.001 (bounds inclusive)");
	is_int(metrics_bucket(1001), 1, "1.001 ms: le=0.0025");
	is_int(metrics_bucket(10000), 3, "10 ms: le=0.01");
	is_int(metrics_bucket(30000000), MET_BUCKETS - 1, "30 s: last bound");
	is_int(metrics_bucket(30000001), MET_BUCKETS, "past 30 s: +Inf");
}

static void test_results(void)
{
	ok(strcmp(metrics_result(0), "ok") == 0, "0 is ok");
	ok(strcmp(metrics_result(-EKEYREJECTED), "EKEYREJECTED") == 0, "errno name");
	ok(strcmp(metrics_result(-ENODATA), "ENODATA") == 0, "ENODATA");
}

/* What the text of test_render() holds, and why. */
static const char *const want[][2] = {
	{ "hsmfs_operations_total{op=\"sign\",result=\"ok\"} 2\n",
	  "sign ok 2" },
	{ "hsmfs_operations_total{op=\"sign\",result=\"EACCES\"} 1\n",
	  "sign EACCES 1" },
	{ "{op=\"other\",result=\"ok\"} 1\n",
	  "unknown op counted as other" },
	{ "_bucket{op=\"sign\",le=\"0.001\"} 1\n",
	  "bucket 0.001 has the fast one" },
	{ "_bucket{op=\"sign\",le=\"0.0025\"} 3\n",
	  "cumulative buckets" },
	{ "_bucket{op=\"sign\",le=\"+Inf\"} 3\n",
	  "+Inf is the count" },
	{ "_sum{op=\"sign\"} 0.004050\n",
	  "sum in seconds" },
	{ "_count{op=\"sign\"} 3\n",
	  "count" },
	{ "{key=\"app\",op=\"sign\",result=\"ok\"} 2\n",
	  "by key" },
	{ "{key=\"k\\\"q\",op=\"rotate\",result=\"ok\"} 1\n",
	  "key label escaped" },
	{ "version=\"1.0\\\"x\"",
	  "version label escaped" },
	{ "hsmfs_calls_in_flight 1\n",
	  "in flight gauge" },
	{ "hsmfs_pending_requests 3\n",
	  "pending gauge" },
};

static void test_render(void)
{
	size_t i;
	struct metrics *m = metrics_new(true);
	struct metrics_ext x = { .version = "1.0\"x", .pending = 3 };
	char *t = NULL;
	size_t len = 0;

	metrics_op_done(m, "app", "sign", 0, 2000);
	metrics_op_done(m, "app", "sign", 0, 2000);
	metrics_op_done(m, "app", "sign", -EACCES, 50);
	metrics_op_done(m, "k\"q", "rotate", 0, 50);
	metrics_op_done(m, NULL, "random", 0, 50);
	metrics_op_done(m, "app", "no-such-op", 0, 50);
	metrics_calls_add(m, 2);
	metrics_calls_add(m, -1);
	is_int(metrics_render(m, &x, &t, &len), 0, "renders");
	is_int(strlen(t), len, "length is the text's");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ok(strstr(t, want[i][0]) != NULL, "%s", want[i][1]);
	ok(strstr(t, "key=\"\"") == NULL, "no series for a NULL key");
	ok(strstr(t, "# TYPE hsmfs_operation_duration_seconds histogram\n") != NULL, "histogram type");
	free(t);
	metrics_free(m);
	m = metrics_new(false);
	metrics_op_done(m, "app", "sign", 0, 1);
	metrics_render(m, &x, &t, &len);
	ok(strstr(t, "key=") == NULL, "no key labels without per_key");
	free(t);
	metrics_free(m);
}

int main(void)
{
	test_escape();
	test_buckets();
	test_results();
	test_render();
	return done_testing();
}
