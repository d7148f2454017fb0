/*
 * keys_params.c - request parameters of the key side: JSON bodies to
 * typed parameters, with the service's 400 answers for bad ones.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "envelope_i.h"
#include "keys_json_i.h"
#include "keys_params_i.h"
#include "material_i.h"
#include "pkey.h"
#include "store_i.h"

struct json_object *keys_parse_body(const struct emu_request *req,
				    struct emu_response *resp)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (req->body_len > 0 && req->body_len < INT_MAX) {
		tok = json_tokener_new();
		if (tok != NULL) {
			o = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
			if (json_tokener_get_error(tok) != json_tokener_success) {
				json_object_put(o);
				o = NULL;
			}
			json_tokener_free(tok);
		}
	}
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request body must be a JSON object.");
		return NULL;
	}
	return o;
}

static int parse_kty(const char *s, enum key_type *out, bool *hsm)
{
	return s != NULL && key_type_from_name(s, strlen(s), out, hsm) == 0 ?
	       0 : -EINVAL;
}

int keys_take_kty(const char *s, enum emu_flavor fl, const char *what,
		  enum key_type *out, bool *software,
		  struct emu_response *resp)
{
	bool hsm = false;

	if (fl == FLAVOR_MHSM) {
		*software = false;
		if (parse_kty(s, out, &hsm) == 0)
			return 0;
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid or missing %s. Managed HSM supports RSA-HSM, EC-HSM and oct-HSM (RSA, EC and oct are accepted).",
			  what);
		return -EINVAL;
	}
	if (parse_kty(s, out, &hsm) == 0 && *out != KEY_OCT) {
		*software = !hsm;
		return 0;
	}
	/* A vault's answer to oct, recorded (azure-sdk-for-net #13437, and
	 * the same for import in azure-sdk-for-java #12898).  For oct-HSM
	 * and for other unknown values the same wording is assumed
	 * [unverified]. */
	if (s != NULL)
		emu_error(resp, 400, "BadParameter", "KeyTypeNotSupported",
			  "Invalid kty value: %.32s", s);
	else
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid or missing %s. Key Vault supports RSA, RSA-HSM, EC and EC-HSM.",
			  what);
	return -EINVAL;
}

static int bad_param(struct emu_response *resp, const char *msg)
{
	emu_error(resp, 400, "BadParameter", NULL, "%s", msg);
	return -EINVAL;
}

/* key_ops: an array of operation names. */
static int parse_ops(struct json_object *ops, struct key_params *p,
		     struct emu_response *resp)
{
	if (!json_object_is_type(ops, json_type_array))
		goto bad_ops;
	p->have_ops = true;
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		struct json_object *op = json_object_array_get_idx(ops, i);
		unsigned bit;

		if (!json_object_is_type(op, json_type_string))
			goto bad_ops;
		bit = key_op_from_name(json_object_get_string(op));
		if (bit == 0) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Invalid key operation '%s'. Valid operations are encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, export and deriveKey.",
				  json_object_get_string(op));
			return -EINVAL;
		}
		p->ops |= bit;
	}
	return 0;
bad_ops:
	return bad_param(resp, "'key_ops' must be an array of operation names.");
}

/* Member k of attr as a boolean (is_bool) or an integer into *v; 1 when
 * present, 0 when absent, -1 when of the wrong type.  A date (nbf, exp)
 * given as null is present with the value 0: it removes the date, as in
 * a JSON merge patch (RFC 7396).  [unverified: no recording shows the
 * service's answer to a null date; hsmfs's `set exp=none` sends it.] */
static int attr_value(struct json_object *attr, const char *k, bool is_bool,
		      int64_t *v)
{
	struct json_object *m = jmember(attr, k);

	if (m == NULL && !is_bool && json_object_object_get_ex(attr, k, NULL)) {
		*v = 0;
		return 1;
	}
	if (m == NULL)
		return 0;
	if (!json_object_is_type(m, is_bool ? json_type_boolean : json_type_int))
		return -1;
	*v = is_bool ? json_object_get_boolean(m) : json_object_get_int64(m);
	return 1;
}

/* attributes: enabled, nbf, exp; exportable must not be true. */
static int parse_attrs(struct json_object *attr, struct key_params *p,
		       struct emu_response *resp)
{
	struct json_object *m;
	int64_t en = 0;
	int a, b, c;

