/*
 * policy.h - who may use which key (DESIGN.md §3.4): the modes, owners
 * and groups of the key subtrees, from the defaults or -o policy=FILE.
 *
 * A policy file has one rule per line, first match wins:
 *
 *	# KEYGLOB   OWNER:GROUP   MODE
 *	payments-*  root:payments 0750
 *
 * KEYGLOB is an fnmatch(3) pattern over key names; OWNER and GROUP are
 * names or numbers; MODE is the key directory's mode, octal, at most
 * 0777.  '#' starts a comment; blank lines are allowed.  The files of a
 * matched key follow its directory: each class (owner, group, others)
 * that may enter it (x) gets rw on the files that use the key and r on
 * the others.
 *
 * Parsing is pure (a buffer in, a policy out; names are resolved through
 * the callbacks given), so the unit test and the fuzzer drive it alone.
 */
#ifndef HSMFS_FS_POLICY_H
#define HSMFS_FS_POLICY_H

#include <stddef.h>
#include <sys/types.h>

/* Rules beyond this many, or a file larger than this, are an error. */
#define POLICY_MAX_RULES 4096
#define POLICY_MAX_BYTES (1u << 20)

struct policy_rule {
	char *glob;
	uid_t uid;
	gid_t gid;
	mode_t mode;		/* the key directory's, 0..0777 */
};

struct policy {
	struct policy_rule *rules;
	size_t n;
};

/* Resolve a user or group name; 0, or -1 when there is none.  NULL
 * callbacks: only numbers are accepted. */
struct policy_names {
	int (*user)(const char *name, uid_t *out);
	int (*group)(const char *name, gid_t *out);
};

/* What a node of a key subtree is, for its mode. */
enum acc_class {
	AC_DIR,		/* the key, versions/, a version, deleted/NAME */
	AC_USE,		/* operation files, ctl, rotation.json: rw */
	AC_PRIVATE,	/* info, meta.json, algs, backup: r, owner+group */
	AC_PUBLIC,	/* public.pem, public.der, jwk.json: r, everyone */
};

/*
 * Parse len bytes of buf.  Returns 0 and *out (free with policy_free();
 * an empty file is an empty policy), or -1 with a one-line message
 * naming the line in errbuf.
 */
int policy_parse(const char *buf, size_t len, const struct policy_names *nm,
		 struct policy **out, char *errbuf, size_t errlen);

/* Read and parse PATH, names resolved by the system's user and group
 * databases.  Same returns as policy_parse(), the path in the message. */
int policy_load(const char *path, struct policy **out, char *errbuf,
		size_t errlen);

void policy_free(struct policy *p);

/* The first rule whose glob matches key, or NULL. */
const struct policy_rule *policy_match(const struct policy *p,
				       const char *key);

/* The permission bits of a node of class c under rule r (NULL: the
 * defaults of §3.4: 0555, 0660, 0440, 0444). */
mode_t policy_mode(const struct policy_rule *r, enum acc_class c);

/* A user or group name or number, for -o gid= too: 0 or -1. */
int policy_user_id(const char *name, uid_t *out);
int policy_group_id(const char *name, gid_t *out);

#endif
