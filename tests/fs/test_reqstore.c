/* Unit tests: per-scope requests (own first, newest, isolation, ttl,
 * exec). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeproc.h"
#include "reqstore.h"
#include "tap.h"

static int freed;

static void val_free(void *p)
{
	freed++;
	free(p);
}

static struct scope mk(uid_t uid, pid_t anchor, pid_t self)
{
	struct scope sc = {0};

	sc.uid = uid;
	sc.anchor.pid = anchor;
	sc.anchor.start = (unsigned long long)anchor * 10;
	sc.self.pid = self;
	sc.self.start = (unsigned long long)self * 10;
	sc.chain[0] = sc.self;
	sc.chain[1] = sc.anchor;
	sc.n_chain = 2;
	return sc;
}

static const char *get(struct reqstore *rs, const struct scope *sc, const char *path,
		       int64_t now)
{
	static char buf[64];
	struct rs_ref *r = reqstore_get(rs, sc, path, now);

	if (r == NULL)
		return NULL;
	strcpy(buf, rs_ref_val(r));
	rs_ref_put(rs, r);
	return buf;
}

static void put(struct reqstore *rs, const struct scope *sc, const char *path,
		const char *v, int64_t now)
{
	reqstore_put(rs, sc, path, strdup(v), val_free, false, now);
}

/* Two users (uid 1000 and 0), two shells (anchors 100 and 200); the
 * processes of anchor 100: the shell itself, cat and two programs. */
static struct scope bashA, catA, progA, prog2A, catB, rootA;

/* Isolation, replacement, own request first, the newest for the others. */
static void test_scopes(struct reqstore *rs)
{
	const char *v;

	put(rs, &bashA, "/k/sign", "msg1", 0);
	v = get(rs, &catA, "/k/sign", 10);
	ok(v && strcmp(v, "msg1") == 0, "a reader in the same scope gets the request");
	ok(get(rs, &catB, "/k/sign", 10) == NULL, "another anchor sees nothing");
	ok(get(rs, &rootA, "/k/sign", 10) == NULL, "another uid sees nothing");
	ok(get(rs, &catA, "/k/sign.b64", 10) == NULL, "another file name sees nothing");
	v = get(rs, &catA, "/k/sign", 20);
	ok(v && strcmp(v, "msg1") == 0, "re-readable");

	put(rs, &bashA, "/k/sign", "msg2", 30);
	v = get(rs, &catA, "/k/sign", 40);
	ok(v && strcmp(v, "msg2") == 0, "a new request replaces the old one");
	ok(reqstore_count(rs) == 1, "replaced, not accumulated");

	put(rs, &progA, "/k/sign", "prog", 50);
	ok(reqstore_count(rs) == 2, "a live writer's request stays beside another's");
	v = get(rs, &progA, "/k/sign", 60);
	ok(v && strcmp(v, "prog") == 0, "own request first");
	v = get(rs, &bashA, "/k/sign", 60);
	ok(v && strcmp(v, "msg2") == 0, "own request first, even when another is newer");
	v = get(rs, &catA, "/k/sign", 60);
	ok(v && strcmp(v, "prog") == 0, "others get the newest of the scope");
	{
		/* a reader with no chain goes by its anchor alone */
		struct scope bare = catA;

		bare.n_chain = 0;
		v = get(rs, &bare, "/k/sign", 60);
		ok(v && strcmp(v, "prog") == 0, "no chain: the newest of the anchor");
	}

	/* a reader that is itself the anchor of the writer (exec'd shell) */
	{
		struct scope exec_cat = mk(1000, 999, 100);	/* pid 100 became cat */

		exec_cat.chain[0] = bashA.anchor;
		exec_cat.n_chain = 2;
		put(rs, &bashA, "/k/verify", "v", 70);
		v = get(rs, &exec_cat, "/k/verify", 80);
		ok(v && strcmp(v, "v") == 0, "chain: anchored at the reader itself");
	}
}

