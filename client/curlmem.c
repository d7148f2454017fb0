/*
 * curlmem.c - see curlmem.h.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "curlmem.h"
#include "secret.h"

/* The whole block: curl may have written anywhere in what it asked for,
 * and malloc_usable_size() covers that. */
static void wipe_free(void *p)
{
	if (p == NULL)
		return;
	secret_wipe(p, malloc_usable_size(p));
	free(p);
}

/* Never glibc's realloc: a block it moves is freed unwiped.  A shrink
 * or a growth within the block keeps it. */
static void *wipe_realloc(void *p, size_t n)
{
	size_t have;
	void *q;

	if (p == NULL)
		return malloc(n);
	have = malloc_usable_size(p);
	if (n <= have && n != 0)
		return p;
	if ((q = malloc(n ? n : 1)) == NULL)
		return NULL;
	memcpy(q, p, have < n ? have : n);
	wipe_free(p);
	return q;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	return d != NULL ? memcpy(d, s, n) : NULL;
}

int curlmem_global_init(long flags)
{
	return curl_global_init_mem(flags, malloc, wipe_free, wipe_realloc,
				    dup_str, calloc) == CURLE_OK ? 0 : -1;
}