	if (!json_object_is_type(attr, json_type_object))
		return bad_param(resp, "'attributes' must be an object.");
	if ((a = attr_value(attr, "enabled", true, &en)) < 0 ||
	    (b = attr_value(attr, "nbf", false, &p->nbf)) < 0 ||
	    (c = attr_value(attr, "exp", false, &p->exp)) < 0)
		return bad_param(resp, "Invalid attributes: 'enabled' must be a boolean, 'nbf' and 'exp' integer seconds since the epoch.");
	p->have_enabled = a;
	p->enabled = en;
	p->have_nbf = b;
	p->have_exp = c;
	if ((m = jmember(attr, "exportable")) != NULL &&
	    json_object_get_boolean(m))
		return bad_param(resp, "Exportable keys need a release policy; the emulator does not support key release. Create the key with exportable false.");
	return 0;
}

/* tags: an object of at most KEY_TAGS_MAX short strings. */
static int parse_tags(struct json_object *m, struct key_params *p,
		      struct emu_response *resp)
{
	if (!json_object_is_type(m, json_type_object))
		goto bad_tags;
	if (json_object_object_length(m) > KEY_TAGS_MAX) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Too many tags: %d. A key may have at most %d tags.",
			  json_object_object_length(m), KEY_TAGS_MAX);
		return -EINVAL;
	}
	json_object_object_foreach(m, tk, tv) {
		if (!json_object_is_type(tv, json_type_string))
			goto bad_tags;
		if (strlen(tk) > KEY_TAG_LEN_MAX ||
		    strlen(json_object_get_string(tv)) > KEY_TAG_LEN_MAX) {
			emu_error(resp, 400, "BadParameter", NULL,
				  "Tag names and values may have at most %d characters.",
				  KEY_TAG_LEN_MAX);
			return -EINVAL;
		}
	}
	p->tags = m;
	return 0;
bad_tags:
	return bad_param(resp, "'tags' must be an object of string values.");
}

int keys_parse_params(struct json_object *o, struct json_object *ops_src,
		      struct key_params *p, struct emu_response *resp)
{
	struct json_object *ops = jmember(ops_src, "key_ops");
	struct json_object *attr = jmember(o, "attributes");
	struct json_object *tags = jmember(o, "tags");

	memset(p, 0, sizeof(*p));
	if (ops != NULL && parse_ops(ops, p, resp) != 0)
		return -EINVAL;
	if (attr != NULL && parse_attrs(attr, p, resp) != 0)
		return -EINVAL;
	if (tags != NULL && parse_tags(tags, p, resp) != 0)
		return -EINVAL;
	return 0;
}

int keys_apply_params(struct key_ver *v, const struct key_params *p)
{
	if (p->have_ops)
		v->ops = p->ops;
	if (p->have_enabled)
		v->enabled = p->enabled;
	if (p->have_nbf)
		v->nbf = p->nbf;
	if (p->have_exp)
		v->exp = p->exp;
	if (p->tags != NULL)
		return ver_set_tags(v, p->tags);
	return 0;
}

static int bad_size(struct emu_response *resp, enum key_type kty)
{
	emu_error(resp, 400, "BadParameter", NULL,
		  "Invalid 'key_size' for %s. Valid sizes: RSA 2048, 3072, 4096; oct 128, 192, 256.",
		  kty == KEY_RSA ? "RSA-HSM" : "oct-HSM");
	return -EINVAL;
}

static int parse_rsa(struct json_object *o, struct create_params *c,
		     struct emu_response *resp)
{
	struct json_object *m;

	if (c->bits == 0)
		c->bits = 2048;
	if (c->bits != 2048 && c->bits != 3072 && c->bits != 4096)
		return bad_size(resp, KEY_RSA);
	if ((m = jmember(o, "public_exponent")) != NULL) {
		int64_t e = json_object_get_int64(m);

		if (!json_object_is_type(m, json_type_int) || e < 3 ||
		    e > 0x7fffffff || (e & 1) == 0)
			return bad_param(resp, "Invalid 'public_exponent': it must be an odd integer of at least 3, such as 65537.");
		c->exponent = (unsigned long)e;
	}
	return 0;
}

int keys_parse_create(struct json_object *o, enum emu_flavor fl,
		      struct create_params *c, struct emu_response *resp)
{
	struct json_object *m;
	const char *crv;

