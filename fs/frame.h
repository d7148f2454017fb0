/*
 * frame.h - input framing and output formatting of operation files
 * (DESIGN.md §3.1 "Data formats").
 *
 * Pure functions over byte buffers; no I/O.  All return 0 or a negative
 * errno (-EINVAL malformed input, -EAGAIN more input needed, -ENOMEM).
 * Buffers returned through uint8_t ** are malloc()ed and owned by the
 * caller; when they may hold plaintext the caller wipes them
 * (secret_wipe_free()).
 */
#ifndef HSMFS_FS_FRAME_H
#define HSMFS_FS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "opname.h"
#include "secret.h"

/*
 * Encode a binary artefact for output.  ENC_BINARY copies it; the text
 * encodings end with exactly one newline.  Returns a struct secret (so
 * that plaintext and key material are wiped when dropped) or NULL when
 * out of memory.
 */
struct secret *frame_encode(enum fs_enc enc, const uint8_t *in, size_t len);

/*
 * A text encoding applied to an artefact too large to hold (seal's output,
 * unseal's input), a piece at a time: at most one quantum (3 bytes to
 * encode, 3 characters to decode) is carried between pieces, and the
 * result is the same as frame_encode() / frame_decode() of the whole.
 * ENC_BINARY passes the bytes through.  step: *out is malloc()ed (NULL
 * when empty); last ends the stream (the encoder's final newline).
 * -EINVAL for malformed text (decode), -ENOMEM.
 */
struct frame_stream {
	enum fs_enc enc;
	bool decode;
	bool padded;		/* decode: padding seen, only space may follow */
	uint8_t carry[4];
	size_t n;
};
void frame_stream_init(struct frame_stream *s, enum fs_enc enc, bool decode);
int frame_stream_step(struct frame_stream *s, const uint8_t *in, size_t len,
		      bool last, uint8_t **out, size_t *out_len);

/*
 * Decode a text-encoded artefact from user input, ignoring white space
 * anywhere.  ENC_BINARY copies.  -EINVAL for malformed text.
 */
int frame_decode(enum fs_enc enc, const uint8_t *in, size_t len,
		 uint8_t **out, size_t *out_len);

/*
 * Split verify input "signature || message".  Binary forms: RSA takes
 * the modulus length (key_bits / 8), raw ECDSA twice the coordinate size,
 * DER ECDSA its ASN.1 length.  Text forms: the signature is the first
 * line.  On success *sig_end is the offset where the message starts and
 * *sig / *sig_len the decoded signature in the service's format (ECDSA
 * r||s; DER is converted).  -EAGAIN: more input is needed to tell;
 * -EINVAL: the prefix is malformed.
 */
int frame_verify_split(const struct opname *on, unsigned key_bits,
		       const uint8_t *in, size_t len, size_t *sig_end,
		       uint8_t **sig, size_t *sig_len);

/*
 * Turn the service's signature into the file's binary form: ECDSA r||s
 * becomes DER unless on->raw; everything else is copied.
 */
int frame_sig_out(const struct opname *on, const uint8_t *sig, size_t len,
		  uint8_t **out, size_t *out_len);

/* AES layouts of §3.1: GCM iv(12)||ct||tag(16), CBC iv(16)||ct. */
struct aes_parts {
	const uint8_t *iv, *ct, *tag;	/* borrowed from the input */
	size_t iv_len, ct_len, tag_len;
};

/* Split decrypt input into its parts; -EINVAL when too short. */
int frame_aes_split(const struct alg_info *alg, const uint8_t *in, size_t len,
		    struct aes_parts *out);

/* Join encrypt output; *out is a secret-free buffer (ciphertext). */
int frame_aes_join(const uint8_t *iv, size_t iv_len, const uint8_t *ct,
		   size_t ct_len, const uint8_t *tag, size_t tag_len,
		   uint8_t **out, size_t *out_len);

#endif
