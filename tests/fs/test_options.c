/* Unit tests: option parsing and validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "options.h"
#include "tap.h"

static int parse(int argc, const char **argv, struct fs_options *o, struct fuse_args *args,
		 char *err, size_t len)
{
	memset(o, 0, sizeof(*o));
	args->argc = argc;
	args->argv = (char **)argv;
	args->allocated = 0;
	if (options_parse(args, o, err, len))
		return -1;
	return options_check(o, err, len);
}

static bool has_arg(const struct fuse_args *a, const char *s)
{
	int i;

	for (i = 0; i < a->argc; i++)
		if (strstr(a->argv[i], s))
			return true;
	return false;
}

/* Write text to a fresh file of mode `mode`; returns its path (static). */
static const char *cred_file(const char *text, mode_t mode)
{
	static char path[] = "/tmp/hsmfs-test-cred-XXXXXX";
	int fd;

	strcpy(path, "/tmp/hsmfs-test-cred-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
	return path;
}

/* Mount with -o credentials=FILE; returns options_check()'s result. */
static int parse_cred(const char *path, char *err, size_t len)
{
	char opt[256];
	const char *argv[] = { "hsmfs", "u", "/m", "-o", opt, NULL };
	struct fs_options o;
	struct fuse_args args;
	int rc;

	snprintf(opt, sizeof(opt), "credentials=%s", path);
	rc = parse(5, argv, &o, &args, err, len);
	fuse_opt_free_args(&args);
	options_free(&o);
	return rc;
}

static void test_credentials(void)
{
	char err[512];
	const char *p;
	int rc;

	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_CLIENT_SECRET");
	p = cred_file("# a comment\n\nAZURE_CLIENT_ID=app-1\n"
		      "  AZURE_CLIENT_SECRET=s=e=c\n", 0600);
	rc = parse_cred(p, err, sizeof(err));
	ok(rc == 0, "credentials file 0600: %s", rc ? err : "");
	ok(getenv("AZURE_CLIENT_ID") && strcmp(getenv("AZURE_CLIENT_ID"), "app-1") == 0 &&
	   getenv("AZURE_CLIENT_SECRET") &&
	   strcmp(getenv("AZURE_CLIENT_SECRET"), "s=e=c") == 0,
	   "its values are in the environment (value split at the first =)");
	chmod(p, 0640);
	ok(parse_cred(p, err, sizeof(err)) == -1 && strstr(err, "mode 0640") &&
	   strstr(err, "group or others") && !strchr(err, '\n'),
	   "group-readable file refused: %s", err);
	chmod(p, 0602);
	ok(parse_cred(p, err, sizeof(err)) == -1 && strstr(err, "mode 0602"),
	   "other-writable file refused");
	unlink(p);
	p = cred_file("AZURE_TENANT_ID=t\nAZURE_CLIENT_ID=x\nHOME=/root\n", 0600);
	ok(parse_cred(p, err, sizeof(err)) == -1 && strstr(err, ":3: unknown key HOME"),
	   "unknown key refused with its line number: %s", err);
	unlink(p);
	p = cred_file("AZURE_CLIENT_SECRET=abc\nthe-secret-value\n", 0600);
	ok(parse_cred(p, err, sizeof(err)) == -1 && strstr(err, ":2: not KEY=VALUE") &&
	   !strstr(err, "the-secret"), "a line without = refused, its text not echoed");
	unlink(p);
	ok(parse_cred("/tmp", err, sizeof(err)) == -1 && strstr(err, "not a regular file"),
	   "a directory refused");
	p = cred_file("", 0600);
	unlink(p);
	if (symlink("/etc/hostname", p) == 0) {
		ok(parse_cred(p, err, sizeof(err)) == -1, "a symlink refused: %s", err);
		unlink(p);
	}
	p = cred_file("AZURE_CLIENT_ID=x\n", 0600);
	if (getuid() == 0 && chown(p, 4242, 4242) == 0)
		ok(parse_cred(p, err, sizeof(err)) == -1 && strstr(err, "owned by uid 4242"),
		   "a file of another user refused");
	unlink(p);
	ok(parse_cred("no-such-cred", err, sizeof(err)) == -1 && strstr(err, "/no-such-cred"),
	   "missing file: one line with the absolute path");
}

/* gid=, policy= and the fair-use caps (DESIGN.md §3.4). */
static void test_access_options(void)
{
	static const struct {
		const char *opt;
		int ok;
		const char *err;
	} cases[] = {
		{ "gid=nogroup", 1, NULL },
		{ "gid=1234", 1, NULL },
		{ "gid=no-such-group-zz", 0, "gid=no-such-group-zz: no such group" },
		{ "max_pending_bytes=8M", 1, NULL },
		{ "max_pending_bytes=100", 0, "max_pending_bytes=100 is not a size" },
		{ "max_pending_bytes=1X", 0, "max_pending_bytes=1X is not a size" },
		{ "max_pending=0", 0, "max_pending=0 is out of range" },
		{ "max_calls=2000", 0, "max_calls=2000 is out of range" },
		{ "policy=/nonexistent/p", 0, "policy=/nonexistent/p: No such file" },
		{ "max_spool_bytes=16T", 0, "max_spool_bytes=16T is not a size" },
		{ "max_spool_bytes=16384G", 1, NULL },
		{ "max_spool_bytes=512K", 0, "max_spool_bytes=512K is not a size from 1M to 16384G" },
	};
	struct fuse_args args;
	struct fs_options o;
	char err[256], opt[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { "hsmfs", "u", "/m", "-o", opt, NULL };
		int rc;

		snprintf(opt, sizeof(opt), "%s", cases[i].opt);
		err[0] = '\0';
		rc = parse(5, argv, &o, &args, err, sizeof(err));
		ok(cases[i].ok ? rc == 0 : rc == -1 && strstr(err, cases[i].err),
		   "%s: %s", cases[i].opt, err[0] ? err : "accepted");
		if (rc == 0 && i == 0)
			ok(o.has_gid && o.gid == 65534 && o.max_pending == 64 &&
			   o.max_calls == 16 && o.max_pending_bytes == 64u << 20 &&
			   o.max_spool_bytes == (size_t)4 << 30,
			   "gid by name; the caps' defaults");
		if (rc == 0 && i == 3)
			is_int(o.max_pending_bytes, 8u << 20, "8M");
		if (rc == 0 && i == 10)
			ok(o.max_spool_bytes == (size_t)16384 << 30, "16384G");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
}

int main(void)
{
	struct fs_options o;
	struct fuse_args args;
	char err[256], cwd[4096];

	{
		const char *argv[] = { "hsmfs", "-f", "-o", "cafile=ca.pem,timeout=7,list_ttl=0,remote_verify",
				       "https://a.example/,https://b.example", "/mnt", "-o",
				       "result_ttl=9,default_permissions,allow_other,shells=bash:tcsh", NULL };
		int rc = parse(8, argv, &o, &args, err, sizeof(err));

		ok(rc == 0, "valid options: %s", rc ? err : "");
		ok(o.timeout == 7 && o.list_ttl == 0 && o.result_ttl == 9 && o.retries == 5 &&
		   o.remote_verify && !o.remote_encrypt, "values and defaults");
		ok(o.n_urls == 2 && strcmp(o.urls[0], "https://a.example") == 0 &&
		   strcmp(o.urls[1], "https://b.example") == 0, "URL list, trailing slash dropped");
		ok(getcwd(cwd, sizeof(cwd)) && strncmp(o.cafile, cwd, strlen(cwd)) == 0 &&
		   strcmp(o.cafile + strlen(cwd), "/ca.pem") == 0, "relative cafile made absolute");
		ok(o.shell_list && strcmp(o.shell_list[1], "tcsh") == 0 && !o.shell_list[2],
		   "shell list");
		ok(has_arg(&args, "/mnt") && has_arg(&args, "allow_other") &&
		   !has_arg(&args, "cafile") && !has_arg(&args, "https://"),
		   "libfuse keeps its options and the mount point, ours are gone");
		ok(o.mkdir_kty == KEY_EC && o.mkdir_crv == CRV_P256, "mkdir_key default EC:P-256");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", "/m", "-o", "allow_other", NULL };

		ok(parse(5, argv, &o, &args, err, sizeof(err)) == -1 &&
		   strstr(err, "default_permissions"), "allow_other needs default_permissions");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", "/m", "-o", "timeout=0", NULL };

		ok(parse(5, argv, &o, &args, err, sizeof(err)) == -1 && strstr(err, "timeout"),
		   "timeout out of range");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", "/m", "-o", "auth=kerberos", NULL };

		ok(parse(5, argv, &o, &args, err, sizeof(err)) == -1 && strstr(err, "auth"),
		   "unknown auth kind");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", "/m", "-o", "mkdir_key=RSA:1024", NULL };

		ok(parse(5, argv, &o, &args, err, sizeof(err)) == -1 && strstr(err, "mkdir_key"),
		   "bad mkdir_key size");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", "/m", "-o", "mkdir_key=oct:192,auth=imds", NULL };

		ok(parse(5, argv, &o, &args, err, sizeof(err)) == 0 && o.mkdir_kty == KEY_OCT &&
		   o.mkdir_bits == 192, "mkdir_key=oct:192");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "u", NULL };

		ok(parse(2, argv, &o, &args, err, sizeof(err)) == -1 && strstr(err, "usage"),
		   "missing mount point");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	{
		const char *argv[] = { "hsmfs", "--help", NULL };

		memset(&o, 0, sizeof(o));
		args.argc = 2;
		args.argv = (char **)argv;
		args.allocated = 0;
		ok(options_parse(&args, &o, err, sizeof(err)) == 0 && o.show_help &&
		   has_arg(&args, "--help"), "--help is seen and left for libfuse");
		fuse_opt_free_args(&args);
		options_free(&o);
	}
	test_credentials();
	test_access_options();
	return done_testing();
}
