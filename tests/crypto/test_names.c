/* test_names.c - the key name and version rules, against the service's
 * documented pattern and the versions the recordings show. */
#include "names.h"
#include "tap.h"

static bool name_ok(const char *s)
{
	return key_name_valid(s, strlen(s));
}

static bool version_ok(const char *s)
{
	return key_version_valid(s, strlen(s));
}

int main(void)
{
	char longest[KEY_NAME_MAX + 2];

	/* ^[0-9a-zA-Z-]{1,127}$ (managed-hsm-api.md §8). */
	ok(name_ok("ec-p256"), "a recorded name is valid");
	ok(name_ok("0"), "one digit is a name");
	ok(name_ok("-"), "one '-' is a name (the pattern allows it)");
	ok(name_ok("AZaz09-"), "both cases, digits and '-'");
	ok(!name_ok(""), "the empty name is invalid");
	ok(!name_ok("a_b"), "'_' is not in the pattern");
	ok(!name_ok("a.b"), "'.' is not in the pattern");
	ok(!name_ok("a/b"), "'/' is not in the pattern");
	ok(!name_ok("a b"), "a space is not in the pattern");
	ok(!name_ok("\xc3\xa9t\xc3\xa9"), "non-ASCII letters are not in the pattern");
	ok(!key_name_valid("ab\0c", 4), "a NUL inside the length is invalid");
	ok(key_name_valid("abc", 2), "only len bytes are read");
	ok(!key_name_valid(NULL, 0), "NULL is invalid");
	memset(longest, 'k', sizeof(longest));
	longest[KEY_NAME_MAX] = '\0';
	ok(name_ok(longest), "127 characters is valid");
	longest[KEY_NAME_MAX] = 'k';
	longest[KEY_NAME_MAX + 1] = '\0';
	ok(!name_ok(longest), "128 characters is invalid");

	/* 32 lower-case hex digits, as every kid in tests/recordings. */
	ok(version_ok("a62398bfc0de447e1fafcc458d746585"), "a recorded version is valid");
	ok(!version_ok("A62398BFC0DE447E1FAFCC458D746585"), "upper case is not the service's");
	ok(!version_ok("a62398bfc0de447e1fafcc458d74658"), "31 digits is invalid");
	ok(!version_ok("a62398bfc0de447e1fafcc458d7465850"), "33 digits is invalid");
	ok(!version_ok("a62398bfc0de447e1fafcc458d74658g"), "'g' is not hex");
	ok(!version_ok(""), "the empty version is invalid (latest is no version)");
	ok(!key_version_valid(NULL, 32), "NULL is invalid");
	return done_testing();
}
