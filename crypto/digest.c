/*
 * digest.c - see digest.h.
 */
#include <errno.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "digest.h"

struct digest {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;	/* static: from EVP_get_digestbyname() */
};

static const EVP_MD *alg_md(const struct alg_info *alg)
{
	if (alg == NULL || alg->md == NULL)
		return NULL;
	return EVP_get_digestbyname(alg->md);
}

struct digest *digest_new(const struct alg_info *alg)
{
	const EVP_MD *md = alg_md(alg);
	struct digest *d;

	if (md == NULL)
		return NULL;
	d = malloc(sizeof(*d));
	if (d == NULL)
		return NULL;
	d->md = md;
	d->ctx = EVP_MD_CTX_new();
	if (d->ctx == NULL || !EVP_DigestInit_ex(d->ctx, md, NULL)) {
		EVP_MD_CTX_free(d->ctx);
		free(d);
		ERR_clear_error();
		return NULL;
	}
	return d;
}

int digest_update(struct digest *d, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (!EVP_DigestUpdate(d->ctx, data, len)) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int digest_final(struct digest *d, uint8_t out[DIGEST_MAX])
{
	unsigned n = 0;

	if (!EVP_DigestFinal_ex(d->ctx, out, &n)) {
		ERR_clear_error();
		return -EIO;
	}
	return (int)n;
}

int digest_reset(struct digest *d)
{
	if (!EVP_DigestInit_ex(d->ctx, d->md, NULL)) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

void digest_free(struct digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

int digest_oneshot(const struct alg_info *alg, const void *data, size_t len,
		   uint8_t out[DIGEST_MAX])
{
	const EVP_MD *md = alg_md(alg);
	unsigned n = 0;

	if (md == NULL)
		return -EINVAL;
	if (!EVP_Digest(data, len, out, &n, md, NULL)) {
		ERR_clear_error();
		return -EIO;
	}
	return (int)n;
}
