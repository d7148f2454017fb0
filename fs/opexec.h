/*
 * opexec.h - one operation on an operation file: collect input, run it,
 * produce the output bytes (DESIGN.md §3.1 "Data formats", §4).
 *
 * The same object serves the one-handle mode (it lives in the handle) and
 * the two-command mode (it lives in the scoped request).  Input is hashed
 * as it arrives for sign and verify, and sealed or spooled as it arrives
 * for seal and unseal (a struct sealop: any size streams); other
 * operations buffer up to OPX_MAX_INPUT bytes.  Buffered input and
 * outputs are wiped when dropped.  Not thread-safe: the owner locks.
 */
#ifndef HSMFS_FS_OPEXEC_H
#define HSMFS_FS_OPEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "errmap.h"
#include "fairuse.h"
#include "hsm_client.h"
#include "keycache.h"
#include "openv.h"
#include "opname.h"
#include "secret.h"

#define OPX_MAX_INPUT (1u << 20)


struct sealop;

struct opx {
	struct opname on;
	char *name;		/* key name */
	char *version;		/* NULL: latest */
	struct kver *kv;	/* the version seen at open (public key) */
	struct digest *dg;	/* sign/verify of a message */
	uint8_t *buf;		/* buffered input (wiped) */
	size_t len, cap;
	bool sig_done;		/* verify: the signature prefix is parsed */
	uint8_t *sig;		/* verify: signature in the service's format */
	size_t sig_len;
	int in_err;		/* sticky input error, -errno */
	struct fs_fail in_fail;	/* its detail, when in_fail.err != 0 */
	struct sealop *so;	/* seal/unseal: input, then the output */
	struct fu_hold spool;	/* its spooled bytes, charged to the writer's
				 * uid (set after opx_init; fu NULL: not) */
};

/*
 * Prepare for an operation (takes a new reference to kv).  Returns 0 or
 * -ENOMEM (nothing to clean up then).
 */
int opx_init(struct opx *x, const struct opname *on, const char *name,
	     const char *version, struct kver *kv);

/* Does input written now stay in memory until the run (true), or is it
 * hashed as it comes (sign and verify of a message)?  What stays is
 * charged to the writer's uid (fs/fairuse.h). */
bool opx_buffers(const struct opx *x);

/* Will the next opx_write() call the service (seal's first write, when its
 * data key is wrapped by the HSM)?  Its caller then takes a call slot. */
bool opx_write_calls(const struct opx *x, const struct opx_env *env);

/* Forget the input, keep the operation (a new operation on a handle). */
void opx_reset(struct opx *x);

/* Release everything, wiping input. */
void opx_cleanup(struct opx *x);

/*
 * Add input.  Returns 0, or -EMSGSIZE when buffered input would exceed
 * OPX_MAX_INPUT, -EINVAL when the verify signature prefix is malformed
 * (the error also sticks and is reported by opx_run()); for seal and
 * unseal, an error of sealop_write() (the first seal write may call the
 * service: call is for it), its detail in x->in_fail.
 */
int opx_write(struct opx *x, const struct opx_env *env, struct hsm_call *call,
	      const void *data, size_t len);

/* Does the operation stream its output (seal, unseal)?  Then a successful
 * opx_run() leaves it in x->so, read with sealop_read() until the next
 * opx_reset(), and *out is empty. */
bool opx_streams(const struct opx *x);

/* The key version the operation used: the pinned one, the blob's for a
 * finished unseal (it may predate a rotation), else the one seen at open. */
const char *opx_version(const struct opx *x);

/*
 * Run the operation on the input collected so far.  On success returns 0
 * and *out holds the output (a secret owned by the caller; may be empty).
 * On failure returns -errno, *out is NULL and *fail says why.  call may
 * carry a cancellation hook.  The input is consumed either way.
 */
int opx_run(struct opx *x, const struct opx_env *env, struct hsm_call *call,
	    struct secret **out, struct fs_fail *fail);

#endif
