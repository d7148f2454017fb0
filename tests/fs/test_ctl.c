/* Unit tests: the ctl files' command language (fs/ctl.c). */
#include <errno.h>
#include <string.h>

#include "ctl.h"
#include "tap.h"

static struct ctl c;
static char msg[256];

static int parse(const char *s, enum ctl_where where)
{
	return ctl_parse(s, strlen(s), where, &c, msg, sizeof(msg));
}

/* s is refused with EINVAL and a message containing want. */
static void refused(const char *s, enum ctl_where where, const char *want)
{
	int err = parse(s, where);

	/* the name stops at the first newline: TAP is one line each */
	if (!ok(err == -EINVAL && strstr(msg, want) != NULL, "refused: %.*s%s",
		(int)strcspn(s, "\r\n"), s, strpbrk(s, "\r\n") ? "\\n..." : ""))
		printf("#   err %d, msg \"%s\", want \"%s\"\n", err, msg, want);
}

static void test_create(void)
{
	ok(parse("create k1 kty=EC\n", CTL_ROOT) == 0 && c.cmd == CTL_CREATE &&
	   strcmp(c.name, "k1") == 0 && c.create.kty == KEY_EC &&
	   c.create.crv == CRV_NONE && c.create.n_tags == 0, "create EC, defaults");
	ok(parse("create r-2 kty=RSA size=3072 ops=sign,verify,wrap exportable=false "
		 "tag:env=prod tag:team=", CTL_ROOT) == 0 &&
	   c.create.kty == KEY_RSA && c.create.bits == 3072 &&
	   c.create.ops == (KOP_SIGN | KOP_VERIFY | KOP_WRAP) && !c.create.exportable &&
	   c.create.n_tags == 2 && c.create.tags == c.tags &&
	   strcmp(c.tags[0].name, "env") == 0 && strcmp(c.tags[0].value, "prod") == 0 &&
	   strcmp(c.tags[1].name, "team") == 0 && c.tags[1].value[0] == '\0',
	   "create RSA with every option");
	ok(parse("create e\tkty=EC  crv=P-384", CTL_ROOT) == 0 && c.create.crv == CRV_P384,
	   "create EC P-384, blanks of any kind");
	ok(parse("create o kty=oct size=256 ops=WRAPKEY,unwrapKey exportable=true", CTL_ROOT) == 0 &&
	   c.create.kty == KEY_OCT && c.create.bits == 256 && c.create.exportable &&
	   c.create.ops == (KOP_WRAP | KOP_UNWRAP), "create oct, ops in any case");
	refused("create k1", CTL_ROOT, "kty=EC|RSA|oct is required");
	refused("create k_1 kty=EC", CTL_ROOT, "NAME is 1 to");
	refused("create kty=EC", CTL_ROOT, "NAME is 1 to");
	refused("create k kty=DSA", CTL_ROOT, "kty=DSA");
	refused("create k kty=EC crv=P-999", CTL_ROOT, "crv=P-999");
	refused("create k kty=EC size=256", CTL_ROOT, "size= is for RSA");
	refused("create k kty=RSA crv=P-256", CTL_ROOT, "crv= is for EC");
	refused("create k kty=RSA size=1024", CTL_ROOT, "RSA size");
	refused("create k kty=oct size=512", CTL_ROOT, "oct size");
	refused("create k kty=EC ops=sign,fly", CTL_ROOT, "ops=sign,fly");
	refused("create k kty=EC exportable=yes", CTL_ROOT, "exportable=yes");
	refused("create k kty=EC tag:=v", CTL_ROOT, "tag:NAME=VALUE");
	refused("create k kty=EC colour=red", CTL_ROOT, "unknown option colour=red");
	refused("create k kty=EC tag:a=1 tag:b=1 tag:c=1 tag:d=1 tag:e=1 tag:f=1 "
		"tag:g=1 tag:h=1 tag:i=1 tag:j=1 tag:k=1 tag:l=1 tag:m=1 tag:n=1 "
		"tag:o=1 tag:p=1", CTL_ROOT, "more than 15 tags");
}

