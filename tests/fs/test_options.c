/* Unit tests: option parsing and validation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	return done_testing();
}
