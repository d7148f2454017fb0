/*
 * keys.c - the key side's entry point: route the request, refuse what the
 * service refuses before any key is looked at (paths outside the API,
 * methods, roles, invalid names), and hand the rest to its handler.
 * Routing is keys_route.c, request parameters keys_params.c; the handlers
 * are keys_life.c, keys_list.c, keys_backup.c, keys_rotation.c and
 * keys_ops.c.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "envelope_i.h"
#include "keys_backup_i.h"
#include "keys_i.h"
#include "keys_life_i.h"
#include "keys_list_i.h"
#include "keys_ops_i.h"
#include "keys_rotation_i.h"
#include "keys_route_i.h"
#include "names.h"
#include "uuid_i.h"

static bool last_seg_is(const struct route *r, const char *s)
{
	return strcasecmp(r->segs[r->nsegs - 1], s) == 0;
}

/* Fill resp and return true when the request stops before its handler:
 * 501 for release and attestation, 404 outside the API, 405, 403 for the
 * caller's role, 400 for an invalid key name. */
static bool refused(const struct emu_request *req, const struct route *r,
		    struct emu_response *resp)
{
	const struct keys_op_info *info = keys_op_info(r->op);
	char act[37];

	if (r->op == OP_UNKNOWN && r->nsegs >= 3 &&
	    strcasecmp(r->segs[0], "keys") == 0 &&
	    (last_seg_is(r, "release") || last_seg_is(r, "attestation"))) {
		emu_error(resp, 501, "NotImplemented", NULL,
			  "Key release and key attestation are not emulated; test them against a real Managed HSM.");
	} else if (r->op == OP_UNKNOWN) {
		emu_error(resp, 404, "NotFound",
			  NULL, "The requested path %s is not part of the Managed HSM keys API.",
			  req->path);
	} else if (r->op == OP_BAD_METHOD) {
		/* Open question: no Allow header here, unlike http_method_ok()'s
		 * 405; neither tests/recordings/ nor the API reference shows
		 * the service's 405 on a keys path. */
		emu_error(resp, 405, "MethodNotAllowed", NULL,
			  "The method %s is not allowed on %s.", req->method, req->path);
	} else if (req->role < info->role) {
		/* Through the server this is not reached (server.c refuses
		 * first, by the same table); it answers direct callers such as
		 * tests/emulator/test_keys.c.  Open question: restore's scope
		 * here is "/keys", server.c's scope_of() says "/keys/restore";
		 * the service's wording is not recorded (see scope_of()). */
		emu_uuid(act);
		emu_error(resp, 403, "AccessDenied", NULL,
			  "Not authorized to access Microsoft.KeyVault/managedHsm/keys/%s on %s%s%s (Activity ID: %s)",
			  info->action, r->op == OP_RNG ? "/rng" :
			  r->op == OP_LIST_DELETED ? "/deletedkeys" : "/keys",
			  r->name ? "/" : "", r->name ? r->name : "", act);
	} else if (r->name != NULL && !key_name_valid(r->name, strlen(r->name))) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid key name '%.130s': a key name is 1 to 127 characters of 0-9, a-z, A-Z and '-'.",
			  r->name);
	} else {
		return false;
	}
	return true;
}

/* A vault has no random number endpoint: the REST spec calls GetRandomBytes
 * "Managed HSM only", and an Azure SDK maintainer says a vault answers the
 * request with HTTP 400 (azure-sdk-for-rust #1271).  The code and the
 * wording of that 400 are not recorded [unverified]. */
static void no_rng(struct emu_response *resp)
{
	emu_error(resp, 400, "BadParameter", NULL,
		  "Random bytes (POST /rng) are a Managed HSM operation; a key vault does not offer them.");
}

void keys_handle(struct keystore *ks, const struct emu_request *req,
		 struct emu_response *resp)
{
	struct route r;

	resp->status = 500;
	resp->body = NULL;
	resp->body_len = 0;
	keys_route(req->method, req->path, &r);
	if (refused(req, &r, resp))
		return;
	switch (r.op) {
	case OP_CREATE: keys_create(ks, req, r.name, resp); break;
	case OP_IMPORT: keys_import(ks, req, r.name, resp); break;
	case OP_GET: keys_get(ks, req, r.name, r.version, resp); break;
	case OP_UPDATE: keys_update(ks, req, r.name, r.version, resp); break;
	case OP_DELETE: keys_delete(ks, req, r.name, resp); break;
	case OP_LIST:
	case OP_LIST_VERSIONS:
	case OP_LIST_DELETED: keys_list(ks, req, r.op, r.name, resp); break;
	case OP_GET_DELETED:
	case OP_RECOVER:
	case OP_PURGE: keys_deleted(ks, req, r.op, r.name, resp); break;
	case OP_BACKUP: keys_backup(ks, req, r.name, resp); break;
	case OP_RESTORE: keys_restore(ks, req, resp); break;
	case OP_ROTATE: keys_rotate(ks, req, r.name, resp); break;
	case OP_GET_POLICY: keys_get_policy(ks, req, r.name, resp); break;
	case OP_SET_POLICY: keys_set_policy(ks, req, r.name, resp); break;
	case OP_RNG:
		if (req->flavor == FLAVOR_VAULT)
			no_rng(resp);
		else
			keys_rng(req, resp);
		break;
	case OP_SIGN: case OP_VERIFY: case OP_ENCRYPT: case OP_DECRYPT:
	case OP_WRAP: case OP_UNWRAP:
		keys_crypto_op(ks, req, keys_op_info(r.op)->name, r.name,
			       r.version, resp);
		break;
	default:
		emu_error(resp, 404, "NotFound", NULL, "Unknown operation.");
		break;
	}
}
