/*
 * keys_i.h - internals of the emulator's key side (keys*.c, store*.c,
 * render*.c, demo.c).  Never included by the HTTP side, which sees only
 * emu.h.
 *
 * Locking model: one rwlock per store protects every key_entry and
 * key_ver.  Key material (struct key_mat) is immutable once published and
 * reference counted, so a crypto operation takes a reference under the read
 * lock, copies the few mutable attributes it needs, drops the lock and does
 * the slow cryptography without holding it.
 */
#ifndef HSMFS_EMU_KEYS_I_H
#define HSMFS_EMU_KEYS_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "alg.h"
#include "emu.h"
#include "envelope_i.h"
#include "names.h"
#include "secret.h"

#define KEY_TAGS_MAX 15
#define KEY_TAG_LEN_MAX 256
#define KEY_RECOVERABLE_DAYS 7
#define KEY_RECOVERY_LEVEL "CustomizedRecoverable+Purgeable"
#define POLICY_ACTIONS_MAX 8

/* Immutable key material of one version; shared by reference. */
struct key_mat {
	atomic_int refs;
	enum key_type kty;
	EVP_PKEY *pkey;		/* RSA and EC; parsed once */
	struct secret *k;	/* oct */
	unsigned bits;		/* RSA modulus bits, AES key bits */
	enum curve crv;		/* EC */
	char *pub_a;		/* base64url: RSA n, EC x */
	char *pub_b;		/* base64url: RSA e, EC y */
};

struct key_tag {
	char *name;
	char *value;
};

/* One version; mutable members are protected by the store lock. */
struct key_ver {
	char id[KEY_VERSION_LEN + 1];
	struct key_mat *m;	/* one reference owned */
	unsigned ops;		/* enum key_op bits */
	bool enabled;
	int64_t nbf, exp;	/* Unix seconds; 0: absent */
	int64_t created, updated;
	struct key_tag *tags;
	size_t ntags;
};

struct policy_action {
	char trigger[24];	/* "timeAfterCreate" or "timeBeforeExpiry" */
	char dur[40];		/* ISO-8601 duration as sent */
};

struct rotation_policy {
	bool set;
	int64_t created, updated;
	char expiry[40];	/* "" when absent */
	size_t nactions;
	struct policy_action actions[POLICY_ACTIONS_MAX];
};

/* A key name: all versions, deleted state and rotation policy. */
struct key_entry {
	char *name;		/* as first created */
	char *lname;		/* lower case: the lookup key */
	uint64_t seq;		/* creation order, for listing */
	struct key_ver **vers;	/* oldest first; the last is the latest */
	size_t nvers, cap;
	bool deleted;
	int64_t deleted_date;
	struct rotation_policy pol;
	struct key_entry *hnext;	/* hash chain */
};

struct keystore {
	pthread_rwlock_t lock;
	char *dir;		/* NULL: memory only */
	struct key_entry **buckets;
	size_t nbuckets, count;
	struct key_entry **order;	/* by seq, ascending */
	size_t norder, ordcap;
	uint64_t next_seq;
	uint8_t backup_key[64];	/* A256CBC-HS512 key for backup blobs */
};

/* ---- key material (store.c) ---- */

/* Wrap pkey (reference taken over) or AES bytes into new material with one
 * reference.  Returns NULL when out of memory or the key is unusable;
 * pkey is freed in that case. */
struct key_mat *mat_from_pkey(EVP_PKEY *pkey);
struct key_mat *mat_from_oct(const uint8_t *k, size_t len);
struct key_mat *mat_get(struct key_mat *m);
void mat_put(struct key_mat *m);	/* NULL-safe; the last put frees */

/* Free a version (its tags and material reference).  NULL-safe. */
void ver_free(struct key_ver *v);
/* New version with a fresh random id, material m taken over. */
struct key_ver *ver_new(struct key_mat *m, int64_t now);
/* Replace v's tags with a copy of those in obj (a JSON object of strings).
 * Returns 0 or -ENOMEM. */
int ver_set_tags(struct key_ver *v, struct json_object *obj);

/* ---- the store (store.c); callers hold ks->lock as noted ---- */

