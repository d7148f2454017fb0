/*
 * sealop.c - see sealop.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealop.h"
#include "spool.h"

/* seal takes its input this much at a time: one default chunk.  Slices of
 * 1 MiB (a whole FUSE write, sealed straight from its buffer, one spool
 * write) were tried: the daemon's peak memory grew 12 MiB over three 1 GiB
 * streams (a 1 MiB ciphertext buffer per call, kept by each worker
 * thread's allocator arena) against 0.1 MiB with chunk slices, for a
 * saving of one 64 KiB copy per chunk. */
#define SEAL_SLICE ((size_t)1 << SEAL_SHIFT_DEFAULT)

/* unseal: chunks above this (a blob may ask for 16 MiB) are checked and
 * read one at a time in the whole daemon, and a reader keeps no buffer of
 * them between reads, so that open handles cannot pin two such chunks
 * each (as fs/sealread.c does for the view). */
#define UNSEAL_BIG_CHUNK ((uint64_t)1 << 20)

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

struct sealop {
	enum fs_op op;
	struct frame_stream text;	/* seal: encodes output; unseal: decodes input */
	struct spool *sp;		/* seal: the output; unseal: the blob */
	struct sealer *sealer;		/* seal, from the first write */
	struct seal_header h;		/* unseal, from finish on: */
	uint8_t dek[SEAL_KEY_LEN];
	uint64_t sealed, plain, nchunks;
	char version[KEY_VERSION_LEN + 1];
	bool finished;
};

struct sealop *sealop_new(enum fs_op op, enum fs_enc enc)
{
	struct sealop *so = calloc(1, sizeof(*so));

	if (so == NULL)
		return NULL;
	so->op = op;
	frame_stream_init(&so->text, enc, op == FOP_UNSEAL);
	return so;
}

void sealop_free(struct sealop *so)
{
	if (so == NULL)
		return;
	sealer_free(so->sealer);
	spool_free(so->sp);
	secret_wipe_free(so, sizeof(*so));
}

bool sealop_finished(const struct sealop *so)
{
	return so->finished;
}

const char *sealop_version(const struct sealop *so)
{
	return so->finished && so->version[0] ? so->version : NULL;
}

/* Bytes to the spool: seal's ciphertext, encoded on the way; unseal's
 * input, decoded on the way.  last ends the text. */
static int to_spool(struct sealop *so, const struct sealop_key *k,
		    const uint8_t *p, size_t len, bool last, struct fs_fail *f)
{
	uint8_t *txt = NULL;
	size_t n = len;
	int err;

	if (so->sp == NULL && (err = spool_new(k->env->spool_dir, &so->sp)) < 0)
		return fail_local(f, err, "cannot create a spool file: check "
				  "-o spool_dir or $TMPDIR");
	if (so->text.enc != ENC_BINARY) {
		err = frame_stream_step(&so->text, p, len, last, &txt, &n);
		if (err)
			return fail_local(f, err, err == -EINVAL ?
				"input is not valid text in the file's encoding" :
				"out of memory");
		p = txt;
	}
	if (n > 0 && k->spool != NULL && fu_hold_add(k->spool, n) != 0) {
		free(txt);
		return fail_local(f, -EAGAIN, "max_spool_bytes: this user's "
				  "seals and unseals have that much spooled "
				  "already; read or close them first");
	}
	err = n > 0 ? spool_append(so->sp, p, n) : 0;
	free(txt);
	if (err)
		return fail_local(f, err, err == -ENOSPC ?
			"the spool's filesystem is full: free space or set "
			"-o spool_dir" : "cannot write the spool file");
	return 0;
}

/* seal: the data key at the first write, then the chunks as they fill. */
static int seal_write(struct sealop *so, const struct sealop_key *k,
		      const void *data, size_t len, struct fs_fail *f)
{
	const uint8_t *p = data;
	struct seal_header h;
	uint8_t dek[SEAL_KEY_LEN], *ct = NULL;
	size_t ct_len = 0, n;
	int err;

	if (so->sealer == NULL) {
		err = sealkey_new(k->env, k->call, k->name, k->kv,
				  SEAL_SHIFT_DEFAULT, dek, &h, f);
		if (err)
			return err;
		err = sealer_new(&h, dek, &so->sealer);
		secret_wipe(dek, sizeof(dek));
		if (err)
			return fail_local(f, err, "out of memory");
	}
	/* A slice at a time, so that a big write costs a slice of
	 * ciphertext in memory, not its own size. */
	do {
		n = len < SEAL_SLICE ? len : SEAL_SLICE;
		err = sealer_update(so->sealer, p, n, &ct, &ct_len);
		if (err)
			return fail_local(f, err == -EFBIG ? -EMSGSIZE : err,
					  err == -EFBIG ? "input too large for "
					  "the sealed format" : "sealing failed");
		err = ct != NULL ? to_spool(so, k, ct, ct_len, false, f) : 0;
		free(ct);
		p += n;
		len -= n;
	} while (err == 0 && len > 0);
	return err;
}

bool sealop_keyed(const struct sealop *so)
{
	return so->sealer != NULL;
}

