/*
 * main.c - hsmfs: argv -> options -> client -> mount -> loop -> teardown.
 *
 *     hsmfs [options] URL[,URL...] MOUNTPOINT
 *
 * The mount is made before daemonising, so without -f the command
 * returns once the mount is up; everything that can be checked (URL, CA
 * file, credentials) is checked before that, with a one-line message and
 * a non-zero exit.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>

#include "handle.h"
#include "hsmfs.h"
#include "log.h"
#include "secret.h"
#include "sealview.h"
#include "sealwrite.h"

/* Worker threads unless -o max_threads / max_idle_threads say otherwise:
 * enough for one per concurrent caller of a busy signing service; above
 * MAX_IDLE_WORKERS idle ones exit, returning their stacks (tens of KiB
 * touched each) after a burst. */
#define MAX_WORKERS		1024
#define MAX_IDLE_WORKERS	64

static enum hsm_status make_client(struct fs_options *o, struct hsm_client **c,
				   char *err, size_t errlen)
{
	struct hsm_config cfg = {0};

	cfg.urls = (const char *const *)o->urls;
	cfg.n_urls = o->n_urls;
	cfg.cafile = o->cafile;
	cfg.api_version = o->api_version;
	cfg.timeout_ms = o->timeout * 1000;
	cfg.retries = o->retries ? (int)o->retries : HSM_NO_RETRIES;
	cfg.allow_http = o->allow_http != 0;
	cfg.auth = (enum hsm_auth)o->auth_kind;
	cfg.token_file = o->token_file;
	cfg.log = log_client_sink;
	return hsm_client_new(&cfg, c, err, errlen);
}

/* The backend of the key cache: the client. */
static enum hsm_status be_list(void *arg, struct hsm_call *call,
			       struct hsm_key_list *out)
{
	return hsm_list_keys(arg, call, out);
}

static enum hsm_status be_versions(void *arg, struct hsm_call *call,
				   const char *name, struct hsm_key_list *out)
{
	return hsm_list_versions(arg, call, name, out);
}

static enum hsm_status be_get(void *arg, struct hsm_call *call,
			      const char *name, const char *version,
			      struct hsm_key *out)
{
	return hsm_get_key(arg, call, name, version, out);
}

/*
 * The command line: our options, --help, --version, libfuse's options and
 * the mount point.  Returns 0 to go on, else the exit status (after a
 * message, or the help or version text).
 */
static int parse_command_line(struct fuse_args *args, struct fs_options *opts,
			      struct fuse_cmdline_opts *copts, const char *argv0)
{
	char err[512] = "";

