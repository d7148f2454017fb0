/*
 * options.c - hsmfs options: fuse_opt table, validation, usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "hsm_client.h"
#include "secret.h"
#include "names.h"
#include "options.h"
#include "options_i.h"

enum { KEY_HELP, KEY_VERSION, KEY_ALLOW_OTHER, KEY_DEFAULT_PERMS };

#define OPT(t, p) { t, offsetof(struct fs_options, p), 1 }

static const struct fuse_opt opt_table[] = {
	OPT("cafile=%s", cafile),
	OPT("auth=%s", auth),
	OPT("token_file=%s", token_file),
	OPT("api_version=%s", api_version),
	OPT("mkdir_key=%s", mkdir_key),
	OPT("shells=%s", shells),
	OPT("audit=%s", audit),
	OPT("credentials=%s", credentials),
	OPT("gid=%s", gid_arg),
	OPT("policy=%s", policy_path),
	OPT("max_pending=%d", max_pending),
	OPT("max_pending_bytes=%s", pending_bytes_arg),
	OPT("max_spool_bytes=%s", spool_bytes_arg),
	OPT("max_calls=%d", max_calls),
	OPT("spool_dir=%s", spool_dir),
	OPT("sealed_dir=%s", sealed_dir),
	OPT("seal_key=%s", seal_key),
	OPT("dek_ttl=%d", dek_ttl),
	OPT("metrics_per_key", metrics_per_key),
	OPT("timeout=%d", timeout),
	OPT("retries=%d", retries),
	OPT("list_ttl=%d", list_ttl),
	OPT("result_ttl=%d", result_ttl),
	OPT("remote_verify", remote_verify),
	OPT("remote_encrypt", remote_encrypt),
	OPT("allow_http", allow_http),
	OPT("allow_delete", allow_delete),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMS),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct fs_options *o = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		o->n_positional++;
		if (o->url_arg == NULL) {
			o->url_arg = strdup(arg);
			return o->url_arg == NULL ? -1 : 0;	/* consumed */
		}
		return 1;	/* the mount point: libfuse takes it */
	case KEY_HELP:
		o->show_help = 1;
		return 1;	/* libfuse prints its part after ours */
	case KEY_VERSION:
		o->show_version = 1;
		return 1;
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMS:
		o->default_permissions = 1;
		return 1;
	default:
		return 1;
	}
}

int options_parse(struct fuse_args *args, struct fs_options *opts,
		  char *errbuf, size_t errlen)
{
	opts->timeout = 30;
	opts->retries = 5;
	opts->list_ttl = 30;
	opts->result_ttl = 300;
	opts->max_pending = 64;
	opts->max_calls = 16;
	opts->dek_ttl = 60;
	if (fuse_opt_parse(args, opts, opt_table, opt_proc) != 0) {
		snprintf(errbuf, errlen, "invalid options (see --help)");
		return -1;
	}
	return 0;
}

static int abs_path(char **p, const char *what, char *errbuf, size_t errlen)
{
	char cwd[PATH_MAX], *abs;

	if (*p == NULL || (*p)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(errbuf, errlen, "cannot resolve %s: %s", what,
			 strerror(errno));
		return -1;
	}
	if (asprintf(&abs, "%s/%s", cwd, *p) < 0) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	free(*p);
	*p = abs;
	return 0;
}

static int check_range(int v, int lo, int hi, const char *name,
		       char *errbuf, size_t errlen)
{
	if (v < lo || v > hi) {
		snprintf(errbuf, errlen, "%s=%d is out of range (%d..%d)",
			 name, v, lo, hi);
		return -1;
	}
	return 0;
}

