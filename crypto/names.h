/*
 * names.h - the service's rules for key names and key versions.
 *
 * One checker for fs/, client/ and emulator/, so that a name the mount
 * accepts is one the client will send and the emulator will serve.  The
 * rules are the service's: a key name is 1 to 127 of [0-9a-zA-Z-]
 * (managed-hsm-api.md §8); a version is 32 lower-case hexadecimal digits,
 * as every recorded kid shows (tests/recordings/).
 */
#ifndef HSMFS_CRYPTO_NAMES_H
#define HSMFS_CRYPTO_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define KEY_NAME_MAX	127	/* characters, without the NUL */
#define KEY_VERSION_LEN	32	/* hexadecimal digits, without the NUL */

/* True when the len bytes at s are a valid key name.  s need not be
 * NUL-terminated; a NUL inside the len bytes makes it invalid. */
bool key_name_valid(const char *s, size_t len);

/* True when the len bytes at s are a valid key version. */
bool key_version_valid(const char *s, size_t len);

#endif
