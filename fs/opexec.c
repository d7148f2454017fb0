/*
 * opexec.c - collect input, run one operation, format its output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecdsa.h"
#include "errmap.h"
#include "frame.h"
#include "opexec.h"
#include "pkop.h"
#include "sealop.h"
#include "sym.h"

/* A verify signature line or prefix longer than this is not a signature. */
#define SIG_PREFIX_MAX 16384

int opx_init(struct opx *x, const struct opname *on, const char *name,
	     const char *version, struct kver *kv)
{
	memset(x, 0, sizeof(*x));
	x->on = *on;
	x->name = strdup(name);
	x->version = version ? strdup(version) : NULL;
	if (x->name == NULL || (version != NULL && x->version == NULL))
		goto nomem;
	if ((on->op == FOP_SIGN || on->op == FOP_VERIFY) && !on->prehashed) {
		x->dg = digest_new(on->alg);
		if (x->dg == NULL)
			goto nomem;
	}
	x->kv = kver_get(kv);
	return 0;
nomem:
	free(x->name);
	free(x->version);
	memset(x, 0, sizeof(*x));
	return -ENOMEM;
}

static const char *at_version(const struct opx *x);

bool opx_streams(const struct opx *x)
{
	return x->on.op == FOP_SEAL || x->on.op == FOP_UNSEAL;
}

const char *opx_version(const struct opx *x)
{
	if (x->so != NULL && sealop_version(x->so) != NULL)
		return sealop_version(x->so);
	return at_version(x);
}

static void drop_input(struct opx *x)
{
	sealop_free(x->so);
	x->so = NULL;
	fu_hold_release(&x->spool);
	memset(&x->in_fail, 0, sizeof(x->in_fail));
	secret_wipe_free(x->buf, x->cap);
	x->buf = NULL;
	x->len = x->cap = 0;
	free(x->sig);
	x->sig = NULL;
	x->sig_len = 0;
	x->sig_done = false;
	x->in_err = 0;
}

bool opx_buffers(const struct opx *x)
{
	/* seal and unseal hold a chunk at most; their ciphertext spools to
	 * disk, not memory. */
	if (opx_streams(x))
		return false;
	if (x->on.prehashed)
		return true;
	return !(x->on.op == FOP_SIGN || (x->on.op == FOP_VERIFY && x->sig_done));
}

void opx_reset(struct opx *x)
{
	drop_input(x);
	if (x->dg != NULL)
		digest_reset(x->dg);
}

void opx_cleanup(struct opx *x)
{
	drop_input(x);
	digest_free(x->dg);
	kver_put(x->kv);
	free(x->name);
	free(x->version);
	memset(x, 0, sizeof(*x));
}

