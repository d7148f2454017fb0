/*
 * uuid.c - random UUIDs for request, activity, trace and correlation ids.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "uuid_i.h"

/* Request and activity ids must be unique, not unpredictable: a
 * per-thread xorshift128+ seeded once from RAND_bytes() saves a trip
 * through OpenSSL's DRBG (and its getpid()) on every response. */
static __thread uint64_t uuid_state[2];

void emu_uuid(char out[37])
{
	uint64_t *s = uuid_state;
	uint8_t b[16];

	if (s[0] == 0 && s[1] == 0) {
		if (RAND_bytes((unsigned char *)s, 16) != 1 || (s[0] | s[1]) == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			s[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull | 1;
			s[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)out;
		}
	}
	for (int i = 0; i < 2; i++) {
		uint64_t x = s[0], y = s[1], r;
		s[0] = y;
		x ^= x << 23;
		s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
		r = s[1] + y;
		memcpy(b + 8 * i, &r, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}
