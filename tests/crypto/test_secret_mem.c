/*
 * test_secret_mem.c - crypto/secret.c's memory: contents survive, the memory is left
 * out of core dumps and locked within RLIMIT_MEMLOCK (judged by the
 * kernel's /proc/self/smaps, not by our own counters), small secrets cost
 * their slot and not a page, and slabs go back when emptied.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "secret.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define LIMIT	(512 * 1024)

/* The VmFlags line of the mapping holding p, into flags; false if none. */
static bool vmflags(const void *p, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)p;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* "lo-hi perms ..." heads a mapping; "Key: ..." lines follow. */
		if (((line[0] >= '0' && line[0] <= '9') ||
		     (line[0] >= 'a' && line[0] <= 'f')) &&
		    sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(flags, len, "%.200s ", line + 8);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* flags as /proc writes them: " rd wr ... dd " (we add the last space). */
static bool has_flag(const char *flags, const char *fl)
{
	char pat[8];

	snprintf(pat, sizeof(pat), " %s ", fl);
	return strstr(flags, pat) != NULL;
}

static void test_contents(void)
{
	static const size_t sizes[] = { 0, 1, 31, 32, 100, 2000, 2048, 5000, 100000 };
	bool good = true;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *src = malloc(sizes[i] + 1);
		struct secret *s;

		for (size_t j = 0; j < sizes[i]; j++)
			src[j] = (uint8_t)(j * 7 + i);
		s = secret_new(src, sizes[i]);
		good &= s && secret_len(s) == sizes[i] &&
			!memcmp(secret_bytes(s), src, sizes[i]) &&
			secret_bytes(s)[sizes[i]] == 0;
		secret_truncate(s, sizes[i] / 2);
		good &= secret_len(s) == sizes[i] / 2;
		secret_free(s);
		free(src);
	}
	ok(good, "contents kept for sizes 0 .. 100000, then truncated");
}

static void test_dontdump_and_lock(void)
{
	struct secret *small = secret_new("key", 3);
	struct secret *large = secret_new(NULL, 100000);
	struct secret *huge = secret_new(NULL, 2 * LIMIT);
	char f1[256] = "", f2[256] = "", f3[256] = "";
	size_t mapped, locked;

	ok(vmflags(secret_bytes(small), f1, sizeof(f1)) && has_flag(f1, "dd"),
	   "a small secret's slab is DontDump:%s", f1);
	ok(vmflags(secret_bytes(large), f2, sizeof(f2)) && has_flag(f2, "dd"),
	   "a large secret's mapping is DontDump:%s", f2);
	/* ASan's mlock() succeeds and locks nothing (the sanitizers do not
	 * support it): the plain build is where locking is judged. */
	ok((has_flag(f1, "lo") && has_flag(f2, "lo")) || UNDER_ASAN,
	   "both locked while within RLIMIT_MEMLOCK%s",
	   UNDER_ASAN ? " (not judged under ASan)" : "");
	ok(vmflags(secret_bytes(huge), f3, sizeof(f3)) && has_flag(f3, "dd") &&
	   !has_flag(f3, "lo"), "one beyond the limit: DontDump, not locked:%s", f3);
	memset(secret_bytes(huge), 0xa5, secret_len(huge));
	ok(secret_bytes(huge)[2 * LIMIT - 1] == 0xa5, "... and usable");
	secret_stats(&mapped, &locked);
	ok(locked <= LIMIT && locked >= 64 * 1024,
	   "locked total %zu within the limit %d", locked, LIMIT);
	secret_free(small);
	secret_free(large);
	secret_free(huge);
}

static void test_cost(void)
{
	enum { N = 10000 };
	static struct secret *s[N];
	size_t before, after, freed, locked;
	bool good = true;

	secret_stats(&before, &locked);
	for (int i = 0; i < N; i++) {
		s[i] = secret_new("0123456789abcdef0123456789abcdef", 32);
		good &= s[i] != NULL;
	}
	secret_stats(&after, &locked);
	ok(good, "%d secrets of 32 bytes", N);
	printf("# %d x 32 bytes: %zu bytes mapped (%.1f per secret; a page each would be %d)\n",
	       N, after - before, (double)(after - before) / N, 4096);
	ok(after - before <= (size_t)N * 64 + 64 * 1024,
	   "a 32-byte secret costs a 64-byte slot, not a page");
	for (int i = 0; i < N; i++)
		good &= !memcmp(secret_bytes(s[i]), "0123456789abcdef0123456789abcdef", 32);
	ok(good, "none overwrote another");
	for (int i = 0; i < N; i++)
		secret_free(s[i]);
	secret_stats(&freed, &locked);
	ok(freed <= before + 64 * 1024, "slabs unmapped when emptied: %zu -> %zu -> %zu",
	   before, after, freed);
}

static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct secret *live[64] = { 0 };
	uintptr_t bad = 0;

	for (int i = 0; i < 20000; i++) {
		int k = rand_r(&seed) % 64;

		if (live[k]) {
			uint8_t *b = secret_bytes(live[k]);

			for (size_t j = 0; j < secret_len(live[k]); j++)
				bad += b[j] != (uint8_t)(k + j);
			secret_free(live[k]);
			live[k] = NULL;
		} else {
			size_t n = (size_t)(rand_r(&seed) % 5000);

			live[k] = secret_new(NULL, n);
			if (!live[k])
				return (void *)1;
			for (size_t j = 0; j < n; j++)
				secret_bytes(live[k])[j] = (uint8_t)(k + j);
		}
	}
	for (int k = 0; k < 64; k++)
		secret_free(live[k]);
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t t[4];
	void *r;
	bool good = true;

	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)(i + 1));
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &r);
		good &= r == NULL;
	}
	ok(good, "4 threads x 20000 allocations and frees of 0..5000 bytes: contents intact");
}

int main(void)
{
	struct rlimit rl = { LIMIT, LIMIT };

	/* Before the first secret: the limit is read once. */
	ok(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "RLIMIT_MEMLOCK set to %d", LIMIT);
	test_contents();
	test_dontdump_and_lock();
	test_cost();
	test_threads();
	return done_testing();
}
