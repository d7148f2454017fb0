"""sealed/, the view of -o sealed_dir=DIR,seal_key=NAME (DESIGN.md §3.3).

Legacy programs read DIR's sealed blobs as plaintext files; writes seal.
Every blob here is made through the view itself (cp, shell redirection,
Python) and judged by what comes back, by the raw bytes in DIR and by the
emulator's counters.
"""
import errno
import hashlib
import mmap
import os
import random
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import hsmtest
from hsmtest import read_to_eof

NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"
MAGIC = b"HSMFSEAL"


class View:
    """A mount with a sealed view, under a directory every uid may enter
    (pytest's tmp_path is private to root)."""

    def __init__(self, emu, key="rsa-2048", ttl=60, options=(), mnt="mnt"):
        self.top = tempfile.mkdtemp(prefix="hsmfs-sealed-")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "dir")
        os.mkdir(self.dir)
        self.emu = emu
        # audit=off: the audit trail is tested elsewhere, and a busy
        # syslog socket must not hold this test's closes.
        opts = [f"sealed_dir={self.dir}", f"seal_key={key}", f"dek_ttl={ttl}",
                "audit=off"] + list(options)
        self.m = hsmtest.Mount(emu, os.path.join(self.top, mnt), options=opts)
        self.mnt = self.m.path
        self.sealed = os.path.join(self.mnt, "sealed")

    def close(self):
        try:
            if self.m.proc.poll() is None:
                self.m.umount()
            else:
                self.m.cleanup()
                raise AssertionError("hsmfs died: " + self.m.log()[-3000:])
        finally:
            shutil.rmtree(self.top, ignore_errors=True)

    def s(self, name):
        return os.path.join(self.sealed, name)

    def raw(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return f.read()

    def put(self, name, data):
        with open(self.s(name), "wb") as f:
            f.write(data)

    def get(self, name):
        with open(self.s(name), "rb") as f:
            return f.read()


@pytest.fixture(scope="module")
def view(emulator):
    v = View(emulator)
    try:
        yield v
    finally:
        v.close()


@pytest.fixture
def view_factory(emulator):
    made = []

    def make(**kw):
        v = View(kw.pop("emu", emulator), **kw)
        made.append(v)
        return v
    yield make
    for v in made:
        v.close()


def sh(cmd, check=True, timeout=60):
    return hsmtest.sh(cmd, check=check, timeout=timeout)


def oserror(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return e.errno
    return None


# -- the tree -----------------------------------------------------------------

def test_sealed_listed_only_with_the_option(mnt, view):
    assert "sealed" not in os.listdir(mnt.path)
    assert not os.path.exists(os.path.join(mnt.path, "sealed"))
    assert "sealed" in os.listdir(view.mnt)
    assert os.path.isdir(view.sealed)


def test_options_are_checked(emulator, tmp_path):
    def run(opts):
        return subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-f", "-o", opts,
                               emulator.url, str(tmp_path)],
                              capture_output=True, timeout=30, env=emulator.env())
    r = run(f"cafile={emulator.ca},sealed_dir={tmp_path}")
    assert r.returncode != 0 and b"seal_key=NAME" in r.stderr, r
    r = run(f"cafile={emulator.ca},seal_key=rsa-2048")
    assert r.returncode != 0 and b"needs sealed_dir" in r.stderr, r
    r = run(f"cafile={emulator.ca},sealed_dir={tmp_path}/none,seal_key=rsa-2048")
    assert r.returncode != 0 and b"No such file" in r.stderr, r
    r = run(f"cafile={emulator.ca},sealed_dir={tmp_path},seal_key=rsa-2048,dek_ttl=0")
    assert r.returncode != 0 and b"dek_ttl=0 is out of range" in r.stderr, r
    r = subprocess.run([hsmtest.bin_path("fs/hsmfs"), "--help"], capture_output=True)
    assert b"sealed_dir=DIR" in r.stdout and b"dek_ttl=S" in r.stdout
    with open(os.path.join(hsmtest.REPO, "man", "hsmfs.1")) as f:
        man = f.read()
    for word in ("sealed_dir=", "seal_key=", "dek_ttl=", "THE SEALED VIEW", "EBADMSG"):
        assert word in man, word
    with open(os.path.join(hsmtest.REPO, "README.md")) as f:
        readme = f.read()
    assert "cp secret.txt /mnt/hsm/sealed/" in readme
    assert "db_password_file = /mnt/hsm/sealed/db-password" in readme


def test_readme_in_the_mount_names_sealed(view):
    with open(os.path.join(view.mnt, "README")) as f:
        assert "sealed/" in f.read()


# -- reading --------------------------------------------------------------------

DATA = bytes(random.Random(7).getrandbits(8) for _ in range(3 * 65536 + 12345))


@pytest.fixture(scope="module")
def big(view):
    """A multi-chunk secret sealed with cp, as a user would."""
    src = os.path.join(view.top, "big.bin")
    with open(src, "wb") as f:
        f.write(DATA)
    sh(f"cp {src} {view.sealed}/")
    return "big.bin"


