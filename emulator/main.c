/*
 * main.c - hsm-emulator: command line, start-up, signals, shutdown.
 *
 *   hsm-emulator [--listen HOST:PORT] [--data DIR] [--ready-file FILE]
 *                [--identities FILE] [--plain-http] [--demo-keys]
 *                [--flavor mhsm|vault]
 *
 * Bad arguments: a one-line message and exit status 2.  Start-up failures:
 * a one-line message and exit status 1.  SIGTERM/SIGINT: clean shutdown,
 * everything freed, exit status 0.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_i.h"
#include "demo_i.h"
#include "identities_i.h"
#include "secret.h"
#include "server_i.h"
#include "store_i.h"
#include "tls_i.h"
#include "jwt_i.h"

#ifndef HSMFS_VERSION
#define HSMFS_VERSION "0.1.0"
#endif

static const char usage[] =
	"Usage: hsm-emulator [OPTIONS]\n"
	"A local Azure Managed HSM or Key Vault (keys data plane) with Entra ID,\n"
	"IMDS and App Service token endpoints, for tests.\n"
	"\n"
	"  --listen HOST:PORT   address to listen on (default 127.0.0.1:0, any free port)\n"
	"  --data DIR           keep keys and TLS files in DIR (default: a temporary\n"
	"                       directory removed at exit)\n"
	"  --ready-file FILE    write the base URL to FILE once ready\n"
	"  --identities FILE    add clients and managed identities from a JSON file\n"
	"  --plain-http         serve plain HTTP instead of HTTPS\n"
	"  --demo-keys          create the demo keys when the store is empty\n"
	"  --flavor mhsm|vault  the service to stand in for: a Managed HSM (default)\n"
	"                       or a Key Vault vault (Premium: RSA, EC, RSA-HSM,\n"
	"                       EC-HSM keys; no oct keys, no /rng; audience\n"
	"                       https://vault.azure.net)\n"
	"  --help               show this help and exit\n"
	"  --version            show the version and exit\n"
	"\n"
	"Clients trust DIR/tls/ca.pem.  See hsm-emulator(1) and emulator/README.md\n"
	"for identities, token endpoints and the /_emulator/ admin API.\n";

struct opts {
	char host[64];
	unsigned port;
	const char *data;
	const char *ready;
	const char *identities;
	bool plain_http;
	bool demo;
	enum emu_flavor flavor;
};

static int bad_args(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_args(const char *fmt, ...)
{
	va_list ap;

	fputs("hsm-emulator: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see hsm-emulator --help)\n", stderr);
	return 2;
}

static int parse_listen(const char *s, struct opts *o)
{
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hl;
	char *end;
	long port;

	if (colon == NULL)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(o->host))
		return -1;
	memcpy(o->host, h, hl);
	o->host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return -1;
	o->port = (unsigned)port;
	return 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'D' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "identities", required_argument, NULL, 'i' },
		{ "plain-http", no_argument, NULL, 'p' },
		{ "demo-keys", no_argument, NULL, 'k' },
		{ "flavor", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_listen(optarg, o) != 0)
				return bad_args("--listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8443", optarg);
			break;
		case 'D':
			if (*optarg == '\0')
				return bad_args("--data%s: the directory name is empty", "");
			o->data = optarg;
			break;
		case 'r':
			if (*optarg == '\0')
				return bad_args("--ready-file%s: the file name is empty", "");
			o->ready = optarg;
			break;
		case 'i':
			o->identities = optarg;
			break;
		case 'p':
			o->plain_http = true;
			break;
		case 'k':
			o->demo = true;
			break;
		case 'f':
			if (strcmp(optarg, "mhsm") == 0)
				o->flavor = FLAVOR_MHSM;
			else if (strcmp(optarg, "vault") == 0)
				o->flavor = FLAVOR_VAULT;
			else
				return bad_args("--flavor '%s': expected mhsm or vault", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("hsm-emulator %s\n", HSMFS_VERSION);
			return 0;
		case ':':
			return bad_args("option '%s' needs an argument", argv[optind - 1]);
		default:
			return bad_args("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_args("unexpected argument '%s'", argv[optind]);
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	remove(path);
	return 0;
}

static int write_ready(const char *file, const char *url)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "%s\n", url);

	/* Atomic: a reader never sees an empty or partial file. */
	return tls_write_file(file, line, (size_t)n, 0644);
}

/* The data directory: --data (created when missing), or a new temporary
 * one in tmpdir (a mkdtemp() template).  NULL after a one-line message. */