int sealop_write(struct sealop *so, const struct sealop_key *k,
		 const void *data, size_t len, struct fs_fail *f)
{
	if (so->finished)
		return fail_local(f, -EINVAL, "the operation has ended");
	if (so->op == FOP_SEAL)
		return seal_write(so, k, data, len, f);
	return to_spool(so, k, data, len, false, f);
}

static int seal_finish(struct sealop *so, const struct sealop_key *k,
		       struct fs_fail *f)
{
	uint8_t *ct = NULL;
	size_t ct_len = 0;
	int err;

	/* Empty input still makes a blob: the header and an empty chunk. */
	if (so->sealer == NULL && (err = seal_write(so, k, NULL, 0, f)) < 0)
		return err;
	err = sealer_finish(so->sealer, &ct, &ct_len);
	if (err)
		return fail_local(f, err, "sealing failed");
	err = to_spool(so, k, ct, ct_len, true, f);
	free(ct);
	return err;
}

static int chunk_failed(uint64_t i, int err, struct fs_fail *f);

/*
 * unseal: authenticate every chunk before any plaintext is released, so
 * that a tampered, truncated or extended blob fails the run, not a read
 * after some of it was returned (DESIGN.md §4.3).  The plaintext goes to
 * a locked scratch chunk, wiped; reads decrypt again.
 */
static int unseal_verify(struct sealop *so, struct fs_fail *f)
{
	size_t cs = (size_t)seal_chunk_size(&so->h), len;
	struct secret *scratch = secret_new(NULL, cs ? cs : 1);
	uint8_t *ct = malloc(cs + SEAL_TAG_LEN);
	uint64_t i, off;
	int err = ct && scratch ? 0 : -ENOMEM;

	if (err)
		fail_local(f, err, "out of memory");
	for (i = 0; err == 0 && i < so->nchunks; i++) {
		err = seal_chunk_span(&so->h, so->sealed, i, &off, &len, NULL);
		if (err == 0 && (err = spool_pread(so->sp, ct, len, off)) < 0) {
			fail_local(f, err, "cannot read the spool file");
			break;
		}
		if (err == 0)
			err = seal_chunk_open_into(&so->h, so->dek, so->sealed,
						   i, ct, len,
						   secret_bytes(scratch));
		if (err)
			chunk_failed(i, err, f);
	}
	free(ct);
	secret_free(scratch);
	return err;
}

/* unseal: the header from the spool, its sizes, the one unwrap, then
 * every chunk checked. */
static int unseal_finish(struct sealop *so, const struct sealop_key *k,
			 struct fs_fail *f)
{
	uint8_t raw[SEAL_HEADER_MAX];
	size_t n;
	int err;

	if ((err = to_spool(so, k, NULL, 0, true, f)) < 0)
		return err;
	so->sealed = spool_size(so->sp);
	n = so->sealed < sizeof(raw) ? (size_t)so->sealed : sizeof(raw);
	if ((err = spool_pread(so->sp, raw, n, 0)) < 0)
		return fail_local(f, err, "cannot read the spool file");
	if (seal_header_parse(raw, n, &so->h) < 0)
		return fail_local(f, -EBADMSG, "not a sealed blob: its header "
				  "is malformed or cut short");
	if (seal_plain_size(&so->h, so->sealed, &so->plain, &so->nchunks) < 0)
		return fail_local(f, -EBADMSG, "sealed data truncated: its "
				  "size is no whole number of chunks");
	err = sealkey_open(k->env, k->call, k->name, &so->h, so->dek, f);
	if (err == 0) {
		char name[KEY_NAME_MAX + 1];
		bool big = seal_chunk_size(&so->h) > UNSEAL_BIG_CHUNK;

		sealkey_kid_split(so->h.kid, name, so->version);
		if (big)
			pthread_mutex_lock(&big_lock);
		err = unseal_verify(so, f);
		if (big)
			pthread_mutex_unlock(&big_lock);
	}
	return err;
}

int sealop_finish(struct sealop *so, const struct sealop_key *k,
		  struct fs_fail *f)
{
	int err;

	if (so->finished)
		return 0;
	err = so->op == FOP_SEAL ? seal_finish(so, k, f) :
				   unseal_finish(so, k, f);
	if (err == 0)
		so->finished = true;
	return err;
}

/* unseal: chunk i's sealed bytes into the reader's buffer; its length. */
static int read_chunk(const struct sealop *so, struct sealread *rd,
		      uint64_t i, size_t *len, struct fs_fail *f)
{
	uint64_t off;
	int err;

	if (rd->cbuf == NULL &&
	    (rd->cbuf = malloc(seal_chunk_size(&so->h) + SEAL_TAG_LEN)) == NULL)
		return fail_local(f, -ENOMEM, "out of memory");
	err = seal_chunk_span(&so->h, so->sealed, i, &off, len, NULL);
	if (err == 0 && (err = spool_pread(so->sp, rd->cbuf, *len, off)) < 0)
		return fail_local(f, err, "cannot read the spool file");
	return err;
}

