/*
 * keycache.h - the metadata caches of DESIGN.md §5 "Caching".
 *
 * - the key list, refreshed after list_ttl;
 * - per key version, the public bundle and everything rendered from it
 *   (immutable: kept until flushed);
 * - per key, the latest-version pointer, refreshed after list_ttl;
 * - misses (key not found), remembered neg_ttl (5 s);
 * at most KC_MAX_ENTRIES keys' entries, least recently used first out;
 * a flood of names that are not keys is answered from the key list.
 * When a refresh fails because the service cannot be reached (transport,
 * timeout, throttling, 5xx), stale entries keep being served.
 *
 * Thread-safe; the lock is never held across a backend call, so a slow
 * service never blocks lookups that the cache can answer.
 */
#ifndef HSMFS_FS_KEYCACHE_H
#define HSMFS_FS_KEYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsm_client.h"
#include "opname.h"

/* Where the cache gets its data (the client, or a fake in tests). */
struct kc_backend {
	enum hsm_status (*list)(void *arg, struct hsm_call *call,
				struct hsm_key_list *out);
	enum hsm_status (*list_versions)(void *arg, struct hsm_call *call,
					 const char *name,
					 struct hsm_key_list *out);
	enum hsm_status (*get)(void *arg, struct hsm_call *call,
			       const char *name, const char *version,
			       struct hsm_key *out);
	int64_t (*now_ms)(void *arg);	/* NULL: CLOCK_MONOTONIC */
	void *arg;
};

/* One key version and its rendered files; immutable, reference counted. */
struct kver {
	struct hsm_key key;		/* public parts as received */
	struct keyshape shape;
	EVP_PKEY *pk;			/* RSA/EC public key; NULL for oct */
	char *pem;			/* NULL for oct */
	size_t pem_len;
	uint8_t *der;
	size_t der_len;
	char *info;
	size_t info_len;
	char *algs;
	size_t algs_len;
	size_t jwk_len, meta_len;	/* strlen of key.jwk_json / bundle_json */
	unsigned refs;			/* atomic */
};

/* Take / drop a reference. kver_put(NULL) is a no-op. */
struct kver *kver_get(struct kver *v);
void kver_put(struct kver *v);

/* Build a kver from a fetched bundle (takes ownership of *k, which is
 * zeroed).  Returns NULL when out of memory or the key is malformed. */
struct kver *kver_build(struct hsm_key *k);

struct keycache;

/* Keys whose entries are kept (the least recently used go first): room
 * for 5,000 keys and their misses, a few MB at most. */
#define KC_MAX_ENTRIES 8192

/* Names that no list holds asked for by name, at most, each second;
 * past it the key list (at most neg_ttl old) answers for them. */
#define KC_MISS_GETS 16

/* Counters for status. */
struct kc_stats {
	uint64_t hits, misses, stale_served;
	size_t entries;			/* keys' entries kept */
};

/*
 * Create a cache.  TTLs in milliseconds.  Returns NULL when out of memory.
 * The backend struct is copied.
 */
struct keycache *kc_new(const struct kc_backend *be, int64_t list_ttl_ms,
			int64_t neg_ttl_ms);
void kc_free(struct keycache *kc);

/* Drop everything (the "flush" command; tests). */
void kc_flush(struct keycache *kc);

/*
 * A change was made to key NAME (NULL: to no key in particular, e.g. a
 * failed create): drop everything cached about NAME (its versions carry
 * attributes that an update changes) and make the next use of the key
 * list fetch it again.  The old list is still served if that fails.
 */
void kc_forget(struct keycache *kc, const char *name);

/*
 * A snapshot of the key names, sorted.  *names is a malloc()ed array of
 * malloc()ed strings; free with kc_names_free().  Stale data is returned
 * when the service is unreachable.
 */
enum hsm_status kc_list(struct keycache *kc, struct hsm_call *call,
			char ***names, size_t *n);
void kc_names_free(char **names, size_t n);

/*
 * Is NAME a key?  Answered from a fresh key list when it names the key,
 * else by fetching the latest version (which then is cached).  HSM_OK or
 * HSM_E_NOT_FOUND (or the failure).  *created / *updated (may be NULL)
 * receive the key's times when known, else 0.
 */
enum hsm_status kc_key_exists(struct keycache *kc, struct hsm_call *call,
			      const char *name, int64_t *created,
			      int64_t *updated);

/*
 * The version VERSION (NULL: the latest) of key NAME.  On HSM_OK *out is
 * a reference the caller drops with kver_put().
 */
enum hsm_status kc_get(struct keycache *kc, struct hsm_call *call,
		       const char *name, const char *version,
		       struct kver **out);

/* The version ids of NAME (cached list_ttl); free with kc_names_free(). */
enum hsm_status kc_versions(struct keycache *kc, struct hsm_call *call,
			    const char *name, char ***versions, size_t *n);

void kc_get_stats(struct keycache *kc, struct kc_stats *out);

/* Statuses that mean "the service could not be asked": stale data may
 * be served instead. */
bool kc_status_transient(enum hsm_status st);

#endif
