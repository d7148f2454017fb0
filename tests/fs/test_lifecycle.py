"""Key lifecycle through the tree (issue 9, DESIGN.md §3.2): the root and
key `ctl` commands, `rotation.json`, `backup` and `restore`, the errno of
what is refused (§4.3), and operations consistent across rotations.

Every command is typed as a user types it (`echo CMD > ctl`, `cat > FILE`)
through a real mount of a TLS emulator, and the Azure SDK for Python reads
the service's state back as an independent judge.  The module's mount has
a long list_ttl, so "at once" cannot be the list cache expiring by chance.
"""
import base64
import datetime
import errno
import json
import os

import pytest

import hsmtest
from fsutil import sh
from lifeutil import (EACCES, EEXIST, EINVAL, EKEYEXPIRED, ENOENT, assert_failed,
                      ec_sign_verify, errno_of, error_fields, kp, ls,
                      module_fixtures, read_info, run_ok, sdk_absent, sdk_deleted,
                      sdk_set_policy, sdk_state, shell_cat, shell_cmd, uniq, wait_until,
                      write_close_errno, write_errno)

UTC = datetime.timezone.utc


emu, kc, m = module_fixtures("lifemnt")


def ctl(m):
    return os.path.join(m.path, "ctl")


def sdk_names(kc):
    return sorted(p.name for p in kc.list_properties_of_keys())


# -- root ctl: create ---------------------------------------------------------

def test_create_ec_with_every_argument(m, kc):
    name = uniq("c-ec")
    before = ls(m)                     # the listing is cached from here on
    assert name not in before
    assert errno_of(os.stat, kp(m, name)) == ENOENT    # and so is the miss
    run_ok(m, f"create {name} kty=EC crv=P-384 ops=sign,verify exportable=false "
              f"tag:env=prod tag:team=hsm", ctl(m))
    k = kc.get_key(name)
    assert k.key_type in ("EC", "EC-HSM") and k.key.crv == "P-384"
    assert sorted(k.key_operations) == ["sign", "verify"]
    assert k.properties.tags == {"env": "prod", "team": "hsm"}
    assert k.properties.exportable is False and k.properties.enabled is True
    # visible at once to the caller: the next ls, lookup and info
    assert name in ls(m)
    info = read_info(m, name)
    assert info["version"] == k.properties.version and info["curve"] == "P-384"


def test_create_rsa_size(m, kc):
    name = uniq("c-rsa")
    ls(m)
    run_ok(m, f"create {name} kty=RSA size=2048", ctl(m))
    k = kc.get_key(name)
    assert k.key_type in ("RSA", "RSA-HSM") and len(k.key.n) * 8 == 2048
    assert name in ls(m)
    assert read_info(m, name)["size"] == "2048"


@pytest.mark.mhsm_only  # creates an oct key
def test_create_oct(m, kc, emu):
    name = uniq("c-oct")
    run_ok(m, f"create {name} kty=oct size=128 ops=encrypt,decrypt", ctl(m))
    k = kc.get_key(name)
    assert k.key_type in ("oct", "oct-HSM")
    assert sorted(k.key_operations) == ["decrypt", "encrypt"]
    # the SDK does not show an oct key's size: ask the REST API directly
    st, _, body = emu.request("GET", f"/keys/{name}?api-version=7.5", token=emu.token())
    assert st == 200 and body["attributes"]["key_size"] == 128, body
    assert sorted(os.listdir(kp(m, name))) == sorted(
        ["decrypt", "encrypt", "algs", "info", "jwk.json", "meta.json", "versions", "ctl",
         "rotation.json", "backup"])


