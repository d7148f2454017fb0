/*
 * keys_route.c - routing of /keys, /deletedkeys and /rng: method and path
 * to the operation, the key name and the version, as the service routes
 * them (case-insensitive path words, "//rng" from the C++ SDK).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "keys_route_i.h"

static const struct keys_op_info op_info[] = {
	[OP_UNKNOWN] = { "unknown", ROLE_NONE, "" },
	[OP_CREATE] = { "create", ROLE_OFFICER, "create" },
	[OP_IMPORT] = { "import", ROLE_OFFICER, "import/action" },
	[OP_GET] = { "get", ROLE_READER, "read/action" },
	[OP_UPDATE] = { "update", ROLE_OFFICER, "write/action" },
	[OP_DELETE] = { "delete", ROLE_OFFICER, "delete" },
	[OP_LIST] = { "list", ROLE_READER, "read/action" },
	[OP_LIST_VERSIONS] = { "list_versions", ROLE_READER, "read/action" },
	[OP_LIST_DELETED] = { "list_deleted", ROLE_READER, "deletedKeys/read/action" },
	[OP_GET_DELETED] = { "get_deleted", ROLE_READER, "deletedKeys/read/action" },
	[OP_RECOVER] = { "recover", ROLE_OFFICER, "deletedKeys/recover/action" },
	[OP_PURGE] = { "purge", ROLE_OFFICER, "deletedKeys/delete" },
	[OP_BACKUP] = { "backup", ROLE_OFFICER, "backup/action" },
	[OP_RESTORE] = { "restore", ROLE_OFFICER, "restore/action" },
	[OP_ROTATE] = { "rotate", ROLE_OFFICER, "rotate/action" },
	[OP_GET_POLICY] = { "get_rotation_policy", ROLE_READER, "read/action" },
	[OP_SET_POLICY] = { "set_rotation_policy", ROLE_OFFICER, "write/action" },
	[OP_SIGN] = { "sign", ROLE_USER, "sign/action" },
	[OP_VERIFY] = { "verify", ROLE_USER, "verify/action" },
	[OP_ENCRYPT] = { "encrypt", ROLE_USER, "encrypt/action" },
	[OP_DECRYPT] = { "decrypt", ROLE_USER, "decrypt/action" },
	[OP_WRAP] = { "wrapkey", ROLE_USER, "wrap/action" },
	[OP_UNWRAP] = { "unwrapkey", ROLE_USER, "unwrap/action" },
	[OP_RNG] = { "rng", ROLE_USER, "rng/action" },
	[OP_BAD_METHOD] = { "unknown", ROLE_NONE, "" },
};

enum method { M_OTHER, M_GET, M_POST, M_PUT, M_PATCH, M_DELETE };

static enum method method_of(const char *s)
{
	static const char *const names[] = {
		[M_GET] = "GET", [M_POST] = "POST", [M_PUT] = "PUT",
		[M_PATCH] = "PATCH", [M_DELETE] = "DELETE",
	};

	for (int m = M_GET; m <= M_DELETE; m++)
		if (strcmp(s, names[m]) == 0)
			return (enum method)m;
	return M_OTHER;
}

static bool is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static enum keys_op crypto_op(const char *s)
{
	static const enum keys_op ops[] = {
		OP_SIGN, OP_VERIFY, OP_ENCRYPT, OP_DECRYPT, OP_WRAP, OP_UNWRAP,
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (is(s, op_info[ops[i]].name))
			return ops[i];
	return OP_UNKNOWN;
}

/* Split path into r->segs; -1 (r->nsegs 0) when it is too long or has
 * more than ROUTE_SEGS_MAX segments. */
static int split(const char *path, struct route *r)
{
	char *s;
	int n = 0;

	/* "//rng" from the C++ SDK: leading slashes do not count. */
	while (*path == '/')
		path++;
	if (strlen(path) >= sizeof(r->buf))
		return -1;
	memcpy(r->buf, path, strlen(path) + 1);
	s = r->buf;
	r->segs[n++] = s;
	for (; *s != '\0'; s++) {
		if (*s == '/') {
			if (n == ROUTE_SEGS_MAX)
				return -1;
			*s = '\0';
			r->segs[n++] = s + 1;
		}
	}
	r->nsegs = n;
	return 0;
}