/* Append to the input buffer; the old buffer is wiped when it moves. */
static int append(struct opx *x, const void *data, size_t len, size_t max)
{
	if (len > max || x->len > max - len)
		return -EMSGSIZE;
	if (x->len + len > x->cap) {
		size_t cap = x->cap ? x->cap : 256;
		uint8_t *nb;

		while (cap < x->len + len)
			cap *= 2;
		nb = malloc(cap);
		if (nb == NULL)
			return -ENOMEM;
		if (x->len)
			memcpy(nb, x->buf, x->len);
		secret_wipe_free(x->buf, x->cap);
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	return 0;
}

/* Verify: once the signature prefix is complete, move on to the message. */
static int try_split(struct opx *x)
{
	size_t end = 0;
	int err;

	err = frame_verify_split(&x->on, x->kv->shape.bits, x->buf, x->len,
				 &end, &x->sig, &x->sig_len);
	if (err == -EAGAIN) {
		if (x->len > SIG_PREFIX_MAX)
			return -EINVAL;
		return 0;
	}
	if (err)
		return err;
	x->sig_done = true;
	if (x->on.prehashed) {
		memmove(x->buf, x->buf + end, x->len - end);
		x->len -= end;
	} else {
		if (digest_update(x->dg, x->buf + end, x->len - end) != 0)
			return -ENOMEM;
		secret_wipe(x->buf, x->len);
		x->len = 0;
	}
	return 0;
}

bool opx_write_calls(const struct opx *x, const struct opx_env *env)
{
	return x->on.op == FOP_SEAL && x->so == NULL &&
	       sealkey_new_calls(env, x->kv);
}

/* The key as seal and unseal see it. */
static struct sealop_key seal_key(struct opx *x,
				  const struct opx_env *env,
				  struct hsm_call *call)
{
	return (struct sealop_key){
		.env = env, .call = call, .name = x->name, .kv = x->kv,
		.spool = &x->spool,
	};
}

/* seal/unseal: the operation is made at its first input. */
static int write_stream(struct opx *x, const struct opx_env *env,
			struct hsm_call *call, const void *data, size_t len)
{
	struct sealop_key k = seal_key(x, env, call);

	if (x->so == NULL && (x->so = sealop_new(x->on.op, x->on.enc)) == NULL)
		return fail_local(&x->in_fail, -ENOMEM, "out of memory");
	return sealop_write(x->so, &k, data, len, &x->in_fail);
}

int opx_write(struct opx *x, const struct opx_env *env, struct hsm_call *call,
	      const void *data, size_t len)
{
	int err = 0;

	if (x->in_err)
		return x->in_err;
	switch (x->on.op) {
	case FOP_SEAL:
	case FOP_UNSEAL:
		err = write_stream(x, env, call, data, len);
		break;
	case FOP_SIGN:
		if (x->on.prehashed)
			err = append(x, data, len, DIGEST_MAX);
		else if (digest_update(x->dg, data, len) != 0)
			err = -ENOMEM;
		break;
	case FOP_VERIFY:
		if (x->sig_done) {
			if (x->on.prehashed)
				err = append(x, data, len, DIGEST_MAX);
			else if (digest_update(x->dg, data, len) != 0)
				err = -ENOMEM;
			break;
		}
		err = append(x, data, len, OPX_MAX_INPUT);
		if (!err)
			err = try_split(x);
		break;
	default:
		err = append(x, data, len, OPX_MAX_INPUT);
		break;
	}
	/* prehashed input longer than any digest is a digest-length error */
	if (err == -EMSGSIZE && x->on.prehashed)
		err = -EINVAL;
	/*
	 * A failed write sticks: part of the input may be in.  Except a seal
	 * whose data key could not be made (its wrapKey interrupted,
	 * throttled, unreachable): it took nothing, so the same write may be
	 * tried again.  Sticking there turned a caller that retries EINTR
	 * (Python always does) into an endless loop of the stored EINTR.
	 */
	if (err && !(x->on.op == FOP_SEAL && x->so != NULL &&
		     !sealop_keyed(x->so)))
		x->in_err = err;
	return err;
}

/*
 * The version an operation runs at: the pinned one, else the one the
 * directory showed at open (kv).  Posting to the unversioned path would
 * use the service's latest, which after a rotation made elsewhere is not
 * the public.pem shown: a fresh signature would not verify with it.
 */
static const char *at_version(const struct opx *x)
{
	if (x->version != NULL)
		return x->version;
	return x->kv != NULL ? x->kv->key.version : NULL;
}

/* A failure of the input or of local crypto: the errno of §4.3. */
static int local_fail(struct fs_fail *f, int neg, const char *msg)
{
	return fail_local(f, input_err(neg), msg);
}

static const char *input_msg(int neg)
{
	switch (neg) {
	case -EMSGSIZE:	return "input too large for the algorithm";
	case -EINVAL:	return "input invalid: check length, encoding or framing";
	case -ENOMEM:	return "out of memory";
	default:	return "input error";
	}
}

/* The digest to sign or verify: the streamed hash or the given one. */
static int get_digest(struct opx *x, uint8_t d[DIGEST_MAX], size_t *dlen,
		      struct fs_fail *f)
{
	int n;

	if (x->on.prehashed) {
		if (x->len != x->on.alg->digest_len)
			return local_fail(f, -EINVAL,
				"prehashed input must be exactly the digest "
				"length of the algorithm");
		memcpy(d, x->buf, x->len);
		*dlen = x->len;
		return 0;
	}
	n = digest_final(x->dg, d);
	if (n < 0)
		return local_fail(f, n, "digest failed");
	*dlen = (size_t)n;
	return 0;
}

static int run_sign(struct opx *x, const struct opx_env *env,
		    struct hsm_call *call, struct secret **out,
		    struct fs_fail *f)
{
	struct hsm_result res = {0};
	uint8_t d[DIGEST_MAX], *sig = NULL;
	size_t dlen = 0, slen = 0;
	enum hsm_status st;
	int err;

	err = get_digest(x, d, &dlen, f);
	if (err)
		return err;
	st = hsm_sign(env->client, call, x->name, at_version(x), x->on.alg->name,
		      d, dlen, &res);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	err = frame_sig_out(&x->on, secret_bytes(res.value),
			    secret_len(res.value), &sig, &slen);
	hsm_result_cleanup(&res);
	if (err)
		return local_fail(f, -EIO, "the service sent a malformed signature");
	*out = frame_encode(x->on.enc, sig, slen);
	free(sig);
	return *out ? 0 : local_fail(f, -ENOMEM, "out of memory");
}

static int run_verify(struct opx *x, const struct opx_env *env,
		      struct hsm_call *call, struct secret **out,
		      struct fs_fail *f)
{
	uint8_t d[DIGEST_MAX];
	size_t dlen = 0;
	int err;

	if (!x->sig_done)
		return local_fail(f, -EINVAL,
			"verify input is the signature followed by the message; "
			"the signature is incomplete");
	err = get_digest(x, d, &dlen, f);
	if (err)
		return err;
	if (env->remote_verify || x->kv->pk == NULL) {
		bool valid = false;
		enum hsm_status st;

		st = hsm_verify(env->client, call, x->name, at_version(x),
				x->on.alg->name, d, dlen, x->sig, x->sig_len,
				&valid);
		if (st != HSM_OK)
			return fail_status(f, st, call);
		err = valid ? 0 : -EKEYREJECTED;
	} else {
		err = pk_verify(x->kv->pk, x->on.alg, d, dlen, x->sig,
				x->sig_len);
	}
	if (err == -EKEYREJECTED)
		return local_fail(f, err, "signature does not verify");
	if (err)
		return local_fail(f, err, "signature or digest malformed");
	*out = secret_new("valid\n", 6);
	return *out ? 0 : local_fail(f, -ENOMEM, "out of memory");
}

static bool is_rsa(const struct opx *x)
{
	return x->on.alg->family == ALG_RSA_ENC_OAEP ||
	       x->on.alg->family == ALG_RSA_ENC_PKCS1;
}

/* encrypt and wrap: the artefact is the output. */
static int run_seal_like(struct opx *x, const struct opx_env *env,
			 struct hsm_call *call, struct secret **out,
			 struct fs_fail *f)
{
	struct hsm_result res = {0};
	struct hsm_crypt in = {0};
	uint8_t iv[CBC_IV_LEN], *ct = NULL;
	size_t ct_len = 0;
	enum hsm_status st;
	int err;

	if (is_rsa(x) && !env->remote_encrypt && x->kv->pk != NULL) {
		err = pk_encrypt(x->kv->pk, x->on.alg, x->buf, x->len, &ct,
				 &ct_len);
		if (err)
			return local_fail(f, err, input_msg(err));
		goto encode;
	}
	in.alg = x->on.alg->name;
	in.value = x->buf;
	in.len = x->len;
	if (x->on.alg->family == ALG_AES_CBC ||
	    x->on.alg->family == ALG_AES_CBCPAD) {
		if (random_bytes(iv, sizeof(iv)) != 0)
			return local_fail(f, -EIO, "no randomness for the IV");
		in.iv = iv;
		in.iv_len = sizeof(iv);
	}
	if (x->on.op == FOP_WRAP)
		st = hsm_wrap_key(env->client, call, x->name, at_version(x), &in,
				  &res);
	else
		st = hsm_encrypt(env->client, call, x->name, at_version(x), &in,
				 &res);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	switch (x->on.alg->family) {
	case ALG_AES_GCM:
		if (res.iv_len != GCM_IV_LEN || res.tag_len != GCM_TAG_LEN) {
			hsm_result_cleanup(&res);
			return local_fail(f, -EIO,
				"the service sent no GCM IV or tag");
		}
		err = frame_aes_join(res.iv, res.iv_len,
				     secret_bytes(res.value),
				     secret_len(res.value), res.tag,
				     res.tag_len, &ct, &ct_len);
		break;
	case ALG_AES_CBC:
	case ALG_AES_CBCPAD:
		err = frame_aes_join(res.iv_len == CBC_IV_LEN ? res.iv : iv,
				     CBC_IV_LEN, secret_bytes(res.value),
				     secret_len(res.value), NULL, 0, &ct,
				     &ct_len);
		break;
	default:
		err = frame_aes_join(NULL, 0, secret_bytes(res.value),
				     secret_len(res.value), NULL, 0, &ct,
				     &ct_len);
		break;
	}
	hsm_result_cleanup(&res);
	if (err)
		return local_fail(f, err, "out of memory");
encode:
	*out = frame_encode(x->on.enc, ct, ct_len);
	free(ct);
	return *out ? 0 : local_fail(f, -ENOMEM, "out of memory");
}

/* decrypt and unwrap: the artefact is the input; output is plaintext. */
static int run_open_like(struct opx *x, const struct opx_env *env,
			 struct hsm_call *call, struct secret **out,
			 struct fs_fail *f)
{
	struct hsm_result res = {0};
	struct hsm_crypt in = {0};
	struct aes_parts parts;
	uint8_t *bin = NULL;
	size_t bin_len = 0;
	enum hsm_status st;
	int err;

	if (x->on.enc != ENC_BINARY) {
		err = frame_decode(x->on.enc, x->buf, x->len, &bin, &bin_len);
		if (err)
			return local_fail(f, err,
				"input is not valid text in the file's encoding");
	}
	err = frame_aes_split(x->on.alg, bin ? bin : x->buf,
			      bin ? bin_len : x->len, &parts);
	if (err) {
		free(bin);
		return local_fail(f, err,
			"ciphertext too short for the algorithm's layout "
			"(GCM: iv(12)||ct||tag(16), CBC: iv(16)||ct)");
	}
	in.alg = x->on.alg->name;
	in.value = parts.ct;
	in.len = parts.ct_len;
	in.iv = parts.iv;
	in.iv_len = parts.iv_len;
	in.tag = parts.tag;
	in.tag_len = parts.tag_len;
	if (x->on.op == FOP_UNWRAP)
		st = hsm_unwrap_key(env->client, call, x->name, at_version(x),
				    &in, &res);
	else
		st = hsm_decrypt(env->client, call, x->name, at_version(x), &in,
				 &res);
	free(bin);
	if (st != HSM_OK)
		return fail_status(f, st, call);
	*out = res.value;	/* the plaintext moves, never copied */
	res.value = NULL;
	hsm_result_cleanup(&res);
	if (*out == NULL)
		*out = secret_new(NULL, 0);
	return *out ? 0 : local_fail(f, -ENOMEM, "out of memory");
}

/* seal/unseal: the end of the input; the output stays in x->so. */
static int run_stream(struct opx *x, const struct opx_env *env,
		      struct hsm_call *call, struct secret **out,
		      struct fs_fail *f)
{
	struct sealop_key k = seal_key(x, env, call);
	int err;

	if (x->so == NULL && (x->so = sealop_new(x->on.op, x->on.enc)) == NULL)
		return local_fail(f, -ENOMEM, "out of memory");
	err = sealop_finish(x->so, &k, f);
	if (err)
		return err;
	*out = secret_new(NULL, 0);
	return *out ? 0 : local_fail(f, -ENOMEM, "out of memory");
}

int opx_run(struct opx *x, const struct opx_env *env, struct hsm_call *call,
	    struct secret **out, struct fs_fail *f)
{
	int err;

	*out = NULL;
	memset(f, 0, sizeof(*f));
	if (x->in_err) {
		if (x->in_fail.err)
			*f = x->in_fail;
		else
			local_fail(f, x->in_err, input_msg(x->in_err));
		err = f->err;
		goto out;
	}
	switch (x->on.op) {
	case FOP_SIGN:
		err = run_sign(x, env, call, out, f);
		break;
	case FOP_VERIFY:
		err = run_verify(x, env, call, out, f);
		break;
	case FOP_ENCRYPT:
	case FOP_WRAP:
		err = run_seal_like(x, env, call, out, f);
		break;
	case FOP_DECRYPT:
	case FOP_UNWRAP:
		err = run_open_like(x, env, call, out, f);
		break;
	case FOP_SEAL:
	case FOP_UNSEAL:
		err = run_stream(x, env, call, out, f);
		break;
	default:
		err = local_fail(f, -EIO, "unknown operation");
		break;
	}
out:
	if (err || !opx_streams(x))
		opx_reset(x);
	if (err) {
		secret_free(*out);
		*out = NULL;
	}
	return err;
}