def test_create_whose_connection_dropped_is_eio_and_not_sent_again(m, kc, emu):
    """A create sent and then met by a dropped connection may have been
    applied by the service: it is not sent again (a second create would
    make a second version, DESIGN.md §5), the caller gets EIO and the
    error file says why and what to do.  (The emulator drops before it
    applies; the real service may drop after.)"""
    name = uniq("c-drop")
    emu.reset_stats()
    emu.faults(ops=["create"], drop=True, count=1)
    try:
        rc, err = shell_cmd(m, f"create {name} kty=EC crv=P-256", ctl(m))
    finally:
        emu.clear_faults()
    assert_failed(rc, err, "/ctl", errno.EIO, ("may have applied",), ("before repeating",))
    assert emu.op_count("create") == 1
    assert sdk_absent(kc, name)
    run_ok(m, f"create {name} kty=EC crv=P-256", ctl(m))       # repeated by hand
    assert kc.get_key(name).key.crv == "P-256"


INVALID_CREATE = [
    ("frobnicate {n}", [("frobnicate", "unknown")]),
    ("create", [("name", "usage", "missing")]),
    ("create {n}", [("kty",)]),
    ("create {n} kty=DSA", [("DSA", "kty")]),
    ("create {n} kty=EC crv=P-999", [("P-999", "crv", "curve")]),
    ("create {n} kty=RSA size=1000", [("1000", "size")]),
    ("create {n} kty=EC bogus=1", [("bogus",)]),
    ("create {n} kty=EC ops=sign,fly", [("fly", "ops", "operation")]),
    ("create {n} kty=EC exportable=maybe", [("maybe", "exportable")]),
    ("create {n} kty=EC tag:novalue", [("tag", "novalue")]),
    ("create bad.name kty=EC", [("bad.name", "name")]),
    ("flush everything", [("everything", "argument", "flush")]),
]


@pytest.mark.parametrize("cmd,words", INVALID_CREATE, ids=[c for c, _ in INVALID_CREATE])
def test_root_ctl_invalid_changes_nothing(m, kc, cmd, words):
    name = uniq("bad")
    text = cmd.format(n=name)
    names = sdk_names(kc)
    rc, err = shell_cmd(m, text, ctl(m))
    assert_failed(rc, err, "/ctl", EINVAL, *words)
    # the very write fails (one command per write)
    assert write_errno(ctl(m), text.encode() + b"\n") == EINVAL
    assert sdk_names(kc) == names
    assert name not in ls(m)


def test_flush_drops_every_cache(m, kc, tmp_path):
    old = uniq("fl-old")
    kc.create_ec_key(old)
    sdk_set_policy(kc, old)
    v0 = read_info(m, old)["version"]
    listed = ls(m)
    new = uniq("fl-new")
    kc.create_ec_key(new)              # elsewhere: hsmfs may not know for list_ttl
    v1 = kc.rotate_key(old).properties.version
    run_ok(m, "flush", ctl(m))
    assert new in ls(m) and new not in listed
    assert read_info(m, old)["version"] == v1 != v0
    assert ec_sign_verify(m, old, tmp_path).returncode == 0


# -- keys/NAME/ctl -------------------------------------------------------------

def test_rotate_shows_at_once(m, kc, tmp_path):
    name = uniq("rot")
    v0 = kc.create_ec_key(name).properties.version
    sdk_set_policy(kc, name)
    assert read_info(m, name)["version"] == v0
    assert os.listdir(kp(m, name, "versions")) == [v0]
    pem0 = open(kp(m, name, "public.pem")).read()
    run_ok(m, "rotate", kp(m, name, "ctl"))
    st = sdk_state(kc, name)
    assert len(st["versions"]) == 2 and v0 in st["versions"]
    v1 = kc.get_key(name).properties.version
    assert v1 != v0
    # the caller that rotated sees the new version at once, in one shell
    out = sh(f"echo rotate > {kp(m, name, 'ctl')}; grep '^version: ' {kp(m, name, 'info')}").stdout.decode()
    v2 = kc.get_key(name).properties.version
    assert out == f"version: {v2}\n" and v2 not in (v0, v1)
    assert read_info(m, name)["version"] == v2
    assert sorted(os.listdir(kp(m, name, "versions"))) == sorted([v0, v1, v2])
    assert json.load(open(kp(m, name, "jwk.json")))["kid"].endswith("/" + v2)
    assert open(kp(m, name, "public.pem")).read() != pem0
    assert ec_sign_verify(m, name, tmp_path).returncode == 0


