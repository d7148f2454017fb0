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

/* A process: PID/stat (comm, ppid, session, PF_* flags, start time and,
 * unless layout is 0, the memory layout execve set up: fields 45-51 are
 * layout, layout+1, ... as a kernel since 3.5 shows them) and, unless exe
 * is NULL, PID/exe -> exe.  Calling it again for a pid is an execve
 * (another comm, exe and layout) or a new process (another start). */
__attribute__((unused))
static void fake_image(int pid, const char *comm, const char *exe, int ppid,
		       int sid, unsigned long flags, unsigned long long start,
		       unsigned long long layout)
{
	char p[PATH_MAX + 32];
	FILE *f;
	int i;

	snprintf(p, sizeof(p), "%s/%d", fakeproc_root, pid);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/%d/stat", fakeproc_root, pid);
	f = fopen(p, "w");
	if (f == NULL)
		return;
	fprintf(f, "%d (%s) S %d %d %d 0 -1 %lu 0 0 0 0 1 2 0 0 20 0 1 0 %llu 100 200",
		pid, comm, ppid, pid, sid, flags, start);
	if (layout != 0) {
		for (i = 25; i <= 44; i++)	/* rsslim ... cguest_time */
			fputs(" 0", f);
		for (i = 45; i <= 51; i++)	/* start_data ... env_end */
			fprintf(f, " %llu", layout + (unsigned long long)(i - 45));
		fputs(" 0", f);			/* exit_code */
	}
	fputc('\n', f);
	fclose(f);
	if (exe != NULL) {
		snprintf(p, sizeof(p), "%s/%d/exe", fakeproc_root, pid);
		unlink(p);
		if (symlink(exe, p) != 0)
			perror(p);
	}
}

/* A process as a kernel before 3.5 shows it: no layout, image unknown. */
__attribute__((unused))
static void fake(int pid, const char *comm, const char *exe, int ppid, int sid,
		 unsigned long flags, unsigned long long start)
{
	fake_image(pid, comm, exe, ppid, sid, flags, start, 0);
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
