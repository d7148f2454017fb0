/*
 * reqstore.c - per-scope request and error store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reqstore.h"

struct rs_ref {
	struct rs_ref *next;
	unsigned refs;		/* the store's (while linked) + lookups' */
	bool linked;
	uid_t uid;
	struct proc_id anchor, writer;
	char *path;
	uint64_t seq;		/* insertion order: newest wins */
	int64_t touched_ms;	/* protected by the store's lock */
	void *val;
	rs_free_fn val_free;
};

struct reqstore {
	pthread_mutex_t lock;
	struct rs_ref *head;
	unsigned count, max;
	uint64_t seq;
	int64_t ttl_ms;
	char *proc_root;
};

static bool same_id(const struct proc_id *a, const struct proc_id *b)
{
	return a->pid == b->pid && a->start == b->start;
}

/*
 * Did the program behind self write r?  The same process, and not
 * exec'd since: after execve the pid runs another program, which did
 * not write r (a shell's builtin echo did, and `bash -c '...; cat f'`
 * made that shell cat).  Such a reader is like any other of the scope
 * and gets the newest request (DESIGN.md §4.2).  When /proc hides the
 * image it is 0 on both sides and pid and start time decide, as before.
 */
static bool wrote(const struct rs_ref *r, const struct proc_id *self)
{
	return same_id(&r->writer, self) && r->writer.image == self->image;
}

static void ref_release(struct rs_ref *r)
{
	if (--r->refs > 0)
		return;
	if (r->val_free != NULL)
		r->val_free(r->val);
	free(r->path);
	free(r);
}

/* Unlink *pp (caller holds the lock); the store's reference goes. */
static void unlink_at(struct reqstore *rs, struct rs_ref **pp)
{
	struct rs_ref *r = *pp;

	*pp = r->next;
	r->linked = false;
	rs->count--;
	ref_release(r);
}

struct reqstore *reqstore_new(int64_t ttl_ms, const char *proc_root,
			      unsigned max)
{
	struct reqstore *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	rs->proc_root = strdup(proc_root);
	if (rs->proc_root == NULL) {
		free(rs);
		return NULL;
	}
	pthread_mutex_init(&rs->lock, NULL);
	rs->ttl_ms = ttl_ms;
	rs->max = max ? max : 1;
	return rs;
}

void reqstore_free(struct reqstore *rs)
{
	if (rs == NULL)
		return;
	while (rs->head != NULL)
		unlink_at(rs, &rs->head);
	pthread_mutex_destroy(&rs->lock);
	free(rs->proc_root);
	free(rs);
}

static bool in_scope(const struct rs_ref *r, const struct scope *sc,
		     const char *path)
{
	return r->uid == sc->uid && same_id(&r->anchor, &sc->anchor) &&
	       strcmp(r->path, path) == 0;
}

int reqstore_put(struct reqstore *rs, const struct scope *sc, const char *path,
		 void *val, rs_free_fn val_free, bool replace_scope,
		 int64_t now_ms)
{
	struct rs_ref *r = calloc(1, sizeof(*r)), **pp;

	if (r != NULL)
		r->path = strdup(path);
	if (r == NULL || r->path == NULL) {
		free(r);
		if (val_free != NULL)
			val_free(val);
		return -ENOMEM;
	}
	r->refs = 1;
	r->linked = true;
	r->uid = sc->uid;
	r->anchor = sc->anchor;
	r->writer = sc->self;
	r->touched_ms = now_ms;
	r->val = val;
	r->val_free = val_free;

	pthread_mutex_lock(&rs->lock);
	r->seq = ++rs->seq;
	for (pp = &rs->head; *pp != NULL;) {
		struct rs_ref *o = *pp;
		bool drop = now_ms - o->touched_ms > rs->ttl_ms;

		/* One value per writing process, whatever it exec'd since:
		 * the value of an earlier program of the pid is nobody's own
		 * any more, and the new one is newer. */
		if (!drop && in_scope(o, sc, path))
			drop = replace_scope || same_id(&o->writer, &sc->self) ||
			       !proc_alive(rs->proc_root, &o->writer);
		if (drop)
			unlink_at(rs, pp);
		else
			pp = &o->next;
	}
	/* Newest first, so lookups meet the newest match first. */
	r->next = rs->head;
	rs->head = r;
	rs->count++;
	/* Over the cap: the oldest entries (at the tail) go. */
	if (rs->count > rs->max) {
		unsigned i = 0;

		for (pp = &rs->head; *pp != NULL && i < rs->max; i++)
			pp = &(*pp)->next;
		while (*pp != NULL)
			unlink_at(rs, pp);
	}
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

struct rs_ref *reqstore_get(struct reqstore *rs, const struct scope *sc,
			    const char *path, int64_t now_ms)
{
	struct rs_ref **pp, *own = NULL, *found = NULL;
	struct rs_ref *best[PROC_CHAIN_MAX] = {0};
	unsigned i, n = sc->n_chain < PROC_CHAIN_MAX ? sc->n_chain : PROC_CHAIN_MAX;

	pthread_mutex_lock(&rs->lock);
	for (pp = &rs->head; *pp != NULL;) {
		struct rs_ref *o = *pp;

		if (now_ms - o->touched_ms > rs->ttl_ms) {
			unlink_at(rs, pp);
			continue;
		}
		pp = &o->next;
		if (o->uid != sc->uid || strcmp(o->path, path) != 0)
			continue;
		if (own == NULL && wrote(o, &sc->self))
			own = o;
		/* The list is newest first: keep the first hit per anchor. */
		for (i = 0; i < n; i++)
			if (best[i] == NULL && same_id(&o->anchor, &sc->chain[i]))
				best[i] = o;
		if (n == 0 && found == NULL && same_id(&o->anchor, &sc->anchor))
			found = o;
	}
	/* Own request first (a program that writes and reads while a
	 * sibling writes too gets its answer), then the nearest anchor of
	 * the chain. */
	if (own != NULL)
		found = own;
	for (i = 0; found == NULL && i < n; i++)
		found = best[i];
	if (found != NULL)
		found->refs++;
	pthread_mutex_unlock(&rs->lock);
	return found;
}

void *rs_ref_val(struct rs_ref *r)
{
	return r->val;
}

void rs_ref_touch(struct reqstore *rs, struct rs_ref *r, int64_t now_ms)
{
	pthread_mutex_lock(&rs->lock);
	r->touched_ms = now_ms;
	pthread_mutex_unlock(&rs->lock);
}

void rs_ref_put(struct reqstore *rs, struct rs_ref *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&rs->lock);
	ref_release(r);
	pthread_mutex_unlock(&rs->lock);
}

unsigned reqstore_count(struct reqstore *rs)
{
	unsigned n;

	pthread_mutex_lock(&rs->lock);
	n = rs->count;
	pthread_mutex_unlock(&rs->lock);
	return n;
}