static int parse_mkdir_key(struct fs_options *o, char *errbuf, size_t errlen)
{
	const char *spec = o->mkdir_key ? o->mkdir_key : "EC:P-256";
	const char *colon = strchr(spec, ':');
	size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *arg = colon ? colon + 1 : NULL;
	enum key_type kty;

	if (key_type_from_name(spec, klen, &kty, &o->mkdir_hsm) != 0)
		goto bad;
	if (kty == KEY_EC) {
		o->mkdir_kty = KEY_EC;
		o->mkdir_crv = arg ? curve_from_name(arg) : CRV_P256;
		if (o->mkdir_crv == CRV_NONE)
			goto bad;
	} else if (kty == KEY_RSA) {
		o->mkdir_kty = KEY_RSA;
		o->mkdir_bits = arg ? (unsigned)atoi(arg) : 3072;
		if (o->mkdir_bits != 2048 && o->mkdir_bits != 3072 &&
		    o->mkdir_bits != 4096)
			goto bad;
	} else {
		o->mkdir_kty = KEY_OCT;
		o->mkdir_bits = arg ? (unsigned)atoi(arg) : 256;
		if (o->mkdir_bits != 128 && o->mkdir_bits != 192 &&
		    o->mkdir_bits != 256)
			goto bad;
	}
	return 0;
bad:
	snprintf(errbuf, errlen,
		 "mkdir_key=%s is not valid (EC[:P-256|P-256K|P-384|P-521], "
		 "RSA[:2048|3072|4096], oct[:128|192|256]; EC-HSM, RSA-HSM, "
		 "oct-HSM likewise)", spec);
	return -1;
}

/* spool_dir=DIR: a directory we may create files in, made absolute. */
static int check_spool_dir(struct fs_options *o, char *errbuf, size_t errlen)
{
	struct stat st;

	if (o->spool_dir == NULL)
		return 0;
	if (stat(o->spool_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    access(o->spool_dir, W_OK | X_OK) != 0) {
		snprintf(errbuf, errlen, "spool_dir=%s: not a directory this "
			 "user can write", o->spool_dir);
		return -1;
	}
	return abs_path(&o->spool_dir, "spool_dir", errbuf, errlen);
}

/* audit=syslog|off|PATH; a relative PATH is made absolute. */
static int check_audit(struct fs_options *o, char *errbuf, size_t errlen)
{
	if (o->audit == NULL || strcmp(o->audit, "syslog") == 0 ||
	    strcmp(o->audit, "off") == 0)
		return 0;
	if (o->audit[0] == '\0') {
		snprintf(errbuf, errlen, "audit= needs syslog, off or a PATH");
		return -1;
	}
	return abs_path(&o->audit, "audit", errbuf, errlen);
}

/*
 * sealed_dir=DIR and seal_key=NAME go together: without a key the view
 * could not seal what is written to it, and a key alone has no view.
 * DIR is opened at mount time (main.c); here it is only made absolute.
 */
static int check_sealed(struct fs_options *o, char *errbuf, size_t errlen)
{
	if (o->seal_key != NULL && o->sealed_dir == NULL) {
		snprintf(errbuf, errlen, "seal_key= needs sealed_dir=DIR");
		return -1;
	}
	if (o->sealed_dir == NULL)
		return 0;
	if (o->sealed_dir[0] == '\0') {
		snprintf(errbuf, errlen, "sealed_dir= needs a directory");
		return -1;
	}
	if (o->seal_key == NULL || !key_name_valid(o->seal_key,
						   strlen(o->seal_key))) {
		snprintf(errbuf, errlen, "sealed_dir= needs seal_key=NAME, the "
			 "name of the key that seals what is written to sealed/");
		return -1;
	}
	return abs_path(&o->sealed_dir, "sealed_dir", errbuf, errlen);
}

static int split_shells(struct fs_options *o)
{
	size_t n = 1, i = 0;
	const char *p;
	char *save = NULL, *tok;

	if (o->shells == NULL)
		return 0;
	for (p = o->shells; *p; p++)
		n += *p == ':';
	o->shell_list = calloc(n + 1, sizeof(*o->shell_list));
	if (o->shell_list == NULL)
		return -1;
	for (tok = strtok_r(o->shells, ":", &save); tok != NULL;
	     tok = strtok_r(NULL, ":", &save))
		o->shell_list[i++] = tok;
	return 0;
}

/* What a credentials file may set: the variables client/cred.c reads. */
static const char *const cred_keys[] = {
	"AZURE_ACCESS_TOKEN", "AZURE_AUTHORITY_HOST",
	"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_ID",
	"AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
	"AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_TENANT_ID", NULL
};

static bool cred_key_known(const char *k)
{
	size_t i;

	for (i = 0; cred_keys[i] != NULL; i++)
		if (strcmp(k, cred_keys[i]) == 0)
			return true;
	return false;
}

/*
 * Open the credentials file and refuse one another user could have read
 * or written: a regular file (no symlink), owned by root or by us, with
 * no group or other bits.  Returns the descriptor or -1.
 */
static int cred_open(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "credentials=%s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		snprintf(errbuf, errlen, "credentials=%s: not a regular file",
			 path);
	else if (st.st_uid != 0 && st.st_uid != getuid())
		snprintf(errbuf, errlen, "credentials=%s: owned by uid %u, "
			 "not by root or the mounting user", path,
			 (unsigned)st.st_uid);
	else if (st.st_mode & 077)
		snprintf(errbuf, errlen, "credentials=%s: mode %04o, must not "
			 "be readable or writable by group or others (chmod 600)",
			 path, (unsigned)(st.st_mode & 07777));
	else
		return fd;
	close(fd);
	return -1;
}