/* Find by name, case-insensitively (read lock). */
struct key_entry *store_find(struct keystore *ks, const char *name);
/* Version by id (NULL or "" = latest). */
struct key_ver *entry_version(struct key_entry *e, const char *id);
/* Create an entry for name (write lock).  NULL on ENOMEM. */
struct key_entry *store_add_entry(struct keystore *ks, const char *name);
/* Append a version (write lock); takes v over.  0 or -ENOMEM. */
int entry_add_version(struct key_entry *e, struct key_ver *v);
/* Remove and free an entry (write lock), deleting its file. */
void store_purge(struct keystore *ks, struct key_entry *e);
/* Write e's file atomically when the store is persistent (write lock).
 * Returns 0 or -errno. */
int store_persist(struct keystore *ks, struct key_entry *e);
/* Index in ks->order of the first entry with seq >= seq. */
size_t store_order_from(struct keystore *ks, uint64_t seq);

void entry_free(struct key_entry *e);
/* Insert a rebuilt entry (write lock). */
int store_insert_entry(struct keystore *ks, struct key_entry *e);

/* Backup blobs: base64url(JWE compact, dir + A256CBC-HS512).
 * store_backup() returns a malloc()ed string or NULL (ENOMEM);
 * store_restore_parse() returns an entry (caller owns) or NULL when the
 * blob is malformed or does not authenticate. */
char *store_backup(struct keystore *ks, const struct key_entry *e);
struct key_entry *store_restore_parse(struct keystore *ks, const char *blob,
				      size_t len);

/* Fill out (2 * nbytes + 1 chars) with nbytes random bytes in lower-case
 * hex; nbytes is at most 32.  Aborts if the RNG fails. */
void keys_random_hex(char *out, size_t nbytes);
/* Seconds since the epoch. */
int64_t keys_now(void);

/* ---- rendering (render.c) ---- */

/* A KeyBundle (deleted: a DeletedKeyBundle) for version v of e. */
struct json_object *render_bundle(const struct key_entry *e,
				  const struct key_ver *v, const char *base,
				  bool deleted);
/* A KeyItem / DeletedKeyItem (with_version: kid carries the version). */
struct json_object *render_item(const struct key_entry *e,
				const struct key_ver *v, const char *base,
				bool deleted, bool with_version);
struct json_object *render_policy(const struct key_entry *e);
/* Serialize obj compactly into resp (a malloc()ed body) with status and
 * put obj; json-c's serialization buffer is cleansed, since decrypt and
 * unwrap results carry plaintext.  obj NULL: a 500 reply. */
void render_reply(struct emu_response *resp, int status,
		  struct json_object *obj);
/* "base/keys/name/version" (version NULL: without). malloc()ed. */
char *render_kid(const char *base, const char *name, const char *version);

/* Add a string / int / bool member, keeping call order (callers add
 * members alphabetically). */
void jadd_str(struct json_object *o, const char *k, const char *v);
void jadd_int(struct json_object *o, const char *k, int64_t v);
void jadd_bool(struct json_object *o, const char *k, bool v);
/* Add base64url of bytes; returns -ENOMEM on failure. */
int jadd_b64(struct json_object *o, const char *k, const uint8_t *p,
	     size_t len);

/* ---- operations (keys_ops.c) ---- */

/* Handle a crypto operation ("sign", "verify", "encrypt", "decrypt",
 * "wrapkey", "unwrapkey") on name/version. */
void keys_crypto_op(struct keystore *ks, const struct emu_request *req,
		    const char *op, const char *name, const char *version,
		    struct emu_response *resp);
/* POST /rng. */
void keys_rng(const struct emu_request *req, struct emu_response *resp);

/* Not-found reply in the service's words for path ("/keys/n" ...). */
void keys_not_found(struct emu_response *resp, const char *base,
		    const char *path);
/* Parse the request body as a JSON object; on failure fills resp (400)
 * and returns NULL.  Caller puts the object. */
struct json_object *keys_parse_body(const struct emu_request *req,
				    struct emu_response *resp);
/* A fresh activity id ("xxxxxxxx-xxxx-...") into out[37]. */
void keys_activity_id(char out[37]);

/* ---- key generation ---- */

/* Generate key material (bits: RSA modulus or AES size; crv: EC curve;
 * exponent: RSA public exponent); used by create, rotate and demo.
 * Returns 0 and new material with one reference in *out, or -errno. */
int keys_generate(enum key_type kty, unsigned bits, enum curve crv,
		  unsigned long exponent, struct key_mat **out);
/* The service's key_ops for a generated key of type kty (enum key_op bits). */
unsigned keys_default_ops(enum key_type kty);

#endif
