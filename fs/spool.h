/*
 * spool.h - ciphertext spooled to disk (DESIGN.md §3.1 seal/unseal): an
 * unlinked temporary file under a directory ($TMPDIR, -o spool_dir=), so
 * that a blob of any size costs the daemon no memory and leaves nothing
 * behind when the daemon dies.  Only ciphertext may go here, never
 * plaintext.
 *
 * Appends come from one writer (the owner locks); preads of what was
 * appended may run in any thread.  Functions return 0 or -errno (ENOSPC,
 * EIO, ...).
 */
#ifndef HSMFS_FS_SPOOL_H
#define HSMFS_FS_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

/* dir NULL: $TMPDIR, else /tmp.  The file is 0600 and has no name. */
int spool_new(const char *dir, struct spool **out);
int spool_append(struct spool *s, const void *p, size_t len);
/* Exactly len bytes at off (which must lie within what was appended). */
int spool_pread(const struct spool *s, void *p, size_t len, uint64_t off);
/* Up to len bytes at off into the pipe pipe_fd by splice(2): the page
 * cache's pages are referenced, not copied.  The count moved (short when
 * the pipe fills), or -errno. */
ssize_t spool_splice(const struct spool *s, int pipe_fd, size_t len,
		     uint64_t off);
uint64_t spool_size(const struct spool *s);
void spool_free(struct spool *s);

#endif