def test_rotate_without_policy_is_refused(m, kc):
    """The service rotates only keys with a rotation policy: its refusal is
    EINVAL with its message, and nothing changes."""
    name = uniq("rot-nopol")
    kc.create_ec_key(name)
    before = sdk_state(kc, name)
    rc, err = shell_cmd(m, "rotate", kp(m, name, "ctl"))
    assert_failed(rc, err, f"/keys/{name}/ctl", EINVAL, ("policy",))
    assert sdk_state(kc, name) == before


def test_disable_enable(m, kc, tmp_path):
    name = uniq("dis")
    kc.create_ec_key(name)
    assert read_info(m, name)["enabled"] == "true"
    assert ec_sign_verify(m, name, tmp_path).returncode == 0
    run_ok(m, "disable", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.enabled is False
    assert read_info(m, name)["enabled"] == "false"
    assert errno_of(hsmtest.one_handle, kp(m, name, "sign"), b"m") == EKEYEXPIRED
    out = sh(f"echo -n m > {kp(m, name, 'sign')}; cat {kp(m, name, 'sign')} >/dev/null 2>&1; "
             f"echo rc=$?; cat {m.path}/error", check=False).stdout.decode()
    assert out.startswith("rc=1\n"), out
    assert error_fields(out)["errno"].split()[0] == str(EKEYEXPIRED), out
    run_ok(m, "enable", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.enabled is True
    assert read_info(m, name)["enabled"] == "true"
    assert ec_sign_verify(m, name, tmp_path).returncode == 0


def test_set_dates_and_ops(m, kc):
    name = uniq("set")
    kc.create_rsa_key(name, size=2048)
    assert "encrypt" in os.listdir(kp(m, name))
    os.stat(kp(m, name, "encrypt"))          # the kernel now holds the name
    run_ok(m, "set exp=2030-01-31 nbf=2026-01-01T12:00:00Z ops=sign,verify", kp(m, name, "ctl"))
    st = sdk_state(kc, name)
    assert st["exp"] == datetime.datetime(2030, 1, 31, tzinfo=UTC)
    assert st["nbf"] == datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert st["ops"] == ["sign", "verify"]
    info = read_info(m, name)
    assert info["exp"] == "2030-01-31T00:00:00Z" and info["nbf"] == "2026-01-01T12:00:00Z"
    assert info["key_ops"] == "sign verify"
    # the key directory lists only what the key can do, at once
    names = os.listdir(kp(m, name))
    assert "sign" in names and "encrypt" not in names and "decrypt" not in names
    assert errno_of(os.stat, kp(m, name, "encrypt")) == ENOENT
    # one field at a time: the others stay
    run_ok(m, "set exp=2031-06-30T08:30:00Z", kp(m, name, "ctl"))
    st = sdk_state(kc, name)
    assert st["exp"] == datetime.datetime(2031, 6, 30, 8, 30, tzinfo=UTC)
    assert st["nbf"] == datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert st["ops"] == ["sign", "verify"]


def test_set_none_clears_dates(m, kc):
    """`none` clears a date (issue 9): the service then has no exp/nbf."""
    name = uniq("none")
    kc.create_ec_key(name, expires_on=datetime.datetime(2030, 1, 1, tzinfo=UTC),
                     not_before=datetime.datetime(2025, 1, 1, tzinfo=UTC))
    assert read_info(m, name)["exp"] == "2030-01-01T00:00:00Z"
    run_ok(m, "set exp=none", kp(m, name, "ctl"))
    st = sdk_state(kc, name)
    assert st["exp"] is None, st
    assert st["nbf"] == datetime.datetime(2025, 1, 1, tzinfo=UTC)
    run_ok(m, "set nbf=none", kp(m, name, "ctl"))
    st = sdk_state(kc, name)
    assert st["exp"] is None and st["nbf"] is None, st
    info = read_info(m, name)
    assert info["exp"] == "none" and info["nbf"] == "none"


def test_expired_and_not_yet_valid_are_ekeyexpired(m, kc, tmp_path):
    name = uniq("exp")
    kc.create_ec_key(name)
    run_ok(m, "set exp=2020-01-01", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.expires_on == datetime.datetime(2020, 1, 1, tzinfo=UTC)
    assert errno_of(hsmtest.one_handle, kp(m, name, "sign"), b"m") == EKEYEXPIRED
    run_ok(m, "set exp=2099-12-31 nbf=2099-01-01", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.not_before == datetime.datetime(2099, 1, 1, tzinfo=UTC)
    assert errno_of(hsmtest.one_handle, kp(m, name, "sign"), b"m") == EKEYEXPIRED
    run_ok(m, "set nbf=2020-01-01T00:00:00Z", kp(m, name, "ctl"))
    r = ec_sign_verify(m, name, tmp_path)
    assert r.returncode == 0, r


def test_tag_untag(m, kc):
    name = uniq("tag")
    kc.create_ec_key(name, tags={"keep": "me"})
    size0 = os.stat(kp(m, name, "info")).st_size      # attributes now cached
    run_ok(m, "tag env=prod", kp(m, name, "ctl"))
    run_ok(m, "tag owner=alice", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.tags == {"keep": "me", "env": "prod", "owner": "alice"}
    assert sorted(read_info(m, name)["tags"].split()) == ["env=prod", "keep=me", "owner=alice"]
    run_ok(m, "tag env=stage", kp(m, name, "ctl"))
    # a command needs no newline at its end
    assert write_errno(kp(m, name, "ctl"), b"tag nl=none") == 0
    assert kc.get_key(name).properties.tags["nl"] == "none"
    run_ok(m, "untag nl", kp(m, name, "ctl"))
    run_ok(m, "untag owner", kp(m, name, "ctl"))
    assert kc.get_key(name).properties.tags == {"keep": "me", "env": "stage"}
    assert sorted(read_info(m, name)["tags"].split()) == ["env=stage", "keep=me"]
    assert json.load(open(kp(m, name, "meta.json")))["tags"] == {"keep": "me", "env": "stage"}
    # a program that reads st_size bytes gets the whole new text
    data = open(kp(m, name, "info"), "rb").read()
    assert os.stat(kp(m, name, "info")).st_size == len(data) != size0
    with open(kp(m, name, "info"), "rb") as f:
        assert f.read(os.fstat(f.fileno()).st_size) == data


INVALID_KEY_CTL = [
    ("frobnicate", [("frobnicate", "unknown")]),
    ("set", [("set", "nothing", "usage", "missing")]),
    ("set exp=notadate", [("notadate", "exp", "date")]),
    ("set exp=2027-02-30", [("2027-02-30", "exp", "date")]),
    # the first field is good, the second not: nothing may be applied
    ("set exp=2030-01-01 nbf=garbage", [("garbage", "nbf", "date")]),
    ("set bogus=1", [("bogus",)]),
    ("set ops=sign,fly", [("fly", "ops", "operation")]),
    ("tag novalue", [("novalue", "tag", "=")]),
    ("tag =x", [("tag", "name")]),
    ("untag", [("untag", "name")]),
    ("rotate now", [("now", "argument", "rotate")]),
    ("disable all", [("all", "argument", "disable")]),
]


@pytest.fixture(scope="module")
def steady(kc):
    """A key that invalid commands must leave alone."""
    name = uniq("steady")
    kc.create_ec_key(name, tags={"a": "1"})
    sdk_set_policy(kc, name)
    return name


@pytest.mark.parametrize("cmd,words", INVALID_KEY_CTL, ids=[c for c, _ in INVALID_KEY_CTL])
def test_key_ctl_invalid_changes_nothing(m, kc, steady, cmd, words):
    before = sdk_state(kc, steady)
    info = read_info(m, steady)
    rc, err = shell_cmd(m, cmd, kp(m, steady, "ctl"))
    assert_failed(rc, err, f"/keys/{steady}/ctl", EINVAL, *words)
    assert write_errno(kp(m, steady, "ctl"), cmd.encode() + b"\n") == EINVAL
    assert sdk_state(kc, steady) == before
    assert read_info(m, steady) == info


def test_two_commands_in_one_write_are_refused(m, kc, steady):
    """One command per write: two lines in one write() are refused whole
    (the shell's echo writes line by line, so this is Python's write)."""
    before = sdk_state(kc, steady)
    assert write_errno(kp(m, steady, "ctl"), b"disable\ntag two=lines\n") == EINVAL
    err = open(os.path.join(m.path, "error")).read()
    assert_failed(1, err, f"/keys/{steady}/ctl", EINVAL, ("one command", "per write", "line"))
    assert sdk_state(kc, steady) == before


# -- rotation.json ---------------------------------------------------------------

POLICY = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"},
                               "action": {"type": "Rotate"}}],
          "attributes": {"expiryTime": "P1Y"}}


def test_rotation_policy_read_and_write(m, kc, tmp_path):
    name = uniq("pol")
    kc.create_ec_key(name)
    empty = json.load(open(kp(m, name, "rotation.json")))
    assert empty.get("lifetimeActions") == []
    rc, err = shell_cat(m, json.dumps(POLICY).encode(), kp(m, name, "rotation.json"), tmp_path)
    assert rc == 0, err
    assert sdk_state(kc, name)["policy"] == {"expires_in": "P1Y",
                                             "actions": [("rotate", "P90D", None)]}
    got = json.load(open(kp(m, name, "rotation.json")))       # at once
    assert got["attributes"]["expiryTime"] == "P1Y"
    assert got["lifetimeActions"][0]["trigger"] == {"timeAfterCreate": "P90D"}
    assert got["lifetimeActions"][0]["action"]["type"].lower() == "rotate"
    # the policy now governs rotations made through ctl
    run_ok(m, "rotate", kp(m, name, "ctl"))
    p = kc.get_key(name).properties
    assert (p.expires_on - p.created_on).total_seconds() == 365 * 86400
    # a second write replaces the policy
    pol2 = {"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"},
                                 "action": {"type": "Rotate"}}],
            "attributes": {"expiryTime": "P2Y"}}
    assert write_close_errno(kp(m, name, "rotation.json"), json.dumps(pol2).encode()) == 0
    assert sdk_state(kc, name)["policy"] == {"expires_in": "P2Y",
                                             "actions": [("rotate", None, "P30D")]}


