/*
 * tap.h - a minimal TAP producer, the one harness of every C unit test.
 *
 * Each check prints "ok N - name" or "not ok N - name" (with the file and
 * line as a diagnostic); done_testing() prints the plan and returns the
 * exit status.  Header-only and static so each test program stands alone.
 */
#ifndef HSMFS_TESTS_LIB_TAP_H
#define HSMFS_TESTS_LIB_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n;
static int tap_failed;

__attribute__((format(printf, 4, 5), unused))
static bool tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) tap_ok((cond), __FILE__, __LINE__, __VA_ARGS__)

/* Integer equality with both values in the diagnostic. */
#define is_int(got, want, ...) do {					\
		long long g_ = (long long)(got), w_ = (long long)(want);	\
		if (!ok(g_ == w_, __VA_ARGS__))				\
			printf("#   got %lld, want %lld\n", g_, w_);	\
	} while (0)

__attribute__((unused))
static void tap_hexdump(const char *label, const uint8_t *p, size_t len)
{
	size_t i;

	printf("#   %s (%zu):", label, len);
	for (i = 0; i < len && i < 80; i++)
		printf("%02x", p[i]);
	printf("%s\n", len > 80 ? "..." : "");
}

/* Byte-string equality; NULL got counts as a mismatch. */
#define is_mem(got, glen, want, wlen, ...) do {				\
		const uint8_t *g_ = (const uint8_t *)(got);		\
		const uint8_t *w_ = (const uint8_t *)(want);		\
		size_t gl_ = (glen), wl_ = (wlen);			\
		bool p_ = g_ != NULL && gl_ == wl_ &&			\
			  (wl_ == 0 || memcmp(g_, w_, wl_) == 0);	\
		if (!ok(p_, __VA_ARGS__)) {				\
			if (g_)						\
				tap_hexdump("got", g_, gl_);		\
			tap_hexdump("want", w_, wl_);			\
		}							\
	} while (0)

/* Print the plan; exit status 0 when everything passed. */
__attribute__((unused))
static int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* Test-vector hex (either case, no separators) to bytes; independent of
 * crypto/codec.c so that other tests do not lean on the code under test.
 * A malformed vector is a bug in the test: exit 99 (meson: hard error). */
__attribute__((unused))
static uint8_t *unhex(const char *s, size_t *len)
{
	size_t n = strlen(s), i;
	uint8_t *out;

	if (n % 2 != 0)
		goto bad;
	out = malloc(n / 2 + 1);
	if (out == NULL)
		exit(99);
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			goto bad;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return out;
bad:
	printf("Bail out! bad hex vector %.20s\n", s);
	exit(99);
}

#endif