/* One line "KEY=VALUE" (or blank, or a # comment) given to set(). */
static int cred_line(char *line, int lineno, const char *path,
		     int (*set)(const char *, const char *),
		     char *errbuf, size_t errlen)
{
	char *eq, *k = line;

	while (*k == ' ' || *k == '\t')
		k++;
	if (*k == '\0' || *k == '#')
		return 0;
	eq = strchr(k, '=');
	if (eq == NULL) {
		snprintf(errbuf, errlen, "credentials=%s:%d: not KEY=VALUE",
			 path, lineno);
		return -1;
	}
	*eq = '\0';
	if (!cred_key_known(k)) {
		/* The name only: a misplaced value might be a secret. */
		snprintf(errbuf, errlen, "credentials=%s:%d: unknown key %.64s",
			 path, lineno, k);
		return -1;
	}
	if (set(k, eq + 1) != 0) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int options_cred_text(char *text, const char *path,
		      int (*set)(const char *, const char *),
		      char *errbuf, size_t errlen)
{
	char *line, *save = NULL;
	int lineno = 0, rc = 0;

	/* strtok_r() skips empty lines: count them by hand. */
	for (line = text; rc == 0 && line != NULL; line = save) {
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		lineno++;
		rc = cred_line(line, lineno, path, set, errbuf, errlen);
	}
	return rc;
}

static int set_env(const char *k, const char *v)
{
	return setenv(k, v, 1);
}

/*
 * credentials=FILE: AZURE_* lines put into our environment, where the
 * client reads them (client/cred.c) when it is made; the file's text is
 * wiped.  Done here, before the client exists, so every auth kind works
 * from the file exactly as from the environment.
 */
static int load_credentials(struct fs_options *o, char *errbuf, size_t errlen)
{
	char buf[16384];
	ssize_t n;
	size_t len = 0;
	int fd, rc = 0;

	if (o->credentials == NULL)
		return 0;
	if (abs_path(&o->credentials, "credentials", errbuf, errlen))
		return -1;
	fd = cred_open(o->credentials, errbuf, errlen);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len == sizeof(buf) - 1) {
		snprintf(errbuf, errlen, "credentials=%s: %s", o->credentials,
			 n < 0 ? strerror(errno) : "larger than 16 KiB");
		rc = -1;
		goto out_wipe;
	}
	buf[len] = '\0';
	rc = options_cred_text(buf, o->credentials, set_env, errbuf, errlen);
out_wipe:
	secret_wipe(buf, sizeof(buf));
	return rc;
}

