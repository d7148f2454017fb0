/*
 * fakeproc.h - a fake /proc tree for the unit tests of fs/proc.c and
 * fs/reqstore.c: ROOT/PID/stat as proc_read_stat() reads it, and
 * ROOT/PID/exe -> the program.  Header-only, like tap.h.
 */
#ifndef HSMFS_TESTS_FS_FAKEPROC_H
#define HSMFS_TESTS_FS_FAKEPROC_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fakeproc_root[PATH_MAX];

/* Make an empty tree under /tmp; returns its path (NULL on failure). */
__attribute__((unused))
static const char *fakeproc_new(void)
{
	snprintf(fakeproc_root, sizeof(fakeproc_root), "/tmp/hsmfs-proc-test.XXXXXX");
	return mkdtemp(fakeproc_root);
}

/* A process: PID/stat (comm, ppid, session, PF_* flags, start time) and,
 * unless exe is NULL, PID/exe -> exe. */
__attribute__((unused))
static void fake(int pid, const char *comm, const char *exe, int ppid, int sid,
		 unsigned long flags, unsigned long long start)
{
	char p[PATH_MAX + 32];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%d", fakeproc_root, pid);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/%d/stat", fakeproc_root, pid);
	f = fopen(p, "w");
	if (f == NULL)
		return;
	fprintf(f, "%d (%s) S %d %d %d 0 -1 %lu 0 0 0 0 1 2 0 0 20 0 1 0 %llu 100 200\n",
		pid, comm, ppid, pid, sid, flags, start);
	fclose(f);
	if (exe != NULL) {
		snprintf(p, sizeof(p), "%s/%d/exe", fakeproc_root, pid);
		unlink(p);
		if (symlink(exe, p) != 0)
			perror(p);
	}
}

/* Remove the tree; returns 0 on success. */
__attribute__((unused))
static int fakeproc_remove(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fakeproc_root);
	return system(cmd);
}

#endif
