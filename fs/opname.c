/*
 * opname.c - the operation-file name grammar and key model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opname.h"

static const char *const op_names[FOP__COUNT] = {
	"sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "seal", "unseal",
};

static const unsigned op_bits[FOP__COUNT] = {
	KOP_SIGN, KOP_VERIFY, KOP_ENCRYPT, KOP_DECRYPT, KOP_WRAP, KOP_UNWRAP,
	KOP_WRAP, KOP_UNWRAP,	/* seal wraps a data key, unseal unwraps it */
};

const char *fs_op_name(enum fs_op op)
{
	return (unsigned)op < FOP__COUNT ? op_names[op] : "?";
}

static bool is_sig_op(enum fs_op op)
{
	return op == FOP_SIGN || op == FOP_VERIFY;
}

static bool is_crypt_op(enum fs_op op)
{
	return op == FOP_ENCRYPT || op == FOP_DECRYPT;
}

static bool is_seal_op(enum fs_op op)
{
	return op == FOP_SEAL || op == FOP_UNSEAL;
}

/* seal/unseal: the data key's wrap is the format's (seal.h), fixed by the
 * key: RSA-OAEP-256, or the AnnnKW of the oct key's size. */
static bool seal_alg_valid(const struct keyshape *k,
			   const struct alg_info *alg)
{
	if (k->kty == KEY_RSA)
		return strcmp(alg->name, "RSA-OAEP-256") == 0;
	return alg->family == ALG_AES_KW && alg->aes_bits == k->bits;
}

bool op_alg_valid(const struct keyshape *k, enum fs_op op,
		  const struct alg_info *alg)
{
	if (alg == NULL || alg->kty != k->kty)
		return false;
	if (is_seal_op(op))
		return seal_alg_valid(k, alg);
	switch (alg->family) {
	case ALG_RSA_PKCS1:
	case ALG_RSA_PSS:
		return is_sig_op(op);
	case ALG_ECDSA:
		return is_sig_op(op) && alg->crv == k->crv;
	case ALG_RSA_ENC_PKCS1:
	case ALG_RSA_ENC_OAEP:
		return !is_sig_op(op);
	case ALG_AES_GCM:
	case ALG_AES_CBC:
	case ALG_AES_CBCPAD:
		return is_crypt_op(op) && alg->aes_bits == k->bits;
	case ALG_AES_KW:
		/* CKM_AES_KEY_WRAP takes any AES size (aes_bits 0). */
		return (op == FOP_WRAP || op == FOP_UNWRAP) &&
		       alg_aes_key_ok(alg, k->bits / 8);
	}
	return false;
}

static const char *default_alg_name(const struct keyshape *k, enum fs_op op)
{
	switch (k->kty) {
	case KEY_EC:
		if (!is_sig_op(op))
			return NULL;
		switch (k->crv) {
		case CRV_P256:	return "ES256";
		case CRV_P256K:	return "ES256K";
		case CRV_P384:	return "ES384";
		case CRV_P521:	return "ES512";
		case CRV_NONE:	return NULL;
		}
		return NULL;
	case KEY_RSA:
		return is_sig_op(op) ? "RS256" : "RSA-OAEP-256";
	case KEY_OCT:
		if (is_sig_op(op))
			return NULL;
		if (is_crypt_op(op))
			return k->bits == 128 ? "A128GCM" :
			       k->bits == 192 ? "A192GCM" :
			       k->bits == 256 ? "A256GCM" : NULL;
		return k->bits == 128 ? "A128KW" :
		       k->bits == 192 ? "A192KW" :
		       k->bits == 256 ? "A256KW" : NULL;
	}
	return NULL;
}

const struct alg_info *op_default_alg(const struct keyshape *k, enum fs_op op)
{
	const char *name;
	const struct alg_info *alg;

	if ((unsigned)op >= FOP__COUNT || !(k->ops & op_bits[op]))
		return NULL;
	name = default_alg_name(k, op);
	if (name == NULL)
		return NULL;
	alg = alg_by_name(name);
	return op_alg_valid(k, op, alg) ? alg : NULL;
}

bool op_supported(const struct keyshape *k, enum fs_op op)
{
	return op_default_alg(k, op) != NULL;
}

int opname_parse(const char *name, const struct keyshape *k,
		 struct opname *out)
{
	char buf[128];
	char *save = NULL, *tok;
	struct opname on = {0};
	bool have_enc = false;
	int i;

	if (strlen(name) >= sizeof(buf))
		return -ENOENT;
	strcpy(buf, name);
	tok = strtok_r(buf, ".", &save);
	if (tok == NULL)
		return -ENOENT;
	/* strtok_r folds empty fields; refuse ".sign", "sign..b64" and "sign."
	 * so that each file has exactly one spelling per combination. */
	if (name[0] == '.' || strstr(name, "..") != NULL ||
	    name[strlen(name) - 1] == '.')
		return -ENOENT;
	for (i = 0; i < FOP__COUNT; i++)
		if (strcmp(tok, op_names[i]) == 0)
			break;
	if (i == FOP__COUNT || !op_supported(k, (enum fs_op)i))
		return -ENOENT;
	on.op = (enum fs_op)i;
	while ((tok = strtok_r(NULL, ".", &save)) != NULL) {
		const struct alg_info *alg;
		enum fs_enc enc = ENC_BINARY;

		if (strcmp(tok, "b64") == 0)
			enc = ENC_B64;
		else if (strcmp(tok, "b64url") == 0)
			enc = ENC_B64URL;
		else if (strcmp(tok, "hex") == 0)
			enc = ENC_HEX;
		if (enc != ENC_BINARY) {
			if (have_enc)
				return -ENOENT;
			have_enc = true;
			on.enc = enc;
		} else if (strcmp(tok, "raw") == 0) {
			if (on.raw)
				return -ENOENT;
			on.raw = true;
		} else if (strcmp(tok, "prehashed") == 0) {
			if (on.prehashed || !is_sig_op(on.op))
				return -ENOENT;
			on.prehashed = true;
		} else if ((alg = alg_by_name(tok)) != NULL) {
			if (on.alg != NULL || !op_alg_valid(k, on.op, alg))
				return -ENOENT;
			on.alg = alg;
		} else {
			return -ENOENT;
		}
	}
	if (on.alg == NULL)
		on.alg = op_default_alg(k, on.op);
	if (on.raw && on.alg->family != ALG_ECDSA)
		return -ENOENT;
	*out = on;
	return 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

char *algs_text(const struct keyshape *k)
{
	struct sbuf b = {0};
	int op;

	sb_add(&b, "");
	for (op = 0; op < FOP__COUNT; op++) {
		const struct alg_info *def = op_default_alg(k, (enum fs_op)op);
		const struct alg_info *a;
		size_t i;

		if (def == NULL)
			continue;
		sb_add(&b, op_names[op]);
		sb_add(&b, ": ");
		sb_add(&b, def->name);
		for (i = 0; (a = alg_at(i)) != NULL; i++) {
			if (a == def || !op_alg_valid(k, (enum fs_op)op, a))
				continue;
			sb_add(&b, " ");
			sb_add(&b, a->name);
		}
		sb_add(&b, " |");
		if (def->family == ALG_ECDSA)
			sb_add(&b, " raw");
		sb_add(&b, " b64 b64url hex");
		if (is_sig_op((enum fs_op)op))
			sb_add(&b, " prehashed");
		sb_add(&b, "\n");
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
