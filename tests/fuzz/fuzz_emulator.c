/*
 * fuzz_emulator - the emulator's request routing and body parsing
 * (emulator/keys_route.c, keys_params.c, through keys_handle()).
 *
 * Input: a method byte, a role byte, a maxresults byte, then the path,
 * the $skiptoken (both NUL-ended; an empty skiptoken is none) and the
 * body.  Every request runs against a fresh in-memory store holding an
 * EC P-256, an RSA 2048 and an AES-256 key ("ec", "rsa", "aes"; their
 * material is generated once).  Generating RSA keys would make a run
 * crawl, so a create of an RSA key and a rotate of "rsa" stop after
 * their parsers.  Every answer is a status and, unless empty, JSON.
 */
#include <errno.h>
#include <strings.h>

#include <json-c/json.h>

#include "emu.h"
#include "fuzz.h"
#include "keys_i.h"
#include "keys_params_i.h"
#include "keys_route_i.h"
#include "material_i.h"
#include "store_i.h"

static const char *const methods[] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get", "",
};
static const struct {
	const char *name;
	enum key_type kty;
	unsigned bits;
	enum curve crv;
} seeds[] = {
	{ "ec", KEY_EC, 0, CRV_P256 },
	{ "rsa", KEY_RSA, 2048, CRV_NONE },
	{ "aes", KEY_OCT, 256, CRV_NONE },
};
static struct key_mat *mats[3];

static struct keystore *fresh_store(void)
{
	struct keystore *ks = keystore_open(NULL);

	if (ks == NULL)
		abort();
	for (size_t i = 0; i < 3; i++) {
		struct key_ver *v;
		struct key_entry *e;

		if (mats[i] == NULL &&
		    mat_generate(seeds[i].kty, seeds[i].bits, seeds[i].crv,
				 65537, &mats[i]) != 0)
			abort();
		v = ver_new(mat_get(mats[i]), store_now());
		e = store_add_entry(ks, seeds[i].name);
		if (v == NULL || e == NULL)
			abort();
		v->ops = mat_default_ops(seeds[i].kty);
		if (entry_add_version(e, v) != 0)
			abort();
	}
	return ks;
}

/* Would this request generate an RSA key?  Its body parsers still run. */
static bool makes_rsa(const struct emu_request *req, const struct route *r)
{
	struct emu_response resp = { 0 };
	struct create_params c;
	struct key_params p;
	struct json_object *o;
	bool rsa;

	if (r->op == OP_ROTATE)
		return r->name != NULL && strcasecmp(r->name, "rsa") == 0;
	if (r->op != OP_CREATE)
		return false;
	o = keys_parse_body(req, &resp);
	free(resp.body);
	if (o == NULL)
		return false;
	memset(&resp, 0, sizeof(resp));
	/* both flavours: what a vault refuses is parsed as well */
	rsa = keys_parse_create(o, req->body_len & 1 ? FLAVOR_VAULT : FLAVOR_MHSM,
				&c, &resp) == 0 && c.kty == KEY_RSA;
	free(resp.body);
	memset(&resp, 0, sizeof(resp));
	if (keys_parse_params(o, o, &p, &resp) != 0)
		free(resp.body);
	json_object_put(o);
	return rsa;
}

static void check_response(const struct emu_response *resp)
{
	struct json_object *o;

	fz_check(resp->status >= 200 && resp->status < 600);
	if (resp->body == NULL)
		return;
	fz_check(strlen(resp->body) == resp->body_len);
	o = json_tokener_parse(resp->body);
	fz_check(o != NULL);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct emu_request req = { 0 };
	struct emu_response resp = { 0 };
	struct keystore *ks;
	struct route r;
	uint8_t mr;
	char *path, *skip, *body;
	size_t body_len;

	req.method = methods[fz_byte(&f) % 8];
	req.role = (enum emu_role)(fz_byte(&f) % 4);
	mr = fz_byte(&f);
	req.maxresults = mr == 255 ? -1 : mr;
	path = fz_str(&f);
	skip = fz_str(&f);
	body = fz_text(&f, &body_len);
	req.path = path;
	req.skiptoken = *skip ? skip : NULL;
	req.body = body;
	req.body_len = strlen(body);
	req.api_version = "7.5";
	req.base_url = "https://127.0.0.1:8443";
	req.principal = "fuzz";

	(void)keys_route_op(req.method, req.path);
	(void)keys_route_info(req.method, req.path);
	keys_route(req.method, req.path, &r);
	fz_check(r.name == NULL || (r.name >= r.buf &&
				     r.name < r.buf + sizeof(r.buf)));
	if (!makes_rsa(&req, &r)) {
		ks = fresh_store();
		keys_handle(ks, &req, &resp);
		check_response(&resp);
		free(resp.body);
		keystore_close(ks);
	}
	free(body);
	free(skip);
	free(path);
	return 0;
}
