/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: taking typed
 * values off the front of the input, and a check that aborts (so that a
 * broken property is a finding, like a crash).
 */
#ifndef HSMFS_FUZZ_H
#define HSMFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code must keep; its failure is a finding. */
#define fz_check(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

/* One byte off the front (0 when the input is used up). */
static inline uint8_t fz_byte(struct fz *f)
{
	uint8_t b = 0;

	if (f->n > 0) {
		b = *f->p++;
		f->n--;
	}
	return b;
}

/* A 16-bit value off the front. */
static inline unsigned fz_u16(struct fz *f)
{
	unsigned hi = fz_byte(f);

	return hi << 8 | fz_byte(f);
}

/*
 * The bytes up to the next NUL (or the end) as a fresh NUL-terminated
 * string, so that ASan sees reads past its end; the NUL is consumed.
 * free() it.
 */
static inline char *fz_str(struct fz *f)
{
	const uint8_t *z = memchr(f->p, 0, f->n);
	size_t len = z != NULL ? (size_t)(z - f->p) : f->n;
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, f->p, len);
	s[len] = '\0';
	f->p += len + (z != NULL);
	f->n -= len + (z != NULL);
	return s;
}

/* The rest of the input in an exact-size heap copy (no terminator, so
 * that ASan sees a read past its end); free() it. */
static inline uint8_t *fz_bytes(struct fz *f, size_t *len)
{
	uint8_t *s = malloc(f->n ? f->n : 1);

	if (s == NULL)
		abort();
	memcpy(s, f->p, f->n);
	*len = f->n;
	f->p += f->n;
	f->n = 0;
	return s;
}

/* The rest of the input as text: NUL-terminated (a NUL inside ends it
 * for parsers of C strings; *len counts every byte). */
static inline char *fz_text(struct fz *f, size_t *len)
{
	char *s = malloc(f->n + 1);

	if (s == NULL)
		abort();
	memcpy(s, f->p, f->n);
	s[f->n] = '\0';
	*len = f->n;
	f->p += f->n;
	f->n = 0;
	return s;
}

#endif
