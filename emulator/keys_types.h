/*
 * keys_types.h - the types of the emulator's key side: key material,
 * versions, entries and the store.  Types only; each module's functions
 * are in its own header.  Never included by the HTTP side, which sees
 * only emu.h and the functions the key side offers it.
 *
 * Locking model: one rwlock per store protects every key_entry and
 * key_ver.  Key material (struct key_mat) is immutable once published and
 * reference counted, so a crypto operation takes a reference under the read
 * lock, copies the few mutable attributes it needs, drops the lock and does
 * the slow cryptography without holding it.
 */
#ifndef HSMFS_EMU_KEYS_TYPES_H
#define HSMFS_EMU_KEYS_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"
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
	bool software;		/* a vault's software-protected key (kty RSA
				 * or EC); false: HSM-protected (*-HSM) */
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

#endif
