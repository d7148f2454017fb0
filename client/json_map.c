/* json_map.c - JSON <-> C structs; the only file using json-c (see
 * json_map_i.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "codec.h"
#include "json_map_i.h"
#include "secret.h"

#define SER_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Parse exactly len bytes; NULL when it is not one JSON value. */
static struct json_object *parse(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (!text || len == 0 || len >= (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	/* The tokener copies each string and number into its printbuf,
	 * growing it by realloc(): sized for the whole text now, it never
	 * leaves a stale copy behind, and is wiped below.  (No value is
	 * longer than the text it came from.) */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
		json_tokener_free(tok);
		return NULL;
	}
	printbuf_reset(tok->pb);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	} else if (o && json_tokener_get_parse_end(tok) < len) {
		/* Trailing garbage other than white space is an error. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", text[i])) {
				json_object_put(o);
				o = NULL;
				break;
			}
	}
	secret_wipe(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

/* Overwrite every string in a tree before it is freed, for replies and
 * requests that carry plaintext, key material or tokens.  json-c keeps
 * strings in the object, so a cast is enough to reach them. */
static void wipe_tree(struct json_object *o)
{
	if (!o)
		return;
	switch (json_object_get_type(o)) {
	case json_type_string:
		secret_wipe((char *)json_object_get_string(o),
			    (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			wipe_tree(v);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			wipe_tree(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

static void put_wiped(struct json_object *o)
{
	wipe_tree(o);
	json_object_put(o);
}

/* Borrowed child of the given type, or NULL. */
static struct json_object *member(struct json_object *o, const char *name,
				  enum json_type t)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

static const char *str_member(struct json_object *o, const char *name)
{
	struct json_object *v = member(o, name, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* Integer member, accepting JSON numbers and numeric strings (managed
 * identity endpoints send "expires_on":"1700000000"). */
static bool int_member(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long n;

	if (!o || !json_object_object_get_ex(o, name, &v) || !v)
		return false;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		/* 1e99 or NaN cast to int64_t is undefined behaviour (found
		 * by tests/fuzz/fuzz_json_map): not a number we can use. */
		if (!(d > -9.2e18 && d < 9.2e18))
			return false;
		*out = (int64_t)d;
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = n;
	return true;
}

/* Decode a base64url member; absent -> *out NULL, len 0, true. */
static bool b64_member(struct json_object *o, const char *name,
		       uint8_t **out, size_t *len)
{
	struct json_object *v;

	*out = NULL;
	*len = 0;
	if (!o || !json_object_object_get_ex(o, name, &v))
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	return b64url_decode(json_object_get_string(v),
			     (size_t)json_object_get_string_len(v), out, len) == 0;
}

static void parse_attrs(struct json_object *a, struct hsm_attrs *at,
			unsigned *oct_bits)
{
	struct json_object *v;
	const char *s;
	int64_t n;

	at->recoverable_days = -1;
	at->enabled = true;
	if (!a)
		return;
	if ((v = member(a, "enabled", json_type_boolean)))
		at->enabled = json_object_get_boolean(v);
	if ((v = member(a, "exportable", json_type_boolean)))
		at->exportable = json_object_get_boolean(v);
	if (int_member(a, "created", &n))
		at->created = n;
	if (int_member(a, "updated", &n))
		at->updated = n;
	if (int_member(a, "nbf", &n))
		at->nbf = n;
	if (int_member(a, "exp", &n))
		at->exp = n;
	if (int_member(a, "recoverableDays", &n))
		at->recoverable_days = (int)n;
	if (int_member(a, "key_size", &n) && oct_bits)
		*oct_bits = (unsigned)n;
	if ((s = str_member(a, "recoveryLevel")))
		snprintf(at->recovery_level, sizeof(at->recovery_level), "%s", s);
}

static enum hsm_status parse_tags(struct json_object *t, struct hsm_tag **tags,
				  size_t *n)
{
	size_t cnt = 0, i = 0;

	*tags = NULL;
	*n = 0;
	if (!t || !json_object_is_type(t, json_type_object))
		return HSM_OK;
	cnt = (size_t)json_object_object_length(t);
	if (cnt == 0)
		return HSM_OK;
	*tags = calloc(cnt, sizeof(**tags));
	if (!*tags)
		return HSM_E_NOMEM;
	json_object_object_foreach(t, k, v) {
		const char *val = json_object_is_type(v, json_type_string) ?
			json_object_get_string(v) : "";
		(*tags)[i].name = strdup(k);
		(*tags)[i].value = strdup(val);
		i++;
		*n = i;
		if (!(*tags)[i - 1].name || !(*tags)[i - 1].value)
			return HSM_E_NOMEM;
	}
	return HSM_OK;
}

/*
 * Split a kid ("https://h/keys/NAME/VERSION", "https://h/deletedkeys/NAME")
 * into malloc()ed name and version (NULL when absent).  Returns 0, -1 when
 * the URL has no keys/deletedkeys segment, -2 when out of memory.
 */
static int split_kid(const char *kid, char **name, char **version)
{
	const char *p = strstr(kid, "://");
	const char *seg, *end;

	*name = *version = NULL;
	p = p ? strchr(p + 3, '/') : NULL;
	if (!p)
		return -1;
	p++;
	if (!strncmp(p, "keys/", 5))
		seg = p + 5;
	else if (!strncmp(p, "deletedkeys/", 12))
		seg = p + 12;
	else
		return -1;
	end = strchr(seg, '/');
	if (!end)
		end = seg + strlen(seg);
	if (end == seg)
		return -1;
	*name = strndup(seg, (size_t)(end - seg));
	if (*end == '/' && end[1]) {
		const char *vend = strchr(end + 1, '/');

		*version = vend ? strndup(end + 1, (size_t)(vend - end - 1)) :
				  strdup(end + 1);
		if (!*version)
			return -2;
	}
	return *name ? 0 : -2;
}

static enum key_type kty_from(const char *s, bool *ok)
{
	*ok = true;
	if (!strncmp(s, "EC", 2) && (s[2] == 0 || !strcmp(s + 2, "-HSM")))
		return KEY_EC;
	if (!strncmp(s, "RSA", 3) && (s[3] == 0 || !strcmp(s + 3, "-HSM")))
		return KEY_RSA;
	if (!strncmp(s, "oct", 3) && (s[3] == 0 || !strcmp(s + 3, "-HSM")))
		return KEY_OCT;
	*ok = false;
	return KEY_OCT;
}

static unsigned parse_ops(struct json_object *a)
{
	unsigned ops = 0;

	if (!a || !json_object_is_type(a, json_type_array))
		return 0;
	/* A set: the service returns it in a different order each time;
	 * unknown names are ignored rather than fatal. */
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *v = json_object_array_get_idx(a, i);

		if (json_object_is_type(v, json_type_string))
			ops |= key_op_from_name(json_object_get_string(v));
	}
	return ops;
}

static size_t strip_zeros(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] == 0)
		i++;
	return len - i;
}

/* The size (and curve) of a key from its JWK; false when the JWK lacks
 * what its type needs.  oct_bits: the attributes' key_size. */
static bool key_size(struct json_object *key, struct hsm_key *out,
		     unsigned oct_bits)
{
	const char *s;

	switch (out->kty) {
	case KEY_RSA:
		if (!out->n || !out->e)
			return false;
		out->bits = (unsigned)strip_zeros(out->n, out->n_len) * 8;
		break;
	case KEY_EC:
		s = str_member(key, "crv");
		out->crv = s ? curve_from_name(s) : CRV_NONE;
		if (out->crv == CRV_NONE || !out->x || !out->y)
			return false;
		out->bits = out->crv == CRV_P521 ? 521 :
			    (unsigned)curve_coord_len(out->crv) * 8;
		break;
	case KEY_OCT:
		out->bits = oct_bits;
		break;
	}
	return true;
}

enum hsm_status jm_parse_key(const char *text, size_t len, struct hsm_key *out)
{
	struct json_object *root, *key, *v;
	enum hsm_status st = HSM_E_PROTOCOL;
	const char *kid, *kty, *s;
	unsigned oct_bits = 0;
	bool ok;
	int64_t n;

	memset(out, 0, sizeof(*out));
	root = parse(text, len);
	if (!root)
		return HSM_E_PROTOCOL;
	key = member(root, "key", json_type_object);
	if (!key || !(kid = str_member(key, "kid")) ||
	    !(kty = str_member(key, "kty")))
		goto out;
	out->kty = kty_from(kty, &ok);
	if (!ok)
		goto out;
	snprintf(out->kty_name, sizeof(out->kty_name), "%s", kty);
	st = HSM_E_NOMEM;
	if (!(out->kid = strdup(kid)))
		goto out;
	switch (split_kid(kid, &out->name, &out->version)) {
	case 0:
		break;
	case -1:
		st = HSM_E_PROTOCOL;
		goto out;
	default:
		goto out;
	}
	st = HSM_E_PROTOCOL;
	out->ops = parse_ops(member(key, "key_ops", json_type_array));
	if (!b64_member(key, "n", &out->n, &out->n_len) ||
	    !b64_member(key, "e", &out->e, &out->e_len) ||
	    !b64_member(key, "x", &out->x, &out->x_len) ||
	    !b64_member(key, "y", &out->y, &out->y_len))
		goto out;
	parse_attrs(member(root, "attributes", json_type_object), &out->attrs,
		    &oct_bits);
	if (!key_size(key, out, oct_bits))
		goto out;
	st = parse_tags(member(root, "tags", json_type_object), &out->tags,
			&out->n_tags);
	if (st != HSM_OK)
		goto out;
	st = HSM_E_NOMEM;
	if ((s = str_member(root, "recoveryId")) && !(out->recovery_id = strdup(s)))
		goto out;
	if (int_member(root, "deletedDate", &n))
		out->deleted_date = n;
	if (int_member(root, "scheduledPurgeDate", &n))
		out->scheduled_purge_date = n;
	v = key;
	s = json_object_to_json_string_ext(v, SER_FLAGS);
	if (!s || !(out->jwk_json = strdup(s)))
		goto out;
	if (!(out->bundle_json = strndup(text, len)))
		goto out;
	st = HSM_OK;
out:
	json_object_put(root);
	if (st != HSM_OK)
		hsm_key_cleanup(out);
	return st;
}

enum hsm_status jm_parse_list(const char *text, size_t len,
			      struct hsm_key_list *out, char **next_link)
{
	struct json_object *root, *arr;
	enum hsm_status st = HSM_E_PROTOCOL;
	struct hsm_key_item *items;
	size_t cnt, base = out->n;
	const char *s;

	*next_link = NULL;
	root = parse(text, len);
	if (!root)
		return HSM_E_PROTOCOL;
	arr = member(root, "value", json_type_array);
	if (!arr) {
		/* An empty page may omit "value"; anything else is wrong. */
		if (!json_object_is_type(root, json_type_object) ||
		    json_object_object_get_ex(root, "value", NULL))
			goto out;
		cnt = 0;
	} else {
		cnt = json_object_array_length(arr);
	}
	if (cnt) {
		st = HSM_E_NOMEM;
		items = realloc(out->items, (base + cnt) * sizeof(*items));
		if (!items)
			goto out;
		out->items = items;
		memset(items + base, 0, cnt * sizeof(*items));
	}
	for (size_t i = 0; i < cnt; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct hsm_key_item *it = &out->items[out->n];
		const char *kid = str_member(e, "kid");
		int64_t n;

		int rc = kid ? split_kid(kid, &it->name, &it->version) : -1;

		if (rc != 0) {
			st = rc == -2 ? HSM_E_NOMEM : HSM_E_PROTOCOL;
			hsm_key_item_cleanup(it);
			goto out;
		}
		out->n++;
		parse_attrs(member(e, "attributes", json_type_object),
			    &it->attrs, NULL);
		if (int_member(e, "deletedDate", &n))
			it->deleted_date = n;
		if (int_member(e, "scheduledPurgeDate", &n))
			it->scheduled_purge_date = n;
		st = parse_tags(member(e, "tags", json_type_object), &it->tags,
				&it->n_tags);
		if (st != HSM_OK)
			goto out;
	}
	st = HSM_OK;
	if ((s = str_member(root, "nextLink")) && *s) {
		*next_link = strdup(s);
		if (!*next_link)
			st = HSM_E_NOMEM;
	}
out:
	json_object_put(root);
	return st;
}

enum hsm_status jm_parse_error(const char *text, size_t len,
			       struct hsm_error *err)
{
	struct json_object *root, *e, *inner;
	const char *code, *msg, *ic;

	root = parse(text, len);
	e = member(root, "error", json_type_object);
	if (!e) {
		json_object_put(root);
		return HSM_E_PROTOCOL;
	}
	code = str_member(e, "code");
	msg = str_member(e, "message");
	inner = member(e, "innererror", json_type_object);
	ic = inner ? str_member(inner, "code") : NULL;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	snprintf(err->inner_code, sizeof(err->inner_code), "%s", ic ? ic : "");
	if (msg) {
		/* Keep the message on one line: the service uses "\r\n". */
		size_t j = 0;

		for (size_t i = 0; msg[i] && j + 1 < sizeof(err->message); i++) {
			char ch = msg[i];

			if (ch == '\r')
				continue;
			err->message[j++] = ch == '\n' ? ' ' : ch;
		}
		err->message[j] = 0;
	} else {
		err->message[0] = 0;
	}
	json_object_put(root);
	return HSM_OK;
}

enum hsm_status jm_parse_result(const char *text, size_t len,
				struct hsm_result *out)
{
	struct json_object *root;
	enum hsm_status st = HSM_E_PROTOCOL;
	uint8_t *p = NULL;
	size_t n = 0;
	const char *kid;

	memset(out, 0, sizeof(*out));
	root = parse(text, len);
	if (!root || !member(root, "value", json_type_string))
		goto out;
	if (!b64_member(root, "value", &p, &n))
		goto out;
	out->value = secret_new(p, n);
	secret_wipe_free(p, n);
	p = NULL;
	if (!out->value) {
		st = HSM_E_NOMEM;
		goto out;
	}
	if (!b64_member(root, "iv", &p, &n) || n > sizeof(out->iv))
		goto out;
	if (p)
		memcpy(out->iv, p, n);
	out->iv_len = n;
	free(p);
	if (!b64_member(root, "tag", &p, &n) || n > sizeof(out->tag))
		goto out;
	if (p)
		memcpy(out->tag, p, n);
	out->tag_len = n;
	free(p);
	p = NULL;
	if ((kid = str_member(root, "kid")))
		snprintf(out->kid, sizeof(out->kid), "%s", kid);
	st = HSM_OK;
out:
	free(p);
	put_wiped(root);
	if (st != HSM_OK)
		hsm_result_cleanup(out);
	return st;
}

enum hsm_status jm_parse_verify(const char *text, size_t len, bool *valid)
{
	struct json_object *root = parse(text, len);
	struct json_object *v = member(root, "value", json_type_boolean);
	enum hsm_status st = HSM_E_PROTOCOL;

	*valid = false;
	if (v) {
		*valid = json_object_get_boolean(v);
		st = HSM_OK;
	}
	json_object_put(root);
	return st;
}

enum hsm_status jm_parse_value(const char *text, size_t len, char **out)
{
	struct json_object *root = parse(text, len);
	const char *s = str_member(root, "value");
	enum hsm_status st = HSM_E_PROTOCOL;

	*out = NULL;
	if (s) {
		*out = strdup(s);
		st = *out ? HSM_OK : HSM_E_NOMEM;
	}
	json_object_put(root);
	return st;
}

enum hsm_status jm_parse_random(const char *text, size_t len, uint8_t *buf,
				size_t want)
{
	struct json_object *root = parse(text, len);
	enum hsm_status st = HSM_E_PROTOCOL;
	uint8_t *p = NULL;
	size_t n = 0;

	if (member(root, "value", json_type_string) &&
	    b64_member(root, "value", &p, &n) && n == want) {
		memcpy(buf, p, n);
		st = HSM_OK;
	}
	secret_wipe_free(p, n);
	put_wiped(root);
	return st;
}

/* "2026-11-29 14:03:07.123456" in local time (az CLI's expiresOn). */
static bool parse_local_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!end)
		return false;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1)
		return false;
	*out = (int64_t)t;
	return true;
}

/*
 * A bearer token is visible ASCII (RFC 6750 §2.1: b64token).  A NUL
 * (JSON "\u0000") would cut the header line short and leave the bytes
 * after it unwiped (callers wipe strlen() bytes); CR or LF would add
 * header lines to our requests.  Found by tests/fuzz/fuzz_token.
 */
static bool token_chars(struct json_object *v)
{
	const char *s = json_object_get_string(v);
	int n = json_object_get_string_len(v);

	for (int i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

enum hsm_status jm_parse_token(const char *text, size_t len, int64_t now,
			       char **token, size_t *token_len,
			       int64_t *expires_on)
{
	struct json_object *root = parse(text, len);
	struct json_object *v;
	enum hsm_status st = HSM_E_PROTOCOL;
	const char *s;
	int64_t n;

	*token = NULL;
	*token_len = 0;
	*expires_on = 0;
	v = member(root, "access_token", json_type_string);
	if (!v)
		v = member(root, "accessToken", json_type_string);
	if (!v || json_object_get_string_len(v) == 0 || !token_chars(v))
		goto out;
	st = HSM_E_NOMEM;
	*token_len = (size_t)json_object_get_string_len(v);
	*token = malloc(*token_len + 1);
	if (!*token)
		goto out;
	memcpy(*token, json_object_get_string(v), *token_len + 1);
	if (int_member(root, "expires_on", &n) && n > 0)
		*expires_on = n;
	else if (int_member(root, "expires_in", &n) && n > 0)
		/* Saturated: now + 6e19 overflows (found by fuzz_token). */
		*expires_on = n > INT64_MAX - now ? INT64_MAX : now + n;
	else if ((s = str_member(root, "expiresOn")) && parse_local_time(s, &n))
		*expires_on = n;
	st = HSM_OK;
out:
	put_wiped(root);
	return st;
}

bool jm_token_error(const char *text, size_t len, char *msg, size_t msglen)
{
	struct json_object *root = parse(text, len);
	const char *e = str_member(root, "error");
	const char *d = str_member(root, "error_description");
	bool ok = false;

	if (e) {
		size_t j;

		snprintf(msg, msglen, "%s%s%s", e, d ? ": " : "", d ? d : "");
		/* One line: Entra descriptions carry "\r\n Trace ID: ...". */
		for (j = 0; msg[j]; j++)
			if (msg[j] == '\r' || msg[j] == '\n') {
				msg[j] = 0;
				break;
			}
		ok = true;
	}
	put_wiped(root);
	return ok;
}

int64_t jm_jwt_exp(const char *jwt, size_t len)
{
	const char *p = memchr(jwt, '.', len), *q;
	uint8_t *claims = NULL;
	size_t clen = 0;
	struct json_object *root;
	int64_t exp = 0;

	if (!p)
		return 0;
	p++;
	q = memchr(p, '.', len - (size_t)(p - jwt));
	if (!q || b64url_decode(p, (size_t)(q - p), &claims, &clen) != 0)
		return 0;
	root = parse((const char *)claims, clen);
	if (!int_member(root, "exp", &exp))
		exp = 0;
	json_object_put(root);
	free(claims);
	return exp;
}

/* ------------------------------------------------------------- builders */

/* Serialise and free o; wipe the tree first when secret. */
static char *finish(struct json_object *o, bool secret, bool ok)
{
	char *s = NULL;

	if (o && ok) {
		size_t n = 0;
		const char *t = json_object_to_json_string_length(o, SER_FLAGS, &n);

		if (t) {
			s = malloc(n + 1);
			if (s)
				memcpy(s, t, n + 1);
			if (secret)
				secret_wipe((char *)t, n);
		}
	}
	if (secret)
		put_wiped(o);
	else
		json_object_put(o);
	return s;
}

/* Add a member, consuming v; false when v is NULL or adding fails. */
static bool add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v)
		return false;
	if (json_object_object_add(o, k, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static struct json_object *b64_string(const uint8_t *p, size_t n, bool secret)
{
	char *s = b64url_encode(p, n);
	struct json_object *v;

	if (!s)
		return NULL;
	v = json_object_new_string(s);
	if (secret)
		secret_wipe_free(s, strlen(s));
	else
		free(s);
	return v;
}

static struct json_object *ops_array(unsigned ops)
{
	struct json_object *a = json_object_new_array();

	if (!a)
		return NULL;
	for (unsigned bit = 1; bit && bit <= KOP_DERIVE; bit <<= 1) {
		if (!(ops & bit))
			continue;
		if (json_object_array_add(a, json_object_new_string(
				key_op_name((enum key_op)bit))) != 0) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static struct json_object *tags_object(const struct hsm_tag *t, size_t n)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < n; i++)
		if (!add(o, t[i].name, json_object_new_string(t[i].value ? t[i].value : ""))) {
			json_object_put(o);
			return NULL;
		}
	return o;
}

/* attributes of create/import; NULL p: {} */
static struct json_object *create_attrs(const struct hsm_create *p)
{
	struct json_object *a = json_object_new_object();
	bool ok = a != NULL;

	if (!p || !ok)
		return a;
	if (p->disabled)
		ok = add(a, "enabled", json_object_new_boolean(0));
	if (ok && p->exportable)
		ok = add(a, "exportable", json_object_new_boolean(1));
	if (ok && p->nbf)
		ok = add(a, "nbf", json_object_new_int64(p->nbf));
	if (ok && p->exp)
		ok = add(a, "exp", json_object_new_int64(p->exp));
	if (!ok) {
		json_object_put(a);
		return NULL;
	}
	return a;
}

char *jm_build_create(const struct hsm_create *p)
{
	struct json_object *o = json_object_new_object();
	static const char *const kty[][2] = {
		[KEY_EC] = { "EC", "EC-HSM" }, [KEY_RSA] = { "RSA", "RSA-HSM" },
		[KEY_OCT] = { "oct", "oct-HSM" },
	};
	bool ok = o != NULL;

	if (ok)
		ok = add(o, "kty", json_object_new_string(kty[p->kty][p->hsm]));
	if (ok && p->kty == KEY_EC && p->crv != CRV_NONE)
		ok = add(o, "crv", json_object_new_string(curve_name(p->crv)));
	if (ok && p->kty != KEY_EC && p->bits)
		ok = add(o, "key_size", json_object_new_int64(p->bits));
	if (ok && p->kty == KEY_RSA && p->public_exponent)
		ok = add(o, "public_exponent",
			 json_object_new_int64((int64_t)p->public_exponent));
	if (ok && p->ops)
		ok = add(o, "key_ops", ops_array(p->ops));
	if (ok)
		ok = add(o, "attributes", create_attrs(p));
	if (ok && p->n_tags)
		ok = add(o, "tags", tags_object(p->tags, p->n_tags));
	return finish(o, false, ok);
}

char *jm_build_import(const char *jwk_json, const struct hsm_create *p,
		      bool *bad)
{
	struct json_object *o, *jwk;
	bool ok;

	*bad = false;
	jwk = parse(jwk_json, strlen(jwk_json));
	if (!jwk || !json_object_is_type(jwk, json_type_object)) {
		*bad = true;
		put_wiped(jwk);
		return NULL;
	}
	o = json_object_new_object();
	ok = o && add(o, "key", jwk);
	if (!o)
		put_wiped(jwk);
	if (ok && p && p->ops)
		ok = add(jwk, "key_ops", ops_array(p->ops));
	if (ok)
		ok = add(o, "attributes", create_attrs(p));
	if (ok && p && p->n_tags)
		ok = add(o, "tags", tags_object(p->tags, p->n_tags));
	return finish(o, true, ok);
}

char *jm_build_update(const struct hsm_update *u)
{
	struct json_object *o = json_object_new_object(), *a;
	bool ok = o != NULL;

	a = json_object_new_object();
	if (!a) {
		json_object_put(o);
		return NULL;
	}
	if (u->has_enabled)
		ok = ok && add(a, "enabled", json_object_new_boolean(u->enabled));
	/* 0 means "remove": the service takes null for that. */
	if (u->has_nbf)
		ok = ok && (u->nbf ? add(a, "nbf", json_object_new_int64(u->nbf)) :
			    json_object_object_add(a, "nbf", NULL) == 0);
	if (u->has_exp)
		ok = ok && (u->exp ? add(a, "exp", json_object_new_int64(u->exp)) :
			    json_object_object_add(a, "exp", NULL) == 0);
	if (ok)
		ok = add(o, "attributes", a);
	else
		json_object_put(a);
	if (ok && u->has_ops)
		ok = add(o, "key_ops", ops_array(u->ops));
	if (ok && u->has_tags)
		ok = add(o, "tags", tags_object(u->tags, u->n_tags));
	return finish(o, false, ok);
}

char *jm_build_crypt(const struct hsm_crypt *in)
{
	struct json_object *o = json_object_new_object();
	bool ok = o != NULL;

	if (ok)
		ok = add(o, "alg", json_object_new_string(in->alg));
	if (ok)
		ok = add(o, "value", b64_string(in->value ? in->value :
				(const uint8_t *)"", in->len, true));
	if (ok && in->iv)
		ok = add(o, "iv", b64_string(in->iv, in->iv_len, false));
	if (ok && in->aad)
		ok = add(o, "aad", b64_string(in->aad, in->aad_len, false));
	if (ok && in->tag)
		ok = add(o, "tag", b64_string(in->tag, in->tag_len, false));
	return finish(o, true, ok);
}

char *jm_build_sign(const char *alg, const uint8_t *digest, size_t dlen,
		    const uint8_t *sig, size_t sig_len)
{
	struct json_object *o = json_object_new_object();
	bool ok = o != NULL;

	if (ok)
		ok = add(o, "alg", json_object_new_string(alg));
	if (ok && sig) {
		ok = add(o, "digest", b64_string(digest, dlen, false)) &&
		     add(o, "value", b64_string(sig, sig_len, false));
	} else if (ok) {
		ok = add(o, "value", b64_string(digest, dlen, false));
	}
	return finish(o, false, ok);
}

char *jm_build_value(const char *s)
{
	struct json_object *o = json_object_new_object();
	bool ok = o && add(o, "value", json_object_new_string(s));

	return finish(o, false, ok);
}

char *jm_build_count(unsigned n)
{
	struct json_object *o = json_object_new_object();
	bool ok = o && add(o, "count", json_object_new_int64(n));

	return finish(o, false, ok);
}

char *jm_normalize(const char *text, bool *bad)
{
	struct json_object *o = parse(text, strlen(text));

	*bad = o == NULL;
	return finish(o, false, o != NULL);
}

char *jm_build_jwt_header(const char *alg, const char *x5t_name,
			  const char *x5t)
{
	struct json_object *o = json_object_new_object();
	bool ok = o != NULL;

	if (ok)
		ok = add(o, "alg", json_object_new_string(alg)) &&
		     add(o, "typ", json_object_new_string("JWT")) &&
		     add(o, x5t_name, json_object_new_string(x5t));
	return finish(o, false, ok);
}

char *jm_build_jwt_claims(const char *aud, const char *client_id,
			  const char *jti, int64_t now, int64_t exp)
{
	struct json_object *o = json_object_new_object();
	bool ok = o != NULL;

	if (ok)
		ok = add(o, "aud", json_object_new_string(aud)) &&
		     add(o, "iss", json_object_new_string(client_id)) &&
		     add(o, "sub", json_object_new_string(client_id)) &&
		     add(o, "jti", json_object_new_string(jti)) &&
		     add(o, "nbf", json_object_new_int64(now)) &&
		     add(o, "iat", json_object_new_int64(now)) &&
		     add(o, "exp", json_object_new_int64(exp));
	return finish(o, false, ok);
}
