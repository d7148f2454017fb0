"""The system-call fuzzer (tests/fs/sysfuzz.py) for a bounded time, and
the defects it found, each as its own test.

HSMFS_SYSFUZZ_SECONDS (default 60) sets the fuzzing time, HSMFS_SYSFUZZ_SEED
the seed (printed at the start of every run), HSMFS_SYSFUZZ_CALL_TIMEOUT the
seconds a call may take before it counts as a hang (default 30).  Long runs:
scripts/sysfuzz SECONDS.
"""
import errno
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import hsmtest
import sysfuzz

NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"


@pytest.fixture
def shared(emulator_factory):
    """A private demo-key emulator (the fuzzer creates and deletes keys) and
    a mount every uid can reach, with allow_other, default_permissions and
    allow_delete."""
    emu = emulator_factory(demo_keys=True)
    top = tempfile.mkdtemp(prefix="hsmfs-sysfuzz-")
    os.chmod(top, 0o755)
    m = sysfuzz.mount_for_fuzzing(emu, top)
    try:
        yield m
        if m.proc.poll() is None:
            m.umount()          # strict: the daemon must exit 0
        else:
            raise AssertionError("hsmfs died: " + m.log()[-3000:])
    finally:
        m.cleanup()
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_sysfuzz(shared):
    seconds = float(os.environ.get("HSMFS_SYSFUZZ_SECONDS", 60))
    seed = os.environ.get("HSMFS_SYSFUZZ_SEED")
    timeout = float(os.environ.get("HSMFS_SYSFUZZ_CALL_TIMEOUT", 30))
    res = sysfuzz.run(shared, seconds, seed, timeout)
    print(res.summary())
    assert not res.failures, res.summary() + "\n" + shared.log()[-3000:]
    # It did fuzz: every kind of call was made, by every uid.
    made = {c for c, n in res.counts.items() if sum(n.values())}
    assert {"open", "read", "write", "mmap", "rename", "setxattr",
            "copy_file_range", "flock", "readdir"} <= made, made
    assert res.counts["open"]["ok"] > 0 and res.signs >= 10
    # Nothing leaks per call: of ~10,000 successful opens, none left a
    # descriptor behind (the daemon's own fds are its log, /dev/fuse and
    # the keep-alive connections of its pool, which grows with the
    # concurrency, not with the calls), and memory stays bounded.
    rss0, fds0, _ = res.before
    rss1, fds1, _ = res.after
    assert fds1 <= fds0 + 100, res.summary()
    # Under ASan freed memory waits in a quarantine of 256 MB.
    with open("/proc/%d/maps" % shared.proc.pid) as f:
        asan = "libasan" in f.read()
    assert rss1 < (1536 if asan else 512) * 1024, res.summary()


def _open_errno(path, flags):
    try:
        os.close(os.open(path, flags))
    except OSError as e:
        return e.errno
    return 0


def test_o_trunc_on_a_read_only_file_is_refused(shared):
    """Found by the fuzzer (a SIGBUS touching a mapping of README): an
    open(O_RDONLY|O_TRUNC) of a read-only file succeeded, the kernel took
    the file as emptied, and a concurrent `cat README` read nothing."""
    m = shared.path
    for f in ("README", "keys/ec-p256/public.pem", "keys/ec-p256/info",
              "keys/rsa-2048/versions", "status"):
        p = os.path.join(m, f)
        want = errno.EISDIR if f.endswith("versions") else errno.EACCES
        assert _open_errno(p, os.O_RDONLY | os.O_TRUNC) == want, f
    # What a user saw: reads of README while another process opens it
    # with O_TRUNC.
    p = os.path.join(m, "README")
    size = os.stat(p).st_size
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            _open_errno(p, os.O_RDONLY | os.O_TRUNC)
        os._exit(0)
    short = reads = 0
    end = time.monotonic() + 2
    while time.monotonic() < end:
        with open(p, "rb") as f:
            short += len(f.read()) != size
        reads += 1
    os.waitpid(pid, 0)
    assert short == 0, "%d of %d reads of README were short" % (short, reads)
    # Operation files still take O_TRUNC: `echo > sign` opens so.
    r = hsmtest.sh("echo -n msg > %s/keys/ec-p256/sign && cat %s/keys/ec-p256/sign | wc -c" % (m, m))
    assert int(r.stdout) > 60


def test_symlink_is_eperm_like_link(shared):
    """Found by the fuzzer: symlink answered ENOSYS ("function not
    implemented"), an errno that blames the system, not the request."""
    m = shared.path
    for target, name in (("/etc/passwd", "keys/ec-p256/x"), ("README", "lnk")):
        with pytest.raises(OSError) as e:
            os.symlink(target, os.path.join(m, name))
        assert e.value.errno == errno.EPERM, name
    r = subprocess.run(["bash", "-c", "%s ln -s README %s/lnk2" % (NOBODY, m)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "not implemented" not in r.stderr, r


def test_log_lines_cannot_be_forged(shared):
    """Found by the fuzzer (its random bytes came out raw in the daemon's
    log): a file name or a ctl command put a newline or terminal escapes
    into the log, so whoever may use the mount could write lines that look
    like the daemon's."""
    m = shared.path
    forged = "hsmfs: keysx: forged line"
    for name in ("a\n" + forged, "b\r" + forged, "c\x1b[2J\x1b[Hd"):
        with pytest.raises(OSError):
            os.mkdir(os.path.join(m, "keys", name))
        with pytest.raises(OSError):
            with open(os.path.join(m, "ctl"), "w") as f:
                f.write("bogus" + name.replace("\n", " "))
    log = shared.log()
    assert log.count("forged line") == 2, log[-3000:]   # the mkdirs
    assert "\n" + forged not in log, log[-3000:]
    bad = [l for l in log.splitlines() if any(ord(c) < 32 and c != "\t" for c in l) or "\x7f" in l]
    assert not bad, bad


# The stalled-syslog regression is tests/fs/test_observe.py's
# test_audit_syslog_reader_that_stops_reading.