@pytest.mark.parametrize("body,words", [
    (json.dumps({"attributes": {"expiryTime": "P1D"}}), [("P1D", "expiryTime", "P28D")]),
    (json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P1M"},
                                      "action": {"type": "Notify"}}]}), [("notify",)]),
    ("this is not json", [("json", "parse", "syntax")]),
], ids=["short-expiry", "notify", "not-json"])
def test_rotation_policy_refused_changes_nothing(m, kc, steady, tmp_path, body, words):
    before = sdk_state(kc, steady)
    shown = open(kp(m, steady, "rotation.json")).read()
    assert write_close_errno(kp(m, steady, "rotation.json"), body.encode()) == EINVAL
    rc, err = shell_cat(m, body.encode(), kp(m, steady, "rotation.json"), tmp_path)
    assert_failed(rc, err, f"/keys/{steady}/rotation.json", EINVAL, *words)
    assert sdk_state(kc, steady) == before
    assert open(kp(m, steady, "rotation.json")).read() == shown


# -- backup and restore ------------------------------------------------------------

def test_backup_restored_after_purge_is_the_same_key(m, kc, tmp_path):
    name = uniq("bak")
    run_ok(m, f"create {name} kty=EC crv=P-256 tag:kept=yes", ctl(m))
    k0 = kc.get_key(name)
    pem0 = tmp_path / "pub0.pem"
    pem0.write_bytes(open(kp(m, name, "public.pem"), "rb").read())
    msg = tmp_path / "msg"
    msg.write_bytes(b"signed before the backup")
    sig0 = tmp_path / "sig0"
    sh(f"cat {msg} > {kp(m, name, 'sign')}; cat {kp(m, name, 'sign')} > {sig0}")
    blob = tmp_path / "blob"
    sh(f"cat {kp(m, name, 'backup')} > {blob}")
    assert blob.stat().st_size > 100
    # the blob is the service's: the SDK can restore what hsmfs read (the
    # key must be gone first), and so can hsmfs
    os.rmdir(kp(m, name))
    os.rmdir(os.path.join(m.path, "deleted", name))
    assert sdk_absent(kc, name) and sdk_deleted(kc, name) is None
    assert name not in ls(m)
    rc, err = shell_cat(m, blob.read_bytes(), os.path.join(m.path, "restore"), tmp_path)
    assert rc == 0, err
    k1 = kc.get_key(name)
    assert k1.id == k0.id                                   # same kid
    assert k1.key.x == k0.key.x and k1.key.y == k0.key.y
    assert k1.properties.tags == {"kept": "yes"}
    assert name in ls(m)                                    # at once
    assert open(kp(m, name, "public.pem"), "rb").read() == pem0.read_bytes()
    # the old signature still verifies, and a new one with the old public key
    assert sh(f"openssl dgst -sha256 -verify {pem0} -signature {sig0} {msg}").returncode == 0
    sig1 = tmp_path / "sig1"
    sh(f"cat {msg} > {kp(m, name, 'sign')}; cat {kp(m, name, 'sign')} > {sig1}")
    r = sh(f"openssl dgst -sha256 -verify {pem0} -signature {sig1} {msg}", check=False)
    assert r.returncode == 0 and b"Verified OK" in r.stdout, r


