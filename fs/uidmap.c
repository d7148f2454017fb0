/*
 * uidmap.c - per-uid records by hash.
 */
#include <stdlib.h>

#include "uidmap.h"

struct uid_node *uidmap_get(struct uidmap *m, uid_t uid, size_t size)
{
	struct uid_node **pp = &m->tab[uid % UIDMAP_BUCKETS], *n;

	for (n = *pp; n != NULL; n = n->next)
		if (n->uid == uid)
			return n;
	if (size < sizeof(*n) || (n = calloc(1, size)) == NULL)
		return NULL;
	n->uid = uid;
	n->next = *pp;
	*pp = n;
	return n;
}

void uidmap_del(struct uidmap *m, struct uid_node *n)
{
	struct uid_node **pp = &m->tab[n->uid % UIDMAP_BUCKETS];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	free(n);
}

void uidmap_clear(struct uidmap *m)
{
	struct uid_node *n, *next;
	size_t i;

	for (i = 0; i < UIDMAP_BUCKETS; i++) {
		for (n = m->tab[i]; n != NULL; n = next) {
			next = n->next;
			free(n);
		}
		m->tab[i] = NULL;
	}
}
