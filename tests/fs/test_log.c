/*
 * test_log.c - what user-chosen text becomes in the daemon's log.
 */
#include <string.h>

#include "log.h"
#include "tap.h"

static void defanged(const char *in, const char *want, const char *what)
{
	char buf[64];

	strcpy(buf, in);
	log_defang(buf);
	ok(strcmp(buf, want) == 0, "%s: '%s'", what, buf);
}

int main(void)
{
	defanged("keys/app/sign", "keys/app/sign", "plain ASCII kept");
	defanged("a\nhsmfs: forged", "a?hsmfs: forged", "newline");
	defanged("\x1b[2J\r\t\x7f", "?[2J???", "C0 controls and DEL");
	defanged("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
		 "UTF-8 kept (2, 3 and 4 bytes)");
	defanged("x\x9b" "31m", "x?31m", "a lone 8-bit CSI");
	defanged("x\xc2\x9b" "31m", "x??31m", "C1 control as UTF-8");
	defanged("\xc3", "?", "truncated sequence");
	defanged("\xe2\x82", "??", "truncated three-byte sequence");
	defanged("\xc0\xaf\xe0\x80\xaf", "?????", "overlong forms");
	defanged("\xed\xa0\x80", "???", "a surrogate");
	defanged("\xf4\x90\x80\x80\xff", "?????", "past U+10FFFF, 0xff");
	return done_testing();
}
