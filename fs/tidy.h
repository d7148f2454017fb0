/*
 * tidy.h - the daemon's housekeeping tick: every few seconds, give back
 * what a quiet period no longer needs (hsm_client_tidy(): a burst's idle
 * connections, the malloc arenas' free pages).  Without it a daemon that
 * served 256 callers and then went quiet would keep their connections
 * and their memory until its next request.
 */
#ifndef HSMFS_FS_TIDY_H
#define HSMFS_FS_TIDY_H

#include "hsm_client.h"

#define TIDY_TICK_MS 2000

struct tidy;

/* Start the tick's thread for client; NULL when it cannot be started
 * (the daemon then runs without it: memory is given back at requests). */
struct tidy *tidy_start(struct hsm_client *client);
/* Stop and join the thread (NULL: nothing); before the client is freed. */
void tidy_stop(struct tidy *t);

#endif
