/*
 * hsm_types.c - the cleanup functions of the client's result types.
 *
 * Used by the JSON mapping (on a reply that fails half-way) and by callers
 * of the API; wipes what may be secret.
 */
#include <stdlib.h>
#include <string.h>

#include "hsm_types.h"

static void free_tags(struct hsm_tag *tags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(tags[i].name);
		free(tags[i].value);
	}
	free(tags);
}

void hsm_key_cleanup(struct hsm_key *k)
{
	if (!k)
		return;
	free(k->name);
	free(k->version);
	free(k->kid);
	free(k->n);
	free(k->e);
	free(k->x);
	free(k->y);
	free_tags(k->tags, k->n_tags);
	free(k->bundle_json);
	free(k->jwk_json);
	free(k->recovery_id);
	memset(k, 0, sizeof(*k));
}

void hsm_key_item_cleanup(struct hsm_key_item *it)
{
	free(it->name);
	free(it->version);
	free_tags(it->tags, it->n_tags);
	memset(it, 0, sizeof(*it));
}

void hsm_key_list_cleanup(struct hsm_key_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		hsm_key_item_cleanup(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void hsm_result_cleanup(struct hsm_result *r)
{
	if (!r)
		return;
	secret_free(r->value);
	secret_wipe(r, sizeof(*r));
	memset(r, 0, sizeof(*r));
}
