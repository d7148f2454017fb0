/*
 * keys_json_i.h - json-c helpers of the emulator's key side, which the HTTP
 * side's identities.c and jwt.c read their JSON with too.
 */
#ifndef HSMFS_EMU_KEYS_JSON_I_H
#define HSMFS_EMU_KEYS_JSON_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Add a string / int / bool member, keeping call order (callers add
 * members alphabetically, as the service orders them). */
void jadd_str(struct json_object *o, const char *k, const char *v);
void jadd_int(struct json_object *o, const char *k, int64_t v);
void jadd_bool(struct json_object *o, const char *k, bool v);
/* Add base64url of bytes; returns -ENOMEM on failure. */
int jadd_b64(struct json_object *o, const char *k, const uint8_t *p,
	     size_t len);

/* Member k of o (o may be NULL); a JSON null counts as absent. */
struct json_object *jmember(struct json_object *o, const char *k);
/* The string member k, or NULL when absent or not a string. */
const char *jmember_str(struct json_object *o, const char *k);

#endif
