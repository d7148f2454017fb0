/*
 * demo.c - the --demo-keys set (docs/contracts.md): one key of every type,
 * size and curve, with the service's default key_ops.
 */
#include <errno.h>

#include "demo_i.h"
#include "material_i.h"
#include "store_i.h"

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

struct demo_job {
	size_t i;
	struct key_mat *m;
	int err;
};

static void *demo_gen(void *arg)
{
	struct demo_job *j = arg;

	j->err = mat_generate(demo_keys[j->i].kty, demo_keys[j->i].bits,
			       demo_keys[j->i].crv, 65537, &j->m);
	return NULL;
}

int demo_seed(struct keystore *ks, enum emu_flavor fl)
{
	enum { N = sizeof(demo_keys) / sizeof(demo_keys[0]) };
	struct demo_job jobs[N];
	pthread_t th[N];
	bool started[N];
	int err = 0;

	if (ks->count != 0)
		return 0;
	/* RSA 4096 generation dominates start-up; generate in parallel so an
	 * emulator with --demo-keys is ready sooner on a multi-core host. */
	for (size_t i = 0; i < N; i++) {
		jobs[i] = (struct demo_job){ .i = i };
		started[i] = pthread_create(&th[i], NULL, demo_gen, &jobs[i]) == 0;
		if (!started[i])
			demo_gen(&jobs[i]);
	}
	for (size_t i = 0; i < N; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	for (size_t i = 0; i < N; i++) {
		struct key_ver *v;
		struct key_entry *e;

		if (err == 0)
			err = jobs[i].err;
		if (err != 0 || (fl == FLAVOR_VAULT && demo_keys[i].kty == KEY_OCT)) {
			mat_put(jobs[i].m);
			continue;
		}
		jobs[i].m->software = fl == FLAVOR_VAULT;
		v = ver_new(jobs[i].m, store_now());
		if (v == NULL) {
			err = -ENOMEM;
			continue;
		}
		v->ops = mat_default_ops(demo_keys[i].kty);
		/* Called before any other thread sees ks; the lock is taken
		 * anyway to keep the store's rule simple. */
		pthread_rwlock_wrlock(&ks->lock);
		e = store_add_entry(ks, demo_keys[i].name);
		err = e == NULL ? -ENOMEM : entry_add_version(e, v);
		if (err == 0)
			err = store_persist(ks, e);
		else
			ver_free(v);
		pthread_rwlock_unlock(&ks->lock);
	}
	return err;
}
