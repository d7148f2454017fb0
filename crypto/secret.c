/*
 * secret.c - see secret.h.
 *
 * The length and the bytes share one block so that a secret can never
 * outlive its length.  Blocks live in memory of their own, never in the
 * malloc() heap: anonymous mappings marked MADV_DONTDUMP (left out of
 * core dumps), locked with mlock() while the locked total stays within
 * RLIMIT_MEMLOCK, so that they are not written to swap either.  When a
 * mapping cannot be had, malloc() memory does: still wiped, just not
 * excluded.  (Not MADV_WIPEONFORK: the slabs' own headers would be
 * zeroed in a child that forked after using them.)
 *
 * Small secrets (most: signatures, keys, digests) come from 64 KiB slabs
 * cut into slots of one power-of-two size, so that a 32-byte result costs
 * 64 bytes and not a page; a slab is unmapped when its last slot is
 * freed.  Larger ones get a mapping each, rounded up to pages.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "secret.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#endif

enum { FROM_HEAP, FROM_SLAB, FROM_MAP };

struct secret {
	size_t len;
	size_t room;		/* bytes of the block, header included */
	int from;		/* FROM_* */
	uint8_t bytes[];	/* len bytes; one extra 0 so an empty one is valid */
};

#define SLAB_SIZE	((size_t)64 * 1024)
#define SLOT_MIN	64
#define SLOT_MAX	2048
#define N_CLASSES	6	/* 64, 128, ..., 2048 */

/* A slab: this header, then slots; aligned to SLAB_SIZE so that a slot
 * finds its slab by masking its address. */
struct slab {
	struct slab *next, *prev;	/* the class's slabs with free slots */
	void *free;			/* free slots, linked through their
					 * first word */
	size_t slot, used;
	bool locked;
};

static struct {
	pthread_mutex_t lock;
	struct slab *avail[N_CLASSES];
} slabs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t locked_bytes, mapped_bytes;	/* __atomic builtins */
static size_t lock_limit;
static pthread_once_t limit_once = PTHREAD_ONCE_INIT;

static void read_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		lock_limit = rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX
							  : (size_t)rl.rlim_cur;
}

/* Lock p (n bytes) if that keeps us within RLIMIT_MEMLOCK. */
static bool try_lock(void *p, size_t n)
{
	size_t was;

	pthread_once(&limit_once, read_limit);
	was = __atomic_fetch_add(&locked_bytes, n, __ATOMIC_RELAXED);
	if (was + n <= lock_limit && was + n >= was && mlock(p, n) == 0)
		return true;
	__atomic_fetch_sub(&locked_bytes, n, __ATOMIC_RELAXED);
	return false;
}

