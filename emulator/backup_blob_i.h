/*
 * backup_blob_i.h - the envelope of the emulator's backup blobs:
 * base64url(JWE compact, "dir" + A256CBC-HS512).  The key is 64 bytes:
 * the first half authenticates (HMAC-SHA-512), the second encrypts
 * (AES-256-CBC), as RFC 7518 §5.2.2 splits it.
 */
#ifndef HSMFS_EMU_BACKUP_BLOB_I_H
#define HSMFS_EMU_BACKUP_BLOB_I_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define BACKUP_KEY_LEN 64

/* Seal len bytes of plain into a blob: malloc()ed string, or NULL (out of
 * memory, no randomness). */
char *backup_blob_seal(const uint8_t key[BACKUP_KEY_LEN], const char *plain,
		       size_t len);

/* Open a blob sealed with key: the plain text, or NULL when the blob is
 * malformed or does not authenticate. */
struct secret *backup_blob_open(const uint8_t key[BACKUP_KEY_LEN],
				const char *blob, size_t len);

#endif
