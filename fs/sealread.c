/*
 * sealread.c - reading sealed/FILE; see sealread.h.
 *
 * A read handle holds the blob's descriptor (a rewrite renames a new
 * file over the name: this open keeps reading the version it opened),
 * its header and sizes.  Each read decrypts the chunks it covers and
 * nothing else, with the data key of the cache, and returns all that
 * was asked or an error: never part of a read whose later chunk fails.
 *
 * A write handle seals as the writes arrive into an unnamed temporary
 * file in the target's directory: plaintext is held a chunk at a time by
 * the sealer, never written.  The close that ends the writing puts it in
 * place (sealdir_commit()); an error, a writer killed by a signal or a
 * daemon that dies leaves the former version and no temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dekcache.h"
#include "digest.h"
#include "log.h"
#include "opfile.h"
#include "sealdir.h"
#include "sealread.h"
#include "sealkey.h"

/* Chunks above this are decrypted one at a time in the whole daemon: a
 * blob may ask for chunks of 16 MiB, and every worker thread holding one
 * (sealed and plain) would be a lot of memory for one hostile file. */
#define SV_BIG_CHUNK ((1u << 20) + SEAL_TAG_LEN)

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

struct sealfile *sf_of(const struct handle *h)
{
	return h->u.sealed.sf;
}

int sv_blob_size(int fd, struct seal_header *h, uint64_t *sealed,
		 uint64_t *plain)
{
	uint8_t buf[SEAL_HEADER_MAX];
	struct seal_header own;
	uint64_t n;
	struct stat st;
	ssize_t got;

	if (h == NULL)
		h = &own;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	got = pread(fd, buf, sizeof(buf), 0);
	if (got < 0)
		return -errno;
	if (seal_header_parse(buf, (size_t)got, h) != 0)
		return -EBADMSG;
	*sealed = (uint64_t)st.st_size;
	return seal_plain_size(h, *sealed, plain, &n) ? -EBADMSG : 0;
}

void sf_free(struct sealfile *sf)
{
	if (sf == NULL)
		return;
	if (sf->fd >= 0)
		close(sf->fd);
	if (sf->writing && sf->parent >= 0)
		close(sf->parent);
	sealer_free(sf->s);
	secret_free(sf->dek);
	free(sf);
}

struct sealfile *sf_new(bool writing)
{
	struct sealfile *sf = calloc(1, sizeof(*sf));

	if (sf != NULL) {
		sf->fd = -1;
		sf->parent = -1;
		sf->writing = writing;
	}
	return sf;
}

int sf_handle(struct fs_state *fs, const char *path,
		     struct sealfile *sf, struct fuse_file_info *fi)
{
	struct handle *h = handle_new(H_SEALED, path);

	if (h == NULL) {
		sf_free(sf);
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	}
	h->u.sealed.sf = sf;
	handle_set(fi, h);
	return 0;
}

int sv_fgetattr(struct fs_state *fs, struct handle *h, struct stat *st)
{
	struct sealfile *sf = sf_of(h);

	(void)fs;
	if (!sf->writing) {
		if (fstat(sf->fd, st) != 0)
			return -errno;
		st->st_size = (off_t)sf->plain;
	} else {
		*st = sf->st;
		st->st_nlink = 1;
		st->st_size = (off_t)sf->written;
	}
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	return 0;
}

/* ------------------------------------------------------------ keys */

/*
 * The blob's data key: from the cache, else one unwrap (sealkey.c) of
 * seal_key, the only key the view unseals with: a blob someone put in
 * DIR naming another key is not opened with the daemon's rights.
 */
static int blob_key(struct fs_state *fs, const char *path,
		    const struct sealfile *sf, uint8_t dek[SEAL_KEY_LEN])
{
	struct hsm_call call;
	struct fs_fail f;
	uint64_t ticket;
	int64_t t0;
	int err;

	if (dekcache_get(fs->deks, sf->id, dek, mono_ms(), &ticket) == 0)
		return 0;
	/* The unwrap is the caller's HSM call: it takes a slot. */
	if (call_slot(fs, &f) != 0) {
		dekcache_done(fs->deks, ticket, NULL, mono_ms());
		return fs_fail(fs, NULL, path, &f);
	}
	call_init(&call);
	t0 = mono_us();
	metrics_calls_add(fs->metrics, 1);
	err = sealkey_open(&fs->env, &call, fs->opts->seal_key, &sf->h, dek,
			   &f);
	metrics_calls_add(fs->metrics, -1);
	call_slot_end(fs);
	dekcache_done(fs->deks, ticket, err ? NULL : dek, mono_ms());
	fs_record(fs, &(struct audit_ev){ .key = fs->opts->seal_key,
		  .op = "unseal", .err = err,
		  .request_id = err ? f.request_id : call.err.request_id,
		  .latency_us = (uint64_t)(mono_us() - t0) });
	return err ? fs_fail(fs, NULL, path, &f) : 0;
}

