/*
 * fairuse.c - per-uid bytes held and calls in flight.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fairuse.h"
#include "uidmap.h"

/* A uid that holds something; freed when it holds nothing. */
struct fu_uid {
	struct uid_node node;		/* first: a uidmap record */
	size_t bytes;
	unsigned calls;
};

struct fairuse {
	pthread_mutex_t lock;
	size_t max_bytes;
	unsigned max_calls;
	struct uidmap uids;
};

struct fairuse *fu_new(size_t max_bytes, unsigned max_calls)
{
	struct fairuse *fu = calloc(1, sizeof(*fu));

	if (fu == NULL)
		return NULL;
	pthread_mutex_init(&fu->lock, NULL);
	fu->max_bytes = max_bytes;
	fu->max_calls = max_calls;
	return fu;
}

void fu_free(struct fairuse *fu)
{
	if (fu == NULL)
		return;
	uidmap_clear(&fu->uids);
	pthread_mutex_destroy(&fu->lock);
	free(fu);
}

/* uid's record (lock held); create: made when missing; NULL if none. */
static struct fu_uid *rec(struct fairuse *fu, uid_t uid, bool create)
{
	return (struct fu_uid *)uidmap_get(&fu->uids, uid,
					   create ? sizeof(struct fu_uid) : 0);
}

/* Free u if it holds nothing any more (lock held). */
static void tidy(struct fairuse *fu, struct fu_uid *u)
{
	if (u->bytes == 0 && u->calls == 0)
		uidmap_del(&fu->uids, &u->node);
}

int fu_call_begin(struct fairuse *fu, uid_t uid)
{
	struct fu_uid *u;
	int err = 0;

	pthread_mutex_lock(&fu->lock);
	u = rec(fu, uid, true);
	if (u == NULL)
		err = -ENOMEM;
	else if (u->calls >= fu->max_calls)
		err = -EAGAIN;
	else
		u->calls++;
	pthread_mutex_unlock(&fu->lock);
	return err;
}

void fu_call_end(struct fairuse *fu, uid_t uid)
{
	struct fu_uid *u;

	pthread_mutex_lock(&fu->lock);
	u = rec(fu, uid, false);
	if (u != NULL && u->calls > 0) {
		u->calls--;
		tidy(fu, u);
	}
	pthread_mutex_unlock(&fu->lock);
}

int fu_hold_add(struct fu_hold *h, size_t n)
{
	struct fairuse *fu = h->fu;
	struct fu_uid *u;
	int err = 0;

	if (fu == NULL || n == 0)
		return 0;
	pthread_mutex_lock(&fu->lock);
	u = rec(fu, h->uid, true);
	if (u == NULL)
		err = -ENOMEM;
	else if (n > fu->max_bytes || u->bytes > fu->max_bytes - n)
		err = -EAGAIN;
	else {
		u->bytes += n;
		h->bytes += n;
	}
	if (u != NULL)
		tidy(fu, u);
	pthread_mutex_unlock(&fu->lock);
	return err;
}

void fu_hold_release(struct fu_hold *h)
{
	struct fairuse *fu = h->fu;
	struct fu_uid *u;

	if (fu == NULL || h->bytes == 0)
		return;
	pthread_mutex_lock(&fu->lock);
	u = rec(fu, h->uid, false);
	if (u != NULL) {
		u->bytes -= h->bytes < u->bytes ? h->bytes : u->bytes;
		tidy(fu, u);
	}
	h->bytes = 0;
	pthread_mutex_unlock(&fu->lock);
}

void fu_usage(struct fairuse *fu, uid_t uid, size_t *bytes, unsigned *calls)
{
	struct fu_uid *u;

	pthread_mutex_lock(&fu->lock);
	u = rec(fu, uid, false);
	*bytes = u ? u->bytes : 0;
	*calls = u ? u->calls : 0;
	pthread_mutex_unlock(&fu->lock);
}
