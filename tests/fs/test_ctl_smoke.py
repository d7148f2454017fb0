"""Smoke tests of the key lifecycle through the mount (the thorough ones,
with the Azure SDK as judge, are test_lifecycle.py)."""
import errno
import os
import subprocess

import pytest

import hsmtest
import lifeutil


@pytest.fixture(scope="module")
def life(emulator_module, tmp_path_factory):
    m = hsmtest.Mount(emulator_module, tmp_path_factory.mktemp("life") / "mnt",
                      options=["allow_delete", "list_ttl=30"])
    try:
        yield m
    finally:
        lifeutil.close_mount(m)       # a daemon that died fails the module


@pytest.fixture(scope="module")
def emulator_module():
    emu = hsmtest.Emulator(demo_keys=False)
    try:
        yield emu
    finally:
        emu.stop()
        emu.close()


def p(m, *parts):
    return os.path.join(m.path, *parts)


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        return os.write(fd, text.encode() if isinstance(text, str) else text)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def info(m, name):
    return dict(line.split(": ", 1) for line in
                read(p(m, "keys", name, "info")).decode().splitlines())


def err_of(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


def test_create_rotate_tag_set(life, tmp_path):
    m = life
    write(p(m, "ctl"), "create s1 kty=EC crv=P-256 tag:env=dev\n")
    assert "s1" in os.listdir(p(m, "keys"))
    i = info(m, "s1")
    assert i["kty"].startswith("EC") and "env=dev" in i["tags"]
    assert err_of(write, p(m, "ctl"), "create s1 kty=EC\n") == errno.EEXIST
    assert "rotate" in read(p(m, "error")).decode() or "exists" in read(p(m, "error")).decode()
    v1 = i["version"]
    write(p(m, "keys", "s1", "rotation.json"),
          '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},'
          '"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}')
    assert "P90D" in read(p(m, "keys", "s1", "rotation.json")).decode()
    write(p(m, "keys", "s1", "ctl"), "rotate\n")
    v2 = info(m, "s1")["version"]
    assert v2 != v1
    assert len(os.listdir(p(m, "keys", "s1", "versions"))) == 2
    write(p(m, "keys", "s1", "ctl"), "tag env=dev\n")
    write(p(m, "keys", "s1", "ctl"), "tag team=ops\n")
    assert "team=ops" in info(m, "s1")["tags"] and "env=dev" in info(m, "s1")["tags"]
    write(p(m, "keys", "s1", "ctl"), "untag env\n")
    assert "env" not in info(m, "s1")["tags"] and "team=ops" in info(m, "s1")["tags"]
    write(p(m, "keys", "s1", "ctl"), "set exp=2099-01-31 nbf=none\n")
    assert info(m, "s1")["exp"].startswith("2099-01-31")
    # sign, then verify with the public key shown
    msg = tmp_path / "msg"
    msg.write_bytes(b"hello")
    sig = tmp_path / "sig"
    sig.write_bytes(subprocess.run(["sh", "-c", "cat > sign && cat sign"], cwd=p(m, "keys", "s1"),
                                   input=b"hello", capture_output=True, check=True).stdout)
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", p(m, "keys", "s1", "public.pem"),
                    "-signature", str(sig), str(msg)], check=True, capture_output=True)
    write(p(m, "keys", "s1", "ctl"), "disable\n")
    assert info(m, "s1")["enabled"] == "false"
    fd = os.open(p(m, "keys", "s1", "sign"), os.O_RDWR)
    try:
        os.write(fd, b"x")
        assert err_of(os.read, fd, 4096) == errno.EKEYEXPIRED
    finally:
        os.close(fd)
    write(p(m, "keys", "s1", "ctl"), "enable\n")
    assert info(m, "s1")["enabled"] == "true"


def test_invalid_commands(life):
    m = life
    write(p(m, "ctl"), "create s2 kty=RSA size=2048\n")
    before = read(p(m, "keys", "s2", "info"))
    # each failure's own words in the error file (an older error of this
    # scope would also say "message:")
    for cmd, why in [("frobnicate\n", "frobnicate"), ("set exp=2027-02-30\n", "2027-02-30"),
                     ("rotate\nrotate\n", "one command"), ("tag x\n", "tag"),
                     ("create s3 kty=EC\n", "create")]:
        assert err_of(write, p(m, "keys", "s2", "ctl"), cmd) == errno.EINVAL, cmd
        text = read(p(m, "error")).decode()
        assert "file: /keys/s2/ctl" in text and why in text.split("message:", 1)[1], (cmd, text)
    assert err_of(write, p(m, "ctl"), "rotate\n") == errno.EINVAL
    assert "root ctl takes" in read(p(m, "error")).decode()
    assert read(p(m, "keys", "s2", "info")) == before
    assert err_of(read, p(m, "ctl")) == errno.EACCES


