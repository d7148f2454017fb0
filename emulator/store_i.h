/*
 * store_i.h - the emulator's key store: versions, entries, the name index,
 * persistence (one file per key) and what backup blobs hold.  Callers
 * hold ks->lock as noted (keys_types.h describes the locking model).
 */
#ifndef HSMFS_EMU_STORE_I_H
#define HSMFS_EMU_STORE_I_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "keys_types.h"

/* Open (creating) the store in dir; dir NULL: memory only.  Returns NULL
 * and sets errno. */
struct keystore *keystore_open(const char *dir);
void keystore_close(struct keystore *ks);

/* Seconds since the epoch: the clock of created, updated and deleted
 * dates. */
int64_t store_now(void);

/* Free a version (its tags and material reference).  NULL-safe. */
void ver_free(struct key_ver *v);
/* New version with a fresh random id, material m taken over. */
struct key_ver *ver_new(struct key_mat *m, int64_t now);
/* Replace v's tags with a copy of those in obj (a JSON object of strings).
 * Returns 0 or -ENOMEM. */
int ver_set_tags(struct key_ver *v, struct json_object *obj);

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

/* Backup blobs: entry e as JSON, sealed with ks->backup_key
 * (backup_blob_i.h).  store_backup() returns a malloc()ed string or NULL
 * (ENOMEM); store_restore_parse() returns an entry (caller owns) or NULL
 * when the blob is malformed or does not authenticate. */
char *store_backup(struct keystore *ks, const struct key_entry *e);
struct key_entry *store_restore_parse(struct keystore *ks, const char *blob,
				      size_t len);

#endif
