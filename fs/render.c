/*
 * render.c - info / public.pem / public.der of a key version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkey.h"
#include "render.h"

void render_keyshape(const struct hsm_key *k, struct keyshape *out)
{
	memset(out, 0, sizeof(*out));
	out->kty = k->kty;
	out->crv = k->crv;
	out->bits = k->bits;
	out->ops = k->ops;
	/* The service does not always say the modulus size; the modulus
	 * itself is authoritative. */
	if (k->kty == KEY_RSA && k->n_len > 0) {
		size_t i = 0;

		while (i < k->n_len && k->n[i] == 0)
			i++;
		out->bits = (unsigned)(k->n_len - i) * 8;
	}
}

void fmt_utc(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, len, "none");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int render_info(const struct hsm_key *k, char **out, size_t *len)
{
	static const unsigned all_ops[] = {
		KOP_ENCRYPT, KOP_DECRYPT, KOP_SIGN, KOP_VERIFY, KOP_WRAP,
		KOP_UNWRAP, KOP_IMPORT, KOP_EXPORT, KOP_DERIVE,
	};
	struct keyshape ks;
	char created[32], updated[32], nbf[32], exp[32];
	char *buf = NULL;
	size_t size = 0, i;
	FILE *f;
	int op;

	*out = NULL;
	*len = 0;
	render_keyshape(k, &ks);
	f = open_memstream(&buf, &size);
	if (f == NULL)
		return -ENOMEM;
	fmt_utc(created, sizeof(created), k->attrs.created);
	fmt_utc(updated, sizeof(updated), k->attrs.updated);
	fmt_utc(nbf, sizeof(nbf), k->attrs.nbf);
	fmt_utc(exp, sizeof(exp), k->attrs.exp);
	fprintf(f, "name: %s\nversion: %s\nkty: %s\n",
		k->name ? k->name : "", k->version ? k->version : "",
		k->kty_name);
	if (k->kty == KEY_EC)
		fprintf(f, "curve: %s\n", curve_name(k->crv));
	else
		fprintf(f, "size: %u\n", ks.bits);
	fputs(k->ops ? "key_ops:" : "key_ops: none", f);
	for (i = 0; i < sizeof(all_ops) / sizeof(all_ops[0]); i++)
		if (k->ops & all_ops[i])
			fprintf(f, " %s", key_op_name((enum key_op)all_ops[i]));
	fprintf(f, "\nenabled: %s\nexportable: %s\ncreated: %s\nupdated: %s\n"
		"nbf: %s\nexp: %s\n",
		k->attrs.enabled ? "true" : "false",
		k->attrs.exportable ? "true" : "false",
		created, updated, nbf, exp);
	if (k->attrs.recoverable_days >= 0)
		fprintf(f, "recoverable_days: %d\n", k->attrs.recoverable_days);
	else
		fputs("recoverable_days: none\n", f);
	fprintf(f, "recovery_level: %s\n",
		k->attrs.recovery_level[0] ? k->attrs.recovery_level : "none");
	fputs(k->n_tags ? "tags:" : "tags: none", f);
	for (i = 0; i < k->n_tags; i++)
		fprintf(f, " %s=%s", k->tags[i].name, k->tags[i].value);
	fputc('\n', f);
	for (op = 0; op < FOP__COUNT; op++) {
		const struct alg_info *a = op_default_alg(&ks, (enum fs_op)op);

		if (a != NULL)
			fprintf(f, "default_%s: %s\n", fs_op_name((enum fs_op)op),
				a->name);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}

int render_public(const struct hsm_key *k, EVP_PKEY **pk, char **pem,
		  size_t *pem_len, uint8_t **der, size_t *der_len)
{
	struct bytes a, b;
	EVP_PKEY *key = NULL;
	int err;

	*pk = NULL;
	*pem = NULL;
	*der = NULL;
	*pem_len = *der_len = 0;
	/* struct bytes is non-const; the components are only read. */
	if (k->kty == KEY_RSA) {
		a.p = k->n; a.len = k->n_len;
		b.p = k->e; b.len = k->e_len;
		err = pkey_from_rsa(&a, &b, &key);
	} else if (k->kty == KEY_EC) {
		a.p = k->x; a.len = k->x_len;
		b.p = k->y; b.len = k->y_len;
		err = pkey_from_ec(k->crv, &a, &b, &key);
	} else {
		return -EOPNOTSUPP;
	}
	if (err)
		return err;
	err = pkey_public_pem(key, pem, pem_len);
	if (!err)
		err = pkey_public_der(key, der, der_len);
	if (err) {
		free(*pem);
		*pem = NULL;
		*pem_len = 0;
		EVP_PKEY_free(key);
		return err;
	}
	*pk = key;
	return 0;
}
