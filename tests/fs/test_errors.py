"""The errno table of DESIGN.md §4.3, row by row, with the error file."""
import errno
import json
import os
import subprocess
import threading
import time

import pytest

import hsmtest
from fsutil import sh


def kp(m, name, f=""):
    return os.path.join(m.path, "keys", name, f)


def run(path, data):
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, data)
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def errno_of(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


def test_enoent(mnt):
    for p in [kp(mnt, "no-such-key", "sign"), kp(mnt, "no-such-key"),
              kp(mnt, "ec-p256", "encrypt"), kp(mnt, "ec-p256", "sign.RS256"),
              kp(mnt, "ec-p256", "sign.ES384"), kp(mnt, "ec-p256", "sign.b64.hex"),
              kp(mnt, "rsa-2048", "sign.raw"), kp(mnt, "rsa-2048", "decrypt.prehashed"),
              kp(mnt, "aes-128", "encrypt.A256GCM"), kp(mnt, "ec-p256", "sign.nonsense"),
              kp(mnt, "ec-p256", "versions/0123456789abcdef0123456789abcdef/info"),
              kp(mnt, "bad.name"), os.path.join(mnt.path, "nothing"),
              kp(mnt, "ec-p256", ".sign"),
              # names longer than any the tree holds, at every depth: they
              # must not resolve to the directory above them
              kp(mnt, "ec-p256", "sign." + "x" * 200), kp(mnt, "ec-p256", "x" * 250),
              kp(mnt, "k" * 200), kp(mnt, "ec-p256", "versions/" + "a" * 100),
              os.path.join(mnt.path, "x" * 250)]:
        assert errno_of(os.stat, p) == errno.ENOENT, p
    for p in [kp(mnt, "ec-p256", "sign/" + "x" * 200), os.path.join(mnt.path, "README", "x")]:
        assert errno_of(os.stat, p) == errno.ENOTDIR, p
    # valid combinations resolve in any order
    for n in ["sign.ES256.raw.b64url", "sign.b64url.raw.ES256", "sign.prehashed.hex"]:
        os.stat(kp(mnt, "ec-p256", n))


def test_enodata(mnt):
    assert errno_of(os.open, kp(mnt, "rsa-4096", "sign.PS512.b64"), os.O_RDONLY) == errno.ENODATA


@pytest.mark.mhsm_only  # uses the demo key aes-256
def test_einval_emsgsize(mnt):
    assert errno_of(run, kp(mnt, "ec-p256", "sign.prehashed"), b"short") == errno.EINVAL
    assert errno_of(run, kp(mnt, "rsa-2048", "decrypt.b64"), b"!!not base64!!") == errno.EINVAL
    assert errno_of(run, kp(mnt, "ec-p256", "verify"), b"\x31\x02garbage") == errno.EINVAL
    assert errno_of(run, kp(mnt, "aes-256", "decrypt"), b"short") == errno.EINVAL
    assert errno_of(run, kp(mnt, "rsa-2048", "encrypt"), b"x" * 300) == errno.EMSGSIZE


def test_read_only_and_no_create(mnt):
    assert errno_of(os.open, kp(mnt, "ec-p256", "public.pem"), os.O_WRONLY) == errno.EACCES
    assert errno_of(os.open, os.path.join(mnt.path, "status"), os.O_RDWR) == errno.EACCES
    assert errno_of(os.open, os.path.join(mnt.path, "newfile"), os.O_WRONLY | os.O_CREAT) == errno.EACCES
    assert errno_of(os.open, kp(mnt, "ec-p256", "newop"), os.O_WRONLY | os.O_CREAT) == errno.ENOENT
    assert errno_of(os.mkdir, kp(mnt, "ec-p256", "newdir")) == errno.EPERM
    assert errno_of(os.unlink, kp(mnt, "ec-p256", "sign")) == errno.EPERM
    r = sh(f"echo hi > {mnt.path}/README", check=False)
    assert r.returncode != 0


def test_error_file_is_scoped(mnt):
    p = kp(mnt, "ec-p256", "verify")
    out = sh(f"printf 'x%.0s' $(seq 80) > {p}; cat {p} 2>/dev/null; echo rc=$?; cat {mnt.path}/error").stdout.decode()
    assert "rc=1" in out
    assert "file: /keys/ec-p256/verify" in out and "errno: %d" % errno.EINVAL in out
    # another shell has its own (possibly empty) error
    other = sh(f"cat {mnt.path}/error").stdout.decode()
    assert "/keys/ec-p256/verify" not in other or "errno: %d" % errno.EINVAL not in other


def test_ekeyexpired_disabled_key(emulator, mnt):
    kc, _ = hsmtest.sdk_clients(emulator)
    kc.create_ec_key("fs-disabled", curve="P-256", enabled=False)
    past = __import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").timezone.utc)
    kc.create_rsa_key("fs-expired", size=2048, expires_on=past)
    assert errno_of(run, kp(mnt, "fs-disabled", "sign"), b"m") == errno.EKEYEXPIRED
    assert errno_of(run, kp(mnt, "fs-expired", "sign"), b"m") == errno.EKEYEXPIRED
    out = sh(f"echo -n m > {kp(mnt, 'fs-disabled', 'sign')}; cat {kp(mnt, 'fs-disabled', 'sign')} 2>&1; "
             f"cat {mnt.path}/error", check=False).stdout.decode()
    assert "expired" in out.lower() and "request_id: " in out


def test_eacces_reader_role(emulator_factory, mount_factory, tmp_path):
    ident = tmp_path / "ids.json"
    ident.write_text(json.dumps({"clients": [{"client_id": "reader-app", "secret": "s3", "role": "reader"}]}))
    emu = emulator_factory(identities=str(ident))
    m = mount_factory(emu, env=emu.env(client_id="reader-app", secret="s3"))
    assert "ec-p256" in os.listdir(os.path.join(m.path, "keys"))
    assert errno_of(run, kp(m, "ec-p256", "sign"), b"m") == errno.EACCES
    # local verify needs no role beyond reading the key
    assert os.path.getsize(kp(m, "ec-p256", "public.pem")) > 0


def test_eagain_after_retries(emulator, mount_factory):
    m = mount_factory(emulator, options=["retries=1"])
    run(kp(m, "ec-p256", "sign"), b"warm")       # cache the key first
    emulator.faults(ops=["sign"], status=503, retry_after_ms=10)
    try:
        assert errno_of(run, kp(m, "ec-p256", "sign"), b"m") == errno.EAGAIN
    finally:
        emulator.clear_faults()
    assert len(run(kp(m, "ec-p256", "sign"), b"m")) > 8


def test_retries_zero_means_none(emulator, mount_factory):
    """retries=0 fails on the first 503; the default retries past it."""
    none = mount_factory(emulator, name="none", options=["retries=0"])
    dflt = mount_factory(emulator, name="dflt")
    for m in (none, dflt):
        run(kp(m, "ec-p256", "sign"), b"warm")
    try:
        emulator.faults(ops=["sign"], status=503, count=1, retry_after_ms=10)
        assert errno_of(run, kp(none, "ec-p256", "sign"), b"m") == errno.EAGAIN
        emulator.faults(ops=["sign"], status=503, count=1, retry_after_ms=10)
        assert len(run(kp(dflt, "ec-p256", "sign"), b"m")) > 8
    finally:
        emulator.clear_faults()


@pytest.mark.mhsm_only  # uses the demo key aes-256
def test_etimedout_and_stall_does_not_block_ls(emulator, mount_factory):
    m = mount_factory(emulator, options=["timeout=4", "retries=0"])
    run(kp(m, "ec-p256", "sign"), b"warm")
    os.listdir(kp(m, "rsa-2048"))                 # cached: ls needs no request
    run(kp(m, "aes-256", "encrypt"), b"warm")
    emulator.faults(ops=["sign"], stall_ms=9000)
    res = {}

    def slow():
        t = time.monotonic()
        try:
            run(kp(m, "ec-p256", "sign"), b"m")
            res["err"] = 0
        except OSError as e:
            res["err"] = e.errno
        res["t"] = time.monotonic() - t
    try:
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.5)
        t = time.monotonic()
        listing = subprocess.run(["ls", "-l", os.path.join(m.path, "keys"),
                                  kp(m, "rsa-2048")], capture_output=True, timeout=10)
        assert listing.returncode == 0
        # the sign is stuck for 4 s (its deadline); ls must not wait for it
        assert time.monotonic() - t < 2.5, "ls blocked behind a stalled sign"
        # other keys and operations keep working while one call stalls
        assert len(run(kp(m, "aes-256", "encrypt"), b"x")) == 12 + 1 + 16
        th.join(20)
    finally:
        emulator.clear_faults()
    assert res["err"] == errno.ETIMEDOUT
    assert res["t"] < 7.5


