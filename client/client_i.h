/*
 * client_i.h - internals shared by the files of client/ (never included
 * from another module).
 *
 * The files, each calling only the ones below it:
 *   hsm_client.c  the public API (hsm_client.h): the typed calls
 *   service.c     hsm_service(): Managed HSM or vault
 *   call.c        one logical request: retries, failover (call_i.h)
 *   auth.c        the bearer token: cache, refresh, challenge (auth_i.h)
 *   cred.c        the credentials: settings, token requests (cred_i.h)
 *   transport.c   one HTTP exchange on a pooled handle (transport_i.h)
 *   json_map.c    JSON <-> C structs (json_map_i.h)
 *   util.c        clocks, ids, logs, URL checks, retry arithmetic
 *                 (util_i.h)
 *   hsm_types.c   the cleanup of the public result types (hsm_types.h,
 *                 which every layer includes for the types)
 * This header holds the client itself, which hsm_client.c and call.c
 * share.
 */
#ifndef HSMFS_CLIENT_I_H
#define HSMFS_CLIENT_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm_types.h"
#include "transport_i.h"
#include "util_i.h"

struct auth;

struct hsm_client {
	char **urls;			/* normalised: no trailing '/' */
	size_t n_urls;
	unsigned cur_url;		/* atomic: the URL in use */
	char *api_version;
	int timeout_ms;
	unsigned retries;
	bool allow_http;
	size_t max_reply;
	struct log_sink log;
	struct auth *auth;
	struct xport xp;		/* the pool; counts the requests */
	bool have_xp;			/* xp is set up */

	/* hsm_service(): the kind once known (enum hsm_service), and when
	 * a probe that found nothing may run again; __atomic builtins */
	int service;
	int64_t service_probe_at;

	/* counters, updated with __atomic builtins */
	uint64_t n_retries, n_throttled, n_server_errors, n_failovers;
};

/* The path of a list page's nextLink relative to c's URLs, or NULL when
 * it points anywhere else (hsm_client.c; tests/fuzz feeds it). */
const char *client_link_path(const struct hsm_client *c, const char *link);

#endif
