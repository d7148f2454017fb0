/*
 * dekcache.c - see dekcache.h.
 *
 * A small array searched linearly (a few hundred entries of 32-byte ids:
 * cheaper than the read that asks), the keys in a separate mmap()ed
 * region so that only key bytes are locked and kept out of dumps.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "dekcache.h"
#include "secret.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY };

struct slot {
	uint8_t id[DEK_ID_LEN];
	enum slot_state state;
	uint32_t gen;			/* names the fill a ticket is for */
	int64_t expires;
	uint64_t used;			/* LRU stamp */
};

struct dekcache {
	pthread_mutex_t lock;
	pthread_cond_t filled;		/* a FILLING slot changed */
	pthread_cond_t wake;		/* the sweeper: new key, or exit */
	pthread_t sweeper;
	bool has_sweeper, stop, locked;
	int64_t ttl;
	size_t max, map_len;
	uint64_t clock;
	struct slot *slots;
	uint8_t *keys;			/* max * DEK_LEN, mmap()ed */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t *key_of(struct dekcache *c, size_t i)
{
	return c->keys + i * DEK_LEN;
}

static void slot_clear(struct dekcache *c, size_t i)
{
	secret_wipe(key_of(c, i), DEK_LEN);
	c->slots[i].state = SLOT_FREE;
}

/* The next time a key expires, or 0 when none is held.  Locked. */
static int64_t next_expiry(struct dekcache *c)
{
	int64_t next = 0;
	size_t i;

	for (i = 0; i < c->max; i++)
		if (c->slots[i].state == SLOT_READY &&
		    (next == 0 || c->slots[i].expires < next))
			next = c->slots[i].expires;
	return next;
}

static void sweep_locked(struct dekcache *c, int64_t now)
{
	size_t i;

	for (i = 0; i < c->max; i++)
		if (c->slots[i].state == SLOT_READY && c->slots[i].expires <= now)
			slot_clear(c, i);
}

/* Wipe each key when it expires, not at the next lookup: a key nobody
 * asks for again must not stay in memory. */
static void *sweeper_main(void *arg)
{
	struct dekcache *c = arg;
	struct timespec ts;
	int64_t next;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		sweep_locked(c, now_ms());
		next = next_expiry(c);
		if (next == 0) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000;
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The key region: page-aligned, locked if the limit allows (else the
 * keys still are wiped; only swap could then see them), never dumped,
 * zeroed in a child after fork. */
static int map_keys(struct dekcache *c)
{
	size_t page = 4096;

	c->map_len = (c->max * DEK_LEN + page - 1) / page * page;
	c->keys = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->keys == MAP_FAILED) {
		c->keys = NULL;
		return -ENOMEM;
	}
	c->locked = mlock(c->keys, c->map_len) == 0;
	madvise(c->keys, c->map_len, MADV_DONTDUMP);
	madvise(c->keys, c->map_len, MADV_WIPEONFORK);
	return 0;
}

static int start_sweeper(struct dekcache *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_condattr_destroy(&ca);
	return pthread_create(&c->sweeper, NULL, sweeper_main, c) == 0 ? 0 : -1;
}

struct dekcache *dekcache_new(int64_t ttl_ms, size_t max, bool sweeper)
{
	struct dekcache *c = calloc(1, sizeof(*c));

	if (c == NULL || max == 0)
		goto out_free;
	c->ttl = ttl_ms;
	c->max = max;
	c->slots = calloc(max, sizeof(*c->slots));
	if (c->slots == NULL || map_keys(c) != 0)
		goto out_free;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->filled, NULL);
	if (!sweeper) {
		pthread_cond_init(&c->wake, NULL);
		return c;
	}
	if (start_sweeper(c) != 0) {
		dekcache_free(c);
		return NULL;
	}
	c->has_sweeper = true;
	return c;
out_free:
	if (c != NULL)
		free(c->slots);
	free(c);
	return NULL;
}

void dekcache_free(struct dekcache *c)
{
	if (c == NULL)
		return;
	if (c->has_sweeper) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->sweeper, NULL);
	}
	secret_wipe(c->keys, c->map_len);
	if (c->locked)
		munlock(c->keys, c->map_len);
	munmap(c->keys, c->map_len);
	pthread_cond_destroy(&c->filled);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

static ssize_t find(struct dekcache *c, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < c->max; i++)
		if (c->slots[i].state != SLOT_FREE &&
		    memcmp(c->slots[i].id, id, DEK_ID_LEN) == 0)
			return (ssize_t)i;
	return -1;
}

/* A free slot, else the least recently used key (wiped); -1 when all
 * are being filled. */
static ssize_t victim(struct dekcache *c)
{
	ssize_t best = -1;
	size_t i;

	for (i = 0; i < c->max; i++) {
		if (c->slots[i].state == SLOT_FREE)
			return (ssize_t)i;
		if (c->slots[i].state == SLOT_READY &&
		    (best < 0 || c->slots[i].used < c->slots[best].used))
			best = (ssize_t)i;
	}
	if (best >= 0)
		slot_clear(c, (size_t)best);
	return best;
}

int dekcache_get(struct dekcache *c, const uint8_t id[DEK_ID_LEN],
		 uint8_t dek[DEK_LEN], int64_t now, uint64_t *ticket)
{
	struct slot *s;
	ssize_t i;

	*ticket = DEKCACHE_NO_TICKET;
	pthread_mutex_lock(&c->lock);
	while ((i = find(c, id)) >= 0 && c->slots[i].state == SLOT_FILLING)
		pthread_cond_wait(&c->filled, &c->lock);
	if (i >= 0 && c->slots[i].expires > now) {
		memcpy(dek, key_of(c, (size_t)i), DEK_LEN);
		c->slots[i].used = ++c->clock;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (i >= 0)
		slot_clear(c, (size_t)i);
	if ((i = victim(c)) >= 0) {
		s = &c->slots[i];
		memcpy(s->id, id, DEK_ID_LEN);
		s->state = SLOT_FILLING;
		s->gen++;
		*ticket = (uint64_t)s->gen << 32 | (uint64_t)i;
	}
	pthread_mutex_unlock(&c->lock);
	return 1;
}

void dekcache_done(struct dekcache *c, uint64_t ticket,
		   const uint8_t dek[DEK_LEN], int64_t now)
{
	size_t i = (size_t)(ticket & 0xffffffffu);
	struct slot *s;

	if (ticket == DEKCACHE_NO_TICKET || i >= c->max)
		return;
	pthread_mutex_lock(&c->lock);
	s = &c->slots[i];
	if (s->state == SLOT_FILLING && s->gen == (uint32_t)(ticket >> 32)) {
		if (dek != NULL) {
			memcpy(key_of(c, i), dek, DEK_LEN);
			s->state = SLOT_READY;
			s->expires = now + c->ttl;
			s->used = ++c->clock;
			pthread_cond_signal(&c->wake);
		} else {
			slot_clear(c, i);
		}
		pthread_cond_broadcast(&c->filled);
	}
	pthread_mutex_unlock(&c->lock);
}

void dekcache_sweep(struct dekcache *c, int64_t now)
{
	pthread_mutex_lock(&c->lock);
	sweep_locked(c, now);
	pthread_mutex_unlock(&c->lock);
}

size_t dekcache_count(struct dekcache *c)
{
	size_t i, n = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->max; i++)
		n += c->slots[i].state == SLOT_READY;
	pthread_mutex_unlock(&c->lock);
	return n;
}

bool dekcache_locked(const struct dekcache *c)
{
	return c->locked;
}
