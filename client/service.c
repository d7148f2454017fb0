/*
 * service.c - which service is behind the URL: a Managed HSM or a Key
 * Vault vault (DESIGN.md §5).  They share the keys API; a vault has no
 * oct keys and no random bytes, so the tree hides what it lacks.
 *
 * Evidence, in order: the URL's host when it is a service host name
 * (NAME.vault.azure.net, NAME.managedhsm.azure.net and their sovereign
 * clouds), then the resource the service's 401 challenge names
 * (https://vault.azure.net or https://managedhsm.azure.net) — the one that
 * also holds for an emulator on loopback.  When neither is known yet, the
 * challenge probe (no token, no body) asks once.
 */
#include <stdio.h>
#include <string.h>

#include "auth_i.h"
#include "call_i.h"
#include "client_i.h"
#include "hsm_client.h"

/* A root listing waits for the probe: not for the whole call deadline. */
#define PROBE_TIMEOUT_MS 5000
/* After a probe that found nothing, ask again no sooner than this. */
#define PROBE_AGAIN_MS 10000

/* The host of url (or of a resource URI), lower-cased; "" when none. */
static void host_of(const char *url, char *out, size_t len)
{
	const char *h = strstr(url, "://");
	size_t n, i;

	h = h ? h + 3 : url;
	n = strcspn(h, ":/?#");
	if (n >= len)
		n = 0;
	for (i = 0; i < n; i++)
		out[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	out[n] = '\0';
}

/* What host says: "vault.CLOUD" or "managedhsm.CLOUD" itself (a
 * resource) or a name under it (a service URL), for the clouds of
 * reference §6.9.  Anything else (loopback, a private name) says nothing. */
static enum hsm_service service_of_host(const char *host)
{
	static const char *const clouds[] = {
		"azure.net", "usgovcloudapi.net", "azure.cn",
	};
	static const struct {
		const char *label;
		enum hsm_service kind;
	} kinds[] = {
		{ "vault", HSM_SERVICE_VAULT },
		{ "managedhsm", HSM_SERVICE_MHSM },
	};
	char dom[64];
	size_t hl = strlen(host), dl;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++) {
			snprintf(dom, sizeof(dom), "%s.%s", kinds[k].label, clouds[i]);
			dl = strlen(dom);
			if (!strcmp(host, dom) ||
			    (hl > dl && host[hl - dl - 1] == '.' &&
			     !strcmp(host + hl - dl, dom)))
				return kinds[k].kind;
		}
	}
	return HSM_SERVICE_UNKNOWN;
}

/* What is known without a request: the URL, or a challenge seen. */
static enum hsm_service service_known(struct hsm_client *c)
{
	char host[256], res[256];
	enum hsm_service k;

	host_of(c->urls[0], host, sizeof(host));
	k = service_of_host(host);
	if (k == HSM_SERVICE_UNKNOWN && auth_resource(c->auth, res, sizeof(res))) {
		host_of(res, host, sizeof(host));
		k = service_of_host(host);
	}
	return k;
}

enum hsm_service hsm_service(struct hsm_client *c, struct hsm_call *call)
{
	struct hsm_call probe = { .timeout_ms = PROBE_TIMEOUT_MS };
	struct hsm_error err;
	enum hsm_service k;
	int64_t again;

	if (c == NULL)
		return HSM_SERVICE_UNKNOWN;
	k = (enum hsm_service)__atomic_load_n(&c->service, __ATOMIC_ACQUIRE);
	if (k != HSM_SERVICE_UNKNOWN)
		return k;
	k = service_known(c);
	again = __atomic_load_n(&c->service_probe_at, __ATOMIC_RELAXED);
	if (k == HSM_SERVICE_UNKNOWN && now_ms() >= again) {
		if (call) {
			probe.cancelled = call->cancelled;
			probe.cancel_arg = call->cancel_arg;
		}
		if (call_probe(c, &probe, &err) == HSM_OK)
			k = service_known(c);
		if (k == HSM_SERVICE_UNKNOWN)
			__atomic_store_n(&c->service_probe_at,
					 now_ms() + PROBE_AGAIN_MS, __ATOMIC_RELAXED);
	}
	if (k != HSM_SERVICE_UNKNOWN)
		__atomic_store_n(&c->service, (int)k, __ATOMIC_RELEASE);
	return k;
}
