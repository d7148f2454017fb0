/*
 * ctl.c - the ctl files' command language: words in, a command out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "names.h"

#define MAX_WORDS 64

static const char *const cmd_names[] = {
	[CTL_CREATE] = "create", [CTL_FLUSH] = "flush",
	[CTL_ROTATE] = "rotate", [CTL_ENABLE] = "enable",
	[CTL_DISABLE] = "disable", [CTL_SET] = "set",
	[CTL_TAG] = "tag", [CTL_UNTAG] = "untag",
};

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return cmd_names[cmd];
}

__attribute__((format(printf, 3, 4)))
static int bad(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* All of s is a decimal number of exactly n digits in [lo, hi]. */
static bool num(const char *s, int n, int lo, int hi, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return v >= lo && v <= hi;
}

long long ctl_date(const char *s)
{
	struct tm tm = { .tm_isdst = 0 };
	size_t n = strlen(s);
	int mday_max[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (strcmp(s, "none") == 0)
		return 0;
	if (n != 10 && n != 20)
		return -1;
	if (!num(s, 4, 1970, 9999, &tm.tm_year) || s[4] != '-' ||
	    !num(s + 5, 2, 1, 12, &tm.tm_mon) || s[7] != '-' ||
	    !num(s + 8, 2, 1, mday_max[tm.tm_mon - 1], &tm.tm_mday))
		return -1;
	if (n == 20 && (s[10] != 'T' || !num(s + 11, 2, 0, 23, &tm.tm_hour) ||
			s[13] != ':' || !num(s + 14, 2, 0, 59, &tm.tm_min) ||
			s[16] != ':' || !num(s + 17, 2, 0, 59, &tm.tm_sec) ||
			s[19] != 'Z'))
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	{
		int mday = tm.tm_mday;
		time_t t = timegm(&tm);

		/* 2027-02-30 normalises into March: not a date */
		if (t == (time_t)-1 || tm.tm_mday != mday)
			return -1;
		return t == 0 ? -1 : (long long)t;
	}
}

/* "sign,verify" -> KOP_ bits; 0 when a name is unknown or the list empty. */
static unsigned parse_ops(const char *s)
{
	char buf[256], *p, *save = NULL;
	unsigned ops = 0, op;

	if (strlen(s) >= sizeof(buf) || s[0] == '\0')
		return 0;
	strcpy(buf, s);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, "wrap") == 0)
			op = KOP_WRAP;
		else if (strcmp(p, "unwrap") == 0)
			op = KOP_UNWRAP;
		else
			op = key_op_from_name(p);
		if (op == 0)
			return 0;
		ops |= op;
	}
	return ops;
}

/* Copy the text into c->line and split it into words. */
static int split(const char *text, size_t len, struct ctl *c, char **w,
		 size_t *n, char *msg, size_t msglen)
{
	char *p, *save = NULL;

	if (len > CTL_MAX_LINE)
		return bad(msg, msglen, "command longer than %d bytes",
			   CTL_MAX_LINE);
	if (memchr(text, '\0', len) != NULL)
		return bad(msg, msglen, "a command is text: NUL byte found");
	memcpy(c->line, text, len);
	c->line[len] = '\0';
	if (len > 0 && c->line[len - 1] == '\n')
		c->line[--len] = '\0';
	if (len > 0 && c->line[len - 1] == '\r')
		c->line[--len] = '\0';
	if (strpbrk(c->line, "\r\n") != NULL)
		return bad(msg, msglen, "one command per write");
	*n = 0;
	for (p = strtok_r(c->line, " \t", &save); p != NULL;
	     p = strtok_r(NULL, " \t", &save)) {
		if (*n == MAX_WORDS)
			return bad(msg, msglen, "too many words");
		w[(*n)++] = p;
	}
	if (*n == 0)
		return bad(msg, msglen, "empty command");
	return 0;
}

/* "key=value": the value when word starts with key and '=', else NULL. */
static const char *opt(const char *word, const char *key)
{
	size_t n = strlen(key);

	return strncmp(word, key, n) == 0 && word[n] == '=' ? word + n + 1
							    : NULL;
}

static int create_kty(struct hsm_create *p, const char *v, char *msg,
		      size_t len)
{
	if (key_type_from_name(v, strlen(v), &p->kty, &p->hsm) != 0)
		return bad(msg, len, "kty=%s: not EC, RSA or oct (or EC-HSM, RSA-HSM, oct-HSM)", v);
	return 0;
}

/* A tag:K=V word into the create's tags. */
static int create_tag(struct ctl *c, char *word, char *msg, size_t len)
{
	char *eq = strchr(word, '=');

	if (eq == NULL || eq == word)
		return bad(msg, len, "tag:%s: want tag:NAME=VALUE", word);
	if (c->create.n_tags == CTL_MAX_TAGS)
		return bad(msg, len, "more than %d tags", CTL_MAX_TAGS);
	*eq = '\0';
	c->tags[c->create.n_tags].name = word;
	c->tags[c->create.n_tags].value = eq + 1;
	c->create.n_tags++;
	return 0;
}

