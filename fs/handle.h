/*
 * handle.h - what an open file or directory of the tree holds
 * (DESIGN.md §4.1, §4.2), one kind per way of using a node.
 *
 * fi->fh points at a struct handle.  Each kind keeps only its own state:
 * a directory its path, a text or metadata file its bytes, random how
 * much it served, and an operation file one of three: the operation of
 * a read-write handle (§4.1), the request a write-only handle fills and
 * leaves at close, or the answered request a read-only handle reads
 * (§4.2).  The handle's lock serialises threads sharing the descriptor.
 */
#ifndef HSMFS_FS_HANDLE_H
#define HSMFS_FS_HANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fuse.h>

#include "errmap.h"
#include "fairuse.h"
#include "keycache.h"
#include "opexec.h"
#include "proc.h"
#include "reqstore.h"
#include "sealop.h"
#include "secret.h"

/* A two-command request, kept in the request store (§4.2). */
struct request {
	pthread_mutex_t lock;		/* input vs. the run */
	unsigned refs;			/* atomic: the store's and handles' */
	struct opx x;
	bool ran;
	struct fs_fail fail;		/* the run's failure; fail.err 0: none */
	struct secret *out;
	struct fu_hold hold;		/* its input, charged to its uid */
};

/* A new request for the operation on (takes a reference to kv), or NULL. */
struct request *request_new(const struct opname *on, const char *name,
			    const char *version, struct kver *kv);
/* A new request for the same operation as r (its input and spool charged
 * to the same uid), or NULL. */
struct request *request_again(const struct request *r);
struct request *request_get(struct request *r);
/* Drop a reference (an rs_free_fn); the last one wipes input and output. */
void request_put(void *r);

enum handle_kind {
	H_DIR,		/* a directory */
	H_TEXT,		/* README, status, error: bytes made at open */
	H_META,		/* a metadata file of a key version */
	H_RANDOM,	/* random */
	H_RUN,		/* operation file, O_RDWR: one-handle operation */
	H_PUT,		/* operation file, O_WRONLY: fills a request */
	H_GET,		/* operation file, O_RDONLY: reads an answered one */
	H_INPUT,	/* ctl, restore, rotation.json opened for writing */
	H_SEALED,	/* sealed/FILE (fs/sealview.h) */
};

struct sealfile;

struct handle {
	enum handle_kind kind;
	pthread_mutex_t lock;
	char *path;
	struct handle *next, *prev;	/* every open handle (handle.c) */
	union {
		struct {
			char *bytes;
		} text;
		struct {
			struct kver *kv;	/* keeps data alive */
		} meta;
		struct {
			size_t served;
		} random;
		struct {
			struct opx x;
			struct secret *out;	/* the output being read */
			size_t pos;
			struct sealread rd;	/* seal/unseal: x.so's */
			struct fs_fail fail;	/* the failed run's; err 0: none */
			struct fu_hold hold;	/* its input, charged to its uid */
		} run;
		struct {
			struct request *req;
			struct scope sc;
			bool dirty;		/* written since last left */
			bool left;		/* req is in the store */
		} put;
		struct {
			struct rs_ref *ref;	/* the answered request */
			size_t pos;
			struct sealread rd;	/* seal/unseal: x.so's */
		} get;
		struct {
			int target;		/* enum node_kind: N_CTL, ... */
			char key[128];		/* the key, or "" (root) */
			char *buf;		/* restore, rotation.json: */
			size_t len, cap;	/* written since last close */
		} input;
		struct {
			struct sealfile *sf;	/* freed by sv_release(),
						 * at exit sv_drop() */
		} sealed;
	} u;
	const uint8_t *data;		/* H_TEXT, H_META: what read serves */
	size_t len;
};

/* A new handle of kind for path (zeroed state), or NULL. */
struct handle *handle_new(enum handle_kind kind, const char *path);

/* Free h and what its kind holds; requests is the store of H_GET refs. */
void handle_free(struct handle *h, struct reqstore *requests);
/* At exit, after the FUSE loop: free the handles whose RELEASE never
 * came (the kernel may still have had them queued at unmount).
 * drop_sealed frees what an H_SEALED handle holds (fs/sealwrite.h). */
void handle_free_all(struct reqstore *requests,
		     void (*drop_sealed)(struct handle *h));

/* The handle behind fi (NULL when fi is NULL). */
static inline struct handle *handle_of(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static inline void handle_set(struct fuse_file_info *fi, struct handle *h)
{
	fi->fh = (uint64_t)(uintptr_t)h;
}

/* Serve bytes at off (H_TEXT, H_META).  Returns the count read. */
int handle_read_at(const struct handle *h, char *buf, size_t size, off_t off);

/* Serve s from *pos onwards, moving *pos (a nonseekable stream). */
int handle_read_stream(const struct secret *s, size_t *pos, char *buf,
		       size_t size);

#endif
