/*
 * server_i.h - hsm-emulator's HTTP(S) front: start and stop listening.
 * The state it serves from is struct emu_server (server_types.h).
 */
#ifndef HSMFS_EMU_SERVER_I_H
#define HSMFS_EMU_SERVER_I_H

#include <stddef.h>

#include "server_types.h"

/* Start listening on host:port (port 0: any) with TLS from the PEM
 * buffers (NULL for plain HTTP).  On success fills srv->base_url and
 * returns 0; on failure returns -1 and writes a one-line reason into err. */
int server_start(struct emu_server *srv, const char *host, unsigned port,
		 const char *key_pem, const char *cert_pem,
		 char *err, size_t errlen);

/* Stop accepting, wake sleeping handlers, wait for the worker threads. */
void server_stop(struct emu_server *srv);

#endif
