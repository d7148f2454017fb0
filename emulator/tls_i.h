/*
 * tls_i.h - hsm-emulator's certificate authority and server certificate.
 */
#ifndef HSMFS_EMU_TLS_I_H
#define HSMFS_EMU_TLS_I_H

#include <stddef.h>

/* Make sure dir/tls/ holds ca.pem + ca.key and server.pem + server.key (a
 * certificate for IP 127.0.0.1 and DNS localhost signed by the CA),
 * creating what is missing (keys mode 0600), and read the server key and
 * certificate as PEM.  On success *key_pem and *cert_pem are malloc()ed
 * NUL-terminated strings owned by the caller (wipe the key with
 * secret_wipe_free(*key_pem, strlen(*key_pem))); on failure returns -1 with
 * a one-line reason in err. */
int tls_setup(const char *dir, char **key_pem, char **cert_pem,
	      char *err, size_t errlen);

/* Read a whole file into a malloc()ed NUL-terminated buffer; NULL with
 * errno set on failure.  *len (may be NULL) receives the length. */
char *tls_read_file(const char *path, size_t *len);

/* Write data to path atomically (temporary file + rename) with mode;
 * returns 0 or -1 with errno set. */
int tls_write_file(const char *path, const void *data, size_t len, int mode);

#endif