def test_cp_seals_into_dir(view, big):
    raw = view.raw(big)
    assert raw.startswith(MAGIC)
    assert DATA[1000:1064] not in raw
    assert os.stat(view.s(big)).st_size == len(DATA)
    assert len(raw) > len(DATA)                # header and tags


def test_legacy_read_patterns(view, big):
    p = view.s(big)
    want = hashlib.sha256(DATA).hexdigest()
    assert sh(f"cat {p} | sha256sum").stdout.split()[0].decode() == want
    assert sh(f"sha256sum {p}").stdout.split()[0].decode() == want
    out = os.path.join(view.top, "copy.bin")
    sh(f"cp {p} {out}")
    with open(out, "rb") as f:
        assert f.read() == DATA
    r = sh(f"dd if={p} bs=1000 skip=150 count=20 status=none")
    assert r.stdout == DATA[150000:170000]
    r = sh(f"dd if={p} bs=1 skip=200000 status=none")
    assert r.stdout == DATA[200000:]
    with open(p, "rb") as f:
        assert f.read() == DATA               # Python's open().read()
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        assert m[:] == DATA
        assert m[65530:65560] == DATA[65530:65560]


C_READER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	struct stat st;
	int fd = open(argv[1], O_RDONLY);
	char *buf;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) != 0)
		return 2;
	buf = malloc(st.st_size + 1);
	n = read(fd, buf, st.st_size);	/* one read of st_size bytes */
	if (n != st.st_size)
		return 3;
	fwrite(buf, 1, n, stdout);
	return 0;
}
"""


def test_c_program_reads_st_size_bytes(view, big):
    src = os.path.join(view.top, "reader.c")
    exe = os.path.join(view.top, "reader")
    with open(src, "w") as f:
        f.write(C_READER)
    sh(f"cc -o {exe} {src}")
    r = subprocess.run([exe, view.s(big)], capture_output=True)
    assert r.returncode == 0 and r.stdout == DATA, r.returncode
    view.put("password", b"hunter2\n")
    r = subprocess.run([exe, view.s("password")], capture_output=True)
    assert r.returncode == 0 and r.stdout == b"hunter2\n"


def test_random_offsets_equal_the_original(view, big):
    rnd = random.Random(11)
    fd = os.open(view.s(big), os.O_RDONLY)
    try:
        for _ in range(300):
            off = rnd.randrange(0, len(DATA) + 10)
            n = rnd.choice([1, 15, 16, 17, 4096, 65535, 65536, 65537, 200000])
            assert os.pread(fd, n, off) == DATA[off:off + n], (off, n)
    finally:
        os.close(fd)


def test_sizes_at_chunk_edges(view):
    for n in (0, 1, 65535, 65536, 65537, 131072):
        data = os.urandom(n)
        view.put(f"edge{n}", data)
        assert os.stat(view.s(f"edge{n}")).st_size == n
        assert view.get(f"edge{n}") == data, n


def test_cp_p_keeps_mode_and_times(view):
    src = os.path.join(view.top, "keep.txt")
    with open(src, "wb") as f:
        f.write(b"x" * 70000)
    os.chmod(src, 0o640)
    os.utime(src, (1500000000, 1500000000))
    for _ in range(2):                                  # new, then a rewrite
        sh(f"cp -p {src} {view.sealed}/")
        st = os.stat(os.path.join(view.dir, "keep.txt"))
        assert (st.st_mode & 0o777, int(st.st_mtime)) == (0o640, 1500000000)
        assert view.get("keep.txt") == b"x" * 70000
    sh(f"touch -d @1600000000 {view.s('keep.txt')}")
    assert int(os.stat(os.path.join(view.dir, "keep.txt")).st_mtime) == 1600000000


def test_empty_rewrite_with_the_shell(view):
    view.put("e", b"something")
    sh(f": > {view.s('e')}")
    time.sleep(0.2)                      # committed at release
    assert view.get("e") == b"" and view.raw("e").startswith(MAGIC)
    sh(f"echo hello > {view.s('e')}")   # bash closes a dup before writing
    assert view.get("e") == b"hello\n"


# -- what is not plaintext -----------------------------------------------------

def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 1]))


def test_not_a_blob_is_listed_and_ebadmsg(view):
    with open(os.path.join(view.dir, "plain.txt"), "w") as f:
        f.write("I was never sealed\n")
    assert "plain.txt" in os.listdir(view.sealed)
    assert oserror(view.get, "plain.txt") == errno.EBADMSG
    r = sh(f"cat {view.s('plain.txt')}", check=False)
    assert r.returncode != 0 and r.stdout == b"" and b"Bad message" in r.stderr
    assert b"not a sealed blob" in sh(f"cat {view.mnt}/error").stdout


def chunk_off(raw, i):
    """Where chunk i starts (the header's length from its fields)."""
    k = int.from_bytes(raw[12:14], "big")
    w = int.from_bytes(raw[14 + k:16 + k], "big")
    return 23 + k + w + i * (65536 + 16)


def test_tampered_chunk_fails_the_read_that_reaches_it(view, big):
    shutil.copy(os.path.join(view.dir, big), os.path.join(view.dir, "t1"))
    raw = view.raw("t1")
    flip(os.path.join(view.dir, "t1"), chunk_off(raw, 2) + 100)
    fd = os.open(view.s("t1"), os.O_RDONLY)
    try:
        assert os.pread(fd, 1000, 0) == DATA[:1000]        # chunk 0 is fine
        assert oserror(os.pread, fd, 1000, 2 * 65536 + 5) == errno.EBADMSG
    finally:
        os.close(fd)
    r = sh(f"cat {view.s('t1')} | wc -c; exit ${{PIPESTATUS[0]}}", check=False)
    assert r.returncode != 0 and b"Bad message" in r.stderr
    assert int(r.stdout) < 2 * 65536 + 4096            # nothing past the bad chunk


def test_truncated_and_extended_and_swapped(view, big):
    raw = view.raw(big)
    cases = {
        "drop-last": raw[:chunk_off(raw, 3)],
        "drop-middle": raw[:chunk_off(raw, 1)] + raw[chunk_off(raw, 2):],
        "swap": raw[:chunk_off(raw, 0)] + raw[chunk_off(raw, 1):chunk_off(raw, 2)]
        + raw[chunk_off(raw, 0):chunk_off(raw, 1)] + raw[chunk_off(raw, 2):],
        "tag": raw[:-1] + bytes([raw[-1] ^ 0x80]),
    }
    view.put("other", b"another blob of the same key")
    other = view.raw("other")
    cases["header-swap"] = other[:chunk_off(other, 0)] + raw[chunk_off(raw, 0):]
    for name, blob in cases.items():
        with open(os.path.join(view.dir, name), "wb") as f:
            f.write(blob)
        err = oserror(view.get, name)
        assert err == errno.EBADMSG, (name, err)
    with open(os.path.join(view.dir, "cut"), "wb") as f:
        f.write(raw[:chunk_off(raw, 1) + 10])           # size not valid
    assert oserror(view.get, "cut") == errno.EBADMSG


# -- the data-key cache ----------------------------------------------------------

def test_one_unwrap_per_file_per_dek_ttl(emulator, view_factory):
    v = view_factory(ttl=2)
    v.put("a", b"alpha")
    v.put("b", b"beta")
    emulator.reset_stats()
    for _ in range(3):
        assert v.get("a") == b"alpha"
        assert v.get("b") == b"beta"
        sh(f"cat {v.s('a')} {v.s('b')} > /dev/null")
    assert emulator.op_count("unwrapkey") == 2          # one per file
    time.sleep(2.5)
    assert v.get("a") == b"alpha"
    assert emulator.op_count("unwrapkey") == 3          # a expired
    v.put("a", b"rewritten")                              # a new header
    assert v.get("a") == b"rewritten"
    assert emulator.op_count("unwrapkey") == 4


def test_read_handle_keeps_its_key_past_dek_ttl(emulator, view_factory):
    """An open read handle keeps its data key for its life: past dek_ttl,
    with the HSM refusing, the rest of the file still reads (it unwrapped
    again mid-file, and failed)."""
    v = view_factory(ttl=1)
    data = os.urandom(300000)
    v.put("long", data)
    with open(v.s("long"), "rb", buffering=0) as f:
        head = f.read(100000)
        emulator.reset_stats()
        emulator.faults(ops=["unwrapkey"], status=500)
        try:
            time.sleep(1.5)                     # past dek_ttl
            rest = read_to_eof(f.fileno(), 65536)
        finally:
            emulator.clear_faults()
    assert head + rest == data
    assert emulator.op_count("unwrapkey") == 0


def test_unwrap_takes_a_call_slot(emulator, view_factory):
    """The unwrap at an uncached open is the caller's HSM call: with
    max_calls=1 and one unwrap in flight, another file's open is EAGAIN
    naming max_calls; once it ended, the open works."""
    v = view_factory(options=["max_calls=1"])
    v.put("a", b"alpha")
    v.put("b", b"beta")
    got = []
    emulator.faults(ops=["unwrapkey"], latency_ms=1500)
    try:
        t = threading.Thread(target=lambda: got.append(v.get("a")))
        t.start()
        time.sleep(0.7)                         # its unwrap is in flight
        assert oserror(v.get, "b") == errno.EAGAIN
        assert "max_calls" in open(os.path.join(v.mnt, "error")).read()
        t.join(timeout=30)
    finally:
        emulator.clear_faults()
    assert got == [b"alpha"] and v.get("b") == b"beta"


# -- writing ---------------------------------------------------------------------

def test_write_patterns_refused(view):
    view.put("w", b"old")
    p = view.s("w")
    assert oserror(os.open, p, os.O_WRONLY | os.O_APPEND) == errno.EOPNOTSUPP
    assert oserror(os.open, p, os.O_RDWR) == errno.EOPNOTSUPP
    fd = os.open(p, os.O_WRONLY)                        # no O_TRUNC
    try:
        assert oserror(os.write, fd, b"x") == errno.EOPNOTSUPP
    finally:
        assert oserror(os.close, fd) == errno.EOPNOTSUPP
    assert oserror(os.truncate, p, 0) == errno.EOPNOTSUPP
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, b"abc")
        assert oserror(os.pwrite, fd, b"x", 100) == errno.ESPIPE
    finally:
        assert oserror(os.close, fd) == errno.ESPIPE   # the close says it too
    assert view.get("w") == b"old"
    assert b"in order from offset 0" in sh(f"cat {view.mnt}/error").stdout
    assert [n for n in os.listdir(view.dir) if n.startswith(".hsmfs")] == []