/* Expiry, the cap, and references that outlive their entry. */
static void test_lifetime(struct reqstore *rs)
{
	/* expiry */
	ok(get(rs, &catA, "/k/sign", 50 + 1001) == NULL, "expired after the ttl");
	{
		struct rs_ref *r;

		put(rs, &bashA, "/k/x", "x", 2000);
		r = reqstore_get(rs, &catA, "/k/x", 2500);
		rs_ref_touch(rs, r, 2900);
		rs_ref_put(rs, r);
		ok(get(rs, &catA, "/k/x", 3500) != NULL, "touch restarts the ttl");
	}

	/* cap: the oldest go */
	{
		int i;
		char path[16];

		for (i = 0; i < 20; i++) {
			snprintf(path, sizeof(path), "/p%d", i);
			put(rs, &bashA, path, path, 4000);
		}
		ok(reqstore_count(rs) == 8, "bounded");
		ok(get(rs, &catA, "/p19", 4000) && !get(rs, &catA, "/p0", 4000),
		   "the newest are kept");
	}

	/* a value still referenced survives its replacement */
	{
		struct rs_ref *r;

		put(rs, &bashA, "/held", "old", 4100);
		r = reqstore_get(rs, &catA, "/held", 4100);
		freed = 0;
		put(rs, &bashA, "/held", "new", 4101);
		ok(freed == 0 && strcmp(rs_ref_val(r), "old") == 0,
		   "a held reference stays valid");
		rs_ref_put(rs, r);
		ok(freed == 1, "freed at the last reference");
	}
}

static void test_replace_scope(struct reqstore *rs)
{
	const char *v;

	/* replace_scope (the error file) */
	put(rs, &progA, "error", "e1", 6000);
	reqstore_put(rs, &catA, "error", strdup("e2"), val_free, true, 6001);
	v = get(rs, &progA, "error", 6002);
	ok(v && strcmp(v, "e2") == 0, "replace_scope drops other writers' values");

	/* three live writers, one scope: still the newest, whatever the order */
	put(rs, &progA, "/k/enc", "first", 7000);
	put(rs, &bashA, "/k/enc", "second", 7001);
	put(rs, &prog2A, "/k/enc", "third", 7002);
	v = get(rs, &catA, "/k/enc", 7003);
	ok(v && strcmp(v, "third") == 0 && reqstore_count(rs) >= 3,
	   "the newest of three live writers");
}

/* `bash -c 'echo -n one > s; /usr/bin/printf two > s; cat s'`, by the
 * scopes proc_scope() finds in the fake /proc: the shell (300) writes with
 * its builtin echo, a forked child (301, before its exec) writes, and the
 * shell execs cat, the same pid and start time running another program. */
static void test_exec(struct reqstore *rs)
{
	struct scope sc;
	const char *v;

	fake_image(300, "bash", "/usr/bin/bash", 1, 300, 0, 3000, 0x1000);
	fake_image(301, "bash", "/usr/bin/bash", 300, 300, PROC_PF_FORKNOEXEC,
		   3010, 0x1000);
	proc_scope(fakeproc_root, 300, 1000, proc_default_shells, &sc);
	put(rs, &sc, "/k/exec", "one", 8000);
	proc_scope(fakeproc_root, 301, 1000, proc_default_shells, &sc);
	put(rs, &sc, "/k/exec", "two", 8001);

	/* `...; read x < s; true`: the shell itself still reads its own */
	proc_scope(fakeproc_root, 300, 1000, proc_default_shells, &sc);
	v = get(rs, &sc, "/k/exec", 8002);
	ok(v && strcmp(v, "one") == 0, "exec: before it, the writer gets its own");

	fake_image(300, "cat", "/usr/bin/cat", 1, 300, 0, 3000, 0x2000);
	proc_scope(fakeproc_root, 300, 1000, proc_default_shells, &sc);
	v = get(rs, &sc, "/k/exec", 8003);
	ok(v && strcmp(v, "two") == 0,
	   "exec: after it, the same pid is a reader that gets the newest");
	ok(reqstore_count(rs) >= 2, "exec: the shell's request was kept");
}

