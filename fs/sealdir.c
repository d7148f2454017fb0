/*
 * sealdir.c - see sealdir.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "sealdir.h"

/* A component that may name something here. */
static bool name_ok(const char *s, size_t n)
{
	size_t pl = strlen(SEALDIR_TMP_PREFIX);

	if (n == 0 || n > NAME_MAX)
		return false;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	return n < pl || memcmp(s, SEALDIR_TMP_PREFIX, pl) != 0;
}

/* A link met on the way is not there (ELOOP from O_NOFOLLOW). */
static int walk_err(int e)
{
	return e == ELOOP ? -ENOENT : -e;
}

int sealdir_parent(int dirfd, const char *rel, char *name)
{
	const char *p = rel, *e;
	int fd, next;
	size_t n;

	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -errno;
	strcpy(name, ".");
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			return fd;
		if (strcmp(name, ".") != 0) {
			next = openat(fd, name, O_RDONLY | O_DIRECTORY |
				      O_NOFOLLOW | O_CLOEXEC);
			close(fd);
			if (next < 0)
				return walk_err(errno);
			fd = next;
		}
		e = strchrnul(p, '/');
		n = (size_t)(e - p);
		if (!name_ok(p, n)) {
			close(fd);
			return n > NAME_MAX ? -ENAMETOOLONG : -ENOENT;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p = e;
	}
}

static bool kind_ok(mode_t m)
{
	return S_ISREG(m) || S_ISDIR(m);
}

/* name in parent, as an O_PATH descriptor (a link is not opened through)
 * that is a regular file or a directory. */
static int open_path(int parent, const char *name, struct stat *st)
{
	int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) != 0 || !kind_ok(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* The file an O_PATH descriptor names, by its /proc link (which names
 * the inode itself, whatever happens to the path meanwhile). */
static void proc_fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* lstat of name in parent: a file or a directory, else -ENOENT. */
static int stat_at(int parent, const char *name, struct stat *st)
{
	if (fstatat(parent, name, st, AT_SYMLINK_NOFOLLOW) != 0)
		return -errno;
	return kind_ok(st->st_mode) ? 0 : -ENOENT;
}

int sealdir_stat(int dirfd, const char *rel, struct stat *st)
{
	char name[NAME_MAX + 1];
	int pfd, err;

	if ((pfd = sealdir_parent(dirfd, rel, name)) < 0)
		return pfd;
	err = stat_at(pfd, name, st);
	close(pfd);
	return err;
}

int sealdir_open(int dirfd, const char *rel, int flags)
{
	char name[NAME_MAX + 1], proc[64];
	struct stat st;
	int pfd, pathfd, fd;

	if ((pfd = sealdir_parent(dirfd, rel, name)) < 0)
		return pfd;
	pathfd = open_path(pfd, name, &st);
	close(pfd);
	if (pathfd < 0)
		return pathfd;
	/* Reopened only once known to be a file or a directory: opening a
	 * fifo or a device has effects of its own. */
	proc_fd_path(pathfd, proc, sizeof(proc));
	fd = open(proc, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		fd = -errno;
	close(pathfd);
	return fd;
}

int sealdir_list(int dirfd, const char *rel,
		 int (*fill)(void *arg, const char *name, bool is_dir),
		 void *arg)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	bool is_dir;
	int fd;

	if ((fd = sealdir_open(dirfd, rel, O_RDONLY | O_DIRECTORY)) < 0)
		return fd;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (!name_ok(de->d_name, strlen(de->d_name)))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
				continue;
			de->d_type = S_ISDIR(st.st_mode) ? DT_DIR :
				     S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (de->d_type != DT_REG && de->d_type != DT_DIR)
			continue;
		is_dir = de->d_type == DT_DIR;
		if (fill(arg, de->d_name, is_dir))
			break;
	}
	closedir(d);
	return 0;
}

/* chmod of name in parent to exactly mode, never through a link. */
static int chmod_at(int parent, const char *name, mode_t mode)
{
	char proc[64];
	struct stat st;
	int fd, err = 0;

	if ((fd = open_path(parent, name, &st)) < 0)
		return fd;
	proc_fd_path(fd, proc, sizeof(proc));
	if (chmod(proc, mode & 07777) != 0)
		err = -errno;
	close(fd);
	return err;
}

bool sealdir_group_of_new(int parent, gid_t *gid)
{
	struct stat st;

	if (fstat(parent, &st) != 0 || !(st.st_mode & S_ISGID))
		return false;
	*gid = st.st_gid;
	return true;
}