	if (options_parse(args, opts, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs: %s\n", err);
		return 1;
	}
	if (opts->show_help) {
		options_usage(argv0);
		printf("libfuse options:\n");
		fuse_cmdline_help();
		fuse_lib_help(args);
		return -1;
	}
	if (opts->show_version) {
		printf("hsmfs version %s\n", HSMFS_VERSION);
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		return -1;
	}
	if (options_check(opts, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs: %s\n", err);
		return 1;
	}
	if (fuse_parse_cmdline(args, copts) != 0)
		return 1;
	if (copts->mountpoint == NULL) {
		fprintf(stderr, "hsmfs: no mount point given\n");
		return 1;
	}
	return 0;
}

/*
 * Check URL, CA file and credentials now, while a failure can still be a
 * one-line message and an exit status.  The real client is made after
 * daemonising: threads and connections do not survive fork.
 */
static int check_client(struct fs_options *opts)
{
	struct hsm_client *probe = NULL;
	char err[512] = "";

	if (make_client(opts, &probe, err, sizeof(err)) != HSM_OK) {
		fprintf(stderr, "hsmfs: %s\n",
			err[0] ? err : "cannot create the client");
		return -1;
	}
	hsm_client_free(probe);
	return 0;
}

/* error records kept per uid: tiny, one per scope that failed */
#define RS_ERRORS_PER_UID 1024

/* The state every callback shares, before the mount. */
static int state_init(struct fs_state *fs, struct fs_options *opts)
{
	char err[512] = "";
	int i;

	fs->opts = opts;
	fs->uid = getuid();
	fs->gid = opts->has_gid ? opts->gid : getgid();
	pthread_mutex_init(&fs->policy_lock, NULL);
	fs->policy = opts->policy;	/* read by options_check() */
	opts->policy = NULL;
	fs->policy_hup = audit_hup_count();
	fs->mounted_at = time(NULL);
	fs->shells = opts->shell_list ? (const char *const *)opts->shell_list
				      : proc_default_shells;
	fs->env.remote_verify = opts->remote_verify != 0;
	fs->env.remote_encrypt = opts->remote_encrypt != 0;
	fs->env.spool_dir = opts->spool_dir;
	fs->requests = reqstore_new((int64_t)opts->result_ttl * 1000, "/proc",
				    (unsigned)opts->max_pending);
	fs->errors = reqstore_new((int64_t)opts->result_ttl * 1000, "/proc",
				  RS_ERRORS_PER_UID);
	fs->metrics = metrics_new(opts->metrics_per_key != 0);
	fs->fair = fu_new(opts->max_pending_bytes, (unsigned)opts->max_calls);
	/* Its own caps, bytes on disk: the call slots are fs->fair's. */
	fs->spool_fair = fu_new(opts->max_spool_bytes, UINT_MAX);
	if (fs->requests == NULL || fs->errors == NULL || fs->metrics == NULL ||
	    fs->fair == NULL || fs->spool_fair == NULL) {
		fprintf(stderr, "hsmfs: out of memory\n");
		return -1;
	}
	for (i = 0; i < ROOT_MAX; i++)
		snap_init(&fs->snaps[i]);
	/* Opened before the mount: a file that cannot be written is a
	 * one-line message and an exit status, not a silent gap. */
	if (audit_open(&fs->audit, opts->audit, err, sizeof(err)) != 0 ||
	    sv_open_dir(fs, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs: %s\n", err);
		return -1;
	}
	return 0;
}

/* Release what state_init() and start_service() made (zeroed: none). */
static void state_free(struct fs_state *fs)
{
	int i;

	tidy_stop(fs->tidy);
	sv_stop(fs);
	handle_free_all(fs->requests, sv_drop);
	kc_free(fs->kc);
	reqstore_free(fs->requests);
	reqstore_free(fs->errors);
	fu_free(fs->fair);
	fu_free(fs->spool_fair);
	policy_free(fs->policy);
	audit_close(fs->audit);
	metrics_free(fs->metrics);
	for (i = 0; i < ROOT_MAX; i++)
		snap_cleanup(&fs->snaps[i]);
	hsm_client_free(fs->client);
}

/* After daemonising: the client and the key cache in front of it. */
static int start_service(struct fs_state *fs, struct fs_options *opts)
{
	struct kc_backend be = {0};
	char err[512] = "";

	if (make_client(opts, &fs->client, err, sizeof(err)) != HSM_OK) {
		log_err("%s", err);
		return -1;
	}
	fs->env.client = fs->client;
	be.list = be_list;
	be.list_versions = be_versions;
	be.get = be_get;
	be.arg = fs->client;
	fs->kc = kc_new(&be, (int64_t)opts->list_ttl * 1000, 5000);
	if (fs->kc == NULL || sv_start(fs) != 0) {
		log_err("out of memory");
		return -1;
	}
	fs->tidy = tidy_start(fs->client);
	if (fs->tidy == NULL)
		log_warn("no housekeeping thread: idle connections and free "
			 "memory are given back only when requests come");
	return 0;
}

/* The exit status of a loop that returned rc: libfuse's loops return the
 * signal that ended them (its handlers of SIGTERM and SIGINT), which is a
 * stop asked for: 0, or `systemctl stop` would leave the unit failed.  A
 * negative errno is a failure. */
static int loop_status(int rc)
{
	return rc == 0 || rc == SIGTERM || rc == SIGINT ? 0 : 1;
}

/* Serve until unmounted or signalled; returns the exit status. */
static int serve(struct fuse *fuse, const struct fuse_cmdline_opts *copts)
{
	struct fuse_loop_config *lcfg;
	int rc;

	if (copts->singlethread)
		return loop_status(fuse_loop(fuse));
	lcfg = fuse_loop_cfg_create();
	if (lcfg == NULL)
		return 1;
	fuse_loop_cfg_set_clone_fd(lcfg, (unsigned)copts->clone_fd);
	/* Remote calls block a worker each, for the service's whole round
	 * trip (~10 ms).  With fewer workers than callers the rest queue in
	 * the kernel: latency doubles, and a WRITE waiting there holds the
	 * file's inode lock, stalling every writer of that operation file. */
	fuse_loop_cfg_set_max_threads(lcfg, copts->max_threads > 10 ?
				      copts->max_threads : MAX_WORKERS);
	/* Keep idle workers: with libfuse's default (10) a busy mount
	 * creates and destroys a thread per request, which costs more than
	 * the request itself. */
	fuse_loop_cfg_set_idle_threads(lcfg,
		copts->max_idle_threads != UINT_MAX ?
		copts->max_idle_threads : MAX_IDLE_WORKERS);
	rc = loop_status(fuse_loop_mt(fuse, lcfg));
	fuse_loop_cfg_destroy(lcfg);
	return rc;
}

/* Mount, daemonise, start the client, serve; returns the exit status. */
static int mount_and_serve(struct fs_state *fs, struct fs_options *opts,
			   struct fuse_args *args,
			   const struct fuse_cmdline_opts *copts)
{
	enum log_level lvl = copts->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	struct fuse *fuse;
	int rc = 1;

	log_open(true, lvl);
	fs->mountpoint = copts->mountpoint;
	fuse = fuse_new(args, &hsmfs_ops, sizeof(hsmfs_ops), fs);
	if (fuse == NULL)
		return 1;
	if (fuse_mount(fuse, copts->mountpoint) != 0)
		goto out_destroy;
	/* mlock() does not survive the fork: secret memory the probe
	 * client left empty must not be reused, unlocked, by the child. */
	secret_trim();
	if (fuse_daemonize(copts->foreground) != 0)
		goto out_unmount;
	log_open(copts->foreground, lvl);
	if (start_service(fs, opts) != 0)
		goto out_unmount;
	/* The client has its copies; children and /proc/PID/environ need
	 * not see them.  Before any thread that could read the
	 * environment starts. */
	hsm_scrub_environment();
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_unmount;
	/* SIGHUP reopens the audit file (log rotation) instead of
	 * unmounting, as libfuse's handler would. */
	if (audit_catch_sighup(fs->audit) != 0)
		goto out_signals;
	log_info("mounted %s on %s", opts->urls[0], copts->mountpoint);
	rc = serve(fuse, copts);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts copts = {0};
	struct fs_options opts = {0};
	struct fs_state fs = { .sealed_fd = -1 };
	bool global = false;
	int rc;

	/* No core dumps, no ptrace or /proc/PID/mem by our uid: secrets in
	 * memory stay ours.  First, before anything is read; inherited by
	 * fuse_daemonize()'s fork (only exec or a change of uid resets it). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		perror("hsmfs: prctl(PR_SET_DUMPABLE)");
		return 1;
	}
	rc = parse_command_line(&args, &opts, &copts, argv[0]);
	if (rc != 0) {
		rc = rc < 0 ? 0 : rc;	/* help and version exit 0 */
		goto out;
	}
	rc = 1;
	if (hsm_global_init() != HSM_OK) {
		fprintf(stderr, "hsmfs: cannot initialise the HTTP library\n");
		goto out;
	}
	global = true;
	if (check_client(&opts) != 0 || state_init(&fs, &opts) != 0)
		goto out;
	rc = mount_and_serve(&fs, &opts, &args, &copts);
out:
	state_free(&fs);
	if (global)
		hsm_global_cleanup();
	free(copts.mountpoint);
	options_free(&opts);
	fuse_opt_free_args(&args);
	log_close();
	return rc;
}