	c->bits = 0;
	c->crv = CRV_P256;
	c->exponent = 65537;
	if (keys_take_kty(jmember_str(o, "kty"), fl, "'kty'", &c->kty,
			  &c->software, resp) != 0)
		return -EINVAL;
	if ((m = jmember(o, "key_size")) != NULL) {
		if (!json_object_is_type(m, json_type_int))
			return bad_size(resp, c->kty);
		c->bits = (unsigned)json_object_get_int(m);
	}
	if (c->kty == KEY_RSA)
		return parse_rsa(o, c, resp);
	if (c->kty == KEY_OCT) {
		if (c->bits == 0)
			c->bits = 256;
		if (c->bits != 128 && c->bits != 192 && c->bits != 256)
			return bad_size(resp, KEY_OCT);
		return 0;
	}
	crv = jmember_str(o, "crv");
	if (crv != NULL)
		c->crv = curve_from_name(crv);
	if (c->crv == CRV_NONE) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid curve '%s'. Managed HSM supports P-256, P-256K, P-384 and P-521.",
			  crv);
		return -EINVAL;
	}
	return 0;
}

/* Decode JWK member k into b; absent leaves b empty. -EINVAL if malformed. */
static int jwk_bytes(struct json_object *jwk, const char *k, struct bytes *b)
{
	const char *s = jmember_str(jwk, k);

	b->p = NULL;
	b->len = 0;
	if (s == NULL)
		return jmember(jwk, k) ? -EINVAL : 0;
	return b64url_decode(s, strlen(s), &b->p, &b->len);
}

int keys_parse_jwk(struct json_object *jwk, enum key_type kty,
		   struct key_mat **out, const char **why)
{
	struct rsa_private r = { 0 };
	struct bytes d = { 0 }, x = { 0 }, y = { 0 }, k = { 0 };
	EVP_PKEY *pk = NULL;
	int err = -EINVAL;

	*out = NULL;
	*why = "the key material is malformed";
	if (kty == KEY_RSA) {
		if (jwk_bytes(jwk, "n", &r.n) || jwk_bytes(jwk, "e", &r.e) ||
		    jwk_bytes(jwk, "d", &r.d) || jwk_bytes(jwk, "p", &r.p) ||
		    jwk_bytes(jwk, "q", &r.q) || jwk_bytes(jwk, "dp", &r.dp) ||
		    jwk_bytes(jwk, "dq", &r.dq) || jwk_bytes(jwk, "qi", &r.qi))
			goto out;
		if (r.n.len == 0 || r.e.len == 0 || r.d.len == 0) {
			*why = "an RSA key needs n, e and the private exponent d (and preferably p, q, dp, dq, qi)";
			goto out;
		}
		err = pkey_from_rsa_private(&r, &pk);
		if (err == 0) {
			unsigned bits = pkey_bits(pk);

			if (bits != 2048 && bits != 3072 && bits != 4096) {
				*why = "Managed HSM accepts RSA keys of 2048, 3072 or 4096 bits";
				EVP_PKEY_free(pk);
				err = -EINVAL;
				goto out;
			}
		}
	} else if (kty == KEY_EC) {
		enum curve crv = curve_from_name(jmember_str(jwk, "crv") ?
						 jmember_str(jwk, "crv") : "");

		if (crv == CRV_NONE) {
			*why = "an EC key needs crv P-256, P-256K, P-384 or P-521";
			goto out;
		}
		if (jwk_bytes(jwk, "d", &d) || jwk_bytes(jwk, "x", &x) ||
		    jwk_bytes(jwk, "y", &y))
			goto out;
		if (d.len == 0) {
			*why = "an EC key needs the private scalar d";
			goto out;
		}
		err = pkey_from_ec_private(crv, &d, x.len ? &x : NULL,
					   y.len ? &y : NULL, &pk);
	} else {
		if (jwk_bytes(jwk, "k", &k))
			goto out;
		if (k.len != 16 && k.len != 24 && k.len != 32) {
			*why = "an oct key needs k of 128, 192 or 256 bits";
			goto out;
		}
		*out = mat_from_oct(k.p, k.len);
		err = *out ? 0 : -ENOMEM;
		goto out;
	}
	if (err != 0)
		goto out;
	*out = mat_from_pkey(pk);
	err = *out ? 0 : -ENOMEM;
out:
	bytes_free(&r.n);
	bytes_free(&r.e);
	bytes_free(&r.d);
	bytes_free(&r.p);
	bytes_free(&r.q);
	bytes_free(&r.dp);
	bytes_free(&r.dq);
	bytes_free(&r.qi);
	bytes_free(&d);
	bytes_free(&x);
	bytes_free(&y);
	bytes_free(&k);
	return err;
}

