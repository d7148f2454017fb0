/*
 * admin_i.h - hsm-emulator's statistics and fault injection, and the
 * /_emulator/ admin API that controls them (docs/contracts.md).
 */
#ifndef HSMFS_EMU_ADMIN_I_H
#define HSMFS_EMU_ADMIN_I_H

#include <stdbool.h>

#include "server_i.h"

struct admin;

/* Returns NULL when out of memory.  Free with admin_free(). */
struct admin *admin_new(void);
void admin_free(struct admin *adm);

/* Count one authenticated, routed data-plane request for op (a
 * keys_route_op() name), one issued token, one 401 challenge. */
void admin_count_op(struct admin *adm, const char *op);
void admin_count_token(struct admin *adm);
void admin_count_challenge(struct admin *adm);

/* Lifetime in seconds for tokens issued now (3600 unless a fault says). */
long admin_token_lifetime(struct admin *adm);

/* What the fault set says about one data-plane request for op. */
struct fault_action {
	long latency_ms;	/* added delay, always applied */
	long stall_ms;		/* hold the answer (injected) */
	int status;		/* 0: answer normally */
	bool drop;		/* close without an answer */
	long retry_after;	/* -1: no header */
	long retry_after_ms;	/* -1: no header */
};
void admin_fault_decide(struct admin *adm, const char *op,
			struct fault_action *out);

/* Handle a request under /_emulator/ (sub is the rest of the path, e.g.
 * "stats"); the caller has already refused non-loopback peers. */
void admin_handle(struct emu_server *srv, const struct http_req *req,
		  const char *sub, struct http_resp *resp);

#endif
