/* Unit tests: audit line formats (JSON, key=value) and escaping. */
#include <errno.h>
#include <string.h>

#include "audit.h"
#include "tap.h"

static const struct audit_ev ev = {
	.key = "app", .version = "0123456789abcdef0123456789abcdef",
	.op = "sign", .alg = "ES256", .err = 0, .request_id = "rid-1",
	.uid = 1000, .pid = 42, .comm = "my \"tool\"\n\x01\xc3",
	.time_ms = 1800000000123LL,
};

static void test_json(void)
{
	char buf[1024];
	int n = audit_format_json(&ev, buf, sizeof(buf));

	is_int(n, strlen(buf), "length returned");
	ok(strcmp(buf, "{\"time\":\"2027-01-15T08:00:00.123Z\",\"uid\":1000,"
		  "\"pid\":42,\"comm\":\"my \\\"tool\\\"\\u000a\\u0001\\u00c3\","
		  "\"key\":\"app\",\"version\":\"0123456789abcdef0123456789abcdef\","
		  "\"op\":\"sign\",\"alg\":\"ES256\",\"result\":\"ok\","
		  "\"request_id\":\"rid-1\"}") == 0, "json line: %s", buf);
}

static void test_kv_and_nulls(void)
{
	struct audit_ev e = ev;
	char buf[1024];

	e.err = -EKEYEXPIRED;
	e.request_id = NULL;
	e.alg = "";
	e.comm = "cat";
	audit_format_kv(&e, buf, sizeof(buf));
	ok(strcmp(buf, "time=2027-01-15T08:00:00.123Z uid=1000 pid=42 comm=\"cat\" "
		  "key=\"app\" version=\"0123456789abcdef0123456789abcdef\" "
		  "op=\"sign\" alg=- result=\"EKEYEXPIRED\" request_id=-") == 0,
	   "kv line: %s", buf);
	audit_format_json(&e, buf, sizeof(buf));
	ok(strstr(buf, "\"alg\":null") && strstr(buf, "\"request_id\":null}"),
	   "absent fields are null: %s", buf);
}

static void test_truncation(void)
{
	char buf[40];

	is_int(audit_format_json(&ev, buf, sizeof(buf)), -1, "too small: -1");
	ok(strlen(buf) < sizeof(buf), "still a string");
}

int main(void)
{
	test_json();
	test_kv_and_nulls();
	test_truncation();
	return done_testing();
}
