/*
 * reqstore.c - per-scope request and error store.
 *
 * Indexed, never scanned whole: entries hang in a hash table by (uid,
 * path), so a lookup or a put meets only the entries of its own uid and
 * file (and the rare collision); each uid has its entries in a list,
 * oldest first, so its cap drops its own oldest in O(1); and every
 * entry is in one list by last touch, oldest first, which the reaper
 * pops while its head has expired.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reqstore.h"
#include "uidmap.h"

#define RS_BUCKETS 4096		/* (uid, path) */

/* A doubly linked list through one pair of an entry's links. */
struct rs_links {
	struct rs_ref *next, *prev;
};

struct rs_uid;

struct rs_ref {
	struct rs_links b;	/* bucket: newest first */
	struct rs_links u;	/* its uid's: oldest first */
	struct rs_links t;	/* by last touch: oldest first */
	struct rs_uid *owner;
	unsigned refs;		/* the store's (while linked) + lookups' */
	bool linked;
	uid_t uid;
	struct proc_id anchor, writer;
	char *path;
	unsigned bucket;
	int64_t touched_ms;	/* protected by the store's lock */
	void *val;
	rs_free_fn val_free;
};

/* A uid that has entries: how many, oldest first. */
struct rs_uid {
	struct uid_node node;	/* first: a uidmap record */
	unsigned count;
	struct rs_ref *head, *tail;
};

struct reqstore {
	pthread_mutex_t lock;
	struct rs_ref *bucket[RS_BUCKETS];
	struct uidmap uids;
	struct rs_ref *thead, *ttail;	/* by last touch */
	unsigned count, per_uid;
	int64_t ttl_ms;
	char *proc_root;
};

/* The links of one list: offsetof-free accessors for the three. */
#define LINKS(r, f) (&(r)->f)

/* Unlink r from a list given by its head/tail and link member f. */
#define LIST_DEL(head, tail, r, f) do {					\
	if (LINKS(r, f)->prev) LINKS(r, f)->prev->f.next = LINKS(r, f)->next; \
	else (head) = LINKS(r, f)->next;				\
	if (LINKS(r, f)->next) LINKS(r, f)->next->f.prev = LINKS(r, f)->prev; \
	else if ((tail) != NULL) (tail) = LINKS(r, f)->prev;		\
	LINKS(r, f)->next = LINKS(r, f)->prev = NULL;			\
} while (0)

/* Append r to a list given by head/tail. */
#define LIST_APPEND(head, tail, r, f) do {				\
	LINKS(r, f)->next = NULL;					\
	LINKS(r, f)->prev = (tail);					\
	if (tail) (tail)->f.next = (r); else (head) = (r);		\
	(tail) = (r);							\
} while (0)

static unsigned hash_of(uid_t uid, const char *path)
{
	unsigned h = 5381u ^ (unsigned)uid * 2654435761u;

	while (*path)
		h = h * 33 + (unsigned char)*path++;
	return h % RS_BUCKETS;
}

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

/* The record of uid (create: made when missing), or NULL. */
static struct rs_uid *uid_rec(struct reqstore *rs, uid_t uid, bool create)
{
	return (struct rs_uid *)uidmap_get(&rs->uids, uid,
					   create ? sizeof(struct rs_uid) : 0);
}

/* Take r out of the store (lock held); the store's reference goes. */
static void unlink_ref(struct reqstore *rs, struct rs_ref *r)
{
	struct rs_ref *no_tail = NULL;
	struct rs_uid *u = r->owner;

	LIST_DEL(rs->bucket[r->bucket], no_tail, r, b);
	LIST_DEL(u->head, u->tail, r, u);
	LIST_DEL(rs->thead, rs->ttail, r, t);
	if (--u->count == 0)
		uidmap_del(&rs->uids, &u->node);
	r->linked = false;
	rs->count--;
	ref_release(r);
}

static bool expired(const struct reqstore *rs, const struct rs_ref *r,
		    int64_t now_ms)
{
	return now_ms - r->touched_ms > rs->ttl_ms;
}

/* The reaper: what expired goes, oldest touch first (lock held). */
static void reap(struct reqstore *rs, int64_t now_ms)
{
	while (rs->thead != NULL && expired(rs, rs->thead, now_ms))
		unlink_ref(rs, rs->thead);
}

struct reqstore *reqstore_new(int64_t ttl_ms, const char *proc_root,
			      unsigned per_uid)
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
	rs->per_uid = per_uid ? per_uid : 1;
	return rs;
}

