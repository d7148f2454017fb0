/*
 * seal.h - the sealed format (docs/seal-format.md), with no I/O.
 *
 * A blob is a header followed by AES-256-GCM chunks in the STREAM
 * construction: chunk i's nonce is prefix || be32(i) || last-flag and its
 * associated data is the whole header.  Plaintext is held a chunk at a time
 * and wiped.  All functions return 0 or -errno: -EBADMSG for a malformed,
 * tampered, truncated or extended blob; -EINVAL for bad arguments; -EFBIG
 * past the format's limits; -ENOMEM, -EIO.
 */
#ifndef HSMFS_CRYPTO_SEAL_H
#define HSMFS_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define SEAL_MAGIC "HSMFSEAL"
#define SEAL_MAGIC_LEN 8
#define SEAL_VERSION 1
#define SEAL_KEY_LEN 32
#define SEAL_TAG_LEN 16
#define SEAL_PREFIX_LEN 7
#define SEAL_KID_MAX 1024
#define SEAL_WRAPPED_MAX 1024
#define SEAL_SHIFT_MIN 4		/* 16-byte chunks: tests, examples */
#define SEAL_SHIFT_MAX 24		/* 16 MiB */
#define SEAL_SHIFT_DEFAULT 16		/* 64 KiB */
#define SEAL_FIXED_LEN 23		/* header bytes besides kid and wrapped */
#define SEAL_HEADER_MAX (SEAL_FIXED_LEN + SEAL_KID_MAX + SEAL_WRAPPED_MAX)
#define SEAL_CHUNKS_MAX ((uint64_t)1 << 32)

enum seal_wrap {
	SEAL_WRAP_RSA_OAEP_256 = 1,
	SEAL_WRAP_A128KW = 2,
	SEAL_WRAP_A192KW = 3,
	SEAL_WRAP_A256KW = 4,
};

/* A header, parsed or to be encoded.  raw holds its exact encoding (the
 * associated data of every chunk); seal_header_encode() and
 * seal_header_parse() fill it. */
struct seal_header {
	uint8_t wrap;				/* enum seal_wrap */
	uint8_t chunk_shift;			/* chunk size = 1 << shift */
	size_t kid_len;
	char kid[SEAL_KID_MAX + 1];		/* NUL-terminated */
	size_t wrapped_len;
	uint8_t wrapped[SEAL_WRAPPED_MAX];
	uint8_t prefix[SEAL_PREFIX_LEN];
	size_t raw_len;
	uint8_t raw[SEAL_HEADER_MAX];
};

/* Fill h (wrap, shift, kid, wrapped key, a random nonce prefix when prefix
 * is NULL) and encode it into h->raw. */
int seal_header_init(struct seal_header *h, enum seal_wrap wrap,
		     unsigned chunk_shift, const char *kid,
		     const uint8_t *wrapped, size_t wrapped_len,
		     const uint8_t prefix[SEAL_PREFIX_LEN]);

/* Parse the header at the start of in.  -EAGAIN: len is too short to
 * tell yet (feed more); -EBADMSG: not a valid header. */
int seal_header_parse(const uint8_t *in, size_t len, struct seal_header *h);

/* Size arithmetic.  Sizes are of the whole blob, header included. */
uint64_t seal_chunk_size(const struct seal_header *h);
int seal_sealed_size(const struct seal_header *h, uint64_t plain,
		     uint64_t *sealed);
int seal_plain_size(const struct seal_header *h, uint64_t sealed,
		    uint64_t *plain, uint64_t *nchunks);
/* Where chunk i lies in a blob of sealed bytes: offset and length of its
 * sealed bytes, and the offset of its plaintext.  -EINVAL if i is past
 * the end. */
int seal_chunk_span(const struct seal_header *h, uint64_t sealed, uint64_t i,
		    uint64_t *off, size_t *len, uint64_t *plain_off);

/* Random access: decrypt chunk i (len bytes, tag included) of a blob of
 * sealed bytes.  *out only on success. */
int seal_chunk_open(const struct seal_header *h,
		    const uint8_t key[SEAL_KEY_LEN], uint64_t sealed,
		    uint64_t i, const uint8_t *in, size_t len,
		    struct secret **out);

/* The same into the caller's buffer out (len - SEAL_TAG_LEN bytes): no
 * copy; out is wiped when the chunk does not authenticate. */
int seal_chunk_open_into(const struct seal_header *h,
			 const uint8_t key[SEAL_KEY_LEN], uint64_t sealed,
			 uint64_t i, const uint8_t *in, size_t len,
			 uint8_t *out);

/* Incremental sealer: the header comes out of the first update (or of
 * finish), then each full chunk once a byte beyond it has arrived; finish
 * emits the last chunk.  Outputs are malloc()ed ciphertext (*out NULL when
 * nothing is ready).  The header is copied, the key too (wiped on free). */
struct sealer;
int sealer_new(const struct seal_header *h, const uint8_t key[SEAL_KEY_LEN],
	       struct sealer **out);
int sealer_update(struct sealer *s, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len);
int sealer_finish(struct sealer *s, uint8_t **out, size_t *out_len);
void sealer_free(struct sealer *s);

/* Incremental unsealer.  get_key is called once, when the header is
 * complete, to produce the data key (the unwrap); its error is returned.
 * update releases the plaintext of every chunk whose tag verified in this
 * call (*out NULL when none; at most len bytes plus the one chunk held
 * from earlier calls, so the caller bounds the memory by its slicing and
 * the chunk size); a chunk is released only once a byte beyond it
 * has arrived, as it may be the last.  On an error nothing of the call is
 * released.  finish verifies the last chunk and fails with -EBADMSG on
 * truncation (also inside the header).  After an error, or after finish,
 * the unsealer only fails. */
typedef int (*seal_key_fn)(void *arg, const struct seal_header *h,
			   uint8_t key[SEAL_KEY_LEN]);
struct unsealer;
int unsealer_new(seal_key_fn get_key, void *arg, struct unsealer **out);
int unsealer_update(struct unsealer *u, const uint8_t *in, size_t len,
		    struct secret **out);
int unsealer_finish(struct unsealer *u, struct secret **out);
/* The parsed header, or NULL before it is complete. */
const struct seal_header *unsealer_header(const struct unsealer *u);
void unsealer_free(struct unsealer *u);

#endif
