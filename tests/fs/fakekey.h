/*
 * fakekey.h - the key bundle fake key cache backends answer with: an EC
 * P-256 sign/verify key whose public part is ec's (tests/fs only).
 */
#ifndef HSMFS_TESTS_FS_FAKEKEY_H
#define HSMFS_TESTS_FS_FAKEKEY_H

#include <stdlib.h>
#include <string.h>

#include "hsm_client.h"
#include "pkey.h"

__attribute__((unused))
static void fake_ec_key(struct hsm_key *out, EVP_PKEY *ec, const char *name,
			const char *version)
{
	struct bytes x = {0}, y = {0};
	enum curve crv;

	memset(out, 0, sizeof(*out));
	out->name = strdup(name);
	out->version = strdup(version);
	out->kty = KEY_EC;
	strcpy(out->kty_name, "EC-HSM");
	out->crv = CRV_P256;
	out->bits = 256;
	out->ops = KOP_SIGN | KOP_VERIFY;
	pkey_ec_public(ec, &crv, &x, &y);
	out->x = x.p;
	out->x_len = x.len;
	out->y = y.p;
	out->y_len = y.len;
	out->attrs.enabled = true;
	out->attrs.created = 1700000000;
	out->attrs.recoverable_days = 7;
	out->jwk_json = strdup("{\"kty\":\"EC-HSM\"}");
	out->bundle_json = strdup("{\"key\":{}}");
}

#endif
