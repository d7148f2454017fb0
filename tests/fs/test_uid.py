"""Results of one uid are never readable by another (DESIGN.md §7).

Mounted with allow_other and default_permissions, operation files are open
to the mount's group (-o gid=, here nobody's group, DESIGN.md §3.4); what
keeps its users apart is the request scope, which includes the uid.  The
reader runs under the very shell that wrote the request, so only the uid
tells them apart.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

import hsmtest

NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"


@pytest.fixture
def shared_mount(emulator):
    # pytest's tmp_path is private to root; the other user must reach the
    # mount point.
    top = tempfile.mkdtemp(prefix="hsmfs-uid-")
    os.chmod(top, 0o755)
    m = hsmtest.Mount(emulator, os.path.join(top, "mnt"),
                      options=["allow_other", "default_permissions",
                               "gid=65534"])
    try:
        yield m
    finally:
        try:
            if m.proc.poll() is None:
                m.umount()
            else:
                m.cleanup()
        finally:
            shutil.rmtree(top, ignore_errors=True)


def bash(script):
    return subprocess.run(["bash", "-c", script], capture_output=True, timeout=60)


def test_other_uid_cannot_read_a_request(shared_mount):
    f = os.path.join(shared_mount.path, "keys", "ec-p256", "sign")
    r = bash(f"echo -n secret-message > {f}; {NOBODY} cat {f} | wc -c; "
             f"cat {f} | wc -c")
    lines = r.stdout.decode().split()
    assert "No data available" in r.stderr.decode(), r
    assert lines[0] == "0", r                  # nobody: ENODATA, no bytes
    assert int(lines[1]) > 60, r               # root still gets its signature


def test_other_uid_uses_its_own_requests(shared_mount):
    d = os.path.join(shared_mount.path, "keys", "ec-p256")
    r = bash(f"{NOBODY} bash -c 'echo -n mine > {d}/sign; cat {d}/sign' > /tmp/uid-sig.$$; "
             f"echo -n mine | openssl dgst -sha256 -verify {d}/public.pem -signature /tmp/uid-sig.$$; "
             f"rc=$?; rm -f /tmp/uid-sig.$$; exit $rc")
    assert r.returncode == 0 and b"Verified OK" in r.stdout, r


def test_other_uid_does_not_see_errors(shared_mount):
    m = shared_mount.path
    r = bash(f"cat {m}/keys/ec-p256/verify 2>/dev/null; cat {m}/error | wc -c; "
             f"{NOBODY} cat {m}/error | wc -c")
    mine, theirs = r.stdout.decode().split()
    assert int(mine) > 0 and theirs == "0", r
