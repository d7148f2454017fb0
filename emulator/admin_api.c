/*
 * admin_api.c - the /_emulator/ admin API (docs/contracts.md): statistics,
 * the fault set and federated tokens, for loopback peers (the server has
 * refused the others).
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "admin_api_i.h"
#include "admin_i.h"
#include "http_i.h"
#include "jwt_i.h"

static void empty_ok(struct http_resp *resp)
{
	http_resp_json(resp, 200, json_object_new_object());
}

static void faults(struct admin *adm, const struct http_req *req,
		   struct http_resp *resp)
{
	if (!http_method_ok(req, "PUT,DELETE,GET", resp))
		return;
	if (strcmp(req->method, "GET") == 0) {
		admin_faults_get(adm, resp);
		return;
	}
	if (strcmp(req->method, "DELETE") == 0)
		admin_faults_clear(adm);
	else if (admin_faults_put(adm, req, resp) != 0)
		return;
	empty_ok(resp);
}

static void federated_token(struct emu_server *srv, const struct http_req *req,
			    struct http_resp *resp)
{
	const char *subj = http_query(req, "sub");
	json_object *o;
	char *t;

	if (!http_method_ok(req, "GET", resp))
		return;
	if (subj == NULL || *subj == '\0') {
		http_error(resp, 400, "BadParameter",
			   "federated-token needs ?sub=SUBJECT (e.g. system:serviceaccount:ns:sa).");
		return;
	}
	t = jwt_federated(srv, subj);
	o = t ? json_object_new_object() : NULL;
	if (o != NULL)
		json_object_object_add(o, "token", json_object_new_string(t));
	free(t);
	resp->token_style = true;
	http_resp_json(resp, 200, o);
}

void admin_handle(struct emu_server *srv, const struct http_req *req,
		  const char *sub, struct http_resp *resp)
{
	struct admin *adm = srv->adm;

	if (strcmp(sub, "stats") == 0) {
		if (http_method_ok(req, "GET", resp))
			admin_stats_get(adm, resp);
	} else if (strcmp(sub, "stats/reset") == 0) {
		if (http_method_ok(req, "POST", resp)) {
			admin_stats_reset(adm);
			empty_ok(resp);
		}
	} else if (strcmp(sub, "faults") == 0) {
		faults(adm, req, resp);
	} else if (strcmp(sub, "federated-token") == 0) {
		federated_token(srv, req, resp);
	} else {
		http_error(resp, 404, "NotFound",
			   "Unknown admin path /_emulator/%.100s (see emulator/README.md).", sub);
	}
}