/* /keys/{name}/{t} */
static enum keys_op route_key_sub(enum method m, const char *t, struct route *r)
{
	enum keys_op op;

	switch (m) {
	case M_POST:
		op = is(t, "create") ? OP_CREATE : is(t, "backup") ? OP_BACKUP :
		     is(t, "rotate") ? OP_ROTATE : crypto_op(t);
		return op == OP_UNKNOWN ? OP_BAD_METHOD : op;
	case M_GET:
		if (is(t, "versions"))
			return OP_LIST_VERSIONS;
		if (is(t, "rotationpolicy"))
			return OP_GET_POLICY;
		r->version = t;
		return OP_GET;
	case M_PUT:
		return is(t, "rotationpolicy") ? OP_SET_POLICY : OP_BAD_METHOD;
	case M_PATCH:
		r->version = t;
		return OP_UPDATE;
	default:
		return OP_BAD_METHOD;
	}
}

/* /keys, /keys/restore, /keys/{name}[/{version}][/{operation}] */
static enum keys_op route_keys(enum method m, struct route *r)
{
	char **seg = r->segs;
	int n = r->nsegs;
	enum keys_op op;

	if (n == 1 || (n == 2 && seg[1][0] == '\0'))
		return m == M_GET ? OP_LIST : OP_BAD_METHOD;
	if (n > 4)
		return OP_UNKNOWN;
	r->name = seg[1];
	if (n == 3)
		return route_key_sub(m, seg[2], r);
	if (n == 4) {
		r->version = seg[2];
		op = crypto_op(seg[3]);
		return op != OP_UNKNOWN && m != M_POST ? OP_BAD_METHOD : op;
	}
	if (m == M_POST && is(seg[1], "restore")) {
		r->name = NULL;
		return OP_RESTORE;
	}
	return m == M_GET ? OP_GET : m == M_PUT ? OP_IMPORT :
	       m == M_PATCH ? OP_UPDATE : m == M_DELETE ? OP_DELETE :
	       OP_BAD_METHOD;
}

/* /deletedkeys, /deletedkeys/{name}[/recover] */
static enum keys_op route_deleted(enum method m, struct route *r)
{
	char **seg = r->segs;
	int n = r->nsegs;

	if (n == 1 || (n == 2 && seg[1][0] == '\0'))
		return m == M_GET ? OP_LIST_DELETED : OP_BAD_METHOD;
	if (n == 2) {
		r->name = seg[1];
		return m == M_GET ? OP_GET_DELETED : m == M_DELETE ? OP_PURGE :
		       OP_BAD_METHOD;
	}
	if (n == 3 && is(seg[2], "recover")) {
		r->name = seg[1];
		return m == M_POST ? OP_RECOVER : OP_BAD_METHOD;
	}
	return OP_UNKNOWN;
}

void keys_route(const char *method, const char *path, struct route *r)
{
	enum method m = method_of(method);

	memset(r, 0, sizeof(*r));
	r->op = OP_UNKNOWN;
	if (split(path, r) != 0)
		return;
	if (is(r->segs[0], "rng") && r->nsegs == 1)
		r->op = m == M_POST ? OP_RNG : OP_BAD_METHOD;
	else if (is(r->segs[0], "keys"))
		r->op = route_keys(m, r);
	else if (is(r->segs[0], "deletedkeys"))
		r->op = route_deleted(m, r);
}

const struct keys_op_info *keys_op_info(enum keys_op op)
{
	return &op_info[op];
}

const struct keys_op_info *keys_route_info(const char *method,
					   const char *path)
{
	struct route r;

	keys_route(method, path, &r);
	return &op_info[r.op];
}

const char *keys_route_op(const char *method, const char *path)
{
	return keys_route_info(method, path)->name;
}
