/*
 * keys_list.c - the lists: keys, versions of a key, deleted keys; pages
 * of at most 25 (maxresults) with a nextLink whose $skiptoken says where
 * the next page starts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope_i.h"
#include "keys_find_i.h"
#include "keys_json_i.h"
#include "keys_list_i.h"
#include "render_i.h"
#include "store_i.h"

static char *make_token(const char *kind, uint64_t n)
{
	char raw[48];

	snprintf(raw, sizeof(raw), "%s:%llu", kind, (unsigned long long)n);
	return b64url_encode((const uint8_t *)raw, strlen(raw));
}

/* Parse a $skiptoken made by make_token(); -EINVAL when it is not ours. */
static int parse_token(const char *tok, const char *kind, uint64_t *n)
{
	uint8_t *raw = NULL;
	size_t len = 0, kl = strlen(kind);
	char buf[48], *end;
	int err = -EINVAL;

	*n = 0;
	if (tok == NULL || *tok == '\0')
		return 0;
	if (b64url_decode(tok, strlen(tok), &raw, &len) != 0)
		return -EINVAL;
	if (len < sizeof(buf) && len > kl + 1) {
		memcpy(buf, raw, len);
		buf[len] = '\0';
		if (strncmp(buf, kind, kl) == 0 && buf[kl] == ':' &&
		    isdigit((unsigned char)buf[kl + 1])) {
			*n = strtoull(buf + kl + 1, &end, 10);
			if (*end == '\0')
				err = 0;
		}
	}
	free(raw);
	return err;
}

static void add_next_link(struct json_object *o, const struct emu_request *req,
			  const char *path, int max, const char *kind,
			  uint64_t n)
{
	char *tok = make_token(kind, n), *link = NULL;

	if (tok != NULL &&
	    asprintf(&link, "%s%s?maxresults=%d&$skiptoken=%s", req->base_url,
		     path, max, tok) >= 0) {
		jadd_str(o, "nextLink", link);
		free(link);
	}
	free(tok);
}

/* The versions of name from index start (read lock). */
static int list_versions(struct keystore *ks, const struct emu_request *req,
			 const char *name, int max, uint64_t start,
			 struct json_object *o, struct json_object *arr,
			 struct emu_response *resp)
{
	struct key_entry *e;
	int count = 0;

	if (keys_find_active(ks, req, name, NULL, &e, resp) == NULL)
		return -ENOENT;
	for (size_t i = (size_t)start; i < e->nvers; i++) {
		if (count == max) {
			char path[300];

			snprintf(path, sizeof(path), "/keys/%s/versions", e->name);
			add_next_link(o, req, path, max, "v", i);
			break;
		}
		json_object_array_add(arr, render_item(e, e->vers[i],
						       req->base_url, false, true));
		count++;
	}
	return 0;
}

/* The keys (deleted: the deleted keys) from sequence number start (read
 * lock). */
static void list_keys(struct keystore *ks, const struct emu_request *req,
		      bool deleted, int max, uint64_t start,
		      struct json_object *o, struct json_object *arr)
{
	int count = 0;

	for (size_t i = store_order_from(ks, start); i < ks->norder; i++) {
		struct key_entry *e = ks->order[i];

		if (e->deleted != deleted || e->nvers == 0)
			continue;
		if (count == max) {
			add_next_link(o, req, deleted ? "/deletedkeys" : "/keys",
				      max, deleted ? "d" : "k", e->seq);
			break;
		}
		json_object_array_add(arr, render_item(e, e->vers[e->nvers - 1],
						       req->base_url, deleted, false));
		count++;
	}
}

void keys_list(struct keystore *ks, const struct emu_request *req,
	       enum keys_op op, const char *name, struct emu_response *resp)
{
	int max = req->maxresults < 0 ? 25 : req->maxresults;
	const char *kind = op == OP_LIST ? "k" : op == OP_LIST_DELETED ? "d" : "v";
	struct json_object *o, *arr;
	uint64_t start;

	if (max < 1 || max > 25) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid maxresults %d: it must be between 1 and 25.",
			  req->maxresults);
		return;
	}
	if (parse_token(req->skiptoken, kind, &start) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid $skiptoken: use the nextLink of the previous page as it is.");
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	pthread_rwlock_rdlock(&ks->lock);
	if (op != OP_LIST_VERSIONS) {
		list_keys(ks, req, op == OP_LIST_DELETED, max, start, o, arr);
	} else if (list_versions(ks, req, name, max, start, o, arr, resp) != 0) {
		pthread_rwlock_unlock(&ks->lock);
		json_object_put(o);
		json_object_put(arr);
		return;
	}
	pthread_rwlock_unlock(&ks->lock);
	/* nextLink sorts before value. */
	json_object_object_add(o, "value", arr);
	render_reply(resp, 200, o);
}
