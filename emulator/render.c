/*
 * render.c - JSON rendering of key bundles, list items and rotation
 * policies in the service's shape: members in alphabetical order at every
 * level, absent members omitted (never null), compact output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope_i.h"
#include "keys_json_i.h"
#include "render_i.h"

char *render_kid(const char *base, const char *name, const char *version)
{
	char *s;

	if (version != NULL) {
		if (asprintf(&s, "%s/keys/%s/%s", base, name, version) < 0)
			return NULL;
	} else if (asprintf(&s, "%s/keys/%s", base, name) < 0) {
		return NULL;
	}
	return s;
}

const char *render_kty(const struct key_mat *m)
{
	if (m->software)
		return m->kty == KEY_RSA ? "RSA" : "EC";
	return m->kty == KEY_RSA ? "RSA-HSM" : m->kty == KEY_EC ? "EC-HSM" : "oct-HSM";
}

static struct json_object *render_attributes(const struct key_ver *v)
{
	struct json_object *a = json_object_new_object();

	jadd_int(a, "created", v->created);
	jadd_bool(a, "enabled", v->enabled);
	if (v->exp != 0)
		jadd_int(a, "exp", v->exp);
	jadd_bool(a, "exportable", false);
	if (v->m->kty == KEY_OCT)
		jadd_int(a, "key_size", v->m->bits);
	if (v->nbf != 0)
		jadd_int(a, "nbf", v->nbf);
	jadd_int(a, "recoverableDays", KEY_RECOVERABLE_DAYS);
	jadd_str(a, "recoveryLevel", KEY_RECOVERY_LEVEL);
	jadd_int(a, "updated", v->updated);
	return a;
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(((const struct key_tag *)a)->name,
		      ((const struct key_tag *)b)->name);
}

static void add_tags(struct json_object *o, const struct key_ver *v)
{
	struct key_tag *sorted;
	struct json_object *t;

	if (v->ntags == 0)
		return;
	/* Sort a shallow copy: the version may be read by other threads. */
	sorted = malloc(v->ntags * sizeof(*sorted));
	if (sorted == NULL)
		return;
	memcpy(sorted, v->tags, v->ntags * sizeof(*sorted));
	qsort(sorted, v->ntags, sizeof(*sorted), cmp_tag);
	t = json_object_new_object();
	for (size_t i = 0; i < v->ntags; i++)
		jadd_str(t, sorted[i].name, sorted[i].value);
	free(sorted);
	json_object_object_add(o, "tags", t);
}

static struct json_object *render_key(const struct key_entry *e,
				      const struct key_ver *v, const char *base)
{
	struct json_object *k = json_object_new_object(), *ops;
	char *kid = render_kid(base, e->name, v->id);

	if (v->m->kty == KEY_EC)
		jadd_str(k, "crv", curve_name(v->m->crv));
	else if (v->m->kty == KEY_RSA)
		jadd_str(k, "e", v->m->pub_b);
	ops = json_object_new_array();
	for (unsigned bit = 1; bit <= KOP_DERIVE; bit <<= 1)
		if (v->ops & bit)
			json_object_array_add(ops, json_object_new_string(
				key_op_name((enum key_op)bit)));
	json_object_object_add(k, "key_ops", ops);
	jadd_str(k, "kid", kid ? kid : "");
	free(kid);
	jadd_str(k, "kty", render_kty(v->m));
	if (v->m->kty == KEY_RSA) {
		jadd_str(k, "n", v->m->pub_a);
	} else if (v->m->kty == KEY_EC) {
		jadd_str(k, "x", v->m->pub_a);
		jadd_str(k, "y", v->m->pub_b);
	}
	return k;
}

static void add_recovery_id(struct json_object *o, const struct key_entry *e,
			    const char *base)
{
	char *rid = NULL;

	if (asprintf(&rid, "%s/deletedkeys/%s", base, e->name) < 0)
		rid = NULL;
	jadd_str(o, "recoveryId", rid ? rid : "");
	free(rid);
}

/* What bundles and items share, in the service's member order:
 * attributes, deletedDate, then k (the key, or its kid), recoveryId,
 * scheduledPurgeDate, tags.  mid is taken over. */
static struct json_object *render_common(const struct key_entry *e,
					 const struct key_ver *v,
					 const char *base, bool deleted,
					 const char *k, struct json_object *mid)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "attributes", render_attributes(v));
	if (deleted)
		jadd_int(o, "deletedDate", e->deleted_date);
	json_object_object_add(o, k, mid);
	if (deleted) {
		add_recovery_id(o, e, base);
		jadd_int(o, "scheduledPurgeDate",
			 e->deleted_date + KEY_RECOVERABLE_DAYS * 86400);
	}
	add_tags(o, v);
	return o;
}

struct json_object *render_bundle(const struct key_entry *e,
				  const struct key_ver *v, const char *base,
				  bool deleted)
{
	return render_common(e, v, base, deleted, "key", render_key(e, v, base));
}

struct json_object *render_item(const struct key_entry *e,
				const struct key_ver *v, const char *base,
				bool deleted, bool with_version)
{
	char *kid = render_kid(base, e->name, with_version ? v->id : NULL);
	struct json_object *js = json_object_new_string(kid ? kid : "");

	free(kid);
	return render_common(e, v, base, deleted, "kid", js);
}

struct json_object *render_policy(const struct key_entry *e)
{
	struct json_object *o = json_object_new_object(), *a, *acts;
	char *id = NULL;

	if (!e->pol.set) {
		/* The service answers an unset policy with an empty one. */
		if (asprintf(&id, "keys/%s/rotationpolicy", e->name) < 0)
			id = NULL;
		json_object_object_add(o, "attributes", json_object_new_object());
		jadd_str(o, "id", id ? id : "");
		json_object_object_add(o, "lifetimeActions",
				       json_object_new_array());
		free(id);
		return o;
	}
	a = json_object_new_object();
	jadd_int(a, "created", e->pol.created);
	if (e->pol.expiry[0] != '\0')
		jadd_str(a, "expiryTime", e->pol.expiry);
	jadd_int(a, "updated", e->pol.updated);
	json_object_object_add(o, "attributes", a);
	if (asprintf(&id, "keys/%s/rotationpolicy", e->name) < 0)
		id = NULL;
	jadd_str(o, "id", id ? id : "");
	free(id);
	acts = json_object_new_array();
	for (size_t i = 0; i < e->pol.nactions; i++) {
		struct json_object *act = json_object_new_object();
		struct json_object *type = json_object_new_object();
		struct json_object *trig = json_object_new_object();

		jadd_str(type, "type", "rotate");
		json_object_object_add(act, "action", type);
		jadd_str(trig, e->pol.actions[i].trigger, e->pol.actions[i].dur);
		json_object_object_add(act, "trigger", trig);
		json_object_array_add(acts, act);
	}
	json_object_object_add(o, "lifetimeActions", acts);
	return o;
}

void render_reply(struct emu_response *resp, int status,
		  struct json_object *obj)
{
	const char *s;
	size_t len;

	resp->status = status;
	resp->body = NULL;
	resp->body_len = 0;
	if (obj == NULL) {
		emu_error_oom(resp);
		return;
	}
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	len = s ? strlen(s) : 0;
	resp->body = s ? malloc(len + 1) : NULL;
	if (resp->body == NULL) {
		json_object_put(obj);
		emu_error_oom(resp);
		return;
	}
	memcpy(resp->body, s, len + 1);
	resp->body_len = len;
	/* Decrypt and unwrap results carry plaintext: cleanse json-c's copy. */
	secret_wipe((char *)s, len);
	json_object_put(obj);
}
