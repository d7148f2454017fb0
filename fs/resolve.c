/*
 * resolve.c - path -> node: the one reading of the tree's names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "resolve.h"

/*
 * Split the next component of *p into buf.  Returns 1 for a component, 0
 * at the end of the path, -ENOENT for a component too long for buf (no
 * such name exists: it must not look like the end of the path, or
 * "keys/k/<long>" would resolve to the key directory itself).
 */
static int next_comp(const char **p, char *buf, size_t len, size_t *n)
{
	const char *s = *p, *e;

	while (*s == '/')
		s++;
	*p = s;
	if (*s == '\0')
		return 0;
	e = strchr(s, '/');
	if (e == NULL)
		e = s + strlen(s);
	*n = (size_t)(e - s);
	if (*n >= len)
		return -ENOENT;
	memcpy(buf, s, *n);
	buf[*n] = '\0';
	*p = e;
	return 1;
}

/* Nothing but slashes left? */
static bool at_end(const char *p)
{
	while (*p == '/')
		p++;
	return *p == '\0';
}

/*
 * A key or version directory: its name (checked by valid), then maybe a
 * file in it.  Returns 1 with the file's name in nd->file, 0 at the end
 * of the path (nd->kind is kind), or -ENOENT.
 */
static int parse_dir(const char **path, char *buf, size_t len,
		     bool (*valid)(const char *, size_t), enum node_kind kind,
		     struct node *nd)
{
	size_t n;
	int r;

	if ((r = next_comp(path, buf, len, &n)) <= 0)
		return r;
	if (!valid(buf, n))
		return -ENOENT;
	nd->kind = kind;
	return next_comp(path, nd->file, sizeof(nd->file), &n);
}

/* keys/NAME[/FILE | /versions[/VERSION[/FILE]]]: path points after keys. */
static int parse_key(const char *path, struct node *nd)
{
	int r;

	r = parse_dir(&path, nd->name, sizeof(nd->name), key_name_valid,
		      N_KEY, nd);
	if (r <= 0)
		return r;
	if (strcmp(nd->file, "versions") == 0) {
		nd->kind = N_VERSIONS;
		nd->file[0] = '\0';
		r = parse_dir(&path, nd->version, sizeof(nd->version),
			      key_version_valid, N_VERSION, nd);
		if (r <= 0)
			return r;
		if (strcmp(nd->file, "versions") == 0)
			return -ENOENT;
	}
	nd->kind = N_KFILE;
	return at_end(path) ? 0 : -ENOENT;
}

/* deleted/NAME[/info | /meta.json]: path points after deleted. */
static int parse_deleted(const char *path, struct node *nd)
{
	int r;

	r = parse_dir(&path, nd->name, sizeof(nd->name), key_name_valid,
		      N_DELKEY, nd);
	if (r <= 0)
		return r;
	if (strcmp(nd->file, "info") == 0)
		nd->meta = M_INFO;
	else if (strcmp(nd->file, "meta.json") == 0)
		nd->meta = M_META;
	else
		return -ENOENT;
	nd->kind = N_DELFILE;
	return at_end(path) ? 0 : -ENOENT;
}

int resolve_parse(const char *path, const struct root_entry *root,
		  struct node *nd)
{
	char c[128];
	size_t n;
	int r;

	memset(nd, 0, sizeof(*nd));
	nd->kind = N_ROOT;
	if ((r = next_comp(&path, c, sizeof(c), &n)) <= 0)
		return r;
	for (; root->name != NULL; root++)
		if (strcmp(c, root->name) == 0)
			break;
	if (root->name == NULL)
		return -ENOENT;
	nd->kind = root->kind;
	nd->root = root;
	if (root->kind == N_KEYS)
		return parse_key(path, nd);
	if (root->kind == N_DELETED)
		return parse_deleted(path, nd);
	if (root->kind == N_SEALED)
		return 0;	/* names below are DIR's: sealview.c */
	/* Other root entries are files: nothing lies below them. */
	return at_end(path) ? 0 : -ENOENT;
}

/* ------------------------------------------------------------ key part */

static const char *const meta_names[M__COUNT] = {
	[M_PEM] = "public.pem", [M_DER] = "public.der",
	[M_JWK] = "jwk.json", [M_META] = "meta.json",
	[M_INFO] = "info", [M_ALGS] = "algs",
};

