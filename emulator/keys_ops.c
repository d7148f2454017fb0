/*
 * keys_ops.c - the cryptographic key operations (sign, verify, encrypt,
 * decrypt, wrapkey, unwrapkey) and /rng, as Managed HSM performs them.
 *
 * The store lock is held only to find the key and copy its attributes;
 * the cryptography runs on a reference to the immutable material.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope_i.h"
#include "keys_find_i.h"
#include "keys_json_i.h"
#include "keys_ops_i.h"
#include "keys_params_i.h"
#include "material_i.h"
#include "pkey.h"
#include "pkop.h"
#include "render_i.h"
#include "store_i.h"
#include "sym.h"

struct snapshot {
	struct key_mat *m;	/* one reference */
	char *kid;
	unsigned ops;
	bool enabled;
	int64_t nbf, exp;
};

static int take_snapshot(struct keystore *ks, const struct emu_request *req,
			 const char *name, const char *version,
			 struct snapshot *s, struct emu_response *resp)
{
	struct key_entry *e;
	struct key_ver *v;

	memset(s, 0, sizeof(*s));
	pthread_rwlock_rdlock(&ks->lock);
	v = keys_find_active(ks, req, name, version, &e, resp);
	if (v != NULL) {
		s->m = mat_get(v->m);
		s->kid = render_kid(req->base_url, e->name, v->id);
		s->ops = v->ops;
		s->enabled = v->enabled;
		s->nbf = v->nbf;
		s->exp = v->exp;
	}
	pthread_rwlock_unlock(&ks->lock);
	if (v == NULL)
		return -ENOENT;
	if (s->kid == NULL) {
		mat_put(s->m);
		emu_error_oom(resp);
		return -ENOMEM;
	}
	return 0;
}

/* Is the algorithm family one that op uses? */
static bool family_fits(const char *op, enum alg_family f)
{
	bool rsa_enc = f == ALG_RSA_ENC_PKCS1 || f == ALG_RSA_ENC_OAEP;

	switch (key_op_from_name(op)) {
	case KOP_SIGN:
	case KOP_VERIFY:
		return f == ALG_RSA_PKCS1 || f == ALG_RSA_PSS || f == ALG_ECDSA;
	case KOP_ENCRYPT:
	case KOP_DECRYPT:
		return rsa_enc || f == ALG_AES_GCM || f == ALG_AES_CBC ||
		       f == ALG_AES_CBCPAD;
	default:
		return rsa_enc || f == ALG_AES_KW;
	}
}

/* Decode base64url member k; required: reply 400 when absent. */
static int get_b64(struct json_object *o, const char *k, bool required,
		   struct bytes *b, struct emu_response *resp)
{
	struct json_object *m;

	b->p = NULL;
	b->len = 0;
	if (!json_object_object_get_ex(o, k, &m) ||
	    json_object_is_type(m, json_type_null)) {
		if (!required)
			return 0;
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request must contain '%s', encoded with base64url.", k);
		return -EINVAL;
	}
	if (!json_object_is_type(m, json_type_string) ||
	    b64url_decode(json_object_get_string(m),
			  (size_t)json_object_get_string_len(m), &b->p, &b->len) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid '%s': it must be encoded with base64url.", k);
		return -EINVAL;
	}
	return 0;
}

static void reply_result(struct emu_response *resp, const struct alg_info *alg,
			 const char *kid, const uint8_t *val, size_t len,
			 const struct bytes *aad, const uint8_t *iv, size_t iv_len,
			 const uint8_t *tag)
{
	struct json_object *o = json_object_new_object();

	if (aad != NULL && aad->p != NULL)
		jadd_b64(o, "aad", aad->p, aad->len);
	jadd_str(o, "alg", alg->name);
	if (iv != NULL)
		jadd_b64(o, "iv", iv, iv_len);
	jadd_str(o, "kid", kid);
	if (tag != NULL)
		jadd_b64(o, "tag", tag, GCM_TAG_LEN);
	if (jadd_b64(o, "value", val, len) != 0) {
		json_object_put(o);
		o = NULL;
	}
	render_reply(resp, 200, o);
}

/* Reply with a decrypted or unwrapped plaintext. */
static void reply_plain(struct emu_response *resp, const struct alg_info *alg,
			const char *kid, const struct secret *plain)
{
	reply_result(resp, alg, kid, secret_bytes(plain), secret_len(plain),
		     NULL, NULL, 0, NULL);
}

static void bad_length(struct emu_response *resp, const char *what,
		       size_t got, const struct alg_info *alg, size_t want)
{
	emu_error(resp, 400, "BadParameter", NULL,
		  "Invalid length of '%s': %zu bytes. %s requires %zu bytes, encoded with base64url.",
		  what, got, alg->name, want);
}