/* n bytes (a page multiple) of fresh memory of our own, or NULL. */
static void *map_private(size_t n, size_t align, bool *locked)
{
	size_t extra = align > 1 ? align : 0;
	uint8_t *p = mmap(NULL, n + extra, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *q;

	if (p == MAP_FAILED)
		return NULL;
	q = p;
	if (extra) {
		/* Trim to an aligned block of n. */
		q = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
		if (q > p)
			munmap(p, (size_t)(q - p));
		if (p + n + extra > q + n)
			munmap(q + n, (size_t)(p + n + extra - (q + n)));
	}
	/* Advice only: without it the memory is still ours and wiped. */
	(void)madvise(q, n, MADV_DONTDUMP);
	*locked = try_lock(q, n);
	__atomic_fetch_add(&mapped_bytes, n, __ATOMIC_RELAXED);
	return q;
}

static void unmap_private(void *p, size_t n, bool locked)
{
	munmap(p, n);
	if (locked)
		__atomic_fetch_sub(&locked_bytes, n, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&mapped_bytes, n, __ATOMIC_RELAXED);
}

static int class_of(size_t room)
{
	int c = 0;
	size_t s = SLOT_MIN;

	while (s < room) {
		s *= 2;
		c++;
	}
	return c;
}

static void unlink_slab(struct slab **head, struct slab *sl)
{
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		*head = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	sl->next = sl->prev = NULL;
}

/* A new slab of class c on its list; false when no memory. */
static bool add_slab(int c)
{
	size_t slot = (size_t)SLOT_MIN << c, first;
	struct slab *sl;
	bool locked;

	sl = map_private(SLAB_SIZE, SLAB_SIZE, &locked);
	if (!sl)
		return false;
	memset(sl, 0, sizeof(*sl));
	sl->slot = slot;
	sl->locked = locked;
	first = (sizeof(*sl) + slot - 1) / slot * slot;
	for (size_t off = SLAB_SIZE - slot; off >= first; off -= slot) {
		uint8_t *s = (uint8_t *)sl + off;

		*(void **)s = sl->free;
		sl->free = s;
		POISON(s + sizeof(void *), slot - sizeof(void *));
	}
	sl->next = slabs.avail[c];
	if (sl->next)
		sl->next->prev = sl;
	slabs.avail[c] = sl;
	return true;
}

static struct secret *slab_alloc(size_t room)
{
	int c = class_of(room);
	struct slab *sl;
	struct secret *s = NULL;

	pthread_mutex_lock(&slabs.lock);
	if (!slabs.avail[c] && !add_slab(c))
		goto out;
	sl = slabs.avail[c];
	s = sl->free;
	UNPOISON(s, sl->slot);
	sl->free = *(void **)s;
	sl->used++;
	if (!sl->free)
		unlink_slab(&slabs.avail[c], sl);
	s->room = sl->slot;
	s->from = FROM_SLAB;
out:
	pthread_mutex_unlock(&slabs.lock);
	return s;
}

/* Give slot s (wiped) back; unmap its slab when that was its last one
 * and the class has another slab with room. */
static void slab_free(struct secret *s)
{
	struct slab *sl = (struct slab *)((uintptr_t)s & ~(uintptr_t)(SLAB_SIZE - 1));
	int c = class_of(sl->slot);
	bool was_full;

	pthread_mutex_lock(&slabs.lock);
	was_full = sl->free == NULL;
	*(void **)s = sl->free;
	sl->free = s;
	POISON((uint8_t *)s + sizeof(void *), sl->slot - sizeof(void *));
	sl->used--;
	if (was_full) {
		sl->next = slabs.avail[c];
		if (sl->next)
			sl->next->prev = sl;
		slabs.avail[c] = sl;
	}
	if (sl->used == 0 && (sl->next || sl->prev)) {
		unlink_slab(&slabs.avail[c], sl);
		UNPOISON(sl, SLAB_SIZE);
		unmap_private(sl, SLAB_SIZE, sl->locked);
	}
	pthread_mutex_unlock(&slabs.lock);
}

void secret_trim(void)
{
	pthread_mutex_lock(&slabs.lock);
	for (int c = 0; c < N_CLASSES; c++) {
		struct slab *sl = slabs.avail[c], *next;

		for (; sl != NULL; sl = next) {
			next = sl->next;
			if (sl->used != 0)
				continue;
			unlink_slab(&slabs.avail[c], sl);
			UNPOISON(sl, SLAB_SIZE);
			unmap_private(sl, SLAB_SIZE, sl->locked);
		}
	}
	pthread_mutex_unlock(&slabs.lock);
}

/* A block of at least room bytes, header fields room and from set. */
static struct secret *block_alloc(size_t room)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n;
	struct secret *s;
	bool locked;

	if (room <= SLOT_MAX) {
		if ((s = slab_alloc(room)) != NULL)
			return s;
	} else {
		n = (room + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
		if (n >= room && (s = map_private(n, 0, &locked)) != NULL) {
			s->room = n;
			s->from = FROM_MAP;
			/* Recorded in the low bit of room: pages are even. */
			s->room |= locked;
			return s;
		}
	}
	if ((s = malloc(room)) != NULL) {
		s->room = room;
		s->from = FROM_HEAP;
	}
	return s;
}

struct secret *secret_new(const void *data, size_t len)
{
	struct secret *s;

	if (len > SIZE_MAX / 2 - sizeof(*s) - 1)
		return NULL;
	s = block_alloc(sizeof(*s) + len + 1);
	if (s == NULL)
		return NULL;
	s->len = len;
	if (data != NULL && len > 0)
		memcpy(s->bytes, data, len);
	else
		memset(s->bytes, 0, len);
	s->bytes[len] = 0;
	if (s->from == FROM_SLAB)
		POISON(s->bytes + len + 1, s->room - sizeof(*s) - len - 1);
	return s;
}

void secret_free(struct secret *s)
{
	size_t room;

	if (s == NULL)
		return;
	explicit_bzero(s->bytes, s->len);
	switch (s->from) {
	case FROM_SLAB:
		slab_free(s);
		break;
	case FROM_MAP:
		room = s->room & ~(size_t)1;
		unmap_private(s, room, s->room & 1);
		break;
	default:
		free(s);
		break;
	}
}

void secret_stats(size_t *mapped, size_t *locked)
{
	*mapped = __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
	*locked = __atomic_load_n(&locked_bytes, __ATOMIC_RELAXED);
}

uint8_t *secret_bytes(const struct secret *s)
{
	/* Cast away const: the bytes are the caller's to fill (secret_new(NULL)). */
	return (uint8_t *)s->bytes;
}

size_t secret_len(const struct secret *s)
{
	return s->len;
}

void secret_truncate(struct secret *s, size_t len)
{
	if (len >= s->len)
		return;
	explicit_bzero(s->bytes + len, s->len - len);
	s->len = len;
}

void secret_wipe(void *p, size_t len)
{
	/* glibc's explicit_bzero: a barrier the optimiser keeps, then its
	 * vectorised memset (OPENSSL_cleanse stores eight bytes at a time:
	 * slower for the ~40 KiB of curl's buffers wiped per request,
	 * client/curlmem.c). */
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void secret_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	secret_wipe(p, len);
	free(p);
}
