/*
 * proc.c - anchors and scopes from /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

const char *const proc_default_shells[] = {
	"bash", "sh", "dash", "zsh", "ksh", "ash", "busybox", "fish",
	"mksh", "rbash", NULL,
};

/* The fields proc_parse_stat() keeps; the last one it reads. */
#define STAT_IMAGE_FIRST 45
#define STAT_IMAGE_LAST 51
#define STAT_EXIT_CODE 52
#define STAT_LAST 52

static bool stat_wanted(int field)
{
	return field == 4 || field == 6 || field == 9 || field == 22 ||
	       field >= STAT_IMAGE_FIRST;
}

static void stat_store(struct proc_stat *out, int field, unsigned long long v)
{
	if (field == 4)
		out->ppid = (pid_t)v;
	else if (field == 6)
		out->sid = (pid_t)v;
	else if (field == 9)
		out->flags = (unsigned long)v;
	else if (field == 22)
		out->start = v;
	else if (field == STAT_EXIT_CODE)
		out->exit_code = (int)v;
	else	/* FNV-1a-like; all zeros (unknown) stay 0 */
		out->image = (out->image ^ v) * 0x100000001b3ull;
}

int proc_parse_stat(const char *line, struct proc_stat *out)
{
	const char *open = strchr(line, '(');
	const char *close = strrchr(line, ')');
	const char *p;
	size_t n;
	int field;
	char *end;

	memset(out, 0, sizeof(*out));
	if (open == NULL || close == NULL || close < open)
		return -EINVAL;
	n = (size_t)(close - open - 1);
	if (n >= sizeof(out->comm))
		n = sizeof(out->comm) - 1;
	memcpy(out->comm, open + 1, n);
	out->comm[n] = '\0';
	/* After ") " come: state(3) ppid(4) pgrp(5) session(6) ...
	 * starttime(22) ... the layout of the image (45-51). */
	p = close + 1;
	for (field = 3; field <= STAT_LAST; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n') {
			if (field <= 22)
				return -EINVAL;
			/* The rest is optional: without all of the image
			 * (kernels before 3.5) it is unknown. */
			if (field <= STAT_IMAGE_LAST)
				out->image = 0;
			return 0;
		}
		if (stat_wanted(field)) {
			unsigned long long v;

			errno = 0;
			v = strtoull(p, &end, 10);
			if (end == p || errno)
				return -EINVAL;
			stat_store(out, field, v);
			p = end;
		} else {
			while (*p != ' ' && *p != '\0')
				p++;
		}
	}
	return 0;
}

int proc_read_stat(const char *proc_root, pid_t pid, struct proc_stat *out)
{
	char path[PATH_MAX], line[2048];	/* 52 fields of 20 digits fit */
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/stat", proc_root, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	line[n] = '\0';
	return proc_parse_stat(line, out);
}

int proc_read_comm(const char *proc_root, pid_t pid, char *comm, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (len == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%d/comm", proc_root, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, comm, len - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	if (comm[n - 1] == '\n')
		n--;
	comm[n] = '\0';
	return 0;
}

bool proc_is_shell(const char *proc_root, pid_t pid, const char *comm,
		   const char *const *shells)
{
	char path[PATH_MAX], exe[PATH_MAX];
	const char *base = comm;
	ssize_t n;
	size_t i;

	snprintf(path, sizeof(path), "%s/%d/exe", proc_root, (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* An exe replaced on disk reads "/usr/bin/bash (deleted)". */
		char *del = strstr(exe, " (deleted)");

		if (del != NULL)
			*del = '\0';
		base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	}
	for (i = 0; shells[i] != NULL; i++)
		if (strcmp(base, shells[i]) == 0)
			return true;
	return false;
}

static void chain_add(struct scope *sc, pid_t pid, unsigned long long start)
{
	if (sc->n_chain < PROC_CHAIN_MAX) {
		sc->chain[sc->n_chain].pid = pid;
		sc->chain[sc->n_chain].start = start;
		sc->n_chain++;
	} else {
		/* Keep the anchor as the last element whatever the depth. */
		sc->chain[PROC_CHAIN_MAX - 1].pid = pid;
		sc->chain[PROC_CHAIN_MAX - 1].start = start;
	}
}

void proc_scope(const char *proc_root, pid_t pid, uid_t uid,
		const char *const *shells, struct scope *out)
{
	struct proc_stat st, self;
	pid_t cur = pid;
	int depth;

	memset(out, 0, sizeof(*out));
	out->uid = uid;
	out->self.pid = pid;
	out->anchor.pid = pid;
	if (proc_read_stat(proc_root, pid, &self) != 0) {
		chain_add(out, pid, 0);
		return;
	}
	out->self.start = self.start;
	out->self.image = self.image;
	out->anchor.start = self.start;
	st = self;
	/* Bounded walk: a pid cycle in a corrupt fake tree must not hang. */
	for (depth = 0; depth < 256 && cur > 1; depth++) {
		chain_add(out, cur, st.start);
		if (!(st.flags & PROC_PF_FORKNOEXEC) &&
		    proc_is_shell(proc_root, cur, st.comm, shells)) {
			out->anchor.pid = cur;
			out->anchor.start = st.start;
			return;
		}
		cur = st.ppid;
		if (cur <= 1 || proc_read_stat(proc_root, cur, &st) != 0)
			break;
	}
	/* No shell above: the session leader anchors, if it still exists. */
	if (self.sid > 0 && proc_read_stat(proc_root, self.sid, &st) == 0) {
		out->anchor.pid = self.sid;
		out->anchor.start = st.start;
		chain_add(out, self.sid, st.start);
	} else {
		out->n_chain = 1;	/* the caller alone */
	}
}

bool proc_alive(const char *proc_root, const struct proc_id *id)
{
	struct proc_stat st;

	return proc_read_stat(proc_root, id->pid, &st) == 0 &&
	       st.start == id->start;
}