def test_interrupt_abandons_call(emulator, mount_factory):
    m = mount_factory(emulator, options=["timeout=20"])
    run(kp(m, "ec-p256", "sign"), b"warm")
    emulator.faults(ops=["sign"], stall_ms=5000)
    try:
        # Ctrl-C signals the whole foreground process group
        p = subprocess.Popen(["bash", "-c", f"exec 3<>{kp(m, 'ec-p256', 'sign')}; printf x >&3; cat <&3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        time.sleep(1.0)
        t = time.monotonic()
        os.killpg(p.pid, 2)
        p.wait(8)
        assert time.monotonic() - t < 3
        assert p.stdout.read() == b""
    finally:
        emulator.clear_faults()


def test_unreachable_serves_cache(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory()
    m = mount_factory(emu, options=["list_ttl=1", "retries=1", "timeout=5"])
    pem = open(kp(m, "ec-p256", "public.pem")).read()
    sig = run(kp(m, "ec-p256", "sign"), b"cached")
    ct = run(kp(m, "rsa-2048", "encrypt"), b"secret")   # caches rsa-2048
    names = sorted(os.listdir(os.path.join(m.path, "keys")))
    emu.stop()
    time.sleep(1.2)                                        # list_ttl passed
    assert open(kp(m, "ec-p256", "public.pem")).read() == pem
    assert sorted(os.listdir(os.path.join(m.path, "keys"))) == names
    assert run(kp(m, "ec-p256", "verify"), sig + b"cached") == b"valid\n"
    assert len(run(kp(m, "rsa-2048", "encrypt"), b"again")) == 256
    assert errno_of(run, kp(m, "ec-p256", "sign"), b"m") == errno.EHOSTUNREACH
    assert ct


@pytest.mark.mhsm_only  # reads random
def test_error_file_after_failed_random_read(emulator, mount_factory):
    """A failed read of `random` is in the reader's error file (§4.3)."""
    m = mount_factory(emulator)
    emulator.faults(ops=["rng"], status=403)
    try:
        out = sh(f"head -c 16 {m.path}/random >/dev/null 2>&1; echo rc=$?; "
                 f"cat {m.path}/error").stdout.decode()
    finally:
        emulator.clear_faults()
    assert "rc=1" in out, out
    assert "file: /random\n" in out and "errno: %d " % errno.EACCES in out, out
    assert "code: InjectedFault" in out and "request_id: none" not in out, out
    assert len(sh(f"head -c 16 {m.path}/random").stdout) == 16


def test_error_file_after_failed_key_lookup_at_open(emulator, mount_factory):
    """The key is looked up again at open (list_ttl=0: the latest version
    is never cached); when that lookup fails, the opener's error file says
    so.  stat first, so the kernel has the name and open asks no lookup."""
    m = mount_factory(emulator, options=["list_ttl=0"])
    for f in ("sign", "public.pem"):
        path = kp(m, "ec-p256", f)
        p = subprocess.Popen(["bash", "-c", f"stat {path} >/dev/null; echo ready $?; read go; "
                              f"cat {path} >/dev/null 2>&1 </dev/null; echo rc=$?; "
                              f"cat {m.path}/error"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert p.stdout.readline() == b"ready 0\n"
            emulator.faults(ops=["get"], status=403)
            out, _ = p.communicate(b"go\n", timeout=30)
        finally:
            emulator.clear_faults()
            if p.poll() is None:
                p.kill()
                p.wait()
        out = out.decode()
        assert "rc=1" in out, out
        assert f"file: /keys/ec-p256/{f}\n" in out and "errno: %d " % errno.EACCES in out, out
        assert "code: InjectedFault" in out, out


@pytest.mark.parametrize("cmd,file,err", [
    ("rm -f {m}/keys/ec-p256/sign", "/keys/ec-p256/sign", errno.EPERM),
    ("mkdir {m}/keys/ec-p256/newdir", "/keys/ec-p256/newdir", errno.EPERM),
    ("mv {m}/keys/ec-p256/sign {m}/keys/ec-p256/sign2", "/keys/ec-p256/sign", errno.EPERM),
    ("chmod 600 {m}/keys/ec-p256/info", "/keys/ec-p256/info", errno.EPERM),
    ("echo hi > {m}/README", "/README", errno.EACCES),
    ("echo hi > {m}/keys/ec-p256/public.pem", "/keys/ec-p256/public.pem", errno.EACCES),
    ("echo hi > {m}/newfile", "/newfile", errno.EACCES),
    ("echo hi > {m}/keys/ec-p256/sign.nonsense", "/keys/ec-p256/sign.nonsense", errno.ENOENT),
    ("truncate -s 5 {m}/keys/ec-p256/sign", "/keys/ec-p256/sign", errno.EACCES),
    pytest.param("head -c 2000000 /dev/zero > {m}/keys/aes-256/encrypt", "/keys/aes-256/encrypt",
                 errno.EMSGSIZE, marks=pytest.mark.mhsm_only),
])
def test_every_failure_is_in_the_error_file(mnt, cmd, file, err):
    """Each failure a caller sees, whatever the call, is in its error file."""
    out = sh(cmd.format(m=mnt.path) + f" 2>/dev/null; echo rc=$?; cat {mnt.path}/error",
             check=False).stdout.decode()
    assert "rc=0" not in out, out
    assert f"file: {file}\n" in out and "errno: %d " % err in out, out



# A program interrupted (SIGALRM, whose handler raises) while the service
# works on its operation, which then reads again: prints what each got.
INTERRUPTED = r"""
import errno, os, signal, sys, time
class Alarm(Exception): pass
def on_alarm(*_): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
path, mode = sys.argv[1], sys.argv[2]
def attempt(first):
    if first:
        signal.alarm(1)
    try:
        if mode == "two":
            fd = os.open(path, os.O_RDONLY)     # the request runs at open
        else:
            fd = handle
        data = os.read(fd, 4096)
        print("data", data.hex(), flush=True)
    except Alarm:
        print("interrupted", flush=True)
    except OSError as e:
        print("errno", errno.errorcode[e.errno], flush=True)
    signal.alarm(0)
if mode == "two":
    with open(path, "wb") as f:
        f.write(b"msg")
else:
    handle = os.open(path, os.O_RDWR)
    os.write(handle, b"msg")
attempt(True)
time.sleep(2.5)                                  # the stall is lifted by now
attempt(False)
"""


@pytest.mark.parametrize("mode", ["two", "one"])
def test_interrupted_operation_is_not_run_again(emulator, mount_factory, mode):
    """An operation whose reader is interrupted while the service works is
    over: its input is consumed, so the next read is ECANCELED (not EINTR,
    which callers retry forever) — never a signature of the empty message."""
    m = mount_factory(emulator, options=["timeout=20"])
    sign = kp(m, "ec-p256", "sign")
    run(sign, b"warm")
    emulator.faults(ops=["sign"], stall_ms=4000)
    try:
        p = subprocess.Popen(["/usr/bin/python3", "-c", INTERRUPTED, sign, mode],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        time.sleep(1.5)
        emulator.clear_faults()
        out, err = p.communicate(timeout=20)
    finally:
        emulator.clear_faults()
    assert out.decode().split("\n")[:2] == ["interrupted", "errno ECANCELED"], (out, err)
