/*
 * fuzz_json_map - the client's mapping of every typed call's reply
 * (client/json_map.c) and the paging nextLink check (client_link_path()
 * in client/hsm_client.c).
 *
 * Input: a byte choosing the reply kind (key bundle, list page, error
 * envelope, operation result, verify, value, random bytes, a policy
 * to normalise), then the reply body, not NUL-terminated (the client
 * hands json_map the body and its length).  Failures must leave the
 * outputs empty; a followed nextLink must be a path on one of our URLs.
 */
#include "client_i.h"
#include "fuzz.h"
#include "json_map_i.h"

static char url0[] = "https://hsm.managedhsm.azure.net";
static char url1[] = "https://127.0.0.1:8443";
static char *urls[] = { url0, url1 };

static void check_link(const char *next)
{
	struct hsm_client c = { .urls = urls, .n_urls = 2 };
	const char *p = client_link_path(&c, next);

	if (p != NULL)
		fz_check(*p == '/' || *p == '?');
	fz_check(p == NULL || p > next);
}

static void list(const char *t, size_t n)
{
	struct hsm_key_list l = { 0 };
	char *next = (char *)1;
	enum hsm_status st;

	/* Twice, as pages accumulate. */
	st = jm_parse_list(t, n, &l, &next);
	fz_check(st == HSM_OK || next == NULL);
	if (next != NULL)
		check_link(next);
	free(next);
	if (st == HSM_OK) {
		size_t first = l.n;

		st = jm_parse_list(t, n, &l, &next);
		fz_check(st == HSM_OK && l.n == 2 * first);
		free(next);
	}
	hsm_key_list_cleanup(&l);
}

static void one(int kind, const char *t, size_t n)
{
	struct hsm_key k;
	struct hsm_result r;
	struct hsm_error e = { 0 };
	uint8_t rnd[32];
	char *s = NULL;
	bool valid, bad = false;

	switch (kind) {
	case 0:
		if (jm_parse_key(t, n, &k) == HSM_OK)
			hsm_key_cleanup(&k);
		break;
	case 1:
		list(t, n);
		break;
	case 2:
		if (jm_parse_error(t, n, &e) == HSM_OK)
			fz_check(memchr(e.message, 0, sizeof(e.message)));
		break;
	case 3:
		if (jm_parse_result(t, n, &r) == HSM_OK) {
			fz_check(r.iv_len <= sizeof(r.iv) &&
				 r.tag_len <= sizeof(r.tag));
			hsm_result_cleanup(&r);
		}
		break;
	case 4:
		(void)jm_parse_verify(t, n, &valid);
		break;
	case 5:
		if (jm_parse_value(t, n, &s) == HSM_OK)
			free(s);
		break;
	case 6:
		(void)jm_parse_random(t, n, rnd, n % sizeof(rnd));
		break;
	default:
		/* a rotation policy the user wrote: a C string */
		s = strndup(t, n);
		free(jm_normalize(s, &bad));
		free(s);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int kind = fz_byte(&f) % 8;
	size_t len;
	uint8_t *body = fz_bytes(&f, &len);

	one(kind, (const char *)body, len);
	free(body);
	return 0;
}
