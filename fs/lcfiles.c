/*
 * lcfiles.c - the rest of a key's life as files and directories
 * (DESIGN.md §3.2): the write-only inputs (ctl, restore, rotation.json),
 * the service files (rotation.json, backup), deleted/, and mkdir, rmdir
 * and rename.  Every change ends in lifecycle_done().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "lifecycle.h"
#include "opfile.h"
#include "render.h"

#define INPUT_MAX (1u << 20)	/* a restore blob or a policy, at most */

static const char no_delete[] =
	"deleting and purging keys needs the mount option allow_delete: "
	"mount with -o allow_delete";

/* ------------------------------------------------------------ inputs */

int lc_input_write(struct fs_state *fs, struct handle *h, const char *buf,
		   size_t size)
{
	char *nb;

	if (h->u.input.target == N_CTL)
		return lc_ctl_write(fs, h->path, h->u.input.key, buf, size);
	if (size > INPUT_MAX - h->u.input.len)
		return fs_fail_errno(fs, h->path, -EMSGSIZE,
				     "more than 1 MiB written");
	if (h->u.input.len + size + 1 > h->u.input.cap) {
		nb = realloc(h->u.input.buf, h->u.input.len + size + 1);
		if (nb == NULL)
			return fs_fail_errno(fs, h->path, -ENOMEM, NULL);
		h->u.input.buf = nb;
		h->u.input.cap = h->u.input.len + size + 1;
	}
	memcpy(h->u.input.buf + h->u.input.len, buf, size);
	h->u.input.len += size;
	h->u.input.buf[h->u.input.len] = '\0';
	return (int)size;
}

/*
 * The blob as the service takes it (malloc()ed): the base64url text that
 * backup gives, white space dropped, or the raw bytes that az and the
 * SDKs write to a backup file, encoded.
 */
static char *restore_blob(const char *buf, size_t len)
{
	char *blob, *d;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '=' &&
		    !isspace(ch))
			return b64url_encode((const uint8_t *)buf, len);
	}
	blob = d = malloc(len + 1);
	for (i = 0; blob != NULL && i < len; i++)
		if (!isspace((unsigned char)buf[i]))
			*d++ = buf[i];
	if (blob != NULL)
		*d = '\0';
	return blob;
}

