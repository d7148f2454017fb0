/*
 * spool.c - see spool.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

struct spool {
	int fd;
	uint64_t size;
};

/* O_TMPFILE where the filesystem has it, else a named file unlinked at
 * once (tmpfs of old kernels, some network filesystems). */
static int open_unlinked(const char *dir)
{
	char *path = NULL;
	int fd, e;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : -errno;
	if (asprintf(&path, "%s/.hsmfs-spool-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	e = errno;
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd >= 0 ? fd : -e;
}

int spool_new(const char *dir, struct spool **out)
{
	struct spool *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	if (dir == NULL)
		dir = getenv("TMPDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	s->fd = open_unlinked(dir);
	if (s->fd < 0) {
		int e = s->fd;

		free(s);
		return e;
	}
	*out = s;
	return 0;
}

/* All len bytes at off, retrying short transfers and EINTR. */
static int io_full(int fd, bool write, char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = write ? pwrite(fd, p, len, (off_t)off) :
			    pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int spool_append(struct spool *s, const void *p, size_t len)
{
	int err = io_full(s->fd, true, (char *)(uintptr_t)p, len, s->size);

	/* A failed append leaves the blob unusable: the owner drops it. */
	if (err == 0)
		s->size += len;
	return err;
}

ssize_t spool_splice(const struct spool *s, int pipe_fd, size_t len,
		     uint64_t off)
{
	loff_t at = (loff_t)off;
	ssize_t n;

	if (off > s->size || len > s->size - off)
		return -EINVAL;
	do
		n = splice(s->fd, &at, pipe_fd, NULL, len, SPLICE_F_MOVE);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int spool_pread(const struct spool *s, void *p, size_t len, uint64_t off)
{
	if (off > s->size || len > s->size - off)
		return -EINVAL;
	return io_full(s->fd, false, p, len, off);
}

uint64_t spool_size(const struct spool *s)
{
	return s->size;
}

void spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s);
}