static const char *data_dir(const struct opts *o, char *tmpdir)
{
	const char *dir;

	if (o->data != NULL) {
		dir = o->data;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "hsm-emulator: cannot create --data directory %s: %s\n",
				dir, strerror(errno));
			return NULL;
		}
		return dir;
	}
	dir = mkdtemp(tmpdir);
	if (dir == NULL)
		fprintf(stderr, "hsm-emulator: cannot create a temporary directory: %s\n",
			strerror(errno));
	return dir;
}

/* Identities, statistics and faults, tokens, the key store.  0, or -1
 * after a one-line message (main frees what was made). */
static int open_state(struct emu_server *srv, const struct opts *o,
		      const char *dir)
{
	char err[600], keysdir[4200];
	int rc = 0;

	srv->ids = identities_load(o->identities, err, sizeof(err));
	if (srv->ids == NULL) {
		fprintf(stderr, "hsm-emulator: %s\n", err);
		return -1;
	}
	srv->adm = admin_new();
	if (srv->adm == NULL) {
		fprintf(stderr, "hsm-emulator: out of memory\n");
		return -1;
	}
	srv->tok = jwt_new(dir, err, sizeof(err));
	if (srv->tok == NULL) {
		fprintf(stderr, "hsm-emulator: %s\n", err);
		return -1;
	}
	snprintf(keysdir, sizeof(keysdir), "%s/keys", dir);
	srv->ks = keystore_open(keysdir);
	if (srv->ks == NULL || (o->demo && (rc = demo_seed(srv->ks, o->flavor)) != 0)) {
		fprintf(stderr, "hsm-emulator: cannot open the key store in %s: %s\n",
			keysdir, strerror(srv->ks ? -rc : errno));
		return -1;
	}
	return 0;
}

/* TLS files, listening, the ready file and the base URL on stdout.  0, or
 * -1 after a one-line message.  *key_pem and *cert_pem are main's to
 * free. */
static int serve(struct emu_server *srv, const struct opts *o,
		 const char *dir, char **key_pem, char **cert_pem)
{
	char err[600];

	if (!o->plain_http &&
	    tls_setup(dir, key_pem, cert_pem, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsm-emulator: %s\n", err);
		return -1;
	}
	if (server_start(srv, o->host, o->port, *key_pem, *cert_pem, err,
			 sizeof(err)) != 0) {
		fprintf(stderr, "hsm-emulator: %s\n", err);
		return -1;
	}
	if (o->ready != NULL && write_ready(o->ready, srv->base_url) != 0) {
		fprintf(stderr, "hsm-emulator: cannot write the ready file %s: %s\n",
			o->ready, strerror(errno));
		return -1;
	}
	printf("%s\n", srv->base_url);
	fflush(stdout);
	fprintf(stderr, "hsm-emulator: serving %s (data in %s)\n", srv->base_url, dir);
	return 0;
}

/* Block the stop signals in every thread (the server's threads inherit
 * the mask); main waits for them with sigwait(). */
static void block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct emu_server srv;
	struct opts o;
	sigset_t sigs;
	pthread_condattr_t ca;
	char tmpdir[] = "/tmp/hsm-emulator-XXXXXX";
	char *key_pem = NULL, *cert_pem = NULL;
	const char *dir;
	int rc, sig, status = 1;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;

	memset(&srv, 0, sizeof(srv));
	srv.flavor = o.flavor;
	pthread_mutex_init(&srv.sleep_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv.sleep_cond, &ca);
	pthread_condattr_destroy(&ca);
	block_signals(&sigs);

	dir = data_dir(&o, tmpdir);
	if (dir == NULL || open_state(&srv, &o, dir) != 0 ||
	    serve(&srv, &o, dir, &key_pem, &cert_pem) != 0)
		goto out;
	do {
		rc = sigwait(&sigs, &sig);
	} while (rc == EINTR);
	fprintf(stderr, "hsm-emulator: %s, shutting down\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = 0;
out:
	server_stop(&srv);
	if (srv.ks != NULL)
		keystore_close(srv.ks);
	jwt_free(srv.tok);
	admin_free(srv.adm);
	identities_free(srv.ids);
	if (key_pem != NULL)
		secret_wipe_free(key_pem, strlen(key_pem));
	free(cert_pem);
	if (o.data == NULL && strcmp(tmpdir, "/tmp/hsm-emulator-XXXXXX") != 0)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	pthread_cond_destroy(&srv.sleep_cond);
	pthread_mutex_destroy(&srv.sleep_lock);
	return status;
}
