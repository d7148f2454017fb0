/*
 * codec.h - base64url, base64 and hex.
 *
 * Encoders return a NUL-terminated string allocated with malloc() (free()
 * it; use secret_wipe_free() when it encodes a secret), or NULL when out of
 * memory.  Decoders return 0 and a malloc()ed buffer in *out (never NULL on
 * success, even for empty input) with its length in *out_len, or -EINVAL for
 * malformed input, -ENOMEM; on failure *out is NULL.
 *
 * base64url output never has padding (RFC 7515 §2); the decoder accepts
 * input with or without padding, since the service's rule is not documented.
 * Padding, when present, must be exactly right; non-zero bits after the
 * last byte (RFC 4648 §3.5) and characters outside the alphabet are
 * -EINVAL.  Decoded buffers are wiped before they are freed on failure.
 */
#ifndef HSMFS_CRYPTO_CODEC_H
#define HSMFS_CRYPTO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

char *b64url_encode(const uint8_t *in, size_t len);
int b64url_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);

/* Standard alphabet with padding (RFC 4648 §4). */
char *b64_encode(const uint8_t *in, size_t len);

/* Flags for the text decoders used on user input. */
#define CODEC_IGNORE_SPACE 0x1	/* skip ' ', '\t', '\r', '\n' anywhere */

int b64_decode(const char *in, size_t len, unsigned flags,
	       uint8_t **out, size_t *out_len);

/* Lower-case hex.  The decoder accepts either case; an odd number of
 * digits is -EINVAL. */
char *hex_encode(const uint8_t *in, size_t len);
int hex_decode(const char *in, size_t len, unsigned flags,
	       uint8_t **out, size_t *out_len);

/* The value 0..15 of one hex digit (either case), or -1; for parsers of
 * %XX escapes and the like. */
int hex_digit_value(int c);

/* base64url decode with CODEC_IGNORE_SPACE semantics, for user input. */
int b64url_decode_text(const char *in, size_t len, unsigned flags,
		       uint8_t **out, size_t *out_len);

#endif
