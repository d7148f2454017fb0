/*
 * options.h - hsmfs command line and mount options (DESIGN.md §6).
 *
 * Our options are parsed out of the fuse_args with a fuse_opt table; the
 * rest (-f, -d, allow_other, ...) stays in the args for libfuse.  The
 * first non-option argument is the URL list, the second the mount point.
 */
#ifndef HSMFS_FS_OPTIONS_H
#define HSMFS_FS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <fuse.h>

#include "alg.h"
#include "policy.h"

#define OPT_MAX_URLS 8

struct fs_options {
	/* As parsed (strings malloc()ed by fuse_opt). */
	char *cafile;
	char *auth;
	char *token_file;
	char *api_version;
	char *mkdir_key;
	char *shells;		/* colon-separated shell basenames */
	char *audit;		/* syslog (NULL), off, or a PATH */
	char *credentials;	/* FILE of AZURE_* lines, read by options_check() */
	char *gid_arg;		/* -o gid=GID|NAME: the group of the tree */
	char *policy_path;	/* -o policy=FILE (absolute after check) */
	char *pending_bytes_arg;	/* -o max_pending_bytes=N[KMG] */
	char *spool_bytes_arg;		/* -o max_spool_bytes=N[KMG] */
	int max_pending;	/* two-command requests per uid */
	int max_calls;		/* concurrent remote calls per uid */
	char *spool_dir;	/* seal/unseal ciphertext spools; NULL: $TMPDIR */
	char *sealed_dir;	/* DIR behind sealed/ (made absolute), or NULL */
	char *seal_key;		/* the key that seals writes to sealed/ */
	int dek_ttl;		/* seconds an unwrapped data key is kept */
	int metrics_per_key;
	int timeout;		/* seconds */
	int retries;
	int list_ttl;		/* seconds */
	int result_ttl;		/* seconds */
	int remote_verify;
	int remote_encrypt;
	int allow_http;
	int allow_delete;
	int allow_other;	/* seen (kept for libfuse too) */
	int default_permissions;	/* seen (kept for libfuse too) */
	int show_help;
	int show_version;
	/* Positional arguments. */
	char *url_arg;		/* "URL[,URL...]" (malloc()ed) */
	int n_positional;
	/* Derived by options_check(). */
	char *urls[OPT_MAX_URLS];	/* malloc()ed copies */
	size_t n_urls;
	int auth_kind;		/* enum hsm_auth */
	enum key_type mkdir_kty;
	bool mkdir_hsm;		/* mkdir_key=EC-HSM...: ask for HSM protection */
	enum curve mkdir_crv;
	unsigned mkdir_bits;
	const char **shell_list;	/* NULL-terminated */
	int has_gid;
	gid_t gid;
	struct policy *policy;	/* policy=FILE as read at mount, or NULL */
	size_t max_pending_bytes;	/* input held per uid */
	size_t max_spool_bytes;		/* seal/unseal spool per uid */
};

/*
 * Parse args (modified in place: our options are removed, libfuse's are
 * kept; the mount point stays).  Returns 0, or -1 after writing a one-line
 * message to errbuf.  opts must be zeroed; defaults are filled in.
 */
int options_parse(struct fuse_args *args, struct fs_options *opts,
		  char *errbuf, size_t errlen);

/*
 * Validate parsed options: numbers in range, auth and mkdir_key names,
 * URL list, allow_other only with default_permissions, gid= and
 * policy=FILE (read and parsed now), the fair-use caps, and make relative
 * paths (cafile, token_file) absolute because daemonising changes the
 * directory to /.  credentials=FILE is read here: its AZURE_* values are
 * put into the environment, for the client to read when it is made.  Returns 0, or -1 with a one-line message in errbuf.
 */
int options_check(struct fs_options *opts, char *errbuf, size_t errlen);

/* Release everything options_parse()/options_check() allocated. */
void options_free(struct fs_options *opts);

/* Our part of --help (the man page's OPTIONS section). */
void options_usage(const char *prog);

#endif
