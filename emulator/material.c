/*
 * material.c - key material: RSA and EC keys parsed once into an
 * EVP_PKEY with their public parts in base64url, AES keys in a secret
 * buffer; immutable once made and shared by reference between versions
 * and the operations running on them.
 */
#include <errno.h>
#include <stdlib.h>

#include "codec.h"
#include "material_i.h"
#include "pkey.h"
#include "sym.h"

static struct key_mat *mat_alloc(enum key_type kty)
{
	struct key_mat *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	atomic_init(&m->refs, 1);
	m->kty = kty;
	return m;
}

static void mat_free(struct key_mat *m)
{
	EVP_PKEY_free(m->pkey);
	secret_free(m->k);
	free(m->pub_a);
	free(m->pub_b);
	free(m);
}

struct key_mat *mat_from_pkey(EVP_PKEY *pkey)
{
	struct bytes a = { 0 }, b = { 0 };
	struct key_mat *m = NULL;
	int base = EVP_PKEY_get_base_id(pkey);
	int err;

	if (base == EVP_PKEY_RSA) {
		m = mat_alloc(KEY_RSA);
		if (m == NULL)
			goto fail;
		err = pkey_rsa_public(pkey, &a, &b);
		m->bits = pkey_bits(pkey);
	} else if (base == EVP_PKEY_EC) {
		m = mat_alloc(KEY_EC);
		if (m == NULL)
			goto fail;
		err = pkey_ec_public(pkey, &m->crv, &a, &b);
	} else {
		goto fail;
	}
	if (err != 0)
		goto fail;
	m->pub_a = b64url_encode(a.p, a.len);
	m->pub_b = b64url_encode(b.p, b.len);
	if (m->pub_a == NULL || m->pub_b == NULL)
		goto fail;
	bytes_free(&a);
	bytes_free(&b);
	m->pkey = pkey;
	return m;
fail:
	bytes_free(&a);
	bytes_free(&b);
	if (m != NULL)
		mat_free(m);
	EVP_PKEY_free(pkey);
	return NULL;
}

struct key_mat *mat_from_oct(const uint8_t *k, size_t len)
{
	struct key_mat *m;

	if (len != 16 && len != 24 && len != 32)
		return NULL;
	m = mat_alloc(KEY_OCT);
	if (m == NULL)
		return NULL;
	m->k = secret_new(k, len);
	if (m->k == NULL) {
		free(m);
		return NULL;
	}
	m->bits = (unsigned)len * 8;
	return m;
}

struct key_mat *mat_get(struct key_mat *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

void mat_put(struct key_mat *m)
{
	if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1)
		mat_free(m);
}

int mat_generate(enum key_type kty, unsigned bits, enum curve crv,
		 unsigned long exponent, struct key_mat **out)
{
	EVP_PKEY *pk = NULL;
	uint8_t k[32];
	int err;

	*out = NULL;
	if (kty == KEY_OCT) {
		err = random_bytes(k, bits / 8);
		if (err != 0)
			return err;
		*out = mat_from_oct(k, bits / 8);
		secret_wipe(k, sizeof(k));
		return *out ? 0 : -ENOMEM;
	}
	if (kty == KEY_RSA)
		err = pkey_generate_rsa(bits, exponent, &pk);
	else
		err = pkey_generate_ec(crv, &pk);
	if (err != 0)
		return err;
	*out = mat_from_pkey(pk);
	return *out ? 0 : -ENOMEM;
}

unsigned mat_default_ops(enum key_type kty)
{
	switch (kty) {
	case KEY_RSA:
		return KOP_ENCRYPT | KOP_DECRYPT | KOP_SIGN | KOP_VERIFY |
		       KOP_WRAP | KOP_UNWRAP;
	case KEY_EC:
		return KOP_SIGN | KOP_VERIFY | KOP_DERIVE;
	case KEY_OCT:
	default:
		return KOP_ENCRYPT | KOP_DECRYPT | KOP_SIGN | KOP_VERIFY |
		       KOP_WRAP | KOP_UNWRAP | KOP_DERIVE;
	}
}

int mat_regenerate(const struct key_mat *old, struct key_mat **out)
{
	unsigned long exponent = 65537;
	int err;

	if (old->kty == KEY_RSA) {
		struct bytes n = { 0 }, e = { 0 };

		if (pkey_rsa_public(old->pkey, &n, &e) == 0) {
			exponent = 0;
			for (size_t i = 0; i < e.len; i++)
				exponent = exponent << 8 | e.p[i];
		}
		bytes_free(&n);
		bytes_free(&e);
	}
	/* A rotated version keeps the key's protection. */
	err = mat_generate(old->kty, old->bits, old->crv, exponent, out);
	if (err == 0)
		(*out)->software = old->software;
	return err;
}