void reqstore_free(struct reqstore *rs)
{
	if (rs == NULL)
		return;
	while (rs->thead != NULL)
		unlink_ref(rs, rs->thead);
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

/* Drop what r replaces among its bucket's entries (lock held). */
static void replace_old(struct reqstore *rs, const struct rs_ref *r,
			const struct scope *sc, bool replace_scope)
{
	struct rs_ref *o, *next;

	for (o = rs->bucket[r->bucket]; o != NULL; o = next) {
		next = o->b.next;
		/* One value per writing process, whatever it exec'd since:
		 * the value of an earlier program of the pid is nobody's own
		 * any more, and the new one is newer. */
		if (in_scope(o, sc, r->path) &&
		    (replace_scope || same_id(&o->writer, &sc->self) ||
		     !proc_alive(rs->proc_root, &o->writer)))
			unlink_ref(rs, o);
	}
}

static struct rs_ref *ref_new(const struct scope *sc, const char *path,
			      void *val, rs_free_fn val_free, int64_t now_ms)
{
	struct rs_ref *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->path = strdup(path);
	if (r == NULL || r->path == NULL) {
		free(r);
		return NULL;
	}
	r->refs = 1;
	r->uid = sc->uid;
	r->anchor = sc->anchor;
	r->writer = sc->self;
	r->touched_ms = now_ms;
	r->val = val;
	r->val_free = val_free;
	r->bucket = hash_of(sc->uid, path);
	return r;
}

int reqstore_put(struct reqstore *rs, const struct scope *sc, const char *path,
		 void *val, rs_free_fn val_free, bool replace_scope,
		 int64_t now_ms)
{
	struct rs_ref *r = ref_new(sc, path, val, val_free, now_ms), **b;
	struct rs_uid *u;

	if (r == NULL) {
		if (val_free != NULL)
			val_free(val);
		return -ENOMEM;
	}
	pthread_mutex_lock(&rs->lock);
	reap(rs, now_ms);
	replace_old(rs, r, sc, replace_scope);
	/* The uid at its cap: its own oldest goes, never another uid's. */
	u = uid_rec(rs, sc->uid, false);
	if (u != NULL && u->count >= rs->per_uid)
		unlink_ref(rs, u->head);
	u = uid_rec(rs, sc->uid, true);	/* the record may have gone */
	if (u == NULL) {
		pthread_mutex_unlock(&rs->lock);
		ref_release(r);
		return -ENOMEM;
	}
	b = &rs->bucket[r->bucket];
	r->b.next = *b;
	if (*b != NULL)
		(*b)->b.prev = r;
	*b = r;
	r->owner = u;
	LIST_APPEND(u->head, u->tail, r, u);
	LIST_APPEND(rs->thead, rs->ttail, r, t);
	u->count++;
	rs->count++;
	r->linked = true;
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

struct rs_ref *reqstore_get(struct reqstore *rs, const struct scope *sc,
			    const char *path, int64_t now_ms)
{
	struct rs_ref *o, *next, *own = NULL, *found = NULL;
	struct rs_ref *best[PROC_CHAIN_MAX] = {0};
	unsigned i, n = sc->n_chain < PROC_CHAIN_MAX ? sc->n_chain : PROC_CHAIN_MAX;

	pthread_mutex_lock(&rs->lock);
	reap(rs, now_ms);
	for (o = rs->bucket[hash_of(sc->uid, path)]; o != NULL; o = next) {
		next = o->b.next;
		if (expired(rs, o, now_ms)) {
			unlink_ref(rs, o);
			continue;
		}
		if (o->uid != sc->uid || strcmp(o->path, path) != 0)
			continue;
		if (own == NULL && wrote(o, &sc->self))
			own = o;
		/* The bucket is newest first: keep the first hit per anchor. */
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
	if (r->linked) {	/* the touch order stays sorted */
		LIST_DEL(rs->thead, rs->ttail, r, t);
		LIST_APPEND(rs->thead, rs->ttail, r, t);
	}
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

unsigned reqstore_uid_count(struct reqstore *rs, uid_t uid)
{
	struct rs_uid *u;
	unsigned n;

	pthread_mutex_lock(&rs->lock);
	u = uid_rec(rs, uid, false);
	n = u ? u->count : 0;
	pthread_mutex_unlock(&rs->lock);
	return n;
}
