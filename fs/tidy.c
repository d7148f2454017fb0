/*
 * tidy.c - see tidy.h.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "tidy.h"

struct tidy {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* CLOCK_MONOTONIC */
	bool stop;
	struct hsm_client *client;
	pthread_t thread;
};

static void *tidy_main(void *arg)
{
	struct tidy *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += TIDY_TICK_MS / 1000;
		ts.tv_nsec += (long)(TIDY_TICK_MS % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!t->stop &&
		       pthread_cond_timedwait(&t->wake, &t->lock, &ts) == 0)
			;
		if (t->stop)
			break;
		/* Not under the lock: closing connections takes a while. */
		pthread_mutex_unlock(&t->lock);
		hsm_client_tidy(t->client);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

struct tidy *tidy_start(struct hsm_client *client)
{
	struct tidy *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;

	if (t == NULL)
		return NULL;
	t->client = client;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->thread, NULL, tidy_main, t) != 0) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	return t;
}

void tidy_stop(struct tidy *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
