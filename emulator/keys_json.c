/*
 * keys_json.c - json-c helpers of the emulator's key side, which the HTTP
 * side's identities.c and jwt.c read their JSON with too.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "keys_json_i.h"
#include "secret.h"

void jadd_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

void jadd_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

void jadd_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

int jadd_b64(struct json_object *o, const char *k, const uint8_t *p,
	     size_t len)
{
	char *s = b64url_encode(p, len);
	struct json_object *js;

	if (s == NULL)
		return -ENOMEM;
	js = json_object_new_string(s);
	secret_wipe_free(s, strlen(s));
	if (js == NULL)
		return -ENOMEM;
	json_object_object_add(o, k, js);
	return 0;
}

struct json_object *jmember(struct json_object *o, const char *k)
{
	struct json_object *m = NULL;

	if (o == NULL || !json_object_object_get_ex(o, k, &m) ||
	    json_object_is_type(m, json_type_null))
		return NULL;
	return m;
}

const char *jmember_str(struct json_object *o, const char *k)
{
	struct json_object *m = jmember(o, k);

	return m && json_object_is_type(m, json_type_string) ?
	       json_object_get_string(m) : NULL;
}