static int run_restore(struct fs_state *fs, const char *path,
		       const char *buf, size_t len)
{
	struct hsm_key out = { .name = NULL };
	struct lc_change ch = { .what = "restore", .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	enum hsm_status st;
	char *blob = restore_blob(buf, len);
	int err;

	call_init(&call);
	if (blob == NULL)
		st = HSM_E_NOMEM;
	else
		st = hsm_restore_key(fs->client, &call, blob, &out);
	free(blob);
	if (st != HSM_OK)
		fail_status(&f, st, &call);
	ch.key = out.name;
	ch.version = out.version;
	ch.request_id = call.err.request_id;
	err = lifecycle_done(fs, path, &ch, &f);
	hsm_key_cleanup(&out);
	return err;
}

static int run_policy(struct fs_state *fs, const char *path, const char *key,
		      const char *json)
{
	struct lc_change ch = { .what = "rotation_policy", .key = key,
				 .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	enum hsm_status st;
	char *answer = NULL;

	call_init(&call);
	st = hsm_set_rotation_policy(fs->client, &call, key, json, &answer);
	free(answer);
	if (st != HSM_OK)
		fail_status(&f, st, &call);
	ch.request_id = call.err.request_id;
	return lifecycle_done(fs, path, &ch, &f);
}

/* Close of restore or rotation.json: what was written is the input. */
int lc_input_flush(struct fs_state *fs, struct handle *h)
{
	int err = 0;

	if (h->u.input.len == 0)
		return 0;
	if (h->u.input.target == N_RESTORE)
		err = run_restore(fs, h->path, h->u.input.buf,
				  h->u.input.len);
	else if (h->u.input.target == N_KSVC)
		err = run_policy(fs, h->path, h->u.input.key, h->u.input.buf);
	/* Run once: the other closes of a shared descriptor find it empty. */
	h->u.input.len = 0;
	return err;
}

/* ------------------------------------------------------------ texts */

int lc_svc_text(struct fs_state *fs, const struct node *nd, char **out,
		size_t *len, struct fs_fail *f)
{
	struct hsm_call call;
	enum hsm_status st;
	char *s = NULL;

	call_init(&call);
	if (nd->svc == S_ROTATION)
		st = hsm_get_rotation_policy(fs->client, &call, nd->name, &s);
	else
		st = hsm_backup_key(fs->client, &call, nd->name, &s);
	if (st != HSM_OK)
		return fail_status(f, st, &call);
	/* One newline at the end, as a text file has. */
	if (asprintf(out, "%s\n", s) < 0) {
		free(s);
		return fail_local(f, -ENOMEM, "out of memory");
	}
	free(s);
	*len = strlen(*out);
	return 0;
}

/* deleted/NAME/info: the key's info and when it goes. */
static int deleted_info(const struct hsm_key *k, char **out, size_t *len)
{
	char del[32], purge[32], *info = NULL;
	size_t n = 0;
	int r;

	if (render_info(k, &info, &n) != 0)
		return -ENOMEM;
	fmt_utc(del, sizeof(del), (time_t)k->deleted_date);
	fmt_utc(purge, sizeof(purge), (time_t)k->scheduled_purge_date);
	r = asprintf(out, "%sdeleted: %s\nscheduled_purge: %s\n"
		     "recovery_id: %s\n", info, del, purge,
		     k->recovery_id ? k->recovery_id : "none");
	free(info);
	if (r < 0)
		return -ENOMEM;
	*len = (size_t)r;
	return 0;
}

int lc_deleted_resolve(struct fs_state *fs, struct hsm_call *call,
		       struct node *nd, struct fs_fail *f)
{
	struct hsm_key k = { .name = NULL };
	enum hsm_status st;
	int err = 0;

	if (nd->kind != N_DELKEY && nd->kind != N_DELFILE)
		return 0;
	st = hsm_get_deleted(fs->client, call, nd->name, &k);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	nd->mtime = k.deleted_date;
	if (nd->kind == N_DELFILE && nd->meta == M_INFO) {
		err = deleted_info(&k, &nd->text, &nd->text_len);
	} else if (nd->kind == N_DELFILE) {
		nd->text = strdup(k.bundle_json ? k.bundle_json : "{}");
		err = nd->text ? 0 : -ENOMEM;
		nd->text_len = nd->text ? strlen(nd->text) : 0;
	}
	hsm_key_cleanup(&k);
	return err ? fail_local(f, err, "out of memory") : 0;
}

enum hsm_status lc_deleted_list(struct fs_state *fs, struct hsm_call *call,
				char ***names, size_t *n)
{
	struct hsm_key_list l = { .items = NULL };
	enum hsm_status st;
	size_t i;

	*names = NULL;
	*n = 0;
	st = hsm_list_deleted(fs->client, call, &l);
	if (st != HSM_OK)
		return st;
	*names = calloc(l.n ? l.n : 1, sizeof(**names));
	for (i = 0; *names != NULL && i < l.n; i++) {
		(*names)[i] = strdup(l.items[i].name ? l.items[i].name : "");
		if ((*names)[i] == NULL) {
			kc_names_free(*names, i);
			*names = NULL;
		}
	}
	if (*names != NULL)
		*n = l.n;
	hsm_key_list_cleanup(&l);
	return *names ? HSM_OK : HSM_E_NOMEM;
}

/* ------------------------------------------------------------ dirs */

int lc_mkdir(struct fs_state *fs, const char *path, const struct node *nd)
{
	struct hsm_create p = {
		.kty = fs->opts->mkdir_kty, .hsm = fs->opts->mkdir_hsm,
		.crv = fs->opts->mkdir_crv,
		.bits = fs->opts->mkdir_bits,
	};
	struct hsm_key out = { .name = NULL };
	struct lc_change ch = { .what = "create", .key = nd->name,
				 .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	int err;

	call_init(&call);
	lc_create(fs, &call, nd->name, &p, &out, &f);
	ch.version = out.version;
	ch.request_id = call.err.request_id;
	err = lifecycle_done(fs, path, &ch, &f);
	hsm_key_cleanup(&out);
	return err;
}

/* rmdir keys/NAME (delete) or deleted/NAME (purge). */
int lc_rmdir(struct fs_state *fs, const char *path, const struct node *nd)
{
	struct lc_change ch = { .key = nd->name, .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	enum hsm_status st;

	call_init(&call);
	ch.what = nd->kind == N_KEY ? "delete" : "purge";
	if (!fs->opts->allow_delete) {
		fail_local(&f, -EPERM, no_delete);
	} else {
		if (nd->kind == N_KEY)
			st = hsm_delete_key(fs->client, &call, nd->name, NULL);
		else
			st = hsm_purge_key(fs->client, &call, nd->name);
		if (st != HSM_OK)
			fail_status(&f, st, &call);
	}
	ch.request_id = call.err.request_id;
	return lifecycle_done(fs, path, &ch, &f);
}

/* mv deleted/NAME keys/[NAME]: recover. */
int lc_recover(struct fs_state *fs, const char *path, const struct node *from,
	       const struct node *to)
{
	struct hsm_key out = { .name = NULL };
	struct lc_change ch = { .what = "recover", .key = from->name,
				 .t0_us = mono_us() };
	struct hsm_call call;
	struct fs_fail f = { .err = 0 };
	enum hsm_status st;
	int err;

	call_init(&call);
	if (strcmp(from->name, to->name) != 0) {
		fail_local(&f, -EINVAL, "a deleted key is recovered under its "
			   "own name: mv deleted/NAME keys/");
	} else {
		st = hsm_recover_key(fs->client, &call, from->name, &out);
		if (st != HSM_OK)
			fail_status(&f, st, &call);
	}
	ch.version = out.version;
	ch.request_id = call.err.request_id;
	err = lifecycle_done(fs, path, &ch, &f);
	hsm_key_cleanup(&out);
	return err;
}
