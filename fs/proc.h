/*
 * proc.h - caller identity and request scopes (DESIGN.md §4.2).
 *
 * A scope is the caller's uid plus its anchor: the nearest process at or
 * above the caller whose program is a shell, else the caller's session
 * leader.  Processes are named by pid and start time (from
 * /proc/PID/stat) so that a reused pid never matches, and the program a
 * process runs by its image, which every execve changes.
 */
#ifndef HSMFS_FS_PROC_H
#define HSMFS_FS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_id {
	pid_t pid;
	unsigned long long start;	/* clock ticks after boot */
	/* The program it runs (proc_stat.image): changes at each execve;
	 * 0 when /proc does not say.  Only a scope's self carries it, for
	 * "is this the program that wrote?": a process that exec'd is
	 * still alive and still the same anchor. */
	uint64_t image;
};

#define PROC_CHAIN_MAX 32

struct scope {
	uid_t uid;
	struct proc_id anchor;
	struct proc_id self;		/* the calling process, its image too */
	/* The caller, its ancestors, up to and including the anchor: a
	 * reader also sees requests anchored at any of them (a shell that
	 * exec'd its last command, as `bash -c 'a; cat f'` does, becomes
	 * the reader while it is still the writer's anchor). */
	struct proc_id chain[PROC_CHAIN_MAX];
	unsigned n_chain;
};

/* What /proc/PID/stat says about a process. */
struct proc_stat {
	char comm[32];
	pid_t ppid;
	pid_t sid;
	unsigned long long start;
	unsigned long flags;		/* PF_* bits (field 9) */
	/* Which program the process runs: a digest of the memory layout
	 * execve sets up (fields 45-51: start_data, end_data, start_brk,
	 * arg_start, arg_end, env_start, env_end).  Each execve builds a
	 * new layout, randomised (ASLR) and sized by the binary, argv and
	 * environment; fork copies it, and otherwise only prctl(PR_SET_MM),
	 * which needs CAP_SYS_RESOURCE, moves it.  It comes from the read
	 * that gives pid and start time: no extra syscall, no race between
	 * them.  comm (field 2) was not enough: a program may rename itself
	 * and bash exec'ing bash keeps it; nor was the inode of
	 * /proc/PID/exe: one more syscall, and the same for bash exec'ing
	 * bash.  Without ASLR the same binary run again with argv and
	 * environment of the same sizes looks the same; then pid and start
	 * time decide, as they did.  0 when unknown: the kernel shows zeros
	 * to a reader not allowed to ptrace-read the process (another uid
	 * when hsmfs is not root, a non-dumpable process), and kernels
	 * before 3.5 lack the fields. */
	uint64_t image;
	/* Field 52: the exit status in waitpid(2)'s form, set once the
	 * process is exiting (PROC_PF_EXITING): a signal in its low 7 bits
	 * means it was killed.  0 when unknown (as image). */
	int exit_code;
};

/* A process that is exiting: its descriptors are being closed. */
#define PROC_PF_EXITING 0x4ul

/* A process that forked and has not exec'd (a subshell, or a shell's
 * child between fork and exec, which is where redirections are opened). */
#define PROC_PF_FORKNOEXEC 0x40ul

/*
 * Parse one /proc/PID/stat line (comm may hold spaces and parentheses).
 * Returns 0 or -EINVAL.
 */
int proc_parse_stat(const char *line, struct proc_stat *out);

/*
 * Read PID's stat under proc_root ("/proc", or a fake tree in tests).
 * Returns 0, -ENOENT when the process is gone, -EINVAL when malformed.
 */
int proc_read_stat(const char *proc_root, pid_t pid, struct proc_stat *out);

/*
 * Read PID's command name (/proc/PID/comm, without the newline) into comm
 * (len bytes, NUL-terminated).  Unlike PID/stat, whose read sums over every
 * thread of the process, this costs the same whatever the caller's thread
 * count.  Returns 0 or -ENOENT when the process is gone.
 */
int proc_read_comm(const char *proc_root, pid_t pid, char *comm, size_t len);

/*
 * Is PID's program a shell?  The program is the basename of the
 * /proc/PID/exe link (so a "#!/bin/bash" script counts, whatever its
 * comm), else comm when the link cannot be read.  shells is a
 * NULL-terminated list of basenames.
 */
bool proc_is_shell(const char *proc_root, pid_t pid, const char *comm,
		   const char *const *shells);

/*
 * Compute the scope of a caller.  A shell that is a forked copy of its
 * parent (PF_FORKNOEXEC: a subshell, or `cmd > file` opened between fork
 * and exec) is not an anchor: its parent shell is.  Never fails: if /proc cannot be read
 * the anchor is the caller itself (so nothing is shared by mistake).
 */
void proc_scope(const char *proc_root, pid_t pid, uid_t uid,
		const char *const *shells, struct scope *out);

/* Is the process still the one named by id (same pid and start time)? */
bool proc_alive(const char *proc_root, const struct proc_id *id);

/* The default shell list: bash sh dash zsh ksh ash busybox fish. */
extern const char *const proc_default_shells[];

#endif
