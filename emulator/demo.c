/*
 * demo.c - the --demo-keys set (docs/contracts.md): one key of every type,
 * size and curve, with the service's default key_ops.
 */
#include <errno.h>

#include "keys_i.h"

static const struct {
	const char *name;
	enum key_type kty;
	unsigned bits;
	enum curve crv;
} demo_keys[] = {
	{ "ec-p256", KEY_EC, 0, CRV_P256 },
	{ "ec-p256k", KEY_EC, 0, CRV_P256K },
	{ "ec-p384", KEY_EC, 0, CRV_P384 },
	{ "ec-p521", KEY_EC, 0, CRV_P521 },
	{ "rsa-2048", KEY_RSA, 2048, CRV_NONE },
	{ "rsa-3072", KEY_RSA, 3072, CRV_NONE },
	{ "rsa-4096", KEY_RSA, 4096, CRV_NONE },
	{ "aes-128", KEY_OCT, 128, CRV_NONE },
	{ "aes-192", KEY_OCT, 192, CRV_NONE },
	{ "aes-256", KEY_OCT, 256, CRV_NONE },
};

int demo_create(struct keystore *ks)
{
	for (size_t i = 0; i < sizeof(demo_keys) / sizeof(demo_keys[0]); i++) {
		struct key_mat *m = NULL;
		struct key_ver *v;
		struct key_entry *e;
		int err;

		err = keys_generate(demo_keys[i].kty, demo_keys[i].bits,
				    demo_keys[i].crv, 65537, &m);
		if (err != 0)
			return err;
		v = ver_new(m, keys_now());
		if (v == NULL)
			return -ENOMEM;
		v->ops = keys_default_ops(demo_keys[i].kty);
		/* Called from keystore_open() before any other thread sees ks;
		 * the lock is taken anyway to keep the store's rule simple. */
		pthread_rwlock_wrlock(&ks->lock);
		e = store_add_entry(ks, demo_keys[i].name);
		err = e == NULL ? -ENOMEM : entry_add_version(e, v);
		if (err == 0)
			err = store_persist(ks, e);
		else
			ver_free(v);
		pthread_rwlock_unlock(&ks->lock);
		if (err != 0)
			return err;
	}
	return 0;
}
