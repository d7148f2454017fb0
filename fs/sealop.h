/*
 * sealop.h - the seal and unseal operations (DESIGN.md §3.1), streamed:
 * data of any size in bounded memory.
 *
 * seal: the first write makes the blob's data key (sealkey_new(): RSA
 * locally, oct with one wrapKey); every write is sealed as it arrives,
 * chunk by chunk, and only the ciphertext (in the file's text encoding)
 * goes to a spool (spool.h); finishing seals the last chunk.  The output
 * is the spool, read in order.
 *
 * unseal: writes (the blob, decoded from the file's encoding) go to the
 * spool; finishing parses the header, unwraps its data key (one
 * unwrapKey, sealkey_open()) and authenticates every chunk (plaintext
 * wiped, none kept), so a tampered, truncated or reordered blob fails
 * the run with EBADMSG before any byte is returned; reads then open the
 * chunk they reach again (one chunk of plaintext held per reader, wiped;
 * chunks over 1 MiB are read one at a time daemon-wide and not held
 * between reads).
 *
 * A sealop lives in an opx (opexec.h) and is written and finished under
 * its owner's lock; once finished it does not change, and any number of
 * readers, each with its own struct sealread, may read it at once.
 */
#ifndef HSMFS_FS_SEALOP_H
#define HSMFS_FS_SEALOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fairuse.h"
#include "frame.h"
#include "sealkey.h"

/* What seal and unseal need to reach the key. */
struct sealop_key {
	const struct opx_env *env;
	struct hsm_call *call;		/* NULL: a call without cancellation */
	const char *name;		/* the file's key */
	const struct kver *kv;		/* the version seal wraps for */
	struct fu_hold *spool;		/* what is spooled is charged here
					 * (EAGAIN past its cap) */
};

struct sealop;

/* A reader's place in the output; zero it before the first read. */
struct sealread {
	uint64_t pos;			/* bytes of output returned */
	uint64_t chunk;			/* unseal: the chunk in plain */
	struct secret *plain;		/* unseal: its plaintext, or NULL */
	uint8_t *cbuf;			/* unseal: one sealed chunk */
};

/* A new operation (op FOP_SEAL or FOP_UNSEAL), or NULL when out of memory. */
struct sealop *sealop_new(enum fs_op op, enum fs_enc enc);
/* Wipe and free; the spool goes with it. */
void sealop_free(struct sealop *so);

/* Input.  0 or -errno with *f filled (the operation is then dead). */
int sealop_write(struct sealop *so, const struct sealop_key *k,
		 const void *data, size_t len, struct fs_fail *f);
/* The end of the input; then the output may be read. */
int sealop_finish(struct sealop *so, const struct sealop_key *k,
		  struct fs_fail *f);
bool sealop_finished(const struct sealop *so);
/* seal: the data key is made (the first write got past its wrapKey), so
 * input has been taken; before that a failed write changed nothing. */
bool sealop_keyed(const struct sealop *so);
/* unseal, once finished: the key version the blob named and the unwrap
 * used (the audit's version); NULL otherwise. */
const char *sealop_version(const struct sealop *so);

/* Up to size bytes of output at rd->pos: the count (0 at the end) or
 * -errno with *f filled (EBADMSG: the chunk reached is not authentic). */
int sealop_read(const struct sealop *so, struct sealread *rd, char *buf,
		size_t size, struct fs_fail *f);
/* seal, once finished: up to size bytes of output at rd->pos moved into
 * the pipe pipe_fd with splice(2), no copy (the spool holds the output as
 * read, in its encoding); the count, 0 when there is nothing to move (the
 * end, or not seal: read with sealop_read()), or -errno with *f filled. */
ssize_t sealop_splice(const struct sealop *so, struct sealread *rd,
		      int pipe_fd, size_t size, struct fs_fail *f);
/* Forget the reader's place and wipe what it holds. */
void sealread_reset(struct sealread *rd);

#endif