int sealdir_mkdir(int dirfd, const char *rel, mode_t mode, bool own,
		  uid_t uid, gid_t gid)
{
	char name[NAME_MAX + 1];
	int pfd, err = 0;

	if ((pfd = sealdir_parent(dirfd, rel, name)) < 0)
		return pfd;
	/* (Without own, mkdirat gave it the group already.) */
	if (sealdir_group_of_new(pfd, &gid))
		mode |= S_ISGID;
	if (mkdirat(pfd, name, 0700) != 0) {
		err = -errno;
		goto out;
	}
	/* The mode asked (the kernel applied the caller's umask), not ours
	 * on top of it; the owner before the mode opens it up. */
	if (own && fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		err = -errno;
	if (err == 0)
		err = chmod_at(pfd, name, mode);
	if (err)
		unlinkat(pfd, name, AT_REMOVEDIR);
out:
	close(pfd);
	return err;
}

/* What unlink, rmdir, chmod, chown and utimens do to rel's last component
 * once it is known to be a file or a directory. */
struct owner { uid_t uid; gid_t gid; };

static int do_unlink(int parent, const char *name, const struct stat *st,
		     const void *arg)
{
	(void)arg;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	return unlinkat(parent, name, 0) ? -errno : 0;
}

static int do_rmdir(int parent, const char *name, const struct stat *st,
		    const void *arg)
{
	(void)arg;
	if (strcmp(name, ".") == 0)
		return -EBUSY;
	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	return unlinkat(parent, name, AT_REMOVEDIR) ? -errno : 0;
}

static int do_chown(int parent, const char *name, const struct stat *st,
		    const void *arg)
{
	const struct owner *o = arg;

	(void)st;
	return fchownat(parent, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) ?
	       -errno : 0;
}

static int do_utimens(int parent, const char *name, const struct stat *st,
		      const void *arg)
{
	(void)st;
	return utimensat(parent, name, arg, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

/* Walk to rel's directory, check its last component, apply fn. */
static int at_last(int dirfd, const char *rel,
		   int (*fn)(int parent, const char *name,
			     const struct stat *st, const void *arg),
		   const void *arg)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int pfd, err;

	if ((pfd = sealdir_parent(dirfd, rel, name)) < 0)
		return pfd;
	err = stat_at(pfd, name, &st);
	if (err == 0)
		err = fn(pfd, name, &st, arg);
	close(pfd);
	return err;
}

int sealdir_remove(int dirfd, const char *rel, bool dir)
{
	return at_last(dirfd, rel, dir ? do_rmdir : do_unlink, NULL);
}

int sealdir_rename(int dirfd, const char *from, const char *to,
		   unsigned flags)
{
	char a[NAME_MAX + 1], b[NAME_MAX + 1];
	struct stat st;
	int pa, pb, err = 0;

	if ((pa = sealdir_parent(dirfd, from, a)) < 0)
		return pa;
	if ((pb = sealdir_parent(dirfd, to, b)) < 0) {
		close(pa);
		return pb;
	}
	if (strcmp(a, ".") == 0 || strcmp(b, ".") == 0)
		err = -EBUSY;
	else if ((err = stat_at(pa, a, &st)) == 0 &&
		 renameat2(pa, a, pb, b, flags) != 0)
		err = -errno;
	close(pa);
	close(pb);
	return err;
}

static int do_chmod(int parent, const char *name, const struct stat *st,
		    const void *arg)
{
	(void)st;
	return chmod_at(parent, name, *(const mode_t *)arg);
}

int sealdir_chmod(int dirfd, const char *rel, mode_t mode)
{
	return at_last(dirfd, rel, do_chmod, &mode);
}

int sealdir_chown(int dirfd, const char *rel, uid_t uid, gid_t gid)
{
	struct owner o = { uid, gid };

	return at_last(dirfd, rel, do_chown, &o);
}

int sealdir_utimens(int dirfd, const char *rel, const struct timespec tv[2])
{
	return at_last(dirfd, rel, do_utimens, tv);
}

int sealdir_tmpfile(int dirfd, const char *rel, int *parent, char *name)
{
	int pfd, fd;

	if ((pfd = sealdir_parent(dirfd, rel, name)) < 0)
		return pfd;
	if (strcmp(name, ".") == 0) {
		close(pfd);
		return -EISDIR;
	}
	fd = openat(pfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = -errno;
		close(pfd);
		return fd;
	}
	*parent = pfd;
	return fd;
}

int sealdir_commit(int fd, int parent, const char *name)
{
	char proc[64], tmp[64];
	uint8_t r[8];
	int i, err = -EEXIST;

	proc_fd_path(fd, proc, sizeof(proc));
	/* An unnamed file is linked under a fresh temporary name, which
	 * is then renamed over name: rename replaces atomically, link
	 * cannot. */
	for (i = 0; i < 4 && err == -EEXIST; i++) {
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -EIO;
		snprintf(tmp, sizeof(tmp), SEALDIR_TMP_PREFIX
			 "%02x%02x%02x%02x%02x%02x%02x%02x",
			 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
		err = linkat(AT_FDCWD, proc, parent, tmp, AT_SYMLINK_FOLLOW) ?
		      -errno : 0;
	}
	if (err)
		return err;
	if (renameat(parent, tmp, parent, name) != 0) {
		err = -errno;
		unlinkat(parent, tmp, 0);
		return err;
	}
	/* The rename is durable once the directory is. */
	return fsync(parent) == 0 ? 0 : -errno;
}
