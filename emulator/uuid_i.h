/*
 * uuid_i.h - random UUIDs for the ids the service puts in its answers.
 */
#ifndef HSMFS_EMU_UUID_I_H
#define HSMFS_EMU_UUID_I_H

/* A random (version 4) UUID, 36 chars + NUL, for request, activity, trace
 * and correlation ids.  Unique, not unpredictable: never use it for a
 * secret. */
void emu_uuid(char out[37]);

#endif