/* One option word of create. */
static int create_opt(struct ctl *c, char *w, bool *have_kty, char *msg,
		      size_t len)
{
	struct hsm_create *p = &c->create;
	const char *v;

	if (strncmp(w, "tag:", 4) == 0)
		return create_tag(c, w + 4, msg, len);
	if ((v = opt(w, "kty")) != NULL) {
		*have_kty = true;
		return create_kty(p, v, msg, len);
	}
	if ((v = opt(w, "crv")) != NULL) {
		p->crv = curve_from_name(v);
		return p->crv ? 0 : bad(msg, len, "crv=%s: not P-256, P-256K, "
					"P-384 or P-521", v);
	}
	if ((v = opt(w, "size")) != NULL) {
		p->bits = (unsigned)strtoul(v, NULL, 10);
		return p->bits ? 0 : bad(msg, len, "size=%s: not a size", v);
	}
	if ((v = opt(w, "ops")) != NULL) {
		p->ops = parse_ops(v);
		return p->ops ? 0 : bad(msg, len, "ops=%s: unknown operation",
					v);
	}
	if ((v = opt(w, "exportable")) != NULL) {
		p->exportable = strcmp(v, "true") == 0;
		if (p->exportable || strcmp(v, "false") == 0)
			return 0;
		return bad(msg, len, "exportable=%s: not true or false", v);
	}
	return bad(msg, len, "create: unknown option %s", w);
}

/* The sizes and curves a key type takes (the service's). */
static int create_check(const struct hsm_create *p, char *msg, size_t len)
{
	unsigned b = p->bits;

	if (p->kty != KEY_EC && p->crv != CRV_NONE)
		return bad(msg, len, "crv= is for EC keys");
	if (p->kty == KEY_EC && b != 0)
		return bad(msg, len, "size= is for RSA and oct keys");
	if (p->kty == KEY_RSA && b != 0 && b != 2048 && b != 3072 && b != 4096)
		return bad(msg, len, "RSA size is 2048, 3072 or 4096");
	if (p->kty == KEY_OCT && b != 0 && b != 128 && b != 192 && b != 256)
		return bad(msg, len, "oct size is 128, 192 or 256");
	return 0;
}

static int parse_create(struct ctl *c, char **w, size_t n, char *msg,
			size_t len)
{
	bool have_kty = false;
	size_t i;
	int err;

	if (n < 2 || !key_name_valid(w[1], strlen(w[1])))
		return bad(msg, len, "create NAME kty=...: NAME is 1 to %d of "
			   "0-9 a-z A-Z -", KEY_NAME_MAX);
	c->name = w[1];
	c->create.tags = c->tags;
	for (i = 2; i < n; i++)
		if ((err = create_opt(c, w[i], &have_kty, msg, len)) != 0)
			return err;
	if (!have_kty)
		return bad(msg, len, "create: kty=EC|RSA|oct is required (or EC-HSM, RSA-HSM, oct-HSM)");
	return create_check(&c->create, msg, len);
}

/* One word of set. */
static int set_opt(struct hsm_update *u, const char *w, char *msg, size_t len)
{
	const char *v;
	long long t;

	if ((v = opt(w, "exp")) != NULL || (v = opt(w, "nbf")) != NULL) {
		if ((t = ctl_date(v)) < 0)
			return bad(msg, len, "%s: a date is YYYY-MM-DD, "
				   "YYYY-MM-DDTHH:MM:SSZ or none", w);
		if (w[0] == 'e') {
			u->has_exp = true;
			u->exp = t;
		} else {
			u->has_nbf = true;
			u->nbf = t;
		}
		return 0;
	}
	if ((v = opt(w, "ops")) != NULL) {
		u->has_ops = true;
		u->ops = parse_ops(v);
		return u->ops ? 0 : bad(msg, len, "ops=%s: unknown operation",
					v);
	}
	return bad(msg, len, "set: unknown field %s (exp=, nbf=, ops=)", w);
}

static int parse_key_cmd(struct ctl *c, char **w, size_t n, char *msg,
			 size_t len)
{
	char *eq;
	size_t i;
	int err;

	switch (c->cmd) {
	case CTL_SET:
		if (n < 2)
			return bad(msg, len, "set exp=DATE nbf=DATE ops=OP,...");
		for (i = 1; i < n; i++)
			if ((err = set_opt(&c->update, w[i], msg, len)) != 0)
				return err;
		return 0;
	case CTL_TAG:
		eq = n == 2 ? strchr(w[1], '=') : NULL;
		if (eq == NULL || eq == w[1])
			return bad(msg, len, "tag NAME=VALUE");
		*eq = '\0';
		c->name = w[1];
		c->value = eq + 1;
		return 0;
	case CTL_UNTAG:
		if (n != 2)
			return bad(msg, len, "untag NAME");
		c->name = w[1];
		return 0;
	default:
		return n == 1 ? 0 : bad(msg, len, "%s takes no arguments",
					cmd_names[c->cmd]);
	}
}

/* The command word, among those the ctl of where knows. */
static int find_cmd(const char *word, enum ctl_where where, struct ctl *c,
		    char *msg, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++) {
		if (strcmp(word, cmd_names[i]) != 0)
			continue;
		if ((i <= CTL_FLUSH) != (where == CTL_ROOT))
			break;
		c->cmd = (enum ctl_cmd)i;
		return 0;
	}
	if (where == CTL_ROOT)
		return bad(msg, len, "unknown command %.64s: the root ctl "
			   "takes create, flush", word);
	return bad(msg, len, "unknown command %.64s: a key's ctl takes "
		   "rotate, enable, disable, set, tag, untag", word);
}

int ctl_parse(const char *text, size_t len, enum ctl_where where,
	      struct ctl *c, char *msg, size_t msglen)
{
	char *w[MAX_WORDS];
	size_t n = 0;
	int err;

	memset(c, 0, sizeof(*c));
	msg[0] = '\0';
	if ((err = split(text, len, c, w, &n, msg, msglen)) != 0 ||
	    (err = find_cmd(w[0], where, c, msg, msglen)) != 0)
		return err;
	switch (c->cmd) {
	case CTL_CREATE:
		return parse_create(c, w, n, msg, msglen);
	case CTL_FLUSH:
		return n == 1 ? 0 : bad(msg, msglen, "flush takes no arguments");
	default:
		return parse_key_cmd(c, w, n, msg, msglen);
	}
}