/* N, NK, NM or NG bytes, 1 MiB to 64 GiB. */
static int parse_bytes(const char *opt, const char *s, unsigned long long max,
		       size_t *out, char *errbuf, size_t errlen)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end != s && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'K': case 'k': v <<= 10; end++; break;
		case 'M': case 'm': v <<= 20; end++; break;
		case 'G': case 'g': v <<= 30; end++; break;
		}
	}
	if (end == s || *end != '\0' || errno || s[0] == '-' ||
	    v < (1ull << 20) || v > max) {
		snprintf(errbuf, errlen, "%s=%s is not a size from 1M to %lluG "
			 "(N, NK, NM or NG)", opt, s, max >> 30);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

/* gid=, policy=, the fair-use caps (DESIGN.md §3.4). */
static int check_access(struct fs_options *o, char *errbuf, size_t errlen)
{
	o->max_pending_bytes = 64u << 20;
	o->max_spool_bytes = (size_t)4 << 30;
	if (check_range(o->max_pending, 1, 65536, "max_pending", errbuf,
			errlen) ||
	    check_range(o->max_calls, 1, 1024, "max_calls", errbuf, errlen))
		return -1;
	if (o->pending_bytes_arg != NULL &&
	    parse_bytes("max_pending_bytes", o->pending_bytes_arg, 64ull << 30,
			&o->max_pending_bytes, errbuf, errlen))
		return -1;
	if (o->spool_bytes_arg != NULL &&
	    parse_bytes("max_spool_bytes", o->spool_bytes_arg, 16384ull << 30,
			&o->max_spool_bytes, errbuf, errlen))
		return -1;
	if (o->gid_arg != NULL) {
		if (policy_group_id(o->gid_arg, &o->gid) != 0) {
			snprintf(errbuf, errlen, "gid=%s: no such group "
				 "(a number or a group name)", o->gid_arg);
			return -1;
		}
		o->has_gid = 1;
	}
	if (o->policy_path == NULL)
		return 0;
	if (abs_path(&o->policy_path, "policy", errbuf, errlen))
		return -1;
	return policy_load(o->policy_path, &o->policy, errbuf, errlen);
}

int options_check(struct fs_options *o, char *errbuf, size_t errlen)
{
	char *save = NULL, *tok, *copy;

	if (o->url_arg == NULL || o->n_positional < 2) {
		snprintf(errbuf, errlen,
			 "usage: hsmfs [options] URL[,URL...] MOUNTPOINT");
		return -1;
	}
	if (o->n_positional > 2) {
		snprintf(errbuf, errlen, "too many arguments (expected URL and MOUNTPOINT)");
		return -1;
	}
	copy = strdup(o->url_arg);
	if (copy == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(tok);

		if (o->n_urls == OPT_MAX_URLS) {
			snprintf(errbuf, errlen, "too many URLs (at most %d)",
				 OPT_MAX_URLS);
			free(copy);
			return -1;
		}
		/* "https://x/" and "https://x" name the same service. */
		while (l > 0 && tok[l - 1] == '/')
			tok[--l] = '\0';
		o->urls[o->n_urls] = strdup(tok);
		if (o->urls[o->n_urls] == NULL) {
			free(copy);
			snprintf(errbuf, errlen, "out of memory");
			return -1;
		}
		o->n_urls++;
	}
	free(copy);
	if (o->n_urls == 0) {
		snprintf(errbuf, errlen, "no URL given");
		return -1;
	}
	if (check_range(o->timeout, 1, 3600, "timeout", errbuf, errlen) ||
	    check_range(o->retries, 0, 20, "retries", errbuf, errlen) ||
	    check_range(o->list_ttl, 0, 86400, "list_ttl", errbuf, errlen) ||
	    check_range(o->result_ttl, 1, 86400, "result_ttl", errbuf, errlen) ||
	    check_range(o->dek_ttl, 1, 86400, "dek_ttl", errbuf, errlen) ||
	    check_sealed(o, errbuf, errlen))
		return -1;
	o->auth_kind = hsm_auth_from_name(o->auth ? o->auth : "auto");
	if (o->auth_kind < 0) {
		snprintf(errbuf, errlen,
			 "auth=%s is not one of auto, token, secret, cert, "
			 "workload, appservice, imds, azcli", o->auth);
		return -1;
	}
	if (parse_mkdir_key(o, errbuf, errlen) ||
	    check_access(o, errbuf, errlen))
		return -1;
	/* Refused rather than added: the modes are the access control, and
	 * a mount line that says allow_other alone was written by someone
	 * who expects another model (DESIGN.md §3.4). */
	if (o->allow_other && !o->default_permissions) {
		snprintf(errbuf, errlen,
			 "allow_other needs default_permissions: the kernel "
			 "enforces the modes that decide who may use a key "
			 "(add -o default_permissions)");
		return -1;
	}
	if (abs_path(&o->cafile, "cafile", errbuf, errlen) ||
	    abs_path(&o->token_file, "token_file", errbuf, errlen) ||
	    check_audit(o, errbuf, errlen) ||
	    check_spool_dir(o, errbuf, errlen) ||
	    load_credentials(o, errbuf, errlen))
		return -1;
	if (split_shells(o)) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void options_free(struct fs_options *o)
{
	size_t i;

	free(o->cafile);
	free(o->auth);
	free(o->token_file);
	free(o->api_version);
	free(o->mkdir_key);
	free(o->shells);
	free(o->audit);
	free(o->credentials);
	free(o->gid_arg);
	free(o->policy_path);
	free(o->pending_bytes_arg);
	free(o->spool_bytes_arg);
	policy_free(o->policy);
	free(o->spool_dir);
	free(o->sealed_dir);
	free(o->seal_key);
	free(o->url_arg);
	for (i = 0; i < o->n_urls; i++)
		free(o->urls[i]);
	free(o->shell_list);
	memset(o, 0, sizeof(*o));
}

void options_usage(const char *prog)
{
	printf("usage: %s [options] URL[,URL...] MOUNTPOINT\n"
	       "\n"
	       "Present an Azure Key Vault Managed HSM as a filesystem.\n"
	       "\n"
	       "hsmfs options:\n"
	       "    -f                      stay in the foreground\n"
	       "    -d                      debug output (implies -f)\n"
	       "    -o cafile=PATH          trust this CA bundle (default: system store)\n"
	       "    -o auth=KIND            auto|token|secret|cert|workload|appservice|imds|azcli\n"
	       "                            (default: auto)\n"
	       "    -o token_file=PATH      read the access token from PATH (mode 0600)\n"
	       "    -o api_version=V        REST api-version (default: 7.5)\n"
	       "    -o timeout=S            per-operation deadline in seconds (default: 30)\n"
	       "    -o retries=N            retries of throttled or failed calls (default: 5)\n"
	       "    -o list_ttl=S           key list and latest-version cache (default: 30)\n"
	       "    -o result_ttl=S         how long a two-command result stays (default: 300)\n"
	       "    -o allow_delete         allow rmdir keys/NAME (delete) and\n"
	       "                            rmdir deleted/NAME (purge)\n"
	       "    -o mkdir_key=KTY[:CRV|:SIZE]  key type made by mkdir keys/NAME\n"
	       "                            (default: EC:P-256)\n"
	       "    -o remote_verify        verify in the HSM instead of locally\n"
	       "    -o remote_encrypt       RSA encrypt and wrap in the HSM instead of locally\n"
	       "    -o allow_http           allow plain http to a loopback address\n"
	       "    -o shells=A:B:...       programs that anchor a request scope\n"
	       "                            (default: bash:sh:dash:zsh:ksh:ash:busybox:fish)\n"
	       "    -o audit=syslog|PATH|off  audit log of every operation on a key: syslog\n"
	       "                            (authpriv, the default), JSON lines appended to\n"
	       "                            PATH (mode 0600, reopened on SIGHUP), or none\n"
	       "    -o credentials=FILE     AZURE_* settings, KEY=VALUE lines (mode 0600,\n"
	       "                            owned by root or you), instead of the environment\n"
	       "    -o metrics_per_key      the metrics file counts operations by key too\n"
	       "    -o gid=GID|NAME         the group of the tree: it may use keys\n"
	       "                            (default: your group)\n"
	       "    -o policy=FILE          per-key owner, group and mode, lines of\n"
	       "                            KEYGLOB OWNER:GROUP MODE (reread on SIGHUP)\n"
	       "    -o max_pending=N        two-command requests kept per user (default: 64;\n"
	       "                            past it the user's own oldest is dropped)\n"
	       "    -o max_pending_bytes=N[KMG]  input held per user by requests and\n"
	       "                            read-write handles (default: 64M; then EAGAIN)\n"
	       "    -o max_calls=N          concurrent HSM calls per user (default: 16;\n"
	       "                            then EAGAIN)\n"
	       "    -o spool_dir=DIR        where seal and unseal spool ciphertext, in\n"
	       "                            unlinked files (default: $TMPDIR, else /tmp)\n"
	       "    -o max_spool_bytes=N[KMG]  spooled per user by its seals and unseals\n"
	       "                            (default: 4G; then EAGAIN)\n"
	       "    -o sealed_dir=DIR       show DIR's sealed files as plaintext in sealed/\n"
	       "    -o seal_key=NAME        the key that seals files written to sealed/\n"
	       "                            (required with sealed_dir)\n"
	       "    -o dek_ttl=S            keep an unwrapped data key of sealed/ in locked\n"
	       "                            memory this long (default: 60)\n"
	       "    -h, --help              this text, then libfuse's options\n"
	       "    -V, --version           print versions\n"
	       "\n", prog);
}