def test_killed_writer_leaves_the_old_version(view):
    view.put("k", b"version one\n")
    p = view.s("k")
    w = subprocess.Popen(["python3", "-c",
                          "import sys, time\n"
                          f"f = open({p!r}, 'wb')\n"
                          "f.write(b'x' * 300000); f.flush()\n"
                          "print('written', flush=True); time.sleep(60)\n"],
                         stdout=subprocess.PIPE)
    assert w.stdout.readline() == b"written\n"
    w.send_signal(signal.SIGKILL)
    w.wait()
    time.sleep(0.3)
    assert view.get("k") == b"version one\n"
    assert "k" in os.listdir(view.dir)
    assert [n for n in os.listdir(view.dir) if n.startswith(".")] == []


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_hsm_error_while_sealing_keeps_the_old_version(emulator, view_factory):
    v = view_factory(key="aes-256")                     # oct: one wrapKey
    v.put("db-password", b"old secret\n")
    assert v.get("db-password") == b"old secret\n"
    emulator.faults(ops=["wrapkey"], status=403)
    try:
        r = sh(f"echo new secret > {v.s('db-password')}", check=False)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r
        assert oserror(v.put, "new-file", b"x") == errno.EACCES
    finally:
        emulator.clear_faults()
    assert v.get("db-password") == b"old secret\n"
    assert "new-file" not in os.listdir(v.sealed)
    assert sorted(os.listdir(v.dir)) == ["db-password"]
    assert b"InjectedFault" in sh(f"cat {v.mnt}/error").stdout or \
        b"code:" in sh(f"cat {v.mnt}/error").stdout
    v.put("db-password", b"new secret\n")
    assert v.get("db-password") == b"new secret\n"


