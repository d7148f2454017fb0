"""Who may do what (DESIGN.md §3.4; issue 11 findings 1 and 6).

Mounted with allow_other,default_permissions the kernel checks the modes
hsmfs gives: key directories 0555, operation files and ctl 0660 (owner:
the mounting user, group: -o gid=), info/meta.json/algs/status/metrics
0440, public keys and README 0444; -o policy=FILE gives chosen keys
another owner, group and mode, reread on SIGHUP.  Other users are real
uids (setpriv); root passes every check, so it is the owner here.
"""
import os
import signal
import stat
import subprocess
import time

import pytest

import fsutil
import hsmtest

NOGROUP = 65534
# in the group nogroup (65534) / in no group of the mount
MEMBER = f"setpriv --reuid=65534 --regid={NOGROUP} --clear-groups"
OUTSIDER = "setpriv --reuid=65533 --regid=65533 --clear-groups"


@pytest.fixture
def shared(emulator):
    """mount(options...) in a directory other users can reach."""
    # audit=off: nothing here is about the audit, and a stuck syslog
    # must not hang these tests.
    with fsutil.shared_mounts("hsmfs-acc-", "audit=off") as mount:
        yield (lambda *options, name="mnt": mount(emulator, *options, name=name)), mount.top


def sh(script, timeout=60):
    return subprocess.run(["bash", "-c", script], capture_output=True, timeout=timeout)


def sign_as(who, m, key):
    """who signs with key by two commands; returns the CompletedProcess
    (stdout 'ok' when openssl verified the signature)."""
    d = os.path.join(m.path, "keys", key)
    return sh(f"t=$(mktemp); chmod 666 $t; "
              f"{who} bash -c 'echo -n hello > {d}/sign && cat {d}/sign' > $t && "
              f"echo -n hello | openssl dgst -sha256 -verify {d}/public.pem -signature $t "
              f">/dev/null && echo ok; rm -f $t")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_default_modes_and_owner(shared):
    mount, _ = shared
    m = mount(f"gid={NOGROUP}")
    k = os.path.join(m.path, "keys", "rsa-2048")
    want = {"README": 0o444, "keys": 0o555, "deleted": 0o555, "ctl": 0o660,
            "restore": 0o660, "random": 0o440, "error": 0o444,
            "status": 0o440, "metrics": 0o440}
    for name, bits in want.items():
        assert mode(os.path.join(m.path, name)) == bits, name
    want = {".": 0o555, "sign": 0o660, "sign.PS256.b64": 0o660, "decrypt": 0o660,
            "ctl": 0o660, "rotation.json": 0o660, "backup": 0o440,
            "info": 0o440, "meta.json": 0o440, "algs": 0o440,
            "public.pem": 0o444, "public.der": 0o444, "jwk.json": 0o444,
            "versions": 0o555}
    for name, bits in want.items():
        assert mode(os.path.join(k, name)) == bits, name
    v = os.listdir(os.path.join(k, "versions"))[0]
    assert mode(os.path.join(k, "versions", v)) == 0o555
    assert mode(os.path.join(k, "versions", v, "sign")) == 0o660
    assert mode(os.path.join(k, "versions", v, "info")) == 0o440
    st = os.stat(os.path.join(k, "sign"))
    assert (st.st_uid, st.st_gid) == (os.getuid(), NOGROUP)
    assert os.stat(os.path.join(m.path, "status")).st_gid == NOGROUP


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_outsider_cannot_use_keys_or_read_status(shared):
    """Finding 1: uid 1001 decrypted root's ciphertext; finding 6: status
    was everyone's.  Outside the group: EACCES; public files still open."""
    mount, _ = shared
    m = mount()                         # group: root's (0)
    d = os.path.join(m.path, "keys", "aes-256")
    r = sh(f"{OUTSIDER} bash -c 'echo -n x > {d}/encrypt'; echo rc=$?")
    assert "Permission denied" in r.stderr.decode() and "rc=1" in r.stdout.decode(), r
    for f in ("keys/aes-256/decrypt", "keys/ec-p256/sign", "keys/ec-p256/info",
              "status", "metrics", "random", "ctl"):
        r = sh(f"{OUTSIDER} cat {m.path}/{f} >/dev/null; echo rc=$?")
        assert "Permission denied" in r.stderr.decode(), (f, r)
    r = sh(f"{OUTSIDER} cat {m.path}/keys/ec-p256/public.pem {m.path}/README | wc -c; "
           f"{OUTSIDER} ls {m.path}/keys")
    assert int(r.stdout.split()[0]) > 100 and b"ec-p256" in r.stdout, r
    assert sign_as(OUTSIDER, m, "ec-p256").stdout != b"ok\n"


