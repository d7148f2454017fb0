/*
 * curlmem.h - libcurl's memory, wiped when it is freed.
 *
 * curl builds each request in a buffer of its own (the "Authorization:
 * Bearer" line, a token request's client_secret, a wrap request's key)
 * and frees it unwiped; freed heap is later read by anyone who gets a
 * core dump or /proc/PID/mem.  curlmem_global_init() gives curl
 * allocation functions whose free and realloc overwrite the block first.
 */
#ifndef HSMFS_CLIENT_CURLMEM_H
#define HSMFS_CLIENT_CURLMEM_H

/* curl_global_init() with the wiping allocator: 0, or -1. */
int curlmem_global_init(long flags);

#endif
