/* Unit tests: /proc parsing and scope anchors, on a fake /proc tree. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fakeproc.h"
#include "proc.h"
#include "tap.h"

int main(void)
{
	struct proc_stat st;
	struct scope sc;
	const char *const shells[] = { "bash", "dash", NULL };
	const char *root;

	ok(proc_parse_stat("42 (a (b) c) R 7 42 9 0 -1 4194368 0 0 0 0 1 2 0 0 20 0 1 0 12345 1 2",
			   &st) == 0 && strcmp(st.comm, "a (b) c") == 0 && st.ppid == 7 &&
	   st.sid == 9 && st.start == 12345 && st.flags == 4194368,
	   "comm with spaces and parentheses");
	ok(st.image == 0, "no memory layout (before Linux 3.5): image unknown");
	{
		/* fields 23-44, then the layout 45-51 and exit_code 52 */
		static const char head[] = "42 (cat) R 7 42 9 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 12345"
			" 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22";
		char line[512];
		uint64_t a, b;

		snprintf(line, sizeof(line), "%s 100 200 300 400 500 600 700 0\n", head);
		ok(proc_parse_stat(line, &st) == 0 && st.start == 12345 &&
		   st.image != 0, "a full stat line: the image");
		a = st.image;
		snprintf(line, sizeof(line), "%s 100 200 300 401 500 600 700 0\n", head);
		proc_parse_stat(line, &st);
		b = st.image;
		snprintf(line, sizeof(line), "%s 100 200 300 400 500 600 700 0\n", head);
		proc_parse_stat(line, &st);
		ok(a != b && st.image == a, "another layout, another image; the same, the same");
		snprintf(line, sizeof(line), "%s 0 0 0 0 0 0 0 0\n", head);
		ok(proc_parse_stat(line, &st) == 0 && st.image == 0,
		   "a layout hidden from us (zeros): image unknown");
		snprintf(line, sizeof(line), "%s 100 200 300\n", head);
		ok(proc_parse_stat(line, &st) == 0 && st.image == 0,
		   "a partial layout: image unknown");
	}
	ok(proc_parse_stat("42 (x) R 7", &st) == -EINVAL, "truncated stat is EINVAL");
	ok(proc_parse_stat("garbage", &st) == -EINVAL, "no comm is EINVAL");

	/* the real /proc: this process exists and is alive */
	proc_scope("/proc", getpid(), getuid(), proc_default_shells, &sc);
	ok(sc.self.pid == getpid() && sc.self.start > 0 && proc_alive("/proc", &sc.self),
	   "own identity from /proc");
	ok(sc.self.image != 0, "own image from /proc (Linux 3.5 and later)");
	{
		struct proc_id gone = sc.self;

		gone.start++;
		ok(!proc_alive("/proc", &gone), "a different start time is another process");
	}

	{
		/* comm of the calling thread: what FUSE gives is a thread id */
		char comm[32], small[4];

		prctl(PR_SET_NAME, "hsmfs-comm-t");
		ok(proc_read_comm("/proc", getpid(), comm, sizeof(comm)) == 0 &&
		   strcmp(comm, "hsmfs-comm-t") == 0, "comm: the name, no newline");
		ok(proc_read_comm("/proc", (pid_t)syscall(SYS_gettid), comm,
				  sizeof(comm)) == 0 &&
		   strcmp(comm, "hsmfs-comm-t") == 0, "comm of a thread id");
		ok(proc_read_comm("/proc", getpid(), small, sizeof(small)) == 0 &&
		   strcmp(small, "hsm") == 0, "comm: cut to the buffer");
		ok(proc_read_comm("/proc", 0x3fffffff, comm, sizeof(comm)) == -ENOENT,
		   "comm of a pid that does not exist: -ENOENT");
	}

	root = fakeproc_new();
	if (root == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* session 10 (login) -> 20 bash -> 30 bash script -> 40 timeout -> 50 cat */
	fake(10, "login", "/usr/bin/login", 1, 10, 0, 100);
	fake(20, "bash", "/usr/bin/bash", 10, 10, 0, 200);
	fake(30, "myscript.sh", "/usr/bin/bash", 20, 10, 0, 300);
	fake(40, "timeout", "/usr/bin/timeout", 30, 10, 0, 400);
	fake(50, "cat", "/usr/bin/cat", 40, 10, 0, 500);
	proc_scope(root, 50, 1000, shells, &sc);
	ok(sc.uid == 1000 && sc.anchor.pid == 30 && sc.anchor.start == 300,
	   "nearest shell above (a #! script counts by its exe)");
	ok(sc.n_chain == 3 && sc.chain[0].pid == 50 && sc.chain[1].pid == 40 &&
	   sc.chain[2].pid == 30, "chain: caller, ancestors, anchor");
	proc_scope(root, 30, 1000, shells, &sc);
	ok(sc.anchor.pid == 30 && sc.self.pid == 30, "a shell anchors itself");

	/* a forked subshell (PF_FORKNOEXEC) is not an anchor */
	fake(60, "bash", "/usr/bin/bash", 30, 10, PROC_PF_FORKNOEXEC, 600);
	proc_scope(root, 60, 1000, shells, &sc);
	ok(sc.anchor.pid == 30, "a subshell anchors at its parent shell");

	/* no shell at all: the session leader */
	fake(70, "daemon", "/usr/sbin/daemon", 1, 70, 0, 700);
	fake(80, "worker", "/usr/bin/python3", 70, 70, 0, 800);
	proc_scope(root, 80, 0, shells, &sc);
	ok(sc.anchor.pid == 70 && sc.anchor.start == 700, "without a shell: the session");

	/* the shell list is configurable; comm is used when exe is unreadable */
	fake(90, "zsh", NULL, 20, 10, 0, 900);
	fake(91, "cat", "/usr/bin/cat", 90, 10, 0, 910);
	proc_scope(root, 91, 0, shells, &sc);
	ok(sc.anchor.pid == 20, "zsh is not in this list: bash above anchors");
	proc_scope(root, 91, 0, proc_default_shells, &sc);
	ok(sc.anchor.pid == 90, "zsh is in the default list (by comm)");

	/* a vanished caller anchors at itself, sharing nothing */
	proc_scope(root, 12345, 0, shells, &sc);
	ok(sc.anchor.pid == 12345 && sc.n_chain == 1, "unknown pid: scope of its own");

	ok(fakeproc_remove() == 0, "cleanup");
	return done_testing();
}