static void do_sign(const struct snapshot *s, const struct alg_info *alg,
		    struct json_object *body, struct emu_response *resp)
{
	struct bytes d;
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	if (get_b64(body, "value", true, &d, resp) != 0)
		return;
	if (d.len != alg->digest_len) {
		bad_length(resp, "value", d.len, alg, alg->digest_len);
	} else if (pk_sign(s->m->pkey, alg, d.p, d.len, &sig, &sig_len) != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "Signing failed; retry the request.");
	} else {
		reply_result(resp, alg, s->kid, sig, sig_len, NULL, NULL, 0, NULL);
	}
	free(sig);
	bytes_free(&d);
}

static void do_verify(const struct snapshot *s, const struct alg_info *alg,
		      struct json_object *body, struct emu_response *resp)
{
	struct bytes d, sig;
	struct json_object *o;
	int err;

	if (get_b64(body, "digest", true, &d, resp) != 0)
		return;
	if (get_b64(body, "value", true, &sig, resp) != 0) {
		bytes_free(&d);
		return;
	}
	if (d.len != alg->digest_len) {
		bad_length(resp, "digest", d.len, alg, alg->digest_len);
		goto out;
	}
	err = pk_verify(s->m->pkey, alg, d.p, d.len, sig.p, sig.len);
	/* A signature of the right length that is not even well-formed
	 * (r = 0, say) simply does not verify. */
	if (sig.len != (s->m->kty == KEY_EC ? 2 * curve_coord_len(s->m->crv) :
			(s->m->bits + 7) / 8)) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid signature 'value' for %s: %zu bytes is not a valid length for this key.",
			  alg->name, sig.len);
		goto out;
	}
	o = json_object_new_object();
	jadd_str(o, "alg", alg->name);
	jadd_str(o, "kid", s->kid);
	jadd_bool(o, "value", err == 0);
	render_reply(resp, 200, o);
out:
	bytes_free(&d);
	bytes_free(&sig);
}

static void do_rsa(const struct snapshot *s, const struct alg_info *alg,
		   bool enc, struct json_object *body, struct emu_response *resp)
{
	struct bytes in;
	uint8_t *out = NULL;
	size_t out_len = 0;
	struct secret *plain = NULL;
	size_t k = (s->m->bits + 7) / 8;
	int err;

	if (get_b64(body, "value", true, &in, resp) != 0)
		return;
	if (enc) {
		err = pk_encrypt(s->m->pkey, alg, in.p, in.len, &out, &out_len);
		if (err == -EMSGSIZE || err == -EINVAL)
			emu_error(resp, 400, "BadParameter", NULL,
				  "Invalid length of 'value': %zu bytes. %s with a %u-bit key accepts at most %zu bytes.",
				  in.len, alg->name, s->m->bits,
				  pk_encrypt_max(s->m->pkey, alg));
		else if (err != 0)
			emu_error(resp, 500, "InternalError", NULL,
				  "Encryption failed; retry the request.");
		else
			reply_result(resp, alg, s->kid, out, out_len, NULL, NULL, 0, NULL);
	} else if (in.len != k) {
		bad_length(resp, "value", in.len, alg, k);
	} else {
		err = pk_decrypt(s->m->pkey, alg, in.p, in.len, &plain);
		if (err != 0)
			emu_error(resp, 400, "BadParameter", NULL,
				  "The ciphertext could not be decrypted with %s by this key; check the key version and algorithm.",
				  alg->name);
		else
			reply_plain(resp, alg, s->kid, plain);
	}
	free(out);
	secret_free(plain);
	bytes_free(&in);
}

/* The members of an AES request and the key. */
struct aes_in {
	const uint8_t *key;
	size_t klen;
	struct bytes in, iv, aad, tag;
};

static void aes_kw(const struct snapshot *s, const struct alg_info *alg,
		   bool enc, const struct aes_in *a, struct emu_response *resp)
{
	struct secret *plain = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int err;

	if (enc)
		err = aes_kw_wrap(a->key, a->klen, a->in.p, a->in.len, &out, &out_len);
	else
		err = aes_kw_unwrap(a->key, a->klen, a->in.p, a->in.len, &plain);
	if (err == -EBADMSG)
		emu_error(resp, 400, "BadParameter", NULL,
			  "The wrapped key failed the %s integrity check; it was not wrapped by this key.",
			  alg->name);
	else if (err != 0)
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid length of 'value': %zu bytes. %s needs a multiple of 8 bytes, at least %d.",
			  a->in.len, alg->name, enc ? 16 : 24);
	else if (enc)
		reply_result(resp, alg, s->kid, out, out_len, NULL, NULL, 0, NULL);
	else
		reply_plain(resp, alg, s->kid, plain);
	free(out);
	secret_free(plain);
}

