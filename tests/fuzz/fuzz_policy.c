/*
 * fuzz_policy.c - libFuzzer target: the access policy parser
 * (fs/policy.c) on arbitrary bytes.  Names resolve to fixed ids, so the
 * run needs no user database; every parse is freed, every match tried.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int any_user(const char *name, uid_t *out)
{
	*out = (uid_t)strlen(name);
	return name[0] == 'x' ? -1 : 0;
}

static int any_group(const char *name, gid_t *out)
{
	*out = (gid_t)strlen(name);
	return name[0] == 'x' ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct policy_names names = { any_user, any_group };
	struct policy *p = NULL;
	char err[256];
	size_t i;

	if (policy_parse((const char *)data, size, &names, &p, err,
			 sizeof(err)) != 0)
		return 0;
	for (i = 0; i < p->n; i++) {
		(void)policy_match(p, "payments-eu");
		(void)policy_mode(&p->rules[i], AC_USE);
		(void)policy_mode(&p->rules[i], AC_PUBLIC);
	}
	policy_free(p);
	return 0;
}
