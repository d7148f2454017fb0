"""Calls made through an open handle (DESIGN.md §3.2, §4.3).

hsmfs mounts with nullpath_ok: libfuse passes a NULL path to every
callback it calls through an open handle (ftruncate, fstat, read, write,
flush, release, readdir, releasedir, and setattr's chmod/chown/utimens
when the kernel names the handle).  Each test runs on a private mount so
that a daemon killed by one of them is seen at once, and checks after
every step that the daemon still answers.
"""
import errno
import os
import stat
import subprocess

import pytest


def kp(m, name, f=""):
    return os.path.join(m.path, "keys", name, f)


def alive(m):
    assert m.proc.poll() is None, "hsmfs died: " + m.log()[-2000:]
    assert "ec-p256" in os.listdir(os.path.join(m.path, "keys"))


def errno_of(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


@pytest.fixture
def m(emulator, mount_factory):
    return mount_factory(emulator)


def test_truncate_command_on_operation_file(m):
    """`truncate -s 0 sign`: open(O_WRONLY|O_CREAT), then ftruncate(fd, 0)."""
    r = subprocess.run(["truncate", "-s", "0", kp(m, "ec-p256", "sign")],
                       capture_output=True, timeout=30)
    alive(m)
    # truncating an operation file to 0 is the no-op `echo > sign` relies on
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["truncate", "-s", "5", kp(m, "ec-p256", "sign")],
                       capture_output=True, timeout=30)
    alive(m)
    assert r.returncode != 0 and b"Permission denied" in r.stderr
    # everything else is read-only: the open fails before any truncate
    r = subprocess.run(["truncate", "-s", "0", kp(m, "ec-p256", "public.pem")],
                       capture_output=True, timeout=30)
    alive(m)
    assert r.returncode != 0 and b"Permission denied" in r.stderr


@pytest.mark.parametrize("mode", [os.O_RDWR, os.O_WRONLY])
def test_calls_on_an_operation_fd(m, mode):
    fd = os.open(kp(m, "ec-p256", "sign"), mode)
    try:
        os.ftruncate(fd, 0)
        alive(m)
        assert errno_of(os.ftruncate, fd, 7) == errno.EACCES
        alive(m)
        st = os.fstat(fd)
        alive(m)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o660
        assert st.st_size == 0
        assert errno_of(os.fchmod, fd, 0o600) == errno.EPERM
        alive(m)
        assert errno_of(os.fchown, fd, os.getuid(), os.getgid()) == errno.EPERM
        alive(m)
        os.utime(fd)                 # futimens: touch is harmless
        os.utime(fd, (1, 2))
        alive(m)
        os.fsync(fd)                 # not implemented: the kernel says 0
        alive(m)
        if mode == os.O_RDWR:
            os.write(fd, b"through the handle")
            assert len(os.read(fd, 4096)) > 8
    finally:
        os.close(fd)
    alive(m)


def test_calls_on_a_metadata_fd(m):
    path = kp(m, "ec-p256", "public.pem")
    with open(path, "rb") as f:
        fd = f.fileno()
        st = os.fstat(fd)
        alive(m)
        assert st.st_size == os.stat(path).st_size > 0
        assert errno_of(os.ftruncate, fd, 0) in (errno.EINVAL, errno.EBADF)
        assert errno_of(os.fchmod, fd, 0o600) == errno.EPERM
        os.utime(fd)
        assert f.read() == open(path, "rb").read()
    alive(m)


@pytest.mark.parametrize("name,bits", [("README", 0o444),
                                       pytest.param("random", 0o440, marks=pytest.mark.mhsm_only),
                                       ("status", 0o440), ("error", 0o444)])
def test_calls_on_a_root_file_fd(m, name, bits):
    with open(os.path.join(m.path, name), "rb") as f:
        st = os.fstat(f.fileno())
        alive(m)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == bits
        assert errno_of(os.fchmod, f.fileno(), 0o600) == errno.EPERM
        os.utime(f.fileno())
        f.read(10)
    alive(m)


@pytest.mark.parametrize("rel", ["", "keys", "keys/ec-p256", "keys/ec-p256/versions"])
def test_calls_on_a_directory_fd(m, rel):
    fd = os.open(os.path.join(m.path, rel), os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(fd)
        assert stat.S_ISDIR(st.st_mode)
        assert errno_of(os.fchmod, fd, 0o700) == errno.EPERM
        os.utime(fd)
        assert os.listdir(fd)       # readdir through the handle
        assert os.listdir(fd)       # and again (rewinddir)
    finally:
        os.close(fd)
    alive(m)
