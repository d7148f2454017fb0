/*
 * sealdir.h - the directory behind sealed/ (DESIGN.md §3.3), reached
 * only beneath its descriptor.
 *
 * The daemon may run as root while the names come from any user, and
 * anyone who may write into DIR (or a directory made in it) may put a
 * symbolic link there.  So every path is walked a component at a time
 * with openat(O_NOFOLLOW | O_DIRECTORY) from the descriptor of DIR opened
 * at mount time, and the last component is used with the *at() call's
 * no-follow form: no link is ever followed, nothing outside DIR is
 * reached, and a directory swapped for a link mid-walk fails the walk.
 * "." and ".." and the names of our temporary files are not names.
 *
 * Only directories and regular files exist here: other kinds (links,
 * fifos, devices) are neither listed nor found.  Everything returns 0 (or
 * a descriptor) or a negative errno; rel is a path relative to DIR ("" is
 * DIR itself), as FUSE gives it after "/sealed/".
 */
#ifndef HSMFS_FS_SEALDIR_H
#define HSMFS_FS_SEALDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Temporary files of a rewrite are linked under this prefix for the
 * moment before their rename; never listed, never found. */
#define SEALDIR_TMP_PREFIX ".hsmfs-seal-"

/* The directory that holds rel's last component (a new descriptor) and
 * that component in name (NAME_MAX + 1 bytes; "." for DIR itself). */
int sealdir_parent(int dirfd, const char *rel, char *name);

/* Does the directory parent pass its group on (its set-group-ID bit)?
 * Then *gid is that group: a new entry in it belongs to the group, as
 * the kernel makes it, and a new directory keeps the bit, so that a
 * group-shared tree stays shared. */
bool sealdir_group_of_new(int parent, gid_t *gid);

/* lstat of rel: -ENOENT unless a directory or a regular file. */
int sealdir_stat(int dirfd, const char *rel, struct stat *st);

/* Open rel (flags: O_RDONLY, or O_RDONLY | O_DIRECTORY), never following
 * a link, never blocking on a fifo: a regular file or a directory only. */
int sealdir_open(int dirfd, const char *rel, int flags);

/* Call fill(arg, name, is_dir) for each entry of directory rel that is a
 * regular file or a directory, temporary files left out; a non-zero
 * return of fill stops. */
int sealdir_list(int dirfd, const char *rel,
		 int (*fill)(void *arg, const char *name, bool is_dir),
		 void *arg);

/* The changes that pass through.  own: give the new directory to uid and
 * gid (a caller of allow_other); rename flags as renameat2(2). */
int sealdir_mkdir(int dirfd, const char *rel, mode_t mode, bool own,
		  uid_t uid, gid_t gid);
int sealdir_remove(int dirfd, const char *rel, bool dir);
int sealdir_rename(int dirfd, const char *from, const char *to,
		   unsigned flags);
int sealdir_chmod(int dirfd, const char *rel, mode_t mode);
int sealdir_chown(int dirfd, const char *rel, uid_t uid, gid_t gid);
int sealdir_utimens(int dirfd, const char *rel, const struct timespec tv[2]);

/*
 * A rewrite's temporary file: unnamed (O_TMPFILE) in rel's directory, so
 * that a crash of anything leaves nothing behind.  Returns its descriptor
 * and the descriptor of the directory in *parent, the name in name.
 */
int sealdir_tmpfile(int dirfd, const char *rel, int *parent, char *name);

/* Put the temporary file fd in place of name in parent, durably: linked
 * under a temporary name, renamed over name, the directory fsync()ed.
 * The file itself must be fsync()ed already.  On failure nothing changed
 * (the temporary name is removed). */
int sealdir_commit(int fd, int parent, const char *name);

#endif