/* ------------------------------------------------------------ read */

int sv_open_read(struct fs_state *fs, const char *path, const char *rel,
		 struct fuse_file_info *fi)
{
	uint8_t dek[SEAL_KEY_LEN], id[DIGEST_MAX];
	struct sealfile *sf = sf_new(false);
	const char *why = NULL;
	int err;

	if (sf == NULL)
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	sf->fd = err = sealdir_open(fs->sealed_fd, rel, O_RDONLY);
	if (err >= 0 && (err = sv_blob_size(sf->fd, &sf->h, &sf->sealed,
					    &sf->plain)) == -EBADMSG)
		why = "not a sealed blob, or cut short: its header or size "
		      "is not valid (docs/seal-format.md)";
	/* The cache's name for the key: the whole header, so a rewrite
	 * (a new header) never meets its former version's key. */
	if (err >= 0 && digest_oneshot(alg_by_name("RS256"), sf->h.raw,
				       sf->h.raw_len, id) != DEK_ID_LEN)
		err = -EIO;
	if (err < 0) {
		sf_free(sf);
		return err == -ENOENT ? err : fs_fail_errno(fs, path, err, why);
	}
	memcpy(sf->id, id, DEK_ID_LEN);
	/* The unwrap now, so that a refused key fails the open, not some
	 * read in the middle of the file. */
	err = blob_key(fs, path, sf, dek);
	if (err == 0 && (sf->dek = secret_new(dek, sizeof(dek))) == NULL)
		err = fs_fail_errno(fs, path, -ENOMEM, NULL);
	secret_wipe(dek, sizeof(dek));
	if (err) {
		sf_free(sf);
		return err;
	}
	fi->noflush = 1;
	return sf_handle(fs, path, sf, fi);
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;	/* cut short since the open */
		got += (size_t)n;
	}
	return 0;
}

/* Decrypt chunk i of sf into *out. */
static int open_chunk(struct sealfile *sf, const uint8_t *dek, uint64_t i,
		      uint64_t *plain_off, struct secret **out)
{
	uint64_t off;
	uint8_t *ct;
	size_t len;
	bool big;
	int err;

	err = seal_chunk_span(&sf->h, sf->sealed, i, &off, &len, plain_off);
	if (err)
		return -EBADMSG;
	if ((big = len > SV_BIG_CHUNK))
		pthread_mutex_lock(&big_lock);
	ct = malloc(len ? len : 1);
	err = ct ? pread_all(sf->fd, ct, len, off) : -ENOMEM;
	if (err == 0)
		err = seal_chunk_open(&sf->h, dek, sf->sealed, i, ct, len, out);
	free(ct);
	if (big)
		pthread_mutex_unlock(&big_lock);
	return err;
}

/* size bytes of plaintext at off (within the plaintext) into buf. */
static int read_chunks(struct sealfile *sf, const uint8_t *dek, char *buf,
		       size_t size, uint64_t off)
{
	uint64_t i = off / seal_chunk_size(&sf->h), poff;
	struct secret *pt = NULL;
	size_t done = 0, start, n;
	int err;

	while (done < size) {
		err = open_chunk(sf, dek, i++, &poff, &pt);
		if (err)
			return err;
		start = (size_t)(off + done - poff);
		if (start >= secret_len(pt)) {	/* sizes disagree */
			secret_free(pt);
			return -EBADMSG;
		}
		n = secret_len(pt) - start;
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, secret_bytes(pt) + start, n);
		secret_free(pt);
		done += n;
	}
	return 0;
}

int sv_read(struct fs_state *fs, struct handle *h, char *buf, size_t size,
	    off_t off)
{
	struct sealfile *sf = sf_of(h);
	int err;

	if (sf->writing)
		return fs_fail_errno(fs, h->path, -EBADF, "open for writing: "
				     "a sealed file is read or written, not "
				     "both");
	if (off < 0 || (uint64_t)off >= sf->plain)
		return 0;
	if (size > sf->plain - (uint64_t)off)
		size = (size_t)(sf->plain - (uint64_t)off);
	err = read_chunks(sf, secret_bytes(sf->dek), buf, size, (uint64_t)off);
	if (err == -EBADMSG)
		secret_wipe(buf, size);
	if (err)
		return fs_fail_errno(fs, h->path, err, err != -EBADMSG ? NULL :
				     "the sealed file is tampered, truncated "
				     "or not ours: a chunk does not verify");
	return (int)size;
}
