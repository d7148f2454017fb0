/*
 * admin_i.h - hsm-emulator's statistics and fault injection
 * (docs/contracts.md); admin_api_i.h serves them under /_emulator/.
 */
#ifndef HSMFS_EMU_ADMIN_I_H
#define HSMFS_EMU_ADMIN_I_H

#include <stdbool.h>

#include "http_i.h"

struct admin;

/* Returns NULL when out of memory.  Free with admin_free(). */
struct admin *admin_new(void);
void admin_free(struct admin *adm);

/* Count one authenticated, routed data-plane request for op (a
 * keys_route_op() name), one issued token, one 401 challenge, one
 * accepted connection (over TLS each is a full handshake). */
void admin_count_op(struct admin *adm, const char *op);
void admin_count_token(struct admin *adm);
void admin_count_challenge(struct admin *adm);
void admin_count_connection(struct admin *adm);
void admin_count_connection_closed(struct admin *adm);

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

/* The admin API's views: GET stats, POST stats/reset, GET faults; PUT
 * faults replaces the fault set with the request's (on a bad one fills
 * resp with 400 and returns -1, leaving the set as it was); DELETE faults
 * clears it. */
void admin_stats_get(struct admin *adm, struct http_resp *resp);
void admin_stats_reset(struct admin *adm);
void admin_faults_get(struct admin *adm, struct http_resp *resp);
int admin_faults_put(struct admin *adm, const struct http_req *req,
		     struct http_resp *resp);
void admin_faults_clear(struct admin *adm);

#endif