/* Live writers are kept, dead ones dropped: this process is the writer. */
static void test_real_proc(void)
{
	struct reqstore *rs = reqstore_new(1000, "/proc", 8);
	const char *v;

	{
		struct scope me, other;

		proc_scope("/proc", getpid(), getuid(), proc_default_shells, &me);
		other = me;
		other.self.pid = 1;	/* init: alive, but another start time */
		other.self.start = 1;
		reqstore_put(rs, &me, "/f", strdup("live"), val_free, false, 0);
		reqstore_put(rs, &other, "/f", strdup("dead"), val_free, false, 1);
		v = get(rs, &me, "/f", 2);
		ok(v && strcmp(v, "live") == 0 && reqstore_count(rs) == 2,
		   "a live writer's request is kept and found first");
		{
			struct scope third = other;

			third.self.pid = 2;
			third.self.start = 2;
			reqstore_put(rs, &third, "/f", strdup("third"), val_free, false, 3);
		}
		ok(reqstore_count(rs) == 2, "a dead writer's older request is dropped");
		v = get(rs, &me, "/f", 4);
		ok(v && strcmp(v, "live") == 0, "the live writer's own request survives");
	}
	reqstore_free(rs);
}

/*
 * Per-uid caps (DESIGN.md §3.4): a uid flooding the store from many
 * scopes drops its own oldest, never another uid's; the reaper drops
 * expired entries without a lookup of them.
 */
static void test_per_uid_cap(void)
{
	struct reqstore *rs = reqstore_new(1000, "/proc", 4);
	struct scope root = mk(0, 50, 51), s;
	char v[32];
	const char *got;
	int i;

	put(rs, &root, "/k/sign", "root's", 0);
	for (i = 0; i < 20000; i++) {
		s = mk(1000, 1000 + i, 1000 + i);
		snprintf(v, sizeof(v), "flood %d", i);
		put(rs, &s, "/k/sign", v, 1);
	}
	is_int(reqstore_uid_count(rs, 1000), 4, "the flooding uid holds its cap");
	is_int(reqstore_count(rs), 5, "and nothing more");
	got = get(rs, &root, "/k/sign", 2);
	ok(got && strcmp(got, "root's") == 0, "root's request survived");
	s = mk(1000, 1000 + 19996, 1000 + 19996);
	got = get(rs, &s, "/k/sign", 2);
	ok(got && strcmp(got, "flood 19996") == 0, "the newest four stay");
	s = mk(1000, 1000 + 19995, 1000 + 19995);
	ok(get(rs, &s, "/k/sign", 2) == NULL, "the oldest went");
	/* At 1001 root's (touched at 0) has expired: a put of another uid
	 * reaps it. */
	s = mk(2000, 60, 61);
	put(rs, &s, "/other", "x", 1001);
	is_int(reqstore_uid_count(rs, 0), 0, "reaped without a lookup");
	is_int(reqstore_count(rs), 5, "the fresh ones stay");
	reqstore_free(rs);
}

int main(void)
{
	static const pid_t alive[] = { 100, 101, 102, 103, 200, 201 };
	struct reqstore *rs;
	size_t w;

	bashA = mk(1000, 100, 100);
	catA = mk(1000, 100, 101);
	progA = mk(1000, 100, 102);
	prog2A = mk(1000, 100, 103);
	catB = mk(1000, 200, 201);
	rootA = mk(0, 100, 101);
	/* A fake /proc where those processes are alive (with the start times
	 * mk() gives them), so a writer's request stays while it runs: the
	 * store then holds several requests of one scope and must pick the
	 * newest. */
	if (fakeproc_new() == NULL) {
		perror("mkdtemp");
		return 1;
	}
	for (w = 0; w < sizeof(alive) / sizeof(alive[0]); w++)
		fake(alive[w], "prog", NULL, 1, alive[w], 0,
		     (unsigned long long)alive[w] * 10);
	rs = reqstore_new(1000, fakeproc_root, 8);
	test_scopes(rs);
	test_lifetime(rs);
	test_replace_scope(rs);
	test_exec(rs);
	reqstore_free(rs);
	ok(fakeproc_remove() == 0, "fake /proc removed");

	test_real_proc();
	test_per_uid_cap();
	return done_testing();
}