def b64u_decode(text):
    t = "".join(text.split())
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))


def test_backup_is_the_services_blob(m, kc, tmp_path):
    """The blob crosses over both ways: what hsmfs reads the SDK restores,
    what the SDK backed up hsmfs restores.  The file holds the service's
    value as text (base64url, one newline); the SDK hands out those bytes
    decoded."""
    name = uniq("bak-x")
    os.mkdir(kp(m, name))
    k0 = kc.get_key(name)
    text = open(kp(m, name, "backup")).read()
    os.rmdir(kp(m, name))
    os.rmdir(os.path.join(m.path, "deleted", name))
    assert kc.restore_key_backup(b64u_decode(text)).id == k0.id
    blob = kc.backup_key(name)
    kc.begin_delete_key(name).result()
    kc.purge_deleted_key(name)
    assert sdk_absent(kc, name) and sdk_deleted(kc, name) is None
    enc = base64.urlsafe_b64encode(blob).rstrip(b"=") + b"\n"
    assert write_close_errno(os.path.join(m.path, "restore"), enc) == 0
    k1 = kc.get_key(name)
    assert k1.id == k0.id and k1.key.x == k0.key.x
    assert read_info(m, name)["version"] == k0.properties.version
    # the blob's raw bytes, as az and the SDKs write a backup file, restore
    # too (the issue is silent; hsmfs takes both)
    kc.begin_delete_key(name).result()
    kc.purge_deleted_key(name)
    assert write_close_errno(os.path.join(m.path, "restore"), blob) == 0
    assert kc.get_key(name).id == k0.id
    assert name in ls(m)


