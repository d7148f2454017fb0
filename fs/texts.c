/*
 * texts.c - the root files made at each open: README and status (the
 * error file is fail.c's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsmfs.h"
#include "render.h"
#include "syslogger.h"

int readme_text(struct fs_state *fs, char **out, size_t *len)
{
	(void)fs;
	*out = strdup(hsmfs_readme);
	if (*out == NULL)
		return -ENOMEM;
	*len = strlen(*out);
	return 0;
}

/* The service's side: endpoint, identity, token, request counters. */
static void status_client(struct fs_state *fs, FILE *f, int64_t now)
{
	struct hsm_stats hs;
	char exp[32];

	hsm_client_stats(fs->client, &hs);
	fmt_utc(exp, sizeof(exp), (time_t)hs.token_expires);
	fprintf(f, "version: %s\nendpoint: %s\nidentity: %s\n"
		"token_expires: %s\n", HSMFS_VERSION, hs.endpoint,
		hs.identity[0] ? hs.identity : "none", exp);
	if (hs.token_expires)
		fprintf(f, "token_expires_in: %lld\n",
			(long long)(hs.token_expires - now));
	fprintf(f, "uptime: %lld\nrequests: %llu\nretries: %llu\n"
		"throttled: %llu\nserver_errors: %llu\ntoken_requests: %llu\n"
		"failovers: %llu\n",
		(long long)(now - fs->mounted_at),
		(unsigned long long)hs.requests, (unsigned long long)hs.retries,
		(unsigned long long)hs.throttled,
		(unsigned long long)hs.server_errors,
		(unsigned long long)hs.token_requests,
		(unsigned long long)hs.failovers);
}

/* The daemon's side: operations, caches, pending requests. */
static void status_daemon(struct fs_state *fs, FILE *f)
{
	struct kc_stats ks;

	kc_get_stats(fs->kc, &ks);
	fprintf(f, "operations_ok: %llu\noperations_failed: %llu\n"
		"cache_hits: %llu\ncache_misses: %llu\ncache_stale_served: %llu\n"
		"pending_requests: %u\nsyslog_dropped: %llu\n",
		(unsigned long long)__atomic_load_n(&fs->ops_ok, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&fs->ops_failed, __ATOMIC_RELAXED),
		(unsigned long long)ks.hits, (unsigned long long)ks.misses,
		(unsigned long long)ks.stale_served,
		reqstore_count(fs->requests),
		(unsigned long long)syslogger_dropped());
}

int status_text(struct fs_state *fs, char **out, size_t *len)
{
	size_t size = 0;
	char *buf = NULL;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (f == NULL)
		return -ENOMEM;
	status_client(fs, f, time(NULL));
	status_daemon(fs, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}
