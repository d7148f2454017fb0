/* Unit tests: the data-key cache of sealed/ (fs/dekcache.h). */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dekcache.h"
#include "tap.h"

/* The sweeper's clock. */
static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fill(uint8_t *b, uint8_t v)
{
	memset(b, v, 32);
}

/* Miss, fetch, done: the key of id v is v repeated. */
static void put(struct dekcache *c, uint8_t v, int64_t now)
{
	uint8_t id[32], dek[32];
	uint64_t t;

	fill(id, v);
	if (dekcache_get(c, id, dek, now, &t) == 1) {
		fill(dek, v);
		dekcache_done(c, t, dek, now);
	}
}

static int get(struct dekcache *c, uint8_t v, int64_t now, uint8_t *dek)
{
	uint8_t id[32];
	uint64_t t;
	int r;

	fill(id, v);
	r = dekcache_get(c, id, dek, now, &t);
	if (r == 1)
		dekcache_done(c, t, NULL, now);
	return r;
}

struct waiter {
	struct dekcache *c;
	int r;
	uint8_t dek[32];
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;

	w->r = get(w->c, 7, 10, w->dek);
	return NULL;
}

/* A second asker for a key being fetched waits for it: one unwrap. */
static void test_single_flight(void)
{
	struct dekcache *c = dekcache_new(1000, 4, false);
	struct waiter w = { .c = c, .r = -1 };
	uint8_t id[32], dek[32];
	pthread_t th;
	uint64_t t;

	fill(id, 7);
	ok(dekcache_get(c, id, dek, 0, &t) == 1, "a miss hands out a ticket");
	pthread_create(&th, NULL, wait_main, &w);
	usleep(100000);
	ok(w.r == -1, "the second asker waits while the key is fetched");
	fill(dek, 7);
	dekcache_done(c, t, dek, 0);
	pthread_join(th, NULL);
	ok(w.r == 0 && w.dek[0] == 7, "... and gets the fetched key: a hit");
	dekcache_free(c);
}

int main(void)
{
	struct dekcache *c = dekcache_new(1000, 3, false);
	uint8_t dek[32], id[32];
	uint64_t t;

	ok(c != NULL, "made");
	ok(get(c, 1, 0, dek) == 1, "empty: a miss");
	ok(dekcache_count(c) == 0, "a failed fetch keeps nothing");
	put(c, 1, 0);
	ok(get(c, 1, 999, dek) == 0 && dek[31] == 1, "a hit within ttl");
	ok(get(c, 2, 999, dek) == 1, "another id: a miss");
	ok(get(c, 1, 1000, dek) == 1, "expired at ttl: a miss");
	ok(dekcache_count(c) == 0, "the expired key was dropped");
	put(c, 1, 2000);
	put(c, 2, 2000);
	put(c, 3, 2000);
	get(c, 1, 2001, dek);		/* 2 is now the least recently used */
	put(c, 4, 2002);
	ok(dekcache_count(c) == 3, "bounded: still 3 keys");
	ok(get(c, 2, 2003, dek) == 1, "the least recently used went first");
	ok(get(c, 1, 2003, dek) == 0 && get(c, 4, 2003, dek) == 0,
	   "the others stay");
	dekcache_sweep(c, 3002);
	ok(get(c, 4, 3001, dek) == 1, "swept once expired, whoever asks");
	fill(id, 9);
	dekcache_get(c, id, dek, 0, &t);
	dekcache_done(c, t ^ (1ull << 32), id, 0);
	ok(dekcache_count(c) == 0, "a stale ticket fills nothing");
	dekcache_done(c, t, NULL, 0);
	dekcache_free(c);
	test_single_flight();
	c = dekcache_new(200, 8, true);
	put(c, 5, mono());
	usleep(50000);
	ok(dekcache_count(c) == 1, "the sweeper keeps a key within its ttl");
	usleep(400000);
	ok(c != NULL && dekcache_count(c) == 0,
	   "the sweeper wipes a key nobody asks for again");
	dekcache_free(c);
	return done_testing();
}