void keys_wipe_jwk(struct json_object *jwk)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi", "k" };

	if (jwk == NULL || !json_object_is_type(jwk, json_type_object))
		return;
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		struct json_object *s = jmember(jwk, priv[i]);

		if (s != NULL && json_object_is_type(s, json_type_string)) {
			char *b = (char *)json_object_get_string(s);

			secret_wipe(b, strlen(b));
		}
	}
}

int64_t keys_parse_duration(const char *s)
{
	int64_t total = 0;
	bool time_part = false, any = false;

	if (s == NULL || *s != 'P')
		return -1;
	for (s++; *s != '\0';) {
		int64_t n = 0;
		int digits = 0;

		if (*s == 'T') {
			if (time_part)
				return -1;
			time_part = true;
			s++;
			continue;
		}
		while (isdigit((unsigned char)*s) && digits < 9) {
			n = n * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0)
			return -1;
		switch (*s++) {
		case 'Y': if (time_part) return -1; total += n * 365 * 86400; break;
		case 'M': total += time_part ? n * 60 : n * 30 * 86400; break;
		case 'W': if (time_part) return -1; total += n * 7 * 86400; break;
		case 'D': if (time_part) return -1; total += n * 86400; break;
		case 'H': if (!time_part) return -1; total += n * 3600; break;
		case 'S': if (!time_part) return -1; total += n; break;
		default: return -1;
		}
		any = true;
	}
	return any ? total : -1;
}

static int parse_expiry(struct json_object *o, struct rotation_policy *pol,
			struct emu_response *resp)
{
	const char *ex = jmember_str(jmember(o, "attributes"), "expiryTime");
	int64_t d;

	if (ex == NULL)
		return 0;
	d = keys_parse_duration(ex);
	if (d < 0 || strlen(ex) >= sizeof(pol->expiry)) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid expiryTime '%s': use an ISO-8601 duration such as P90D.", ex);
		return -EINVAL;
	}
	if (d < 28 * 86400) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid expiryTime '%s': it must be at least 28 days (P28D).", ex);
		return -EINVAL;
	}
	memcpy(pol->expiry, ex, strlen(ex) + 1);
	return 0;
}

/* One of lifetimeActions into pol->actions[i]. */
static int parse_action(struct json_object *a, size_t i,
			struct rotation_policy *pol, struct emu_response *resp)
{
	struct json_object *trig = jmember(a, "trigger"), *act = jmember(a, "action");
	const char *type = jmember_str(act, "type");
	const char *tac = jmember_str(trig, "timeAfterCreate");
	const char *tbe = jmember_str(trig, "timeBeforeExpiry");
	const char *dur = tac ? tac : tbe;

	if (i >= POLICY_ACTIONS_MAX || type == NULL)
		return -EINVAL;
	if (strcasecmp(type, "notify") == 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Notify lifetime actions are not supported by Managed HSM; use Rotate.");
		return -ENOTSUP;
	}
	if (strcasecmp(type, "rotate") != 0 || (tac != NULL) == (tbe != NULL) ||
	    keys_parse_duration(dur) < 0 || strlen(dur) >= sizeof(pol->actions[i].dur))
		return -EINVAL;
	snprintf(pol->actions[i].trigger, sizeof(pol->actions[i].trigger), "%s",
		 tac ? "timeAfterCreate" : "timeBeforeExpiry");
	memcpy(pol->actions[i].dur, dur, strlen(dur) + 1);
	pol->nactions++;
	return 0;
}

int keys_parse_policy(struct json_object *o, struct rotation_policy *pol,
		      struct emu_response *resp)
{
	struct json_object *acts;
	int err = 0;

	memset(pol, 0, sizeof(*pol));
	pol->set = true;
	if (parse_expiry(o, pol, resp) != 0)
		return -EINVAL;
	acts = jmember(o, "lifetimeActions");
	if (acts != NULL && !json_object_is_type(acts, json_type_array))
		err = -EINVAL;
	for (size_t i = 0; err == 0 && acts != NULL &&
	     i < json_object_array_length(acts); i++)
		err = parse_action(json_object_array_get_idx(acts, i), i, pol, resp);
	if (err == -EINVAL)
		bad_param(resp, "Invalid lifetimeActions: each needs a trigger with exactly one of timeAfterCreate or timeBeforeExpiry (ISO-8601 durations) and action type Rotate.");
	return err == 0 ? 0 : -EINVAL;
}
