/*
 * snap.c - a text held for stat and the opens that follow it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"

void snap_init(struct snap *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void snap_cleanup(struct snap *s)
{
	free(s->text);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

int snap_size(struct snap *s, int64_t now, snap_make_fn make,
	      struct fs_state *fs, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	/* Served again while held, and only if it can outlive the
	 * kernel's copy of the size; else the counters of now. */
	if (s->text == NULL || now >= s->until ||
	    now + SNAP_HOLD_MS > s->made + SNAP_MAX_MS) {
		err = make(fs, &text, &n);
		if (err)
			goto out;
		free(s->text);
		s->text = text;
		s->len = n;
		s->made = now;
	}
	s->until = now + SNAP_HOLD_MS;
	*len = s->len;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

int snap_take(struct snap *s, int64_t now, snap_make_fn make,
	      struct fs_state *fs, char **out, size_t *len)
{
	int err = 0;

	pthread_mutex_lock(&s->lock);
	if (s->text != NULL && now < s->until) {
		*out = malloc(s->len + 1);
		if (*out == NULL) {
			err = -ENOMEM;
		} else {
			memcpy(*out, s->text, s->len + 1);
			*len = s->len;
		}
	} else {
		err = make(fs, out, len);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}
