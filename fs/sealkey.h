/*
 * sealkey.h - the data key of a sealed blob (DESIGN.md §3.1 seal/unseal,
 * docs/seal-format.md): made fresh and wrapped under an HSM key for a new
 * blob, unwrapped from a blob's header to open it.
 *
 * RSA keys wrap locally with RSA-OAEP-256 and the cached public key (no
 * HSM call); oct keys wrap with one HSM wrapKey, AnnnKW by the key's size.
 * Opening is always exactly one HSM unwrapKey, at the key name and version
 * the header's kid names, so blobs sealed before a rotation still open.
 *
 * Both return 0 or a negative errno with *f filled (errmap.h): EBADMSG for
 * a header that cannot be ours (a kid with no valid key name and version,
 * a data key the service refuses to unwrap, or one of the wrong length);
 * the service's errors otherwise (ENOENT for a key or version that does
 * not exist, ...).  dek is wiped on failure; the caller wipes it after use.
 */
#ifndef HSMFS_FS_SEALKEY_H
#define HSMFS_FS_SEALKEY_H

#include <stddef.h>
#include <stdint.h>

#include "errmap.h"
#include "keycache.h"
#include "names.h"
#include "openv.h"
#include "seal.h"

/* Does sealkey_new() for kv call the service (a wrapKey)? */
bool sealkey_new_calls(const struct opx_env *env, const struct kver *kv);

/*
 * A fresh random data key for a blob sealed under key name at version kv
 * (kv->key.version, its kid in the header), with chunks of 1 << chunk_shift
 * bytes.  Fills dek and h (seal_header_init(), random nonce prefix).
 */
int sealkey_new(const struct opx_env *env, struct hsm_call *call,
		const char *name, const struct kver *kv, unsigned chunk_shift,
		uint8_t dek[SEAL_KEY_LEN], struct seal_header *h,
		struct fs_fail *f);

/*
 * Unwrap the data key of the blob whose header is h (one HSM call, at the
 * kid's name and version).  want: the key the caller may use, which the
 * kid must name (EBADMSG otherwise, before any call); NULL: any key.
 */
int sealkey_open(const struct opx_env *env, struct hsm_call *call,
		 const char *want, const struct seal_header *h,
		 uint8_t dek[SEAL_KEY_LEN], struct fs_fail *f);

/*
 * The key name and version a kid names: its last two path segments after
 * "/keys/" (".../keys/NAME/VERSION").  name holds KEY_NAME_MAX + 1 bytes,
 * version KEY_VERSION_LEN + 1.  Returns 0, or -EBADMSG when either is not
 * valid (names.h).  The vault part is not checked (see sealkey.c).
 */
int sealkey_kid_split(const char *kid, char *name, char *version);

#endif