static void aes_gcm(const struct snapshot *s, const struct alg_info *alg,
		    bool enc, const struct aes_in *a, struct emu_response *resp)
{
	struct secret *plain = NULL;
	uint8_t *out = NULL, giv[GCM_IV_LEN], gtag[GCM_TAG_LEN];

	if (enc) {
		/* The service always makes the IV itself. */
		if (random_bytes(giv, sizeof(giv)) != 0 ||
		    aes_gcm_encrypt(a->key, a->klen, giv, a->aad.p, a->aad.len,
				    a->in.p, a->in.len, &out, gtag) != 0)
			emu_error(resp, 500, "InternalError", NULL,
				  "Encryption failed; retry the request.");
		else
			reply_result(resp, alg, s->kid, out, a->in.len, &a->aad,
				     giv, sizeof(giv), gtag);
	} else if (a->iv.len != GCM_IV_LEN) {
		bad_length(resp, "iv", a->iv.len, alg, GCM_IV_LEN);
	} else if (a->tag.len != GCM_TAG_LEN) {
		bad_length(resp, "tag", a->tag.len, alg, GCM_TAG_LEN);
	} else if (aes_gcm_decrypt(a->key, a->klen, a->iv.p, a->aad.p, a->aad.len,
				   a->in.p, a->in.len, a->tag.p, &plain) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Decryption failed: the authentication tag does not match the ciphertext, iv and aad.");
	} else {
		reply_plain(resp, alg, s->kid, plain);
	}
	free(out);
	secret_free(plain);
}

/* CBC ignores aad: the service neither uses nor echoes it. */
static void aes_cbc(const struct snapshot *s, const struct alg_info *alg,
		    bool enc, const struct aes_in *a, struct emu_response *resp)
{
	bool pad = alg->family == ALG_AES_CBCPAD;
	struct secret *plain = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;

	if (a->iv.len != CBC_IV_LEN) {
		bad_length(resp, "iv", a->iv.len, alg, CBC_IV_LEN);
	} else if (enc) {
		if (aes_cbc_encrypt(a->key, a->klen, a->iv.p, pad, a->in.p,
				    a->in.len, &out, &out_len) != 0)
			emu_error(resp, 500, "InternalError", NULL,
				  "Encryption failed; retry the request.");
		else
			reply_result(resp, alg, s->kid, out, out_len, NULL,
				     a->iv.p, a->iv.len, NULL);
	} else if (a->in.len == 0 || a->in.len % 16 != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid length of 'value': %zu bytes. %s ciphertext is a non-zero multiple of 16 bytes.",
			  a->in.len, alg->name);
	} else if (aes_cbc_decrypt(a->key, a->klen, a->iv.p, pad, a->in.p,
				   a->in.len, &plain) != 0) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Decryption failed: the padding is invalid; check the key, iv and algorithm.");
	} else {
		reply_plain(resp, alg, s->kid, plain);
	}
	free(out);
	secret_free(plain);
}

static void do_aes(const struct snapshot *s, const struct alg_info *alg,
		   bool enc, struct json_object *body, struct emu_response *resp)
{
	struct aes_in a = {
		.key = secret_bytes(s->m->k), .klen = secret_len(s->m->k),
	};

	if (get_b64(body, "value", true, &a.in, resp) != 0)
		return;
	if (get_b64(body, "iv", false, &a.iv, resp) != 0 ||
	    get_b64(body, "aad", false, &a.aad, resp) != 0 ||
	    get_b64(body, "tag", false, &a.tag, resp) != 0)
		goto out;
	if (alg->family == ALG_AES_KW)
		aes_kw(s, alg, enc, &a, resp);
	else if (alg->family == ALG_AES_GCM)
		aes_gcm(s, alg, enc, &a, resp);
	else
		aes_cbc(s, alg, enc, &a, resp);
out:
	bytes_free(&a.in);
	bytes_free(&a.iv);
	bytes_free(&a.aad);
	bytes_free(&a.tag);
}

/* Cleanse the request's plaintext "value" member before freeing it. */
static void put_body(struct json_object *o)
{
	struct json_object *m;

	if (o != NULL && json_object_object_get_ex(o, "value", &m) &&
	    json_object_is_type(m, json_type_string)) {
		char *p = (char *)json_object_get_string(m);

		secret_wipe(p, strlen(p));
	}
	json_object_put(o);
}

/* Does the key's state refuse operation bit (disabled, not yet valid,
 * expired, not in its key_ops)?  Fills resp (403) when it does. */
