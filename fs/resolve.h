/*
 * resolve.h - a path of the mounted tree to the node it names
 * (DESIGN.md §3).
 *
 * Every FUSE callback starts here.  resolve_parse() is pure: it splits
 * the path and says which kind of node it names, using the table of root
 * entries it is given (so lookup and readdir of / read one table).
 * resolve_key() then asks the key cache what a key's part of the path
 * needs: whether the key exists, which version, and which file of that
 * version (a metadata file, or an operation file with its modifiers).
 */
#ifndef HSMFS_FS_RESOLVE_H
#define HSMFS_FS_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errmap.h"
#include "keycache.h"
#include "opname.h"

enum node_kind {
	N_ROOT,			/* / */
	N_KEYS,			/* /keys */
	N_KEY,			/* /keys/NAME */
	N_VERSIONS,		/* /keys/NAME/versions */
	N_VERSION,		/* /keys/NAME/versions/VERSION */
	N_KFILE,		/* a file in one of those two, not yet resolved */
	N_META,			/* ... resolved: public.pem, info, ... */
	N_OP,			/* ... resolved: an operation file */
	N_TEXT,			/* a root file made at each open */
	N_RANDOM,		/* /random */
	N_CTL,			/* /ctl, or /keys/NAME/ctl (name set) */
	N_RESTORE,		/* /restore */
	N_KSVC,			/* /keys/NAME/rotation.json or backup */
	N_DELETED,		/* /deleted */
	N_DELKEY,		/* /deleted/NAME */
	N_DELFILE,		/* /deleted/NAME/info or meta.json */
	N_SEALED,		/* /sealed and below (fs/sealview.h) */
};

/* The service files of a key (N_KSVC): not of a version, not cached. */
enum svc_file { S_ROTATION, S_BACKUP };

/* The metadata files of a key version, in the order readdir lists them. */
enum meta_file {
	M_PEM, M_DER, M_JWK, M_META, M_INFO, M_ALGS,
	M__COUNT
};

struct fs_state;

/* How stat learns the size of a root text (all are exact). */
enum text_size {
	TX_NONE = 0,		/* not a text */
	TX_FIXED,		/* the same for all, always: page cache too */
	TX_SCOPED,		/* made for the caller's scope (error) */
	TX_SNAPSHOT,		/* changes over time: fs/snap.h */
};

/* One file or directory directly under the root. */
struct root_entry {
	const char *name;
	enum node_kind kind;		/* N_KEYS, N_TEXT, N_RANDOM, N_CTL,
					 * N_RESTORE, N_DELETED or N_SEALED */
	/* N_TEXT: make the content (malloc()ed) at open; -errno. */
	int (*text)(struct fs_state *fs, char **out, size_t *len);
	enum text_size size;		/* N_TEXT */
	mode_t mode;			/* permission bits (DESIGN.md §3.4) */
};

struct node {
	enum node_kind kind;
	const struct root_entry *root;	/* N_TEXT, N_RANDOM */
	char name[128];			/* key name */
	char version[64];		/* pinned version, or "" */
	char file[128];			/* N_KFILE: the name in the key dir */
	/* Filled by resolve_key(): */
	struct kver *kv;		/* a reference, or NULL */
	int64_t mtime;			/* unix seconds, or 0 */
	enum meta_file meta;		/* N_META */
	struct opname on;		/* N_OP */
	enum svc_file svc;		/* N_KSVC */
	/* N_DELKEY, N_DELFILE, filled by the caller (lcdirs.c): */
	char *text;			/* N_DELFILE: its content (malloc()ed) */
	size_t text_len;
};

/* How much of a key's part resolve_key() looks up. */
enum resolve_depth {
	RS_ATTR,	/* what stat needs: the key exists; files get their kv */
	RS_LIST,	/* what readdir needs: key and version dirs get their kv */
};

/*
 * Parse PATH (absolute, as libfuse gives it) against the root entries
 * (an array ended by a NULL name).  Returns 0 and fills *nd (kv NULL),
 * or -ENOENT when no such name can exist.
 */
int resolve_parse(const char *path, const struct root_entry *root,
		  struct node *nd);

/*
 * Look up a parsed node's key part in kc (nodes above keys/NAME are left
 * alone).  N_KFILE becomes N_META or N_OP, or fails with -ENOENT.
 * Returns 0 or a negative errno; on a failure of the key cache *f says
 * why (f->err is the return value; on other failures f->err is 0).
 * Release *nd with node_release() either way.
 */
int resolve_key(struct keycache *kc, struct hsm_call *call, struct node *nd,
		enum resolve_depth depth, struct fs_fail *f);

/* Drop what resolve_key() (and the caller) took. */
void node_release(struct node *nd);

/* Is the node a directory? */
bool node_is_dir(const struct node *nd);

/* Is the node a file written to change a key (ctl, restore, or
 * rotation.json)? */
bool node_is_input(const struct node *nd);

/* The name of a metadata file ("public.pem", ...). */
const char *meta_name(enum meta_file m);

/* The content of a metadata file of kv, or NULL when kv has none (an
 * oct key has no public.pem).  *len receives its length. */
const void *meta_data(const struct kver *kv, enum meta_file m, size_t *len);

#endif
