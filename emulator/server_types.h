/*
 * server_types.h - the state hsm-emulator's HTTP side shares: set up by
 * main.c, read by the server and the handlers (tokens, admin API).  Types
 * only; each module's functions are in its own header.
 */
#ifndef HSMFS_EMU_SERVER_TYPES_H
#define HSMFS_EMU_SERVER_TYPES_H

#include <pthread.h>
#include <stdbool.h>

#include "emu.h"

struct keystore;
struct identities;
struct tokens;
struct admin;

/* The pointers are owned by main.c (which frees them after
 * server_stop()); handlers only borrow them. */
struct emu_server {
	struct keystore *ks;
	struct identities *ids;
	struct tokens *tok;
	struct admin *adm;
	char base_url[160];	/* "https://127.0.0.1:PORT", no trailing slash */
	bool plain_http;
	enum emu_flavor flavor;

	/* Interruptible sleeps (latency / stall faults) end at shutdown. */
	pthread_mutex_t sleep_lock;
	pthread_cond_t sleep_cond;
	bool stopping;

	void *mhd;		/* struct MHD_Daemon *, opaque outside server.c */
};

#endif
