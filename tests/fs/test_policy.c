/* Unit tests: the access policy parser, matcher and modes (fs/policy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tap.h"

static int fake_user(const char *name, uid_t *out)
{
	if (strcmp(name, "alice") != 0)
		return -1;
	*out = 1500;
	return 0;
}

static int fake_group(const char *name, gid_t *out)
{
	if (strcmp(name, "payments") != 0)
		return -1;
	*out = 2500;
	return 0;
}

static const struct policy_names names = { fake_user, fake_group };

static struct policy *parse(const char *text, char *err, size_t len)
{
	struct policy *p = NULL;

	err[0] = '\0';
	if (policy_parse(text, strlen(text), &names, &p, err, len) != 0)
		return NULL;
	return p;
}

/* The message of a malformed policy names its line. */
static void bad(const char *text, const char *want)
{
	char err[256];
	struct policy *p = parse(text, err, sizeof(err));

	ok(p == NULL, "refused: %s", want);
	ok(strstr(err, want) != NULL, "message '%s' has '%s'", err, want);
	policy_free(p);
}

static void test_good(void)
{
	char err[256];
	struct policy *p = parse("# comment\n\n"
				 "payments-*  alice:payments 0750  # trailing\r\n"
				 "\t pay[0-9]x 0:0 0700\n"
				 "* 1:2 555", err, sizeof(err));
	const struct policy_rule *r;

	ok(p != NULL, "parsed (%s)", err);
	if (p == NULL)
		return;
	is_int(p->n, 3, "three rules");
	r = policy_match(p, "payments-eu");
	ok(r == &p->rules[0], "first match wins");
	is_int(r->uid, 1500, "owner by name");
	is_int(r->gid, 2500, "group by name");
	is_int(r->mode, 0750, "mode");
	r = policy_match(p, "pay7x");
	is_int(r->uid, 0, "numeric owner");
	is_int(r->mode, 0700, "second rule");
	r = policy_match(p, "other");
	ok(r == &p->rules[2], "catch-all");
	is_int(r->mode, 0555, "three-digit mode");
	policy_free(p);
	p = parse("", err, sizeof(err));
	ok(p != NULL && p->n == 0 && policy_match(p, "k") == NULL, "empty");
	policy_free(p);
	ok(policy_match(NULL, "k") == NULL, "no policy matches nothing");
}

static void test_bad(void)
{
	bad("ok 0:0 0750\nbroken\n", "line 2: expected KEYGLOB OWNER:GROUP MODE");
	bad("a 0:0 0750 extra\n", "line 1: expected");
	bad("\n\nk nobody-here:0 0700\n", "line 3: no such user");
	bad("k 0:nogroup-here 0700\n", "line 1: no such group");
	bad("k 0 0700\n", "line 1: expected OWNER:GROUP");
	bad("k :0 0700\n", "line 1: expected OWNER:GROUP");
	bad("k 0: 0700\n", "line 1: expected OWNER:GROUP");
	bad("k 0:0 0800\n", "line 1: MODE must be octal");
	bad("k 0:0 4750\n", "line 1: MODE must be octal");
	bad("k 0:0 -1\n", "line 1: MODE must be octal");
	bad("k/x 0:0 0700\n", "line 1: KEYGLOB");
	bad("k 4294967295:0 0700\n", "line 1: no such user");
}

static void test_nul(void)
{
	static const char text[] = "k 0:0 0700\nk\0 0:0 0700\n";
	struct policy *p = NULL;
	char err[128];

	ok(policy_parse(text, sizeof(text) - 1, &names, &p, err,
			sizeof(err)) != 0, "a NUL byte is refused");
	ok(strstr(err, "line 2: a NUL byte") != NULL, "%s", err);
	ok(policy_parse("k 0:0 0700", 10, NULL, &p, err, sizeof(err)) == 0 &&
	   p->n == 1, "numbers need no resolver");
	policy_free(p);
	ok(policy_parse("k a:0 0700", 10, NULL, &p, err, sizeof(err)) != 0,
	   "names need one");
}

static void test_modes(void)
{
	struct policy_rule r = { .mode = 0750 };

	is_int(policy_mode(NULL, AC_DIR), 0555, "default dir");
	is_int(policy_mode(NULL, AC_USE), 0660, "default op file");
	is_int(policy_mode(NULL, AC_PRIVATE), 0440, "default info");
	is_int(policy_mode(NULL, AC_PUBLIC), 0444, "default public.pem");
	is_int(policy_mode(&r, AC_DIR), 0750, "rule dir");
	is_int(policy_mode(&r, AC_USE), 0660, "owner+group use");
	is_int(policy_mode(&r, AC_PRIVATE), 0440, "owner+group read");
	is_int(policy_mode(&r, AC_PUBLIC), 0440, "others cannot enter");
	r.mode = 0701;
	is_int(policy_mode(&r, AC_USE), 0606, "owner and others, not group");
	r.mode = 0644;
	is_int(policy_mode(&r, AC_USE), 0, "nobody may enter");
}

int main(void)
{
	test_good();
	test_bad();
	test_nul();
	test_modes();
	return done_testing();
}
