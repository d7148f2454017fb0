/*
 * ctlrun.c - run the commands written to the ctl files (DESIGN.md §3.2):
 * one write, one command, one call of the service (two for tag and
 * untag, which merge into the key's tags), ended by lifecycle_done().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "lifecycle.h"
#include "opfile.h"

/* The key's tags with name set to value (value NULL: removed) into u. */
static int merge_tags(const struct hsm_key *k, char *name, char *value,
		      struct hsm_update *u, struct hsm_tag **tags)
{
	size_t i, n = 0;

	*tags = calloc(k->n_tags + 1, sizeof(**tags));
	if (*tags == NULL)
		return -ENOMEM;
	for (i = 0; i < k->n_tags; i++)
		if (strcmp(k->tags[i].name, name) != 0)
			(*tags)[n++] = k->tags[i];
	if (value != NULL) {
		(*tags)[n].name = name;
		(*tags)[n++].value = value;
	}
	u->has_tags = true;
	u->tags = *tags;
	u->n_tags = n;
	return 0;
}

/* tag, untag: read the tags, change one, write them all back. */
static enum hsm_status run_tag(struct fs_state *fs, struct hsm_call *call,
			       const char *key, const struct ctl *c,
			       struct hsm_key *out)
{
	struct hsm_update u = { .has_tags = false };
	struct hsm_key cur = { .name = NULL };
	struct hsm_tag *tags = NULL;
	enum hsm_status st;

	st = hsm_get_key(fs->client, call, key, NULL, &cur);
	if (st != HSM_OK)
		return st;
	if (c->cmd == CTL_TAG && cur.n_tags >= CTL_MAX_TAGS) {
		bool have = false;

		for (size_t i = 0; i < cur.n_tags; i++)
			have |= strcmp(cur.tags[i].name, c->name) == 0;
		if (!have) {
			hsm_key_cleanup(&cur);
			snprintf(call->err.message, sizeof(call->err.message),
				 "a key has at most %d tags", CTL_MAX_TAGS);
			return HSM_E_INVALID;
		}
	}
	if (merge_tags(&cur, c->name, c->cmd == CTL_TAG ? c->value : NULL,
		       &u, &tags) != 0)
		st = HSM_E_NOMEM;
	else
		st = hsm_update_key(fs->client, call, key, NULL, &u, out);
	free(tags);
	hsm_key_cleanup(&cur);
	return st;
}

/* A command of keys/NAME/ctl. */
static enum hsm_status run_key_cmd(struct fs_state *fs, struct hsm_call *call,
				   const char *key, const struct ctl *c,
				   struct hsm_key *out)
{
	struct hsm_update u = c->update;

	switch (c->cmd) {
	case CTL_ROTATE:
		return hsm_rotate_key(fs->client, call, key, out);
	case CTL_ENABLE:
	case CTL_DISABLE:
		u.has_enabled = true;
		u.enabled = c->cmd == CTL_ENABLE;
		/* fall through */
	case CTL_SET:
		return hsm_update_key(fs->client, call, key, NULL, &u, out);
	case CTL_TAG:
	case CTL_UNTAG:
		return run_tag(fs, call, key, c, out);
	default:
		return HSM_E_INVALID;
	}
}

int lc_create(struct fs_state *fs, struct hsm_call *call, const char *name,
	      const struct hsm_create *p, struct hsm_key *out,
	      struct fs_fail *f)
{
	enum hsm_status st;

	/* The service makes a new version of an existing name: that is
	 * rotate's job, so create refuses it. */
	st = hsm_get_key(fs->client, call, name, NULL, out);
	if (st == HSM_OK) {
		hsm_key_cleanup(out);
		return fail_local(f, -EEXIST, "a key of this name exists "
				  "(write rotate to its ctl for a new version)");
	}
	if (st == HSM_E_NOT_FOUND) {
		memset(&call->err, 0, sizeof(call->err));
		st = hsm_create_key(fs->client, call, name, p, out);
	}
	if (st == HSM_E_CONFLICT)
		return fail_local(f, -EEXIST, "a deleted key has this name: "
				  "recover it (mv deleted/NAME keys/) or purge "
				  "it (rmdir deleted/NAME)");
	if (st == HSM_OK)
		return 0;
	fail_status(f, st, call);
	if (st == HSM_E_UNSUPPORTED && p->kty == KEY_OCT) {
		/* A vault's "Invalid kty value: oct": say what to do. */
		size_t n = strlen(f->message);

		snprintf(f->message + n, sizeof(f->message) - n,
			 " (a Key Vault vault has no oct keys: create RSA or EC keys there, or use a Managed HSM)");
	}
	return f->err;
}

/* Run a parsed command; *f says how it ended. */
static void run_cmd(struct fs_state *fs, const char *key, const struct ctl *c,
		    struct hsm_call *call, struct hsm_key *out,
		    struct fs_fail *f)
{
	enum hsm_status st;

	switch (c->cmd) {
	case CTL_FLUSH:
		kc_flush(fs->kc);
		break;
	case CTL_CREATE:
		lc_create(fs, call, c->name, &c->create, out, f);
		break;
	default:
		st = run_key_cmd(fs, call, key, c, out);
		if (st != HSM_OK)
			fail_status(f, st, call);
		break;
	}
}

int lc_ctl_write(struct fs_state *fs, const char *path, const char *key,
		 const char *buf, size_t size)
{
	struct hsm_key out = { .name = NULL };
	struct lc_change ch = { .what = "ctl", .key = key[0] ? key : NULL,
				 .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	struct ctl *c = malloc(sizeof(*c));
	char msg[256];
	int err;

	if (c == NULL)
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	call_init(&call);
	err = ctl_parse(buf, size, key[0] ? CTL_KEY : CTL_ROOT, c, msg,
			sizeof(msg));
	if (err) {
		fail_local(&f, err, msg);
	} else {
		ch.what = ctl_cmd_name(c->cmd);
		if (c->cmd == CTL_CREATE)
			ch.key = c->name;
		run_cmd(fs, key, c, &call, &out, &f);
	}
	ch.version = out.version;
	ch.request_id = call.err.request_id;
	err = lifecycle_done(fs, path, &ch, &f);
	hsm_key_cleanup(&out);
	free(c);
	return err ? err : (int)size;
}
