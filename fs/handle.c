/*
 * handle.c - open files and directories, and two-command requests.
 */
#include <stdlib.h>
#include <string.h>

#include "handle.h"

struct request *request_new(const struct opname *on, const char *name,
			    const char *version, struct kver *kv)
{
	struct request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (opx_init(&r->x, on, name, version, kv) != 0) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 1;
	return r;
}

struct request *request_again(const struct request *r)
{
	struct request *n = request_new(&r->x.on, r->x.name, r->x.version,
					r->x.kv);

	if (n != NULL) {
		n->hold.fu = r->hold.fu;
		n->hold.uid = r->hold.uid;
		n->x.spool.fu = r->x.spool.fu;
		n->x.spool.uid = r->x.spool.uid;
	}
	return n;
}

struct request *request_get(struct request *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

void request_put(void *p)
{
	struct request *r = p;

	if (r == NULL || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	opx_cleanup(&r->x);
	secret_free(r->out);
	fu_hold_release(&r->hold);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Every open handle, so that none outlives the daemon unfreed. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle *all;

struct handle *handle_new(enum handle_kind kind, const char *path)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->path = strdup(path);
	if (h->path == NULL) {
		free(h);
		return NULL;
	}
	h->kind = kind;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_lock(&all_lock);
	h->next = all;
	if (all != NULL)
		all->prev = h;
	all = h;
	pthread_mutex_unlock(&all_lock);
	return h;
}

void handle_free_all(struct reqstore *requests,
		     void (*drop_sealed)(struct handle *h))
{
	while (all != NULL) {
		if (all->kind == H_SEALED && drop_sealed != NULL)
			drop_sealed(all);
		handle_free(all, requests);
	}
}

void handle_free(struct handle *h, struct reqstore *requests)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&all_lock);
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		all = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&all_lock);
	switch (h->kind) {
	case H_TEXT:
		free(h->u.text.bytes);
		break;
	case H_INPUT:
		free(h->u.input.buf);
		break;
	case H_META:
		kver_put(h->u.meta.kv);
		break;
	case H_RUN:
		opx_cleanup(&h->u.run.x);
		secret_free(h->u.run.out);
		fu_hold_release(&h->u.run.hold);
		sealread_reset(&h->u.run.rd);
		break;
	case H_PUT:
		request_put(h->u.put.req);
		break;
	case H_GET:
		sealread_reset(&h->u.get.rd);
		rs_ref_put(requests, h->u.get.ref);
		break;
	case H_DIR:
	case H_RANDOM:
	case H_SEALED:
		break;
	}
	free(h->path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int handle_read_at(const struct handle *h, char *buf, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= h->len)
		return 0;
	if (size > h->len - (size_t)off)
		size = h->len - (size_t)off;
	memcpy(buf, h->data + off, size);
	return (int)size;
}

int handle_read_stream(const struct secret *s, size_t *pos, char *buf,
		       size_t size)
{
	size_t len = s ? secret_len(s) : 0;

	if (*pos >= len)
		return 0;
	if (size > len - *pos)
		size = len - *pos;
	memcpy(buf, secret_bytes(s) + *pos, size);
	*pos += size;
	return (int)size;
}