const char *meta_name(enum meta_file m)
{
	return meta_names[m];
}

const void *meta_data(const struct kver *kv, enum meta_file m, size_t *len)
{
	switch (m) {
	case M_PEM:	*len = kv->pem_len; return kv->pem;
	case M_DER:	*len = kv->der_len; return kv->der;
	case M_JWK:	*len = kv->jwk_len; return kv->key.jwk_json;
	case M_META:	*len = kv->meta_len; return kv->key.bundle_json;
	case M_INFO:	*len = kv->info_len; return kv->info;
	case M_ALGS:	*len = kv->algs_len; return kv->algs;
	default:	*len = 0; return NULL;
	}
}

/* The files of the key itself (latest), not of a version. */
static bool classify_key_file(struct node *nd)
{
	if (nd->version[0] != '\0')
		return false;
	if (strcmp(nd->file, "ctl") == 0) {
		nd->kind = N_CTL;
	} else if (strcmp(nd->file, "rotation.json") == 0) {
		nd->kind = N_KSVC;
		nd->svc = S_ROTATION;
	} else if (strcmp(nd->file, "backup") == 0) {
		nd->kind = N_KSVC;
		nd->svc = S_BACKUP;
	} else {
		return false;
	}
	return true;
}

/* N_KFILE -> N_META, N_OP, N_CTL or N_KSVC, by the file's name and the
 * key's shape. */
static int classify_file(struct node *nd)
{
	size_t len;
	int m;

	if (classify_key_file(nd))
		return 0;
	for (m = 0; m < M__COUNT; m++) {
		if (strcmp(nd->file, meta_names[m]) != 0)
			continue;
		if (meta_data(nd->kv, (enum meta_file)m, &len) == NULL)
			return -ENOENT;
		nd->kind = N_META;
		nd->meta = (enum meta_file)m;
		return 0;
	}
	if (opname_parse(nd->file, &nd->kv->shape, &nd->on) != 0)
		return -ENOENT;
	nd->kind = N_OP;
	return 0;
}

/* The version the node names (latest when none is pinned) into nd->kv. */
static int get_version(struct keycache *kc, struct hsm_call *call,
		       struct node *nd, struct fs_fail *f)
{
	enum hsm_status st;

	st = kc_get(kc, call, nd->name, nd->version[0] ? nd->version : NULL,
		    &nd->kv);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	nd->mtime = nd->kv->key.attrs.updated;
	return 0;
}

static int key_exists(struct keycache *kc, struct hsm_call *call,
		      struct node *nd, struct fs_fail *f)
{
	int64_t created = 0, updated = 0;
	enum hsm_status st;

	st = kc_key_exists(kc, call, nd->name, &created, &updated);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	nd->mtime = updated ? updated : created;
	return 0;
}

int resolve_key(struct keycache *kc, struct hsm_call *call, struct node *nd,
		enum resolve_depth depth, struct fs_fail *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	switch (nd->kind) {
	case N_KEY:
		if (depth == RS_LIST)
			return get_version(kc, call, nd, f);
		return key_exists(kc, call, nd, f);
	case N_VERSIONS:
		/* readdir asks for the versions themselves */
		return depth == RS_LIST ? 0 : key_exists(kc, call, nd, f);
	case N_VERSION:
		return get_version(kc, call, nd, f);
	case N_KFILE:
		err = get_version(kc, call, nd, f);
		return err ? err : classify_file(nd);
	default:
		return 0;
	}
}

void node_release(struct node *nd)
{
	kver_put(nd->kv);
	nd->kv = NULL;
	free(nd->text);
	nd->text = NULL;
}

bool node_is_input(const struct node *nd)
{
	return nd->kind == N_CTL || nd->kind == N_RESTORE ||
	       (nd->kind == N_KSVC && nd->svc == S_ROTATION);
}

bool node_is_dir(const struct node *nd)
{
	switch (nd->kind) {
	case N_ROOT:
	case N_KEYS:
	case N_KEY:
	case N_VERSIONS:
	case N_VERSION:
	case N_DELETED:
	case N_DELKEY:
		return true;
	default:
		return false;
	}
}
