/*
 * sealwrite.c - opening and writing sealed/FILE; see sealwrite.h.
 *
 * The commit happens at the close that ends the writing, so that its
 * error reaches close(2): flush comes with every close(2) of a
 * descriptor, and the first one by a process that holds no other
 * descriptor of the file (a shell's `> FILE`, its builtins' `>&3`)
 * commits, if data was written or the file is new.  Release commits what
 * no flush did (an empty rewrite).  A flush from a process that is
 * exiting on a signal abandons: a killed writer leaves the former
 * version.  Neither commits over a name that no longer holds what it
 * held at open (ESTALE).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "opfile.h"
#include "proc.h"
#include "sealdir.h"
#include "sealread.h"
#include "sealkey.h"
#include "sealwrite.h"

/* The rewrites in progress; their attributes and times (st, times) are
 * changed and read under this lock only.  Taken inside a handle's lock,
 * never around one. */
static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sealfile *writers;

static void writers_add(struct sealfile *sf, const char *path)
{
	pthread_mutex_lock(&writers_lock);
	sf->path = path;
	sf->next = writers;
	writers = sf;
	pthread_mutex_unlock(&writers_lock);
}

static void writers_del(struct sealfile *sf)
{
	struct sealfile **p;

	pthread_mutex_lock(&writers_lock);
	for (p = &writers; *p != NULL; p = &(*p)->next)
		if (*p == sf) {
			*p = sf->next;
			break;
		}
	pthread_mutex_unlock(&writers_lock);
}

/* The attributes the new version gets: a rewrite keeps the former
 * version's owner, group and mode (who could read it still can, nobody
 * else); a new file gets the mode create() asked (the caller's umask
 * applied by the kernel) and, with allow_other, the caller as owner. */