static bool state_refuses(const struct snapshot *s, unsigned bit,
			  struct emu_response *resp)
{
	const char *name = key_op_name((enum key_op)bit);
	bool exempt = bit == KOP_DECRYPT || bit == KOP_UNWRAP || bit == KOP_VERIFY;
	int64_t now = store_now();

	if (!s->enabled)
		emu_error(resp, 403, "Forbidden", "KeyDisabled",
			  "Operation \"%s\" is not allowed on a disabled key. Enable the key first.",
			  name);
	else if (!exempt && s->nbf != 0 && s->nbf > now)
		emu_error(resp, 403, "Forbidden", "KeyNotYetValid",
			  "Operation \"%s\" is not allowed before the key's activation date (nbf %lld).",
			  name, (long long)s->nbf);
	else if (!exempt && s->exp != 0 && s->exp <= now)
		emu_error(resp, 403, "Forbidden", "KeyExpired",
			  "Operation \"%s\" is not allowed after the key's expiration date (exp %lld).",
			  name, (long long)s->exp);
	else if (!(s->ops & bit))
		emu_error(resp, 403, "Forbidden", "ForbiddenByPolicy",
			  "Operation is not allowed.\r\nOperation: \"%s\"\r\nKey: %s",
			  name, s->kid);
	else
		return false;
	return true;
}

/* The algorithm alg_name when it fits op and the key; NULL after
 * answering 400 UnsupportedAlgorithm. */
static const struct alg_info *alg_for(const struct snapshot *s, const char *op,
				      const char *alg_name,
				      struct emu_response *resp)
{
	const struct alg_info *alg = alg_by_name(alg_name);
	char what[32];

	if (alg != NULL && alg->kty == s->m->kty && family_fits(op, alg->family) &&
	    (alg->family != ALG_ECDSA || alg->crv == s->m->crv) &&
	    (alg->aes_bits == 0 || alg->aes_bits == s->m->bits))
		return alg;
	if (s->m->kty == KEY_EC)
		snprintf(what, sizeof(what), "%s", curve_name(s->m->crv));
	else
		snprintf(what, sizeof(what), "%u bits", s->m->bits);
	emu_error(resp, 400, "BadParameter", "UnsupportedAlgorithm",
		  "Algorithm '%.40s' is not valid for %s with this key (%s, %s).",
		  alg_name, op, render_kty(s->m), what);
	return NULL;
}

void keys_crypto_op(struct keystore *ks, const struct emu_request *req,
		    const char *op, const char *name, const char *version,
		    struct emu_response *resp)
{
	struct json_object *body = keys_parse_body(req, resp);
	struct snapshot s;
	const struct alg_info *alg;
	const char *alg_name;
	unsigned bit = key_op_from_name(op);
	bool enc = bit == KOP_ENCRYPT || bit == KOP_WRAP;

	if (body == NULL)
		return;
	alg_name = jmember_str(body, "alg");
	if (alg_name == NULL) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "The request must contain 'alg', the algorithm to use.");
		put_body(body);
		return;
	}
	if (take_snapshot(ks, req, name, version, &s, resp) != 0) {
		put_body(body);
		return;
	}
	if (state_refuses(&s, bit, resp) ||
	    (alg = alg_for(&s, op, alg_name, resp)) == NULL)
		goto out;
	if (bit == KOP_SIGN)
		do_sign(&s, alg, body, resp);
	else if (bit == KOP_VERIFY)
		do_verify(&s, alg, body, resp);
	else if (s.m->kty == KEY_RSA)
		do_rsa(&s, alg, enc, body, resp);
	else
		do_aes(&s, alg, enc, body, resp);
out:
	mat_put(s.m);
	free(s.kid);
	put_body(body);
}

void keys_rng(const struct emu_request *req, struct emu_response *resp)
{
	struct json_object *body = keys_parse_body(req, resp), *m, *o;
	uint8_t buf[128];
	int64_t n = -1;

	if (body == NULL)
		return;
	if (json_object_object_get_ex(body, "count", &m) &&
	    json_object_is_type(m, json_type_int))
		n = json_object_get_int64(m);
	json_object_put(body);
	if (n < 1 || n > 128) {
		emu_error(resp, 400, "BadParameter", NULL,
			  "Invalid 'count': it must be an integer from 1 to 128.");
		return;
	}
	if (random_bytes(buf, (size_t)n) != 0) {
		emu_error(resp, 500, "InternalError", NULL,
			  "The random number generator failed; retry the request.");
		return;
	}
	o = json_object_new_object();
	jadd_b64(o, "value", buf, (size_t)n);
	secret_wipe(buf, sizeof(buf));
	render_reply(resp, 200, o);
}
