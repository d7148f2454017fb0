/*
 * opname.h - operation file names and the key-directory model
 * (DESIGN.md §3, §3.1).
 *
 * An operation file name is OP followed by modifiers after dots, in any
 * order: an algorithm valid for the key, one text encoding (b64, b64url,
 * hex), "raw" (ECDSA r||s) and "prehashed" (sign/verify).  This module
 * decides which names exist for a key and which files a key directory
 * lists.  Pure: no I/O, no allocation except algs_text().
 */
#ifndef HSMFS_FS_OPNAME_H
#define HSMFS_FS_OPNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "alg.h"

enum fs_op {
	FOP_SIGN, FOP_VERIFY, FOP_ENCRYPT, FOP_DECRYPT, FOP_WRAP, FOP_UNWRAP,
	FOP_SEAL, FOP_UNSEAL,	/* envelope encryption, streamed (sealop.h) */
	FOP__COUNT
};

/* How the binary artefact (signature, ciphertext, wrapped key) is shown. */
enum fs_enc { ENC_BINARY = 0, ENC_B64, ENC_B64URL, ENC_HEX };

/* The facts about a key that decide its tree. */
struct keyshape {
	enum key_type kty;
	enum curve crv;		/* EC */
	unsigned bits;		/* RSA modulus bits, oct key bits */
	unsigned ops;		/* enum key_op bits (key_ops) */
};

/* A parsed operation file name. */
struct opname {
	enum fs_op op;
	const struct alg_info *alg;	/* never NULL after a successful parse */
	enum fs_enc enc;
	bool raw;			/* ECDSA r||s instead of DER */
	bool prehashed;			/* input is the digest */
};

/* "sign", "verify", ... */
const char *fs_op_name(enum fs_op op);

/* Does the key list this operation (key type and key_ops allow it)? */
bool op_supported(const struct keyshape *k, enum fs_op op);

/* The key's default algorithm for op, or NULL when op is unsupported or
 * the key's size or curve has no default. */
const struct alg_info *op_default_alg(const struct keyshape *k, enum fs_op op);

/* May op use alg with this key (type, curve, AES size)? */
bool op_alg_valid(const struct keyshape *k, enum fs_op op,
		  const struct alg_info *alg);

/*
 * Parse a file name in a key directory as an operation file.  Returns 0
 * and fills *out, or -ENOENT when the name is not a valid operation for
 * this key (unknown operation or modifier, a repeated or conflicting
 * modifier, an algorithm the key cannot use, raw on a non-ECDSA
 * algorithm, prehashed on anything but sign/verify).
 */
int opname_parse(const char *name, const struct keyshape *k,
		 struct opname *out);

/*
 * The text of the "algs" file: one line per supported operation,
 * "OP: ALG ALG ... | MODIFIER ...", the default algorithm first.
 * Returns a malloc()ed NUL-terminated string (free()), or NULL when out
 * of memory.
 */
char *algs_text(const struct keyshape *k);

#endif
