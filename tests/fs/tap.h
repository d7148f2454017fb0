/*
 * tap.h - a minimal TAP producer for the fs/ unit tests.
 */
#ifndef HSMFS_TESTS_FS_TAP_H
#define HSMFS_TESTS_FS_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

/* cond is evaluated once: it often has side effects. */
#define ok(cond, ...) do {						\
		int tap_c_ = !!(cond);					\
		tap_n++;						\
		if (tap_c_) {						\
			printf("ok %d - ", tap_n);			\
		} else {						\
			tap_failed++;					\
			printf("not ok %d - ", tap_n);			\
		}							\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		if (!tap_c_)						\
			printf("#   failed at %s:%d: %s\n", __FILE__,	\
			       __LINE__, #cond);			\
	} while (0)

#define tap_done() (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)

#endif