static int new_attrs(struct fs_state *fs, const char *rel, bool create,
		     mode_t mode, struct stat *st)
{
	struct fuse_context *ctx = fuse_get_context();
	int err;

	if (!create) {
		err = sealdir_stat(fs->sealed_fd, rel, st);
		if (err == 0 && S_ISDIR(st->st_mode))
			err = -EISDIR;
		return err;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (mode & 07777);
	st->st_uid = geteuid();
	st->st_gid = getegid();
	if (fs->opts->allow_other && geteuid() == 0) {
		st->st_uid = ctx->uid;
		st->st_gid = ctx->gid;
	}
	return 0;
}

/* A fresh data key wrapped for seal_key (one wrapKey for an oct key,
 * none for RSA) and the sealer of the new version. */
static int start_sealer(struct fs_state *fs, struct sealfile *sf,
			struct fs_fail *f)
{
	uint8_t dek[SEAL_KEY_LEN];
	struct hsm_call call;
	struct kver *kv = NULL;
	enum hsm_status st;
	int err;

	/* The caller's HSM calls count, as an operation file's do. */
	if ((err = call_slot(fs, f)) != 0)
		return err;
	call_init(&call);
	st = kc_get(fs->kc, &call, fs->opts->seal_key, NULL, &kv);
	if (st == HSM_OK) {
		err = sealkey_new(&fs->env, &call, fs->opts->seal_key, kv,
				  SEAL_SHIFT_DEFAULT, dek, &sf->h, f);
		kver_put(kv);
	}
	call_slot_end(fs);
	if (st != HSM_OK)
		return fail_status(f, st, &call);
	if (err)
		return err;
	err = sealer_new(&sf->h, dek, &sf->s);
	secret_wipe(dek, sizeof(dek));
	return err ? fail_local(f, err, "out of memory") : 0;
}

/* What the name holds at open: nothing (a new file) or the inode a
 * rewrite replaces.  Attribute changes reach the writer, and the commit
 * renames over the name, only while that is still so: the kernel checked
 * a chmod against DIR's file, which may be someone else's by then. */
static void note_target(struct sealfile *sf)
{
	struct stat st;

	sf->was_new = fstatat(sf->parent, sf->name, &st,
			      AT_SYMLINK_NOFOLLOW) != 0;
	sf->was_dev = sf->was_new ? 0 : st.st_dev;
	sf->was_ino = sf->was_new ? 0 : st.st_ino;
}

/* Does the name still hold what it held at open? */
static bool target_same(const struct sealfile *sf)
{
	struct stat st;

	if (fstatat(sf->parent, sf->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return sf->was_new && errno == ENOENT;
	return !sf->was_new && st.st_dev == sf->was_dev &&
	       st.st_ino == sf->was_ino;
}

/* A new file in a set-group-ID directory belongs to its group, as the
 * kernel makes it; the file's own set-group-ID bit then goes unless the
 * group is the caller's (the kernel checks membership; this is the
 * cautious side of it). */
static void group_of_new(struct sealfile *sf)
{
	gid_t gid;

	if (!sealdir_group_of_new(sf->parent, &gid) || gid == sf->st.st_gid)
		return;
	sf->st.st_gid = gid;
	sf->st.st_mode &= ~(mode_t)S_ISGID;
}

static int open_write(struct fs_state *fs, const char *path, const char *rel,
		      bool create, mode_t mode, struct fuse_file_info *fi)
{
	struct sealfile *sf = sf_new(true);
	struct fs_fail f = { .err = 0 };
	int err;

	if (sf == NULL)
		return fs_fail_errno(fs, path, -ENOMEM, NULL);
	sf->armed = create || (fi->flags & O_TRUNC);
	err = new_attrs(fs, rel, create, mode, &sf->st);
	if (err == 0)
		err = sf->fd = sealdir_tmpfile(fs->sealed_fd, rel, &sf->parent,
					       sf->name);
	if (err >= 0)
		note_target(sf);
	if (err >= 0 && create)
		group_of_new(sf);
	if (err >= 0 && (fchown(sf->fd, sf->st.st_uid, sf->st.st_gid) != 0 ||
			 fchmod(sf->fd, sf->st.st_mode & 07777) != 0))
		err = -errno;
	/* What a new file shows until its commit (sv_wstat()): its times
	 * too, not 1970. */
	if (err >= 0 && create && fstat(sf->fd, &sf->st) != 0)
		err = -errno;
	/* Not armed (no O_TRUNC): no data key until ftruncate(0) arms it;
	 * until then every write is refused. */
	if (err >= 0 && sf->armed)
		err = start_sealer(fs, sf, &f);
	if (err < 0) {
		sf_free(sf);
		if (f.err != 0)
			return fs_fail(fs, NULL, path, &f);
		return fs_fail_errno(fs, path, err, err != -EOPNOTSUPP ? NULL :
				     "the filesystem of sealed_dir has no "
				     "O_TMPFILE (unnamed temporary files)");
	}
	/* Writes come as the program makes them, not as pages. */
	fi->direct_io = 1;
	if ((err = sf_handle(fs, path, sf, fi)) == 0)
		writers_add(sf, handle_of(fi)->path);
	return err;
}

int sv_open(struct fs_state *fs, const char *path, const char *rel,
	    struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	struct stat st;
	int err;

	if (acc == O_RDONLY) {
		err = sv_open_read(fs, path, rel, fi);
		/* A new file shows (stat, ls) while it is written, but is
		 * in DIR only once its close saved it. */
		if (err == -ENOENT && sv_wstat(path, &st) == 0)
			return fs_fail_errno(fs, path, -EAGAIN, "a new file "
					     "being written: it can be read "
					     "once its writer's close saved "
					     "it");
		return err;
	}
	if (acc == O_RDWR)
		return fs_fail_errno(fs, path, -EOPNOTSUPP, "a sealed file is "
				     "opened to read or to rewrite whole "
				     "(O_WRONLY|O_TRUNC), not both");
	if (fi->flags & O_APPEND)
		return fs_fail_errno(fs, path, -EOPNOTSUPP, "a sealed file "
				     "cannot be appended to: rewrite it whole "
				     "(>, not >>)");
	return open_write(fs, path, rel, false, 0, fi);
}

int sv_create(struct fs_state *fs, const char *path, const char *rel,
	      mode_t mode, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_WRONLY)
		return fs_fail_errno(fs, path, -EOPNOTSUPP, "a sealed file is "
				     "created write-only (O_WRONLY)");
	return open_write(fs, path, rel, true, mode, fi);
}

/* ------------------------------------------------------------ write */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* What a failed write leaves: the error sticks, nothing is committed. */
static int write_fail(struct fs_state *fs, struct handle *h, int err,
		      const char *msg)
{
	struct sealfile *sf = sf_of(h);

	if (sf->err == 0) {
		sf->err = err;
		sf->why = msg;
	}
	return fs_fail_errno(fs, h->path, err, msg);
}

int sv_write(struct fs_state *fs, struct handle *h, const char *buf,
	     size_t size, off_t off)
{
	struct sealfile *sf = sf_of(h);
	uint8_t *out = NULL;
	size_t len = 0;
	int err;

	if (!sf->writing)
		return fs_fail_errno(fs, h->path, -EBADF, NULL);
	if (sf->done)
		return fs_fail_errno(fs, h->path, -EBADF, "this file was "
				     "sealed at an earlier close of a copy of "
				     "the descriptor: write through one");
	if (sf->err)
		return write_fail(fs, h, sf->err, sf->why);
	if (!sf->armed)
		return write_fail(fs, h, -EOPNOTSUPP, "a sealed file is "
				  "rewritten whole: open it with O_TRUNC");
	if (off < 0 || (uint64_t)off != sf->written)
		return write_fail(fs, h, -ESPIPE, "a sealed file is written "
				  "in order from offset 0: no seeks, no holes");
	err = sealer_update(sf->s, (const uint8_t *)buf, size, &out, &len);
	if (err == 0 && out != NULL)
		err = write_all(sf->fd, out, len);
	free(out);
	if (err)
		return write_fail(fs, h, err, NULL);
	sf->written += size;
	return (int)size;
}

int sv_ftruncate(struct fs_state *fs, struct handle *h, off_t size)
{
	struct sealfile *sf = sf_of(h);

	struct fs_fail f = { .err = 0 };

	if (sf->writing && !sf->done && size == (off_t)sf->written) {
		if (!sf->armed && start_sealer(fs, sf, &f) != 0)
			return fs_fail(fs, NULL, h->path, &f);
		sf->armed = true;
		return 0;
	}
	return fs_fail_errno(fs, h->path, -EOPNOTSUPP, "a sealed file is "
			     "rewritten whole: open it with O_TRUNC and write");
}

/* The last chunk, then durably in place of the former version. */
static int commit(struct fs_state *fs, struct sealfile *sf)
{
	uint8_t *out = NULL;
	size_t len = 0;
	int err;

	/* No more writes; until the file is in place (a fsync of many
	 * megabytes may take seconds) stat and attribute changes still find
	 * it here.  A name showing nothing meanwhile would let the kernel
	 * forget it and another caller make a directory there, which
	 * libfuse would give this file's inode number. */
	pthread_mutex_lock(&writers_lock);
	sf->done = true;
	sf->sealing = true;
	pthread_mutex_unlock(&writers_lock);
	err = sealer_finish(sf->s, &out, &len);
	if (err == 0 && out != NULL)
		err = write_all(sf->fd, out, len);
	free(out);
	/* Times last: the final chunk's write would change them. */
	pthread_mutex_lock(&writers_lock);
	if (err == 0 && sf->times_set && futimens(sf->fd, sf->times) != 0)
		err = -errno;
	pthread_mutex_unlock(&writers_lock);
	if (err == 0 && fsync(sf->fd) != 0)
		err = -errno;
	if (err == 0 && !target_same(sf))
		err = -ESTALE;
	if (err == 0)
		err = sealdir_commit(sf->fd, sf->parent, sf->name);
	/* In DIR now, or nowhere: stat finds it there. */
	pthread_mutex_lock(&writers_lock);
	sf->sealing = false;
	pthread_mutex_unlock(&writers_lock);
	fs_record(fs, &(struct audit_ev){ .key = fs->opts->seal_key,
		  .op = "seal", .err = err });
	return err;
}

/* Does sf's name show its file?  While it is written and while its
 * commit is under way.  writers_lock held. */
static bool shown(const struct sealfile *sf)
{
	return !sf->done || sf->sealing;
}

int sv_wstat(const char *path, struct stat *st)
{
	struct sealfile *sf;
	int err = -ENOENT;

	pthread_mutex_lock(&writers_lock);
	for (sf = writers; sf != NULL && err != 0; sf = sf->next)
		if (shown(sf) && strcmp(sf->path, path) == 0) {
			*st = sf->st;
			st->st_nlink = 1;
			st->st_size = (off_t)sf->written;
			err = 0;
		}
	pthread_mutex_unlock(&writers_lock);
	return err;
}

/* sf's name if its file is in directory dir, else NULL. */
static const char *name_in(const struct sealfile *sf, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(sf->path, dir, n) != 0 || sf->path[n] != '/' ||
	    strchr(sf->path + n + 1, '/') != NULL)
		return NULL;
	return sf->path + n + 1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool sv_wnames_has(char *const *names, size_t n, const char *name)
{
	return n > 0 && bsearch(&name, names, n, sizeof(*names),
				cmp_names) != NULL;
}

void sv_wnames_free(char **names, size_t n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

int sv_wnames(const char *dir, char ***names, size_t *n)
{
	struct sealfile *sf;
	char **v = NULL, **nv, *copy;
	size_t len = 0, cap = 0, i, j;
	const char *name;
	int err = 0;

	pthread_mutex_lock(&writers_lock);
	for (sf = writers; sf != NULL && err == 0; sf = sf->next) {
		if (!shown(sf) || (name = name_in(sf, dir)) == NULL)
			continue;
		if (len == cap) {
			cap = cap ? 2 * cap : 8;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				err = -ENOMEM;
				break;
			}
			v = nv;
		}
		if ((copy = strdup(name)) == NULL)
			err = -ENOMEM;
		else
			v[len++] = copy;
	}
	pthread_mutex_unlock(&writers_lock);
	if (err) {
		sv_wnames_free(v, len);
		return err;
	}
	if (len > 1)		/* v is NULL when there are none */
		qsort(v, len, sizeof(*v), cmp_names);
	for (i = j = 0; i < len; i++)	/* two writers of one name */
		if (j > 0 && strcmp(v[j - 1], v[i]) == 0)
			free(v[i]);
		else
			v[j++] = v[i];
	*names = v;
	*n = j;
	return 0;
}

/* One change to one rewrite.  writers_lock held. */
static int wattr_one(struct sealfile *sf, const struct sv_attr *a)
{
	switch (a->op) {
	case SV_CHMOD:
		if (fchmod(sf->fd, a->mode & 07777) != 0)
			return -errno;
		break;
	case SV_CHOWN:
		if (fchown(sf->fd, a->uid, a->gid) != 0)
			return -errno;
		break;
	case SV_UTIMENS:
		sf->times[0] = a->tv[0];
		sf->times[1] = a->tv[1];
		sf->times_set = true;
		/* Now, for a commit already past its futimens, and again
		 * at the commit, as the writes still to come change them. */
		if (futimens(sf->fd, sf->times) != 0)
			return -errno;
		break;
	}
	/* chown may clear set-id bits: what the file has is the truth. */
	return fstat(sf->fd, &sf->st) != 0 ? -errno : 0;
}

/* Was the change checked against this writer?  The kernel checked it
 * against DIR's file at the name, or, with none, against the new file
 * sv_wstat() showed: the first writer's, so a new file's owner must be
 * the caller too. */
static bool wattr_mine(const struct sealfile *sf)
{
	uid_t uid = fuse_get_context()->uid;

	if (!target_same(sf))
		return false;
	return !sf->was_new || uid == 0 || uid == sf->st.st_uid;
}

int sv_wattr(struct fs_state *fs, const char *path, const struct sv_attr *a)
{
	struct sealfile *sf;
	int n = 0, err = 0;

	pthread_mutex_lock(&writers_lock);
	for (sf = writers; sf != NULL && err == 0; sf = sf->next)
		if (shown(sf) && strcmp(sf->path, path) == 0 &&
		    wattr_mine(sf) && (err = wattr_one(sf, a)) == 0)
			n++;
	pthread_mutex_unlock(&writers_lock);
	return err ? fs_fail_errno(fs, path, err, NULL) : n;
}

/* Is the process closing the file dying of a signal?  Then what it wrote
 * is not all it meant to write. */
static bool closer_killed(void)
{
	struct proc_stat ps;

	if (proc_read_stat("/proc", fuse_get_context()->pid, &ps) != 0)
		return false;
	return (ps.flags & PROC_PF_EXITING) && (ps.exit_code & 0x7f) != 0;
}

/* mountinfo writes space, tab, newline and backslash as \ooo: undone in
 * place. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++, out++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*out = *s;
		}
	}
	*out = '\0';
}

/*
 * The device of mount id in pid's /proc/PID/mountinfo, or (id < 0) of
 * the mount at mp in ours: from the kernel's table, not from a stat,
 * which would call into this filesystem.
 */
static int mount_dev(pid_t pid, int id, const char *mp, dev_t *dev)
{
	char file[64], line[2 * PATH_MAX], where[PATH_MAX + 1];
	unsigned int maj, min;
	int lid, err = -ENOENT;
	FILE *f;

	if (pid > 0)
		snprintf(file, sizeof(file), "/proc/%d/mountinfo", (int)pid);
	else
		snprintf(file, sizeof(file), "/proc/self/mountinfo");
	if ((f = fopen(file, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%d %*d %u:%u %*s %4096s", &lid, &maj, &min,
			   where) != 4)
			continue;
		unescape_octal(where);
		if (id >= 0 ? lid == id : strcmp(where, mp) == 0) {
			*dev = makedev(maj, min);
			err = 0;
		}
	}
	fclose(f);
	return err;
}

/* Is descriptor fd (a name in /proc/pid/fd) open for writing, on the
 * device dev?  A reader of the same file is no copy of the writer's. */
static bool fd_on(pid_t pid, const char *fd, dev_t dev)
{
	char file[32 + NAME_MAX + 1], line[128];
	unsigned int flags = O_RDONLY;
	int id = -1;
	dev_t d;
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/fdinfo/%s", (int)pid, fd);
	if ((f = fopen(file, "re")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "mnt_id: %d", &id) != 1)
			sscanf(line, "flags: %o", &flags);
	fclose(f);
	return (flags & O_ACCMODE) != O_RDONLY && id >= 0 &&
	       mount_dev(pid, id, NULL, &d) == 0 && d == dev;
}

/*
 * Does the process closing a descriptor of path still hold another?  A
 * shell's `cmd > FILE` opens FILE, dup2()s it to 1 and closes the
 * original before cmd writes anything, and its builtins' `>&3` close a
 * dup after each command: such a close is not the end.  Seen in
 * /proc/PID/fd, where the closed descriptor is already gone: a link
 * that ends with path, on this mount's device (a bind mount, a chroot
 * or another namespace shows the mount under another name).
 */
static bool closer_holds(struct fs_state *fs, const char *path)
{
	pid_t pid = fuse_get_context()->pid;
	char dir[64], link[PATH_MAX + 32];
	size_t plen = strlen(path);
	struct dirent *de;
	bool held = false;
	dev_t dev;
	ssize_t n;
	DIR *d;

	if (fs->mountpoint == NULL ||
	    mount_dev(0, -1, fs->mountpoint, &dev) != 0)
		return false;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return false;
	while (!held && (de = readdir(d)) != NULL) {
		n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (n <= 0 || (size_t)n < plen)
			continue;
		link[n] = '\0';
		held = strcmp(link + n - plen, path) == 0 &&
		       fd_on(pid, de->d_name, dev);
	}
	closedir(d);
	return held;
}

static const char *commit_why(int err)
{
	if (err == -ESTALE)
		return "the file was replaced or created by someone else "
		       "while being written; nothing saved";
	return "sealing failed: the file keeps its former version";
}

int sv_flush(struct fs_state *fs, struct handle *h)
{
	struct sealfile *sf = sf_of(h);
	char msg[256];
	int err;

	if (!sf->writing || sf->done)
		return 0;
	if (closer_killed()) {
		sf->done = true;
		log_info("%s: the writer was killed: the former version stays",
			 h->path);
		return 0;
	}
	if (sf->err) {
		/* The close repeats why, and what it means for the file. */
		sf->done = true;
		snprintf(msg, sizeof(msg), "%s; the file keeps its former "
			 "version", sf->why ? sf->why : strerror(-sf->err));
		return fs_fail_errno(fs, h->path, sf->err, msg);
	}
	/* The closer holds another descriptor of the file: a later close
	 * commits.  Nothing written to a rewrite: release commits the
	 * empty file, so that a close before another process (a child)
	 * writes does not lose the former version.  A new empty file is
	 * there at once. */
	if ((sf->written == 0 && !sf->was_new) || closer_holds(fs, h->path))
		return 0;
	err = commit(fs, sf);
	return err ? fs_fail_errno(fs, h->path, err, commit_why(err)) : 0;
}

void sv_release(struct fs_state *fs, struct handle *h)
{
	struct sealfile *sf = sf_of(h);
	int err;

	if (sf->writing && !sf->done && sf->armed && sf->err == 0) {
		/* Nothing was written, the file was truncated: now empty.
		 * Nobody waits for release: the log says it. */
		err = commit(fs, sf);
		if (err)
			log_warn("%s: %s (%s)", h->path, commit_why(err),
				 strerror(-err));
	}
	sv_drop(h);
}

void sv_drop(struct handle *h)
{
	struct sealfile *sf = sf_of(h);

	if (sf == NULL)
		return;
	if (sf->writing)
		writers_del(sf);
	sf_free(sf);
	h->u.sealed.sf = NULL;
}
