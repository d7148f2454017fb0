/*
 * envelope_i.h - the service's error envelope, the one builder of it for
 * both sides of the emulator (the HTTP side's http_error() and the key
 * side's replies).
 */
#ifndef HSMFS_EMU_ENVELOPE_I_H
#define HSMFS_EMU_ENVELOPE_I_H

#include <stdarg.h>

#include "emu.h"

/* Fill resp with status and {"error":{"code":..,"innererror":{"code":..},
 * "message":..}} (innererror only when inner is not NULL), compact, as
 * the service sends it.  The message is formatted from fmt.  Out of
 * memory: status with an empty body. */
void emu_error(struct emu_response *resp, int status, const char *code,
	       const char *inner, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void emu_verror(struct emu_response *resp, int status, const char *code,
		const char *inner, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* The key side's two 500 answers: out of memory, and a key file that
 * could not be written. */
void emu_error_oom(struct emu_response *resp);
void emu_error_storage(struct emu_response *resp);

#endif