def test_mkdir_delete_recover_purge_backup_restore(life):
    m = life
    os.mkdir(p(m, "keys", "d1"))
    assert info(m, "d1")["kty"].startswith("EC")
    blob = read(p(m, "keys", "d1", "backup"))
    assert len(blob) > 10
    kid = read(p(m, "keys", "d1", "info"))
    os.rmdir(p(m, "keys", "d1"))
    assert "d1" not in os.listdir(p(m, "keys"))
    assert "d1" in os.listdir(p(m, "deleted"))
    dinfo = read(p(m, "deleted", "d1", "info")).decode()
    assert "recovery_id:" in dinfo and "scheduled_purge:" in dinfo
    assert b"recoveryId" in read(p(m, "deleted", "d1", "meta.json"))
    assert err_of(os.mkdir, p(m, "keys", "d1")) == errno.EEXIST
    assert "recover" in read(p(m, "error")).decode()
    os.rename(p(m, "deleted", "d1"), p(m, "keys", "d1"))
    assert "d1" in os.listdir(p(m, "keys"))
    os.rmdir(p(m, "keys", "d1"))
    os.rmdir(p(m, "deleted", "d1"))
    assert "d1" not in os.listdir(p(m, "deleted"))
    write(p(m, "restore"), blob)
    assert "d1" in os.listdir(p(m, "keys"))
    assert read(p(m, "keys", "d1", "info")) .split(b"\n")[1] == kid.split(b"\n")[1]


@pytest.mark.mhsm_only  # creates an oct key
def test_no_allow_delete(emulator_module, mount_factory):
    m = mount_factory(emulator_module, name="nodel")
    write(p(m, "ctl"), "create n1 kty=oct\n")
    assert err_of(os.rmdir, p(m, "keys", "n1")) == errno.EPERM
    assert "allow_delete" in read(p(m, "error")).decode()
    assert "n1" in os.listdir(p(m, "keys"))


def test_rotation_elsewhere_sign_verifies(life, tmp_path):
    m = life
    emu = life.emu
    write(p(m, "ctl"), "create r1 kty=EC\n")
    write(p(m, "keys", "r1", "rotation.json"),
          '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},'
          '"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}')
    shown = read(p(m, "keys", "r1", "public.pem"))
    st, _, _ = emu.request("POST", "/keys/r1/rotate?api-version=7.5", body=b"",
                           token=emu.token())
    assert st == 200
    msg = tmp_path / "msg"
    msg.write_bytes(b"hello")
    sig = tmp_path / "sig"
    sig.write_bytes(subprocess.run(["sh", "-c", "cat > sign && cat sign"],
                                   cwd=p(m, "keys", "r1"), input=b"hello",
                                   capture_output=True, check=True).stdout)
    pem = p(m, "keys", "r1", "public.pem")
    assert read(pem) == shown          # within list_ttl: the cached version
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", pem, "-signature", str(sig),
                    str(msg)], check=True, capture_output=True)


def test_kernel_sees_changes_at_once(life):
    """The kernel's attribute cache (attr_timeout 1 s) is dropped for what
    a change made: a read right after a stat sees the whole new info."""
    m = life
    write(p(m, "ctl"), "create k4 kty=EC\n")
    info_path = p(m, "keys", "k4", "info")
    before = read(info_path)
    os.stat(info_path)
    write(p(m, "keys", "k4", "ctl"), "disable\n")
    after = read(info_path)
    assert b"enabled: false\n" in after and len(after) == len(before) + 1
    assert os.stat(info_path).st_size == len(after)


def test_from_the_shell(life, tmp_path):
    m = life
    r = subprocess.run(
        "set -e; echo 'create sh1 kty=RSA size=2048 ops=sign,verify' > ctl; "
        "cat keys/sh1/backup > %s/b; rmdir keys/sh1; mv deleted/sh1 keys/; "
        "echo 'tag a=b' > keys/sh1/ctl; grep -q 'a=b' keys/sh1/info; "
        "rmdir keys/sh1; rmdir deleted/sh1; cat %s/b > restore; ls keys | grep -qx sh1; "
        "if echo bogus > keys/sh1/ctl 2>/dev/null; then exit 9; fi; "
        "grep -q 'unknown command bogus' error" % (tmp_path, tmp_path),
        shell=True, cwd=m.path, capture_output=True)
    assert r.returncode == 0, r.stderr


def test_reader_role_ctl_eacces(emulator_factory, mount_factory, tmp_path):
    import json
    ident = tmp_path / "ids.json"
    ident.write_text(json.dumps({"clients": [{"client_id": "reader-app", "secret": "s3",
                                              "role": "reader"}]}))
    emu = emulator_factory(identities=str(ident))
    m = mount_factory(emu, env=emu.env(client_id="reader-app", secret="s3"),
                      options=["allow_delete"])
    for path, cmd in [(p(m, "keys", "ec-p256", "ctl"), "disable\n"),
                      (p(m, "keys", "ec-p256", "ctl"), "tag a=b\n"),
                      (p(m, "ctl"), "create r9 kty=EC\n")]:
        assert err_of(write, path, cmd) == errno.EACCES, cmd
    assert err_of(os.rmdir, p(m, "keys", "ec-p256")) == errno.EACCES
    assert err_of(os.mkdir, p(m, "keys", "r9")) == errno.EACCES
    assert info(m, "ec-p256")["enabled"] == "true"


@pytest.mark.mhsm_only  # creates an oct key
def test_restore_takes_raw_bytes_too(life):
    """az and the SDKs write the decoded blob to a backup file."""
    import base64
    m = life
    write(p(m, "ctl"), "create raw1 kty=oct size=256\n")
    text = read(p(m, "keys", "raw1", "backup")).strip()
    raw = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    os.rmdir(p(m, "keys", "raw1"))
    os.rmdir(p(m, "deleted", "raw1"))
    assert "raw1" not in os.listdir(p(m, "keys"))
    write(p(m, "restore"), raw)
    assert "raw1" in os.listdir(p(m, "keys"))
    assert err_of(write, p(m, "restore"), b"not a blob!") == errno.EINVAL
