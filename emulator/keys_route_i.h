/*
 * keys_route_i.h - routing of the data plane: method and path to the
 * operation, the key name and the version.
 */
#ifndef HSMFS_EMU_KEYS_ROUTE_I_H
#define HSMFS_EMU_KEYS_ROUTE_I_H

#include "emu.h"

enum keys_op {
	OP_UNKNOWN, OP_CREATE, OP_IMPORT, OP_GET, OP_UPDATE, OP_DELETE,
	OP_LIST, OP_LIST_VERSIONS, OP_LIST_DELETED, OP_GET_DELETED,
	OP_RECOVER, OP_PURGE, OP_BACKUP, OP_RESTORE, OP_ROTATE,
	OP_GET_POLICY, OP_SET_POLICY, OP_SIGN, OP_VERIFY, OP_ENCRYPT,
	OP_DECRYPT, OP_WRAP, OP_UNWRAP, OP_RNG, OP_BAD_METHOD,
};

/* What is known of an operation before its handler runs. */
struct keys_op_info {
	const char *name;	/* keys_route_op(): "sign", "unknown" ... */
	enum emu_role role;	/* the least role allowed */
	const char *action;	/* the MHSM data action under .../keys/ */
};

#define ROUTE_SEGS_MAX 5

/* A routed request.  name and version point into segs. */
struct route {
	enum keys_op op;	/* OP_UNKNOWN: not an API path; OP_BAD_METHOD:
				 * a known path with a method it does not take */
	const char *name;	/* NULL when none */
	const char *version;	/* "" or NULL: latest */
	char buf[512];
	char *segs[ROUTE_SEGS_MAX];
	int nsegs;		/* 0 when the path is too long or too deep */
};

/* Route method + path (percent-decoded, without the query; leading
 * slashes do not count). */
void keys_route(const char *method, const char *path, struct route *r);

/* The operation's name, role and action.  Unknown operations and bad
 * methods are named "unknown" and need no role. */
const struct keys_op_info *keys_op_info(enum keys_op op);

/* Operation names used by statistics and fault matching:
 * "create" "import" "get" "update" "delete" "list" "list_versions"
 * "list_deleted" "get_deleted" "recover" "purge" "backup" "restore" "rotate"
 * "get_rotation_policy" "set_rotation_policy" "sign" "verify" "encrypt"
 * "decrypt" "wrapkey" "unwrapkey" "rng"; "unknown" for anything else. */
const char *keys_route_op(const char *method, const char *path);

/* keys_op_info() of the routed request, for the HTTP side's role check. */
const struct keys_op_info *keys_route_info(const char *method,
					   const char *path);

#endif