def test_restore_refusals(m, kc, tmp_path):
    name = uniq("bak2")
    kc.create_ec_key(name)
    blob = open(kp(m, name, "backup"), "rb").read()
    restore = os.path.join(m.path, "restore")
    names = sdk_names(kc)
    before = sdk_state(kc, name)
    # the key still exists: the service refuses (409)
    assert write_close_errno(restore, blob) == EEXIST
    rc, err = shell_cat(m, blob, restore, tmp_path)
    assert_failed(rc, err, "/restore", EEXIST)
    # a damaged blob
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 1
    assert write_close_errno(restore, bytes(bad)) == EINVAL
    assert write_close_errno(restore, b"not a backup at all") == EINVAL
    assert sdk_names(kc) == names and sdk_state(kc, name) == before


# -- consistency across rotations made elsewhere -------------------------------

@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_sdk_rotation_then_sign_verifies(m, kc, tmp_path, kind):
    """After a rotation made elsewhere, `cat sign` then `openssl dgst
    -verify keys/NAME/public.pem` never fails (the list cache is 600 s, so
    the directory still shows the old version)."""
    name = uniq("rot-" + kind)
    if kind == "ec":
        kc.create_ec_key(name)
    else:
        kc.create_rsa_key(name, size=2048)
    sdk_set_policy(kc, name)
    for i in range(3):
        # warm every cache: info, public key, a signature
        read_info(m, name)
        open(kp(m, name, "public.pem")).read()
        r = ec_sign_verify(m, name, tmp_path, b"before %d" % i)
        assert r.returncode == 0, r
        kc.rotate_key(name)
        r = ec_sign_verify(m, name, tmp_path, b"after %d" % i)
        assert r.returncode == 0 and b"Verified OK" in r.stdout, (i, r)