static void test_key(void)
{
	ok(parse("rotate\n", CTL_KEY) == 0 && c.cmd == CTL_ROTATE, "rotate");
	ok(parse("enable", CTL_KEY) == 0 && c.cmd == CTL_ENABLE, "enable");
	ok(parse("disable\r\n", CTL_KEY) == 0 && c.cmd == CTL_DISABLE, "disable, CRLF");
	ok(parse("set exp=2027-01-31 nbf=2026-01-01T12:30:00Z ops=sign,verify", CTL_KEY) == 0 &&
	   c.cmd == CTL_SET && c.update.has_exp && c.update.exp == 1801353600 &&
	   c.update.has_nbf && c.update.nbf == 1767270600 && c.update.has_ops &&
	   c.update.ops == (KOP_SIGN | KOP_VERIFY) && !c.update.has_enabled &&
	   !c.update.has_tags, "set exp, nbf, ops");
	ok(parse("set exp=none", CTL_KEY) == 0 && c.update.has_exp && c.update.exp == 0 &&
	   !c.update.has_nbf && !c.update.has_ops, "set exp=none clears");
	ok(parse("tag env=prod=1", CTL_KEY) == 0 && c.cmd == CTL_TAG &&
	   strcmp(c.name, "env") == 0 && strcmp(c.value, "prod=1") == 0, "tag");
	ok(parse("tag env=", CTL_KEY) == 0 && c.value[0] == '\0', "tag with an empty value");
	ok(parse("untag env", CTL_KEY) == 0 && c.cmd == CTL_UNTAG &&
	   strcmp(c.name, "env") == 0, "untag");
	ok(parse("flush", CTL_ROOT) == 0 && c.cmd == CTL_FLUSH, "flush");
	refused("rotate now", CTL_KEY, "rotate takes no arguments");
	refused("set", CTL_KEY, "set exp=DATE");
	refused("set exp=2027-02-30", CTL_KEY, "a date is");
	refused("set exp=2027-1-31", CTL_KEY, "a date is");
	refused("set nbf=2027-01-31T25:00:00Z", CTL_KEY, "a date is");
	refused("set nbf=2027-01-31T12:00:00", CTL_KEY, "a date is");
	refused("set exp=tomorrow", CTL_KEY, "a date is");
	refused("set colour=red", CTL_KEY, "unknown field colour=red");
	refused("set ops=", CTL_KEY, "ops=");
	refused("tag env", CTL_KEY, "tag NAME=VALUE");
	refused("tag =v", CTL_KEY, "tag NAME=VALUE");
	refused("tag a=1 b=2", CTL_KEY, "tag NAME=VALUE");
	refused("untag", CTL_KEY, "untag NAME");
	refused("untag a b", CTL_KEY, "untag NAME");
}

static void test_lines(void)
{
	char big[CTL_MAX_LINE + 2];

	refused("", CTL_KEY, "empty command");
	refused(" \n", CTL_KEY, "empty command");
	refused("rotate\nrotate\n", CTL_KEY, "one command per write");
	refused("rotate\n\n", CTL_KEY, "one command per write");
	refused("create k kty=EC", CTL_KEY, "a key's ctl takes");
	refused("rotate", CTL_ROOT, "the root ctl takes create, flush");
	refused("ROTATE", CTL_KEY, "unknown command ROTATE");
	ok(ctl_parse("rotate\0x", 8, CTL_KEY, &c, msg, sizeof(msg)) == -EINVAL &&
	   strstr(msg, "NUL"), "a NUL byte is refused");
	memset(big, ' ', sizeof(big));
	memcpy(big, "rotate", 6);
	ok(ctl_parse(big, sizeof(big), CTL_KEY, &c, msg, sizeof(msg)) == -EINVAL &&
	   strstr(msg, "longer than"), "an overlong write is refused");
	ok(ctl_date("2027-01-31T12:00:00Z") == 1801396800 &&
	   ctl_date("2024-02-29") == 1709164800 && ctl_date("2023-02-29") == -1 &&
	   ctl_date("none") == 0 && ctl_date("") == -1, "dates");
	ok(strcmp(ctl_cmd_name(CTL_UNTAG), "untag") == 0, "command names");
}

int main(void)
{
	test_create();
	test_key();
	test_lines();
	return done_testing();
}
