/*
 * policy.c - the per-key access policy (-o policy=FILE): parser, match,
 * modes.  Everything but policy_load() and the name look-ups is pure.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define WS " \t\r\v\f"

/* A number: decimal digits only, no sign, fits 32 bits. */
static int parse_num(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 0xfffffffeUL)	/* (uid_t)-1 means "no change" */
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* Key names are [0-9a-zA-Z-]; a glob adds fnmatch's * ? [ ] ! ^. */
static bool glob_ok(const char *g)
{
	size_t n = strlen(g);

	if (n == 0 || n > 127)
		return false;
	return strspn(g, "0123456789abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ-*?[]!^") == n;
}

static int parse_mode(const char *s, mode_t *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return -1;
		v = v * 8 + (unsigned)(*s - '0');
	}
	if (v > 0777)
		return -1;
	*out = (mode_t)v;
	return 0;
}

/* OWNER:GROUP, each a number or (with a resolver) a name. */
static const char *parse_ids(char *s, const struct policy_names *nm,
			     struct policy_rule *r)
{
	char *grp = strchr(s, ':');
	unsigned id;

	if (grp == NULL || grp == s || grp[1] == '\0')
		return "expected OWNER:GROUP";
	*grp++ = '\0';
	if (parse_num(s, &id) == 0)
		r->uid = (uid_t)id;
	else if (nm == NULL || nm->user == NULL || nm->user(s, &r->uid) != 0)
		return "no such user";
	if (parse_num(grp, &id) == 0)
		r->gid = (gid_t)id;
	else if (nm == NULL || nm->group == NULL || nm->group(grp, &r->gid) != 0)
		return "no such group";
	return NULL;
}

/* One line (NUL-terminated, modified): a rule in *r (*r->glob NULL for a
 * blank or comment line), or a reason. */
static const char *parse_line(char *line, const struct policy_names *nm,
			      struct policy_rule *r)
{
	char *f[4], *save = NULL, *hash = strchr(line, '#');
	const char *why;
	int n = 0;

	if (hash != NULL)
		*hash = '\0';
	for (f[n] = strtok_r(line, WS, &save); f[n] != NULL && n < 3;
	     f[n] = strtok_r(NULL, WS, &save))
		n++;
	if (n == 0)
		return NULL;
	if (n != 3 || f[3] != NULL)
		return "expected KEYGLOB OWNER:GROUP MODE";
	if (!glob_ok(f[0]))
		return "KEYGLOB may hold only key-name characters and * ? [ ] ! ^";
	if ((why = parse_ids(f[1], nm, r)) != NULL)
		return why;
	if (parse_mode(f[2], &r->mode) != 0)
		return "MODE must be octal, 0 to 0777";
	r->glob = strdup(f[0]);
	return r->glob == NULL ? "out of memory" : NULL;
}

static int add_rule(struct policy *p, const struct policy_rule *r)
{
	struct policy_rule *nr;

	if (p->n == POLICY_MAX_RULES)
		return -1;
	nr = realloc(p->rules, (p->n + 1) * sizeof(*nr));
	if (nr == NULL)
		return -1;
	p->rules = nr;
	p->rules[p->n++] = *r;
	return 0;
}

int policy_parse(const char *buf, size_t len, const struct policy_names *nm,
		 struct policy **out, char *errbuf, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));
	const char *why = NULL, *end = buf + len, *nl;
	unsigned lineno = 0;
	char *line;

	*out = NULL;
	if (p == NULL || len > POLICY_MAX_BYTES) {
		snprintf(errbuf, errlen, p ? "the policy is larger than %u bytes"
			 : "out of memory", POLICY_MAX_BYTES);
		free(p);
		return -1;
	}
	for (; why == NULL && buf < end; buf = nl ? nl + 1 : end) {
		struct policy_rule r = { .glob = NULL };

		nl = memchr(buf, '\n', (size_t)(end - buf));
		lineno++;
		if (memchr(buf, '\0', (size_t)((nl ? nl : end) - buf))) {
			why = "a NUL byte";
			break;
		}
		line = strndup(buf, (size_t)((nl ? nl : end) - buf));
		why = line ? parse_line(line, nm, &r) : "out of memory";
		free(line);
		if (why == NULL && r.glob != NULL && add_rule(p, &r) != 0) {
			free(r.glob);
			why = "too many rules, or out of memory";
		}
	}
	if (why != NULL) {
		snprintf(errbuf, errlen, "line %u: %s", lineno, why);
		policy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int policy_load(const char *path, struct policy **out, char *errbuf,
		size_t errlen)
{
	static const struct policy_names nss = { policy_user_id,
						 policy_group_id };
	char *buf = malloc(POLICY_MAX_BYTES + 1), msg[256];
	ssize_t n = 0, got;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || buf == NULL) {
		snprintf(errbuf, errlen, "policy=%s: %s", path,
			 strerror(buf ? errno : ENOMEM));
		goto out;
	}
	while (n <= POLICY_MAX_BYTES &&
	       (got = read(fd, buf + n, POLICY_MAX_BYTES + 1 - (size_t)n)) > 0)
		n += got;
	if (n <= POLICY_MAX_BYTES && got < 0) {
		snprintf(errbuf, errlen, "policy=%s: %s", path, strerror(errno));
		goto out;
	}
	rc = policy_parse(buf, (size_t)n, &nss, out, msg, sizeof(msg));
	if (rc != 0)
		snprintf(errbuf, errlen, "policy=%s: %s", path, msg);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->rules[i].glob);
	free(p->rules);
	free(p);
}

const struct policy_rule *policy_match(const struct policy *p,
				       const char *key)
{
	size_t i;

	for (i = 0; p != NULL && i < p->n; i++)
		if (fnmatch(p->rules[i].glob, key, 0) == 0)
			return &p->rules[i];
	return NULL;
}

mode_t policy_mode(const struct policy_rule *r, enum acc_class c)
{
	static const mode_t defaults[] = {
		[AC_DIR] = 0555, [AC_USE] = 0660,
		[AC_PRIVATE] = 0440, [AC_PUBLIC] = 0444,
	};
	mode_t m = 0, per = c == AC_USE ? 06 : 04;
	int shift;

	if (r == NULL)
		return defaults[c];
	if (c == AC_DIR)
		return r->mode;
	/* Each class that may enter the directory (x) uses what is in it. */
	for (shift = 0; shift <= 6; shift += 3)
		if (r->mode & (01 << shift))
			m |= per << shift;
	return m;
}

int policy_user_id(const char *name, uid_t *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	unsigned id;

	if (parse_num(name, &id) == 0) {
		*out = (uid_t)id;
		return 0;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*out = pw.pw_uid;
	return 0;
}

int policy_group_id(const char *name, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[16384];
	unsigned id;

	if (parse_num(name, &id) == 0) {
		*out = (gid_t)id;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*out = gr.gr_gid;
	return 0;
}
