/*
 * sealkey.c - see sealkey.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "pkop.h"
#include "sealkey.h"
#include "sym.h"

/* The wrap algorithm's JOSE name (the service's "alg"). */
static const char *wrap_alg_name(enum seal_wrap w)
{
	switch (w) {
	case SEAL_WRAP_RSA_OAEP_256:	return "RSA-OAEP-256";
	case SEAL_WRAP_A128KW:		return "A128KW";
	case SEAL_WRAP_A192KW:		return "A192KW";
	case SEAL_WRAP_A256KW:		return "A256KW";
	}
	return NULL;
}

/* How a data key is wrapped for this key: RSA-OAEP-256 or AnnnKW by the
 * oct key's size; 0 for a key that cannot seal (EC). */
static enum seal_wrap wrap_for(const struct kver *kv)
{
	if (kv->shape.kty == KEY_RSA)
		return SEAL_WRAP_RSA_OAEP_256;
	if (kv->shape.kty != KEY_OCT)
		return 0;
	switch (kv->shape.bits) {
	case 128:	return SEAL_WRAP_A128KW;
	case 192:	return SEAL_WRAP_A192KW;
	case 256:	return SEAL_WRAP_A256KW;
	}
	return 0;
}

bool sealkey_new_calls(const struct opx_env *env, const struct kver *kv)
{
	return !(wrap_for(kv) == SEAL_WRAP_RSA_OAEP_256 && kv->pk != NULL &&
		 !env->remote_encrypt);
}

/* Wrap dek for the key: locally with the public key (RSA, unless the
 * mount says remote_encrypt), else one HSM wrapKey.  *out is malloc()ed (not secret: it is wrapped). */
static int wrap_dek(const struct opx_env *env, struct hsm_call *call,
		    const char *name, const struct kver *kv, enum seal_wrap w,
		    const uint8_t dek[SEAL_KEY_LEN], uint8_t **out,
		    size_t *out_len, struct fs_fail *f)
{
	struct hsm_crypt in = {
		.alg = wrap_alg_name(w), .value = dek, .len = SEAL_KEY_LEN,
	};
	struct hsm_result res = {0};
	enum hsm_status st;
	int err;

	if (!sealkey_new_calls(env, kv)) {
		err = pk_encrypt(kv->pk, alg_by_name(in.alg), dek,
				 SEAL_KEY_LEN, out, out_len);
		return err ? fail_local(f, err, "wrapping the data key with "
					"the public key failed") : 0;
	}
	st = hsm_wrap_key(env->client, call, name, kv->key.version, &in, &res);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	*out_len = secret_len(res.value);
	*out = malloc(*out_len ? *out_len : 1);
	if (*out != NULL)
		memcpy(*out, secret_bytes(res.value), *out_len);
	hsm_result_cleanup(&res);
	return *out ? 0 : fail_local(f, -ENOMEM, "out of memory");
}

int sealkey_new(const struct opx_env *env, struct hsm_call *call,
		const char *name, const struct kver *kv, unsigned chunk_shift,
		uint8_t dek[SEAL_KEY_LEN], struct seal_header *h,
		struct fs_fail *f)
{
	enum seal_wrap w = wrap_for(kv);
	uint8_t *wrapped = NULL;
	size_t wlen = 0;
	int err;

	if (w == 0)
		return fail_local(f, -EOPNOTSUPP,
				  "only RSA and AES (oct) keys seal");
	if (random_bytes(dek, SEAL_KEY_LEN) != 0)
		return fail_local(f, -EIO, "no randomness for the data key");
	err = wrap_dek(env, call, name, kv, w, dek, &wrapped, &wlen, f);
	if (err)
		goto wipe_dek;
	err = seal_header_init(h, w, chunk_shift, kv->key.kid, wrapped, wlen,
			       NULL);
	free(wrapped);
	if (err) {
		/* A kid without a version, or a wrapped key too long for
		 * the format: nothing the caller can fix. */
		fail_local(f, err == -EINVAL ? -EIO : err,
			   "the key's id or wrapped data key does not fit "
			   "the sealed format");
		goto wipe_dek;
	}
	return 0;
wipe_dek:
	secret_wipe(dek, SEAL_KEY_LEN);
	return f->err;
}

int sealkey_kid_split(const char *kid, char *name, char *version)
{
	const char *n, *v, *keys = NULL, *p;
	size_t nlen, vlen;

	/* The last "/keys/" segment: a vault path may contain others. */
	for (p = kid; (p = strstr(p, "/keys/")) != NULL; p++)
		keys = p;
	if (keys == NULL)
		return -EBADMSG;
	n = keys + strlen("/keys/");
	v = strchr(n, '/');
	if (v == NULL)
		return -EBADMSG;
	nlen = (size_t)(v - n);
	vlen = strlen(++v);
	if (!key_name_valid(n, nlen) || !key_version_valid(v, vlen))
		return -EBADMSG;
	memcpy(name, n, nlen);
	name[nlen] = '\0';
	memcpy(version, v, vlen);
	version[vlen] = '\0';
	return 0;
}

/*
 * The kid's vault part is not compared with ours: a blob names the key
 * by its full URL, and the same HSM answers under several host names
 * (the emulator's port changes each run; a vault may be reached through
 * a private endpoint).  The name and version decide which key unwraps,
 * and a blob that names another vault's key simply does not unwrap here.
 * The name must be want's: whoever may use key A must not unwrap with
 * key B by handing A's unseal a blob that names B (§3.4).
 */
int sealkey_open(const struct opx_env *env, struct hsm_call *call,
		 const char *want, const struct seal_header *h,
		 uint8_t dek[SEAL_KEY_LEN], struct fs_fail *f)
{
	char name[KEY_NAME_MAX + 1], version[KEY_VERSION_LEN + 1];
	struct hsm_crypt in = {
		.alg = wrap_alg_name(h->wrap), .value = h->wrapped,
		.len = h->wrapped_len,
	};
	struct hsm_result res = {0};
	enum hsm_status st;

	if (in.alg == NULL || sealkey_kid_split(h->kid, name, version) < 0)
		return fail_local(f, -EBADMSG, "not a sealed blob: its header "
				  "names no valid key and version");
	if (want != NULL && strcmp(name, want) != 0)
		return fail_local(f, -EBADMSG, "the blob was sealed under "
				  "another key: unseal it through that key's "
				  "unseal file (its name is in the header)");
	st = hsm_unwrap_key(env->client, call, name, version, &in, &res);
	if (st == HSM_E_INVALID) {
		/* The service refuses the wrapped key itself. */
		fail_status(f, st, call);
		f->err = -EBADMSG;
		snprintf(f->message, sizeof(f->message), "the blob's data key "
			 "does not unwrap with the key it names: tampered");
		return f->err;
	}
	if (st != HSM_OK)
		return fail_status(f, st, call);
	if (res.value == NULL || secret_len(res.value) != SEAL_KEY_LEN) {
		hsm_result_cleanup(&res);
		return fail_local(f, -EBADMSG, "the sealed blob's data key "
				  "unwrapped to the wrong length: tampered");
	}
	memcpy(dek, secret_bytes(res.value), SEAL_KEY_LEN);
	hsm_result_cleanup(&res);
	return 0;
}
