"""Helpers of the key lifecycle tests (issue 9): commands written the way a
user types them, the caller's `error` file, and the Azure SDK's view of a
key as the judge of what the service holds."""
import errno
import os
import shlex
import uuid

import pytest

import hsmtest
from fsutil import sh


def uniq(prefix):
    """A key name no other test uses (names match ^[0-9a-zA-Z-]{1,127}$)."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def kp(m, name, f=""):
    return os.path.join(m.path, "keys", name, f)


def module_fixtures(mount_name):
    """The fixtures of a lifecycle test module: `emu`, a private emulator
    without demo keys; `kc`, the SDK's KeyClient on it; `m`, one mount with
    allow_delete and a list_ttl of 600 s, so that every "at once" is the
    daemon's own doing and not the list cache expiring.  A module binds
    them with `emu, kc, m = module_fixtures("NAME")`."""
    @pytest.fixture(scope="module")
    def emu():
        e = hsmtest.Emulator(demo_keys=False)
        try:
            yield e
        finally:
            e.close()

    @pytest.fixture(scope="module")
    def kc(emu):
        return hsmtest.sdk_clients(emu)[0]

    @pytest.fixture(scope="module")
    def m(emu, tmp_path_factory):
        mt = hsmtest.Mount(emu, tmp_path_factory.mktemp(mount_name) / "mnt",
                           options=["allow_delete", "list_ttl=600"])
        try:
            yield mt
        finally:
            close_mount(mt)
    return emu, kc, m


def close_mount(m):
    """Unmount strictly (the daemon must exit 0), forgivingly on failure."""
    try:
        if m.proc.poll() is None:
            m.umount()
        else:
            raise AssertionError("hsmfs died: " + m.log()[-3000:])
    finally:
        m.cleanup()


def shell_cmd(m, text, path, redir=">"):
    """`echo TEXT > PATH` in a fresh shell, then that shell's `error` file.
    Returns (exit status of echo, error file text)."""
    r = sh(f"echo {shlex.quote(text)} {redir} {shlex.quote(path)}; echo rc=$?; "
           f"cat {shlex.quote(os.path.join(m.path, 'error'))}", check=False)
    out = r.stdout.decode(errors="replace")
    first, _, rest = out.partition("\n")
    assert first.startswith("rc="), out
    return int(first[3:]), rest


def run_ok(m, text, path):
    rc, err = shell_cmd(m, text, path)
    assert rc == 0, f"echo {text!r} > {path} failed: {err}"


def error_fields(err):
    return dict(l.split(": ", 1) for l in err.splitlines() if ": " in l)


def assert_failed(rc, err, file, eno, *words):
    """The command failed, the error file names the file and the errno, and
    its message names the problem: each of `words` is a tuple of
    alternatives, one of which must be in the message (case-insensitive)."""
    assert rc != 0, "the command succeeded: " + err
    f = error_fields(err)
    assert f.get("file") == file, err
    assert f.get("errno", "").split(" ")[0] == str(eno), err
    msg = (f.get("message", "") + " " + f.get("code", "")).lower()
    for alts in words:
        if isinstance(alts, str):
            alts = (alts,)
        assert any(a.lower() in msg for a in alts), f"none of {alts} in the error: {err}"


def write_errno(path, data):
    """write() data to path through one handle; the errno of the write
    (0 when it succeeded).  close() errors after a failed write are not
    looked at; after a good write they are an error of their own."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return e.errno
    os.close(fd)
    return 0


def write_close_errno(path, data):
    """Write data and close; the first errno of write() or close() (0 when
    both succeeded): for files that take their input whole at close, such
    as `restore` and `rotation.json`."""
    fd = os.open(path, os.O_WRONLY)
    err = 0
    try:
        os.write(fd, data)
    except OSError as e:
        err = e.errno
    try:
        os.close(fd)
    except OSError as e:
        err = err or e.errno
    return err


def read_info(m, name, sub=""):
    p = os.path.join(m.path, "keys", name, sub, "info") if sub else kp(m, name, "info")
    with open(p) as f:
        return dict(l.split(": ", 1) for l in f.read().splitlines())


def ls(m, d="keys"):
    return sorted(os.listdir(os.path.join(m.path, d)))


def sdk_state(kc, name):
    """What the service holds for key `name`, as the SDK reads it."""
    k = kc.get_key(name)
    p = k.properties
    return {"id": k.id, "kty": k.key_type, "enabled": p.enabled, "exp": p.expires_on,
            "nbf": p.not_before, "tags": dict(p.tags or {}),
            "ops": sorted(k.key_operations or []), "updated": p.updated_on,
            "versions": sorted(v.version for v in kc.list_properties_of_key_versions(name)),
            "policy": policy_state(kc, name)}


def policy_state(kc, name):
    pol = kc.get_key_rotation_policy(name)
    acts = [(str(a.action).lower().split(".")[-1], a.time_after_create, a.time_before_expiry)
            for a in (pol.lifetime_actions or [])]
    return {"expires_in": pol.expires_in, "actions": acts}


def sdk_absent(kc, name):
    """True when the service has no active key `name`."""
    from azure.core.exceptions import ResourceNotFoundError
    try:
        kc.get_key(name)
    except ResourceNotFoundError:
        return True
    return False


def sdk_deleted(kc, name):
    """The SDK's DeletedKey for name, or None when there is none."""
    from azure.core.exceptions import ResourceNotFoundError
    try:
        return kc.get_deleted_key(name)
    except ResourceNotFoundError:
        return None


def errno_of(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


def ec_sign_verify(m, name, tmp, msg=b"lifecycle"):
    """`cat sign` then `openssl dgst -verify keys/NAME/public.pem`, one
    shell, as the issue says; returns the CompletedProcess."""
    mp = os.path.join(str(tmp), "msg-%s" % uuid.uuid4().hex[:6])
    with open(mp, "wb") as f:
        f.write(msg)
    sig = mp + ".sig"
    s, pem = kp(m, name, "sign"), kp(m, name, "public.pem")
    return sh(f"cat {mp} > {s} && cat {s} > {sig} && "
              f"openssl dgst -sha256 -verify {pem} -signature {sig} {mp}", check=False)


EINVAL, EPERM, EEXIST, EACCES, ENOENT = (errno.EINVAL, errno.EPERM, errno.EEXIST,
                                         errno.EACCES, errno.ENOENT)
EKEYEXPIRED = errno.EKEYEXPIRED


def shell_cat(m, data, path, tmp):
    """`cat FILE > PATH` (cat reports errors of write and of close) with
    data in FILE; returns (exit status, error file text)."""
    src = os.path.join(str(tmp), "in-%s" % uuid.uuid4().hex[:6])
    with open(src, "wb") as f:
        f.write(data)
    r = sh(f"cat {src} > {shlex.quote(path)}; echo rc=$?; "
           f"cat {shlex.quote(os.path.join(m.path, 'error'))}", check=False)
    out = r.stdout.decode(errors="replace")
    first, _, rest = out.partition("\n")
    return int(first[3:]), rest


def sdk_set_policy(kc, name, expires_in="P1Y", after_create="P90D"):
    from azure.keyvault.keys import (KeyRotationLifetimeAction, KeyRotationPolicy,
                                     KeyRotationPolicyAction)
    kc.update_key_rotation_policy(name, KeyRotationPolicy(expires_in=expires_in, lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create=after_create)]))


def wait_until(pred, limit):
    """Poll pred until it holds or limit seconds pass; the seconds it took,
    or None."""
    import time
    t0 = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            return None
        time.sleep(0.1)