def test_full_disk_keeps_the_old_version(emulator, view_factory):
    v = view_factory()
    small = os.path.join(v.top, "small")
    os.mkdir(small)
    sh(f"mount -t tmpfs -o size=256k tmpfs {small}")
    try:
        os.mkdir(os.path.join(v.dir, "tiny"))
        # a directory of DIR on a full disk: bind the small tmpfs there
        sh(f"mount --bind {small} {v.dir}/tiny")
        try:
            v.put("tiny/s", b"fits\n")
            fd = os.open(v.s("tiny/s"), os.O_WRONLY | os.O_TRUNC)
            errs = set()
            try:
                for _ in range(40):
                    try:
                        os.write(fd, b"y" * 65536)
                    except OSError as e:
                        errs.add(e.errno)
                        break
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    errs.add(e.errno)
            assert errs == {errno.ENOSPC}, errs
            assert v.get("tiny/s") == b"fits\n"
            assert os.listdir(small) == ["s"]
        finally:
            sh(f"umount {v.dir}/tiny")
    finally:
        sh(f"umount {small}")


def test_directories_rename_unlink_pass_through(view):
    os.mkdir(view.s("tls"))
    assert os.path.isdir(os.path.join(view.dir, "tls"))
    view.put("tls/server.key", b"-----BEGIN PRIVATE KEY-----\n")
    assert view.raw("tls/server.key").startswith(MAGIC)
    os.rename(view.s("tls/server.key"), view.s("server.key"))
    assert os.path.exists(os.path.join(view.dir, "server.key"))
    assert view.get("server.key") == b"-----BEGIN PRIVATE KEY-----\n"
    os.rmdir(view.s("tls"))
    assert not os.path.exists(os.path.join(view.dir, "tls"))
    os.unlink(view.s("server.key"))
    assert not os.path.exists(os.path.join(view.dir, "server.key"))
    view.put("p", b"x")
    assert oserror(os.rename, view.s("p"),
                   os.path.join(view.mnt, "keys", "x")) == errno.EXDEV


def test_links_in_dir_are_not_followed(view):
    outside = os.path.join(view.top, "outside")
    os.mkdir(outside)
    view.put("lnsrc", b"a valid blob\n")
    with open(os.path.join(outside, "target"), "wb") as f:
        f.write(view.raw("lnsrc"))               # a valid blob, outside DIR
    os.symlink(os.path.join(outside, "target"), os.path.join(view.dir, "ln"))
    os.symlink(outside, os.path.join(view.dir, "lndir"))
    names = os.listdir(view.sealed)
    assert "ln" not in names and "lndir" not in names
    assert oserror(view.get, "ln") == errno.ENOENT
    assert oserror(view.get, "lndir/target") == errno.ENOENT
    assert oserror(view.put, "lndir/new", b"x") == errno.ENOENT
    assert oserror(os.chmod, view.s("ln"), 0o666) == errno.ENOENT
    assert os.listdir(outside) == ["target"]
    assert oct(os.stat(os.path.join(outside, "target")).st_mode & 0o777) != "0o666"


