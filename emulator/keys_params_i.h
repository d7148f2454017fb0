/*
 * keys_params_i.h - request parameters of the key side: JSON bodies to
 * typed parameters.  On a bad parameter each parser fills resp with the
 * service's 400 answer and returns -EINVAL (or NULL).
 */
#ifndef HSMFS_EMU_KEYS_PARAMS_I_H
#define HSMFS_EMU_KEYS_PARAMS_I_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "emu.h"
#include "keys_types.h"

/* Parse the request body as a JSON object; on failure fills resp (400)
 * and returns NULL.  Caller puts the object. */
struct json_object *keys_parse_body(const struct emu_request *req,
				    struct emu_response *resp);

/* The kty of a create or import body as the flavour takes it: "RSA",
 * "RSA-HSM", "EC", "EC-HSM", and on Managed HSM "oct", "oct-HSM".  0 with
 * *out and *software (a vault's RSA and EC are software keys; Managed HSM
 * has none); else -EINVAL with the service's 400 in resp, where what
 * names the member ("'kty'" or "'kty' in 'key'"). */
int keys_take_kty(const char *s, enum emu_flavor fl, const char *what,
		  enum key_type *out, bool *software,
		  struct emu_response *resp);

/* The common members of create, import and update bodies. */
struct key_params {
	bool have_ops;
	unsigned ops;
	bool have_enabled, enabled;
	bool have_nbf, have_exp;
	int64_t nbf, exp;
	struct json_object *tags;	/* borrowed */
};

/* key_ops (from ops_src: the body, or the JWK of an import), attributes
 * and tags (from o). */
int keys_parse_params(struct json_object *o, struct json_object *ops_src,
		      struct key_params *p, struct emu_response *resp);
/* Apply parsed key_ops, attributes and tags to a version (write lock).
 * 0 or -ENOMEM. */
int keys_apply_params(struct key_ver *v, const struct key_params *p);

/* What a create body asks to generate. */
struct create_params {
	enum key_type kty;
	bool software;		/* a vault's software key */
	unsigned bits;		/* RSA modulus, AES key size */
	enum curve crv;		/* EC */
	unsigned long exponent;	/* RSA public exponent */
};
int keys_parse_create(struct json_object *o, enum emu_flavor fl,
		      struct create_params *c, struct emu_response *resp);

/* The private key in an import's JSON Web Key of type kty: 0 and new
 * material in *out; -ENOMEM; or -EINVAL with the reason in *why (the
 * caller words the answer). */
int keys_parse_jwk(struct json_object *jwk, enum key_type kty,
		   struct key_mat **out, const char **why);
/* Cleanse the private members of a JWK (json-c frees without wiping). */
void keys_wipe_jwk(struct json_object *jwk);

/* ISO-8601 duration to seconds (Y = 365 days, M = 30 days, as the
 * service's exp = created + P1Y = +31536000 shows).  -1 if malformed. */
int64_t keys_parse_duration(const char *s);
/* A rotation policy body (expiryTime, lifetimeActions) into *pol. */
int keys_parse_policy(struct json_object *o, struct rotation_policy *pol,
		      struct emu_response *resp);

#endif
