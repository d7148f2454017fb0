/*
 * options_i.h - the text of a credentials=FILE (internal to options.c;
 * declared apart so that tests/fuzz/fuzz_credentials.c reaches it).
 */
#ifndef HSMFS_FS_OPTIONS_I_H
#define HSMFS_FS_OPTIONS_I_H

#include <stddef.h>

/*
 * Parse the lines of text (modified: split at newlines) as the
 * credentials file at path: blank lines and # comments skipped, every
 * other line KEY=VALUE with KEY one of the AZURE_* names client/cred.c
 * reads, handed to set(KEY, VALUE) (setenv by options_check()).
 * Returns 0, or -1 with a one-line message (the line's number and the
 * key's name, never a value) in errbuf.
 */
int options_cred_text(char *text, const char *path,
		      int (*set)(const char *, const char *),
		      char *errbuf, size_t errlen);

#endif
