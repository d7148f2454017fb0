/*
 * fuzz_ctl - the ctl command parser (fs/ctl.c).
 *
 * Input: a byte choosing the root's or a key's ctl, then what is
 * written.  A command that parses has its words inside c->line; one that
 * does not says why in a NUL-terminated message.
 */
#include <errno.h>

#include "ctl.h"
#include "fuzz.h"

static bool inside(const struct ctl *c, const char *p)
{
	return p == NULL || (p >= c->line && p < c->line + sizeof(c->line));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	enum ctl_where where = fz_byte(&f) & 1 ? CTL_KEY : CTL_ROOT;
	struct ctl *c = malloc(sizeof(*c));
	char msg[256];
	size_t len;
	uint8_t *text = fz_bytes(&f, &len);
	int rc;

	if (c == NULL)
		abort();
	memset(msg, 0x41, sizeof(msg));
	rc = ctl_parse((const char *)text, len, where, c, msg, sizeof(msg));
	fz_check(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		fz_check(inside(c, c->name) && inside(c, c->value));
		fz_check(ctl_cmd_name(c->cmd) != NULL);
		if (c->cmd == CTL_CREATE)
			fz_check(c->create.n_tags <= CTL_MAX_TAGS);
	} else {
		fz_check(memchr(msg, 0, sizeof(msg)) != NULL && msg[0] != '\0');
	}
	/* The date grammar on its own, as a C string. */
	if (len > 0 && len < 64) {
		char s[64];

		memcpy(s, text, len);
		s[len] = '\0';
		(void)ctl_date(s);
	}
	free(text);
	free(c);
	return 0;
}