static int chunk_failed(uint64_t i, int err, struct fs_fail *f)
{
	char msg[128];

	if (err != -EBADMSG)
		return fail_local(f, err, "unsealing failed");
	snprintf(msg, sizeof(msg), "sealed data tampered, truncated or "
		 "reordered at chunk %llu: nothing of it is returned",
		 (unsigned long long)i);
	return fail_local(f, err, msg);
}

/* unseal: make chunk i the reader's plaintext. */
static int open_chunk(const struct sealop *so, struct sealread *rd,
		      uint64_t i, struct fs_fail *f)
{
	size_t len;
	int err;

	if (rd->plain != NULL && rd->chunk == i)
		return 0;
	secret_free(rd->plain);
	rd->plain = NULL;
	if ((err = read_chunk(so, rd, i, &len, f)) < 0)
		return err;
	err = seal_chunk_open(&so->h, so->dek, so->sealed, i, rd->cbuf, len,
			      &rd->plain);
	if (err)
		return chunk_failed(i, err, f);
	rd->chunk = i;
	return 0;
}

/* unseal: chunk i, whose plaintext the read wants whole from its start,
 * decrypted straight into the read's buffer (room >= its plaintext);
 * the plaintext length, or -errno (buf then holds nothing of it). */
static int open_chunk_into(const struct sealop *so, struct sealread *rd,
			   uint64_t i, char *buf, struct fs_fail *f)
{
	size_t len;
	int err;

	if ((err = read_chunk(so, rd, i, &len, f)) < 0)
		return err;
	err = seal_chunk_open_into(&so->h, so->dek, so->sealed, i, rd->cbuf,
				   len, (uint8_t *)buf);
	return err ? chunk_failed(i, err, f) : (int)(len - SEAL_TAG_LEN);
}

static int unseal_read(const struct sealop *so, struct sealread *rd,
		       char *buf, size_t size, struct fs_fail *f)
{
	unsigned shift = so->h.chunk_shift;
	size_t done = 0, at, n;
	uint64_t i;
	int err;

	/* An empty blob has one chunk, of tag only: check it too. */
	if (so->plain == 0)
		return open_chunk(so, rd, 0, f);
	while (done < size && rd->pos < so->plain) {
		i = rd->pos >> shift;
		at = (size_t)(rd->pos - (i << shift));
		n = so->plain - rd->pos < ((uint64_t)1 << shift) - at ?
			(size_t)(so->plain - rd->pos) :
			((size_t)1 << shift) - at;
		/* The common case, a read of whole chunks: no copy. */
		if (at == 0 && n <= size - done &&
		    !(rd->plain != NULL && rd->chunk == i)) {
			err = open_chunk_into(so, rd, i, buf + done, f);
			if (err < 0)	/* what came before is good */
				return done > 0 ? (int)done : err;
			done += (size_t)err;
			rd->pos += (uint64_t)err;
			continue;
		}
		err = open_chunk(so, rd, i, f);
		if (err)	/* what came before is good: return it first */
			return done > 0 ? (int)done : err;
		n = n < size - done ? n : size - done;
		memcpy(buf + done, secret_bytes(rd->plain) + at, n);
		done += n;
		rd->pos += n;
	}
	return (int)done;
}

int sealop_read(const struct sealop *so, struct sealread *rd, char *buf,
		size_t size, struct fs_fail *f)
{
	uint64_t total;
	size_t n;
	int err;

	if (!so->finished)
		return fail_local(f, -EIO, "the operation has not run");
	if (so->op == FOP_UNSEAL &&
	    seal_chunk_size(&so->h) <= UNSEAL_BIG_CHUNK)
		return unseal_read(so, rd, buf, size, f);
	if (so->op == FOP_UNSEAL) {
		pthread_mutex_lock(&big_lock);
		err = unseal_read(so, rd, buf, size, f);
		secret_free(rd->plain);
		rd->plain = NULL;
		free(rd->cbuf);
		rd->cbuf = NULL;
		pthread_mutex_unlock(&big_lock);
		return err;
	}
	total = spool_size(so->sp);
	n = rd->pos >= total ? 0 : total - rd->pos < size ?
		(size_t)(total - rd->pos) : size;
	if (n > 0 && (err = spool_pread(so->sp, buf, n, rd->pos)) < 0)
		return fail_local(f, err, "cannot read the spool file");
	rd->pos += n;
	return (int)n;
}

ssize_t sealop_splice(const struct sealop *so, struct sealread *rd,
		      int pipe_fd, size_t size, struct fs_fail *f)
{
	uint64_t total;
	ssize_t n;

	if (!so->finished || so->op != FOP_SEAL)
		return 0;
	total = spool_size(so->sp);
	if (rd->pos >= total || size == 0)
		return 0;
	if (total - rd->pos < size)
		size = (size_t)(total - rd->pos);
	n = spool_splice(so->sp, pipe_fd, size, rd->pos);
	if (n < 0)
		return fail_local(f, (int)n, "cannot read the spool file");
	rd->pos += (uint64_t)n;
	return n;
}

void sealread_reset(struct sealread *rd)
{
	secret_free(rd->plain);
	free(rd->cbuf);
	memset(rd, 0, sizeof(*rd));
}
