/*
 * ctl.h - the commands written to the `ctl` files (DESIGN.md §3.2).
 *
 * Pure: one write's text in, a parsed command or a message saying what is
 * wrong out.  The root's ctl takes
 *
 *	create NAME kty=EC|RSA|oct [crv=CURVE] [size=BITS] [ops=OP,OP...]
 *	       [exportable=true|false] [tag:K=V ...]
 *	flush
 *
 * and keys/NAME/ctl
 *
 *	rotate | enable | disable
 *	set [exp=DATE] [nbf=DATE] [ops=OP,OP...]	(at least one)
 *	tag NAME=VALUE
 *	untag NAME
 *
 * DATE is YYYY-MM-DD (midnight UTC), YYYY-MM-DDTHH:MM:SSZ or `none`
 * (clear).  OP is a service name (sign, verify, encrypt, decrypt,
 * wrapKey, unwrapKey, ...; any case) or wrap / unwrap.  Words are
 * separated by blanks; one trailing newline is allowed, a second line is
 * not (one command per write).
 */
#ifndef HSMFS_FS_CTL_H
#define HSMFS_FS_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "hsm_client.h"

#define CTL_MAX_LINE	4096
#define CTL_MAX_TAGS	15	/* the service's limit per key */

enum ctl_cmd {
	CTL_CREATE, CTL_FLUSH,				/* root ctl */
	CTL_ROTATE, CTL_ENABLE, CTL_DISABLE,		/* key ctl */
	CTL_SET, CTL_TAG, CTL_UNTAG,
};

enum ctl_where { CTL_ROOT, CTL_KEY };

struct ctl {
	enum ctl_cmd cmd;
	char *name;			/* create: key; tag, untag: tag name */
	char *value;			/* tag: the value (both in line) */
	struct hsm_create create;	/* create (tags point into line) */
	struct hsm_update update;	/* set: has_* for what was given */
	struct hsm_tag tags[CTL_MAX_TAGS];
	char line[CTL_MAX_LINE + 1];	/* the words, NUL-separated */
};

/*
 * Parse the len bytes at text, written to a ctl of kind where, into *c.
 * Returns 0, or -EINVAL with a one-line reason in msg.
 */
int ctl_parse(const char *text, size_t len, enum ctl_where where,
	      struct ctl *c, char *msg, size_t msglen);

/* A date as ctl takes it: unix seconds, 0 for "none"; -1 if invalid. */
long long ctl_date(const char *s);

/* The command's name ("rotate"), for logs and the audit. */
const char *ctl_cmd_name(enum ctl_cmd cmd);

#endif
