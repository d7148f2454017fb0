/*
 * fuzz_jwk - JSON Web Key -> key import (crypto/pkey.c, through the
 * emulator's import parser emulator/keys_params.c, and the DER forms).
 *
 * Input: a mode byte, then either a JWK as JSON (mode 0..2: RSA, EC,
 * oct; the path an import request takes), or length-prefixed JWK
 * members fed to pkey.c directly (mode 3..6), or DER (mode 7, 8).
 * Whatever imports must export public parts of the right size.
 */
#include <errno.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "keys_params_i.h"
#include "material_i.h"
#include "pkey.h"

/* A member: a 16-bit length, then the bytes (copied; wiped by
 * bytes_free()). */
static void member(struct fz *f, struct bytes *b)
{
	size_t len = fz_u16(f) % 1100;

	if (len > f->n)
		len = f->n;
	b->p = malloc(len ? len : 1);
	if (b->p == NULL)
		abort();
	memcpy(b->p, f->p, len);
	b->len = len;
	f->p += len;
	f->n -= len;
}

static void check_key(EVP_PKEY *k)
{
	uint8_t *der = NULL;
	size_t len = 0;
	EVP_PKEY *back = NULL;

	fz_check(pkey_bits(k) > 0);
	if (pkey_public_der(k, &der, &len) == 0) {
		fz_check(pkey_from_public_der(der, len, &back) == 0);
		EVP_PKEY_free(back);
		free(der);
	}
	EVP_PKEY_free(k);
}

static void from_json(struct fz *f, enum key_type kty)
{
	size_t len;
	char *text = fz_text(f, &len);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *jwk;
	struct key_mat *m = NULL;
	const char *why = NULL;
	int rc;

	if (tok == NULL)
		abort();
	jwk = json_tokener_parse_ex(tok, text, (int)len);
	if (jwk != NULL && json_object_is_type(jwk, json_type_object)) {
		rc = keys_parse_jwk(jwk, kty, &m, &why);
		fz_check(rc == 0 ? m != NULL : why != NULL && m == NULL);
		mat_put(m);
	}
	json_object_put(jwk);
	json_tokener_free(tok);
	free(text);
}

static void from_members(struct fz *f, int mode)
{
	struct rsa_private r = { 0 };
	struct bytes x = { 0 }, y = { 0 }, d = { 0 };
	enum curve crv = (enum curve)(1 + fz_byte(f) % 4);
	EVP_PKEY *k = NULL;
	int rc;

	if (mode == 3) {
		member(f, &r.n);
		member(f, &r.e);
		rc = pkey_from_rsa(&r.n, &r.e, &k);
	} else if (mode == 4) {
		member(f, &r.n); member(f, &r.e); member(f, &r.d);
		if (fz_byte(f) & 1) {
			member(f, &r.p); member(f, &r.q); member(f, &r.dp);
			member(f, &r.dq); member(f, &r.qi);
		}
		rc = pkey_from_rsa_private(&r, &k);
	} else if (mode == 5) {
		member(f, &x);
		member(f, &y);
		rc = pkey_from_ec(crv, &x, &y, &k);
	} else {
		member(f, &d);
		member(f, &x);
		member(f, &y);
		rc = pkey_from_ec_private(crv, &d, x.len ? &x : NULL,
					  y.len ? &y : NULL, &k);
	}
	fz_check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == 0)
		check_key(k);
	bytes_free(&r.n); bytes_free(&r.e); bytes_free(&r.d);
	bytes_free(&r.p); bytes_free(&r.q); bytes_free(&r.dp);
	bytes_free(&r.dq); bytes_free(&r.qi);
	bytes_free(&x); bytes_free(&y); bytes_free(&d);
}

static void from_der(struct fz *f, bool private)
{
	size_t len;
	uint8_t *der = fz_bytes(f, &len);
	EVP_PKEY *k = NULL;
	int rc = private ? pkey_from_private_der(der, len, &k) :
			   pkey_from_public_der(der, len, &k);

	fz_check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == 0)
		check_key(k);
	free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int mode = fz_byte(&f) % 9;

	if (mode < 3)
		from_json(&f, mode == 0 ? KEY_RSA : mode == 1 ? KEY_EC :
			  KEY_OCT);
	else if (mode < 7)
		from_members(&f, mode);
	else
		from_der(&f, mode == 8);
	return 0;
}
