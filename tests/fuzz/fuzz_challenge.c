/*
 * fuzz_challenge - the WWW-Authenticate challenge parser
 * (client/auth.c: auth_parse_challenge(), auth_resource_allowed()).
 *
 * Input: the header value.  Outputs are fixed-size buffers of the sizes
 * auth.c uses; whatever parses must be NUL-terminated inside them, and a
 * scope always names its resource.
 */
#include "auth_i.h"
#include "cred_i.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct cred_want w;
	size_t len;
	char *hdr = fz_text(&f, &len);

	memset(&w, 0x41, sizeof(w));
	if (auth_parse_challenge(hdr, w.tenant, sizeof(w.tenant), w.resource,
				 sizeof(w.resource), w.scope,
				 sizeof(w.scope)) == 0) {
		fz_check(memchr(w.tenant, 0, sizeof(w.tenant)) != NULL);
		fz_check(memchr(w.resource, 0, sizeof(w.resource)) != NULL);
		fz_check(memchr(w.scope, 0, sizeof(w.scope)) != NULL);
		(void)auth_resource_allowed(w.resource,
					    "https://hsm.managedhsm.azure.net");
		(void)auth_resource_allowed(w.resource, "https://127.0.0.1:8443");
	}
	free(hdr);
	return 0;
}