# -- changes made elsewhere ------------------------------------------------------

def test_sdk_changes_appear_within_list_ttl(emu, kc, mount_factory):
    fast = mount_factory(emu, name="fast", options=["list_ttl=2"])
    old = uniq("ttl-rot")
    kc.create_ec_key(old)
    sdk_set_policy(kc, old)
    gone = uniq("ttl-del")
    kc.create_ec_key(gone)
    v0 = read_info(fast, old)["version"]
    listed = ls(fast)
    assert gone in listed
    ls(fast, "deleted")
    new = uniq("ttl-new")
    kc.create_ec_key(new)
    v1 = kc.rotate_key(old).properties.version
    kc.begin_delete_key(gone).result()
    limit = 2 + 1.5
    assert wait_until(lambda: new in ls(fast), limit) is not None, "created key"
    assert wait_until(lambda: read_info(fast, old)["version"] == v1 != v0, limit) is not None
    assert wait_until(lambda: gone not in ls(fast), limit) is not None, "deleted key"
    assert wait_until(lambda: gone in ls(fast, "deleted"), limit) is not None


# -- a reader identity -----------------------------------------------------------

def test_reader_gets_eacces_on_ctl(emulator_factory, mount_factory, tmp_path):
    ident = tmp_path / "ids.json"
    ident.write_text(json.dumps({"clients": [
        {"client_id": "reader-app", "secret": "s3", "role": "reader"}]}))
    e = emulator_factory(demo_keys=False, identities=str(ident))
    officer = hsmtest.sdk_clients(e)[0]
    name = uniq("ro")
    officer.create_ec_key(name, tags={"a": "1"})
    sdk_set_policy(officer, name)
    before = sdk_state(officer, name)
    m = mount_factory(e, options=["allow_delete"], env=e.env(client_id="reader-app", secret="s3"))
    assert name in ls(m)
    newname = uniq("ro-new")
    rc, err = shell_cmd(m, f"create {newname} kty=EC", ctl(m))
    assert_failed(rc, err, "/ctl", EACCES)
    assert write_errno(ctl(m), f"create {newname} kty=EC\n".encode()) == EACCES
    for cmd in ["rotate", "disable", "tag a=b", "untag a", "set exp=2030-01-01"]:
        rc, err = shell_cmd(m, cmd, kp(m, name, "ctl"))
        assert_failed(rc, err, f"/keys/{name}/ctl", EACCES)
        assert write_errno(kp(m, name, "ctl"), cmd.encode() + b"\n") == EACCES, cmd
    assert errno_of(os.mkdir, kp(m, newname)) == EACCES
    assert write_close_errno(kp(m, name, "rotation.json"), json.dumps(POLICY).encode()) == EACCES
    assert sdk_state(officer, name) == before
    assert sdk_absent(officer, newname)