# -- who reads ---------------------------------------------------------------------

def test_modes_of_dir_decide_who_reads(view_factory):
    v = view_factory(options=["allow_other", "default_permissions"])
    v.put("open", b"for everyone\n")
    v.put("closed", b"root only\n")
    os.chmod(v.s("open"), 0o644)
    os.chmod(v.s("closed"), 0o600)
    assert os.stat(os.path.join(v.dir, "closed")).st_mode & 0o777 == 0o600
    assert os.stat(v.s("closed")).st_mode & 0o777 == 0o600
    r = sh(f"{NOBODY} cat {v.s('open')}")
    assert r.stdout == b"for everyone\n"
    r = sh(f"{NOBODY} cat {v.s('closed')}", check=False)
    assert r.returncode != 0 and b"Permission denied" in r.stderr and r.stdout == b""
    os.chown(v.s("closed"), 0, 65534)
    os.chmod(v.s("closed"), 0o640)
    assert os.stat(os.path.join(v.dir, "closed")).st_gid == 65534
    r = sh(f"{NOBODY} cat {v.s('closed')}")
    assert r.stdout == b"root only\n"
    v.put("closed", b"rotated\n")                       # a rewrite keeps them
    st = os.stat(os.path.join(v.dir, "closed"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 65534, 0o640)
    assert sh(f"{NOBODY} cat {v.s('closed')}").stdout == b"rotated\n"


def test_new_files_are_the_callers(view_factory):
    v = view_factory(options=["allow_other", "default_permissions"])
    v.put("password", b"root's\n")
    os.mkdir(v.s("drop"))
    os.chmod(v.s("drop"), 0o777)
    sh(f"{NOBODY} bash -c 'umask 077; echo mine > {v.s('drop/n')}'")
    st = os.stat(os.path.join(v.dir, "drop", "n"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o600)
    assert sh(f"{NOBODY} cat {v.s('drop/n')}").stdout == b"mine\n"
    r = sh(f"{NOBODY} bash -c 'echo theirs > {v.s('password')}'", check=False)
    assert r.returncode != 0 and b"Permission denied" in r.stderr



def test_a_setgid_directory_passes_its_group_on(view_factory):
    """A group-shared tree stays shared: in a set-group-ID directory a new
    directory and a new file belong to the directory's group (and the new
    directory keeps the bit), as the kernel does on a disk, though the
    caller is not in that group; the file's own set-group-ID bit goes."""
    v = view_factory(options=["allow_other", "default_permissions"])
    os.mkdir(v.s("team"))
    os.chown(v.s("team"), 0, 4242)
    os.chmod(v.s("team"), 0o2777)
    assert os.stat(os.path.join(v.dir, "team")).st_mode & 0o7777 == 0o2777
    sh(f"{NOBODY} bash -c 'umask 002; mkdir {v.s('team/sub')} && echo ours > {v.s('team/sub/f')}'")
    sh(f"{NOBODY} /usr/bin/python3 -c 'import os; os.close(os.open(\"{v.s('team/g')}\", "
       f"os.O_CREAT | os.O_WRONLY, 0o2775))'")
    for rel, mode in (("team/sub", 0o2775), ("team/sub/f", 0o664), ("team/g", 0o755)):
        on_disk = os.stat(os.path.join(v.dir, rel))
        seen = os.stat(v.s(rel))
        assert (on_disk.st_uid, on_disk.st_gid, on_disk.st_mode & 0o7777) == (65534, 4242, mode), rel
        assert (seen.st_uid, seen.st_gid, seen.st_mode & 0o7777) == (65534, 4242, mode), rel
    assert sh(f"{NOBODY} cat {v.s('team/sub/f')}").stdout == b"ours\n"


def test_a_new_file_being_written_shows_its_times(view):
    """Until its close a new file is not in DIR: stat and ls show the file
    being written, with its size so far and the time it was made, or
    touched (a touch holds through the writes after it); a reader is told
    to come back (EAGAIN)."""
    t0 = time.time()
    fd = os.open(view.s("fresh"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, b"so far")
        st = os.stat(view.s("fresh"))
        assert st.st_size == 6 and st.st_mode & 0o777 == 0o640
        assert t0 - 2 <= st.st_mtime <= time.time() + 2, st
        os.utime(view.s("fresh"), (5, 7))       # shown at once, kept
        assert os.stat(view.s("fresh")).st_mtime == 7
        os.write(fd, b" and more")
        assert os.listdir(view.sealed).count("fresh") == 1   # and by ls
        with pytest.raises(BlockingIOError):    # EAGAIN: read it later
            open(view.s("fresh"), "rb")
    finally:
        os.close(fd)
    assert view.get("fresh") == b"so far and more"
    assert os.stat(view.s("fresh")).st_mtime == 7
    assert os.listdir(view.sealed).count("fresh") == 1


def test_files_being_written_are_listed_once_in_their_directory(view):
    """ls shows a file being written once: a rewrite (also in DIR) and a
    new file (not yet), each in its own directory only."""
    view.put("again", b"one")
    os.mkdir(view.s("lsd"))
    with open(view.s("again"), "wb") as f, \
            open(view.s("lsd/inner"), "wb") as g:
        f.write(b"two")
        f.flush()
        g.write(b"in")
        g.flush()
        assert os.listdir(view.sealed).count("again") == 1
        assert "inner" not in os.listdir(view.sealed)
        assert os.listdir(view.s("lsd")) == ["inner"]
    assert os.listdir(view.sealed).count("again") == 1
    assert os.listdir(view.s("lsd")) == ["inner"]
    assert view.get("again") == b"two" and view.get("lsd/inner") == b"in"


def test_a_blob_of_another_key_is_not_opened(emulator, view, view_factory):
    """The view unseals with seal_key only: a blob someone put in DIR that
    names another key is not unwrapped with the daemon's rights."""
    other = view_factory(key="rsa-3072")
    other.put("theirs", b"sealed under rsa-3072\n")
    shutil.copy(os.path.join(other.dir, "theirs"), os.path.join(view.dir, "theirs"))
    emulator.reset_stats()
    assert oserror(view.get, "theirs") == errno.EBADMSG
    assert emulator.op_count("unwrapkey") == 0
    assert b"another key" in sh(f"cat {view.mnt}/error").stdout


def test_a_rewrite_is_read_at_once(view):
    view.put("fresh", b"A" * 100000)
    assert view.get("fresh") == b"A" * 100000          # pages cached
    view.put("fresh", b"B" * 100000)
    assert view.get("fresh") == b"B" * 100000
    fd = os.open(view.s("fresh"), os.O_RDONLY)
    try:
        first = os.pread(fd, 10, 0)
        view.put("fresh", b"C" * 5)                    # renamed over it
        assert first == b"B" * 10
        assert os.pread(fd, 10, 70000) == b"B" * 10    # this open's version
    finally:
        os.close(fd)
    assert view.get("fresh") == b"C" * 5


def test_view_and_keys_seal_unseal_interoperate(view):
    """cp into sealed/ makes what keys/NAME/unseal opens; keys/NAME/seal
    makes what sealed/ reads."""
    src = os.path.join(view.top, "secret.txt")
    with open(src, "wb") as f:
        f.write(b"s3cr3t\n" * 20000)                   # three chunks
    sh(f"cp {src} {view.sealed}/")
    keys = os.path.join(view.mnt, "keys", "rsa-2048")
    out = sh(f"cat {view.dir}/secret.txt > {keys}/unseal; cat {keys}/unseal").stdout
    assert out == b"s3cr3t\n" * 20000
    sh(f"cat {src} > {keys}/seal; cat {keys}/seal > {view.dir}/by-shell")
    assert view.get("by-shell") == b"s3cr3t\n" * 20000
    assert os.stat(view.s("by-shell")).st_size == 7 * 20000


def test_data_keys_live_in_locked_undumped_memory(view):
    """The data-key region: one mapping of 1024 keys of 32 bytes, locked
    (VmFlags lo) and excluded from core dumps (dd)."""
    view.put("for-a-key", b"x")
    view.get("for-a-key")
    with open(f"/proc/{view.m.proc.pid}/smaps") as f:
        maps = f.read().split("\n")
    found = []
    size = None
    for line in maps:
        if line.startswith("Size:"):
            size = line.split()[1]
        elif line.startswith("VmFlags:"):
            flags = line.split()[1:]
            if "dd" in flags:
                found.append((size, "lo" in flags, "wf" in flags))
    # (32 bytes, locked, wiped in forked children); ASan's mlock() does nothing
    assert ("32", not hsmtest.sanitized(), True) in found, found


VICTIM = NOBODY
# In the mount's group, to get past the mount's root.
ATTACKER = "setpriv --reuid=1002 --regid=65534 --clear-groups"


def slow_victim_write(path, create):
    """The victim (umask 077) opens path write-only and truncating (create:
    "os.O_CREAT | " or ""), writes a secret, and closes 2 s later; it
    prints 'closed' or 'errno N' for the close."""
    return subprocess.Popen(VICTIM.split() + ["/usr/bin/python3", "-c", f"""
import os, time
os.umask(0o077)
fd = os.open({path!r}, {create}os.O_WRONLY | os.O_TRUNC, 0o666)
os.write(fd, b'TOPSECRET')
time.sleep(2)
try:
    os.close(fd)
    print('closed')
except OSError as e:
    print('errno', e.errno)
"""], stdout=subprocess.PIPE)


def test_a_new_file_stays_there_while_its_close_saves_it(view):
    """The close that saves a new file seals its last chunk, syncs it and
    moves it into DIR: all along the file is there.  A stat that found
    nothing in that window would let the kernel drop the name, another
    user make a directory there, and libfuse hand that directory the
    writer's inode number (which the kernel then marks bad: EIO), and the
    commit fail.  A mkdir, a chmod and a touch (which always reach the
    daemon) and a stat are tried without pause through the whole close."""
    p = view.s("in-the-window")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    # (with the window open, 8 closes in 8 lost the file to the mkdir:
    # ESTALE, a directory at the name)
    block = os.urandom(1 << 20)
    for _ in range(48):         # enough dirty data for a fsync of note
        os.write(fd, block)
    seen = {"missing": [], "during": 0}
    closed = threading.Event()

    def meddle():
        while not closed.is_set():
            seen["during"] += 1
            try:
                os.mkdir(p)
                seen["missing"].append("a directory made at the name")
            except FileExistsError:
                pass
            try:
                os.chmod(p, 0o640)
                os.utime(p, (seen["during"], 1000 + seen["during"]))
                seen["mtime"] = 1000 + seen["during"]
                if not stat.S_ISREG(os.stat(p).st_mode):
                    seen["missing"].append("not a file")
            except FileNotFoundError as e:
                seen["missing"].append(repr(e))

    # The kernel keeps the name 1 s (entry_timeout): after that the first
    # mkdir asks the daemon whether it is there.
    time.sleep(1.2)
    t = threading.Thread(target=meddle)
    t.start()
    try:
        os.close(fd)
    finally:
        closed.set()
        t.join(30)
    assert seen["during"] > 0, "nothing was tried while the close saved the file"
    assert seen["missing"] == [], seen
    st = os.stat(p)
    assert st.st_size == 48 << 20 and st.st_mode & 0o777 == 0o640
    # the last touch is not lost: DIR's file has it
    assert os.stat(os.path.join(view.dir, "in-the-window")).st_mtime == \
        seen["mtime"]
    with open(p, "rb") as f:
        assert f.read(1 << 20) == block


def test_a_name_taken_while_written_is_not_overwritten(view_factory):
    """Another user creates DIR's file at the name a new file is being
    written to and chmods it through the view: the change is not applied
    to the writer's file, and its close saves nothing (ESTALE)."""
    v = view_factory(options=["allow_other", "default_permissions"])
    os.mkdir(v.s("drop"))
    os.chmod(v.s("drop"), 0o777)
    z = v.s("drop/z")
    victim = slow_victim_write(z, "os.O_CREAT | ")
    time.sleep(0.8)
    raw = os.path.join(v.dir, "drop", "z")
    sh(f"{ATTACKER} bash -c 'touch {raw} && chmod 0666 {z}'")
    out = victim.communicate(timeout=30)[0]
    assert out.split() == [b"errno", str(errno.ESTALE).encode()]
    st = os.stat(raw)
    assert (st.st_uid, st.st_size) == (1002, 0)     # the attacker's, as made
    r = sh(f"{ATTACKER} cat {z}", check=False)
    assert b"TOPSECRET" not in r.stdout
    assert [n for n in os.listdir(os.path.dirname(raw))
            if n.startswith(".hsmfs")] == []


def test_a_rewrite_keeps_its_attributes_when_the_file_is_replaced(view_factory):
    """A rewrite of a file that is then replaced by another user's (mv
    through the view) gets none of that user's chmod, and is not saved
    over the new file."""
    v = view_factory(options=["allow_other", "default_permissions"])
    os.mkdir(v.s("drop"))
    os.chmod(v.s("drop"), 0o777)
    y = v.s("drop/y")
    sh(f"{VICTIM} bash -c 'umask 077; echo old > {y}'")
    sh(f"{ATTACKER} bash -c 'echo mine > {v.s('drop/a')}'")
    victim = slow_victim_write(y, "")
    time.sleep(0.8)
    sh(f"{ATTACKER} bash -c 'mv -f {v.s('drop/a')} {y} && chmod 0666 {y}'")
    out = victim.communicate(timeout=30)[0]
    assert out.split() == [b"errno", str(errno.ESTALE).encode()]
    assert sh(f"{ATTACKER} cat {y}").stdout == b"mine\n"


def test_shell_rewrite_through_a_bind_mount(view):
    """The shell's close of the descriptor it dup2()ed to 1 is not the
    end, whatever name the mount has for the process."""
    view.put("c", b"v1\n")
    mnt2 = os.path.join(view.top, "bind")
    os.mkdir(mnt2)
    sh(f"mount --bind {view.mnt} {mnt2}")
    try:
        sh(f"echo v2 > {mnt2}/sealed/c")
        assert view.get("c") == b"v2\n"
        builtins_write(view, f"{mnt2}/sealed/w4")
        assert view.get("w4") == b"line1\nline2\n"
    finally:
        sh(f"umount {mnt2}")


def test_shell_builtins_write_through_a_kept_descriptor(view):
    """bash's printf >&3 dups 3 onto 1 and closes the dup after each
    command: all of it is saved, at the close of 3."""
    builtins_write(view, view.s("w3"))
    assert view.get("w3") == b"line1\nline2\n"


def test_shell_builtins_write_under_a_mount_point_with_spaces(view_factory):
    """The mount found in /proc/self/mountinfo, which escapes a space as
    \\040: a name with spaces is the same mount."""
    v = view_factory(mnt="sealed files\tand more")
    w = v.s("w6")
    r = sh(f"bash -c 'exec 3>\"$0\"; printf \"line1\\n\" >&3; "
           f"printf \"line2\\n\" >&3; exec 3>&-' {shlex.quote(w)}; echo rc=$?", check=False)
    assert r.stdout == b"rc=0\n", r
    assert v.get("w6") == b"line1\nline2\n"


def builtins_write(view, w):
    r = sh(f"bash -c \"exec 3>{w}; printf 'line1\\n' >&3; "
           f"printf 'line2\\n' >&3; exec 3>&-\"; echo rc=$?", check=False)
    assert r.stdout == b"rc=0\n", r


def test_a_close_before_any_write_saves_nothing(view):
    """A descriptor shared with a child that writes later: the parent's
    close, before any write, does not save an empty file."""
    view.put("f", b"old\n")
    p = view.s("f")
    r = sh(f"""/usr/bin/python3 -c "
import os, time
fd = os.open('{p}', os.O_WRONLY | os.O_TRUNC)
pid = os.fork()
if pid == 0:
    time.sleep(0.5)
    os.write(fd, b'child\\\\n')
    os.close(fd)
    os._exit(0)
os.close(fd)
print(os.waitpid(pid, 0)[1])
" """, check=False)
    assert r.stdout == b"0\n", r
    assert view.get("f") == b"child\n"


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_writes_take_the_callers_call_slots(emulator, view_factory):
    """The wrapKey of an open for writing is one of the caller's HSM
    calls (max_calls: EAGAIN past it); an open that refuses every write
    (no O_TRUNC) makes none until ftruncate(0) arms it."""
    v = view_factory(key="aes-256", options=["max_calls=1"])
    v.put("s", b"old\n")
    emulator.reset_stats()
    fd = os.open(v.s("s"), os.O_WRONLY)                # no O_TRUNC
    try:
        assert emulator.op_count("wrapkey") == 0
        os.ftruncate(fd, 0)
        os.write(fd, b"armed\n")
    finally:
        os.close(fd)
    assert emulator.op_count("wrapkey") == 1 and v.get("s") == b"armed\n"
    v.put("u", b"u\n")            # opened without O_CREAT: a create holds
    emulator.faults(ops=["wrapkey"], latency_ms=1500)   # the directory
    try:
        slow = subprocess.Popen(["/usr/bin/python3", "-c",
                                 f"open({v.s('t')!r}, 'wb').write(b'x')"])
        time.sleep(0.7)                                  # its call in flight
        e = oserror(lambda: os.close(os.open(v.s("u"), os.O_WRONLY |
                                             os.O_TRUNC)))
        assert slow.wait(timeout=30) == 0
    finally:
        emulator.clear_faults()
    assert e == errno.EAGAIN
    assert b"max_calls" in sh(f"cat {v.mnt}/error").stdout
    assert v.get("t") == b"x" and v.get("u") == b"u\n"


VALGRIND = ("valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "
            "--show-leak-kinds=definite --num-callers=30 --suppressions=" +
            os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "valgrind.supp"))


def test_sealed_handles_open_at_exit_are_freed(emulator, monkeypatch):
    """A daemon told to stop (SIGTERM) while sealed files are open, whose
    RELEASE never comes, frees what they hold (the sealed file, its data
    key, a writer's place) and commits nothing: the rewrite under way
    leaves the former version.  Judged by LeakSanitizer in a sanitized
    build, else by valgrind on this one mount."""
    if not hsmtest.sanitized() and "HSMFS_DAEMON_WRAPPER" not in os.environ:
        monkeypatch.setenv("HSMFS_DAEMON_WRAPPER", VALGRIND)
    v = View(emulator)
    try:
        v.put("kept", b"k" * 100000)
        v.put("old", b"former version\n")
        before = v.raw("old")
        r = os.open(v.s("kept"), os.O_RDONLY)
        assert os.read(r, 10) == b"k" * 10
        w = os.open(v.s("old"), os.O_WRONLY | os.O_TRUNC)
        os.write(w, b"half of a new version")
        v.m.proc.send_signal(signal.SIGTERM)     # it unmounts (lazily)
        rc = v.m.proc.wait(300)
        for fd in (r, w):
            try:
                os.close(fd)
            except OSError:
                pass
        assert rc == 0, f"hsmfs exited {rc}: {v.m.log()[-3000:]}{v.m.wrapper_report()}"
        v.m.check_wrapper()
        assert v.raw("old") == before           # the former version's blob
        assert sorted(os.listdir(v.dir)) == ["kept", "old"]     # no temporary left
    finally:
        v.m.cleanup()
        shutil.rmtree(v.top, ignore_errors=True)