def test_group_member_can_sign(shared):
    mount, _ = shared
    m = mount("gid=nogroup")            # a group name is accepted too
    assert os.stat(os.path.join(m.path, "keys", "ec-p256", "sign")).st_gid == NOGROUP
    assert sign_as(MEMBER, m, "ec-p256").stdout == b"ok\n"
    r = sh(f"{MEMBER} head -c 9 {m.path}/status")
    assert r.returncode == 0 and len(r.stdout) == 9, r
    r = sh(f"{OUTSIDER} head -c 9 {m.path}/status")
    assert r.stdout == b"" and b"Permission denied" in r.stderr, r


def write_policy(top, text):
    p = os.path.join(top, "policy")
    with open(p + ".new", "w") as f:
        f.write(text)
    os.rename(p + ".new", p)
    return p


def test_policy_grants_one_key_to_one_group(shared):
    mount, top = shared
    pol = write_policy(top, "# payments\n\nrsa-2*  0:nogroup  0750\n")
    m = mount("policy=" + pol)
    k = os.path.join(m.path, "keys", "rsa-2048")
    st = os.stat(k)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, NOGROUP, 0o750)
    assert mode(os.path.join(k, "sign")) == 0o660
    assert mode(os.path.join(k, "public.pem")) == 0o440     # others cannot enter
    assert sign_as(MEMBER, m, "rsa-2048").stdout == b"ok\n"
    # the member has no other key, the outsider not even this one
    assert sign_as(MEMBER, m, "ec-p256").stdout != b"ok\n"
    assert sign_as(MEMBER, m, "rsa-3072").stdout != b"ok\n"
    r = sh(f"{OUTSIDER} ls {k}; {OUTSIDER} cat {k}/public.pem")
    assert r.stderr.decode().count("Permission denied") == 2, r


def test_policy_reread_on_sighup(shared):
    mount, top = shared
    pol = write_policy(top, "ec-p256 0:nogroup 0750\n")
    m = mount("policy=" + pol)
    assert sign_as(MEMBER, m, "ec-p256").stdout == b"ok\n"
    write_policy(top, "ec-p256 0:0 0750\n")
    m.proc.send_signal(signal.SIGHUP)
    k = os.path.join(m.path, "keys", "ec-p256")
    # The kernel keeps attributes attr_timeout (1 s); the new owner shows
    # once they expire.
    deadline = time.monotonic() + 10
    while os.stat(k).st_gid != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os.stat(k).st_gid == 0
    assert sign_as(MEMBER, m, "ec-p256").stdout != b"ok\n"
    # A malformed file on SIGHUP: logged with its line, old policy kept.
    write_policy(top, "ec-p256 0:nogroup 0750\n\nbroken line\n")
    m.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "line 3" not in m.log() and time.monotonic() < deadline:
        os.stat(os.path.join(k, "info"))
        time.sleep(0.2)
    assert "line 3: expected KEYGLOB OWNER:GROUP MODE" in m.log()
    time.sleep(1.2)
    assert os.stat(k).st_gid == 0 and m.proc.poll() is None


def refused(emulator, mnt, opts):
    """Run hsmfs -f that must refuse to mount; never leave a mount."""
    try:
        return subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-f", "-o",
                               f"cafile={emulator.ca},{opts}", emulator.url, mnt],
                              capture_output=True, timeout=20, env=emulator.env())
    except subprocess.TimeoutExpired:
        return None             # it mounted and served: a failure
    finally:
        if hsmtest.is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt])


def test_malformed_policy_fails_the_mount(shared, emulator):
    _, top = shared
    pol = write_policy(top, "ok-* 0:0 0750\n# fine\nbad-* root 0750\n")
    mnt = os.path.join(top, "never")
    os.makedirs(mnt)
    r = refused(emulator, mnt, f"policy={pol}")
    assert r is not None, "mounted with a malformed policy"
    err = r.stderr.decode()
    assert r.returncode != 0 and f"policy={pol}: line 3: expected OWNER:GROUP" in err, r
    assert len(err.strip().splitlines()) == 1, err
    for opt, want in (("gid=no-such-group-x", "gid=no-such-group-x: no such group"),
                      ("allow_other", "allow_other needs default_permissions")):
        r = refused(emulator, mnt, opt)
        assert r is not None and r.returncode != 0 and want in r.stderr.decode(), (opt, r)
