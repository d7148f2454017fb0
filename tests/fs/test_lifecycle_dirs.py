"""Key lifecycle by directory operations (issue 9, DESIGN.md §3.2):
`mkdir keys/NAME` creates, `rmdir keys/NAME` soft-deletes, `deleted/`
lists soft-deleted keys, `mv deleted/NAME keys/` recovers, `rmdir
deleted/NAME` purges; EPERM without allow_delete, EEXIST on a soft-deleted
name.  The Azure SDK judges what the service holds; the module's mount
has a long list_ttl, so every "at once" is the daemon's own doing."""
import datetime
import json
import os
import shlex

import pytest

import hsmtest
from fsutil import sh
from lifeutil import (EEXIST, ENOENT, EPERM, assert_failed, close_mount, ec_sign_verify,
                      errno_of, kp, ls, module_fixtures, read_info, sdk_absent,
                      sdk_deleted, sdk_state, shell_cmd, uniq)

UTC = datetime.timezone.utc


emu, kc, m = module_fixtures("dirmnt")


def dp(m, name="", f=""):
    return os.path.join(m.path, "deleted", name, f)


def shell(m, cmd):
    """Run cmd in a fresh shell; (exit status, that shell's error file)."""
    out = sh(f"{cmd} 2>/dev/null; echo rc=$?; cat {m.path}/error", check=False).stdout.decode()
    first, _, rest = out.partition("\n")
    return int(first[3:]), rest


def iso(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- mkdir ------------------------------------------------------------------------

def test_mkdir_creates_the_default_key(m, kc, tmp_path):
    name = uniq("mk")
    assert name not in ls(m)
    assert errno_of(os.stat, kp(m, name)) == ENOENT     # a cached miss, too
    os.mkdir(kp(m, name))
    k = kc.get_key(name)
    assert k.key_type in ("EC", "EC-HSM") and k.key.crv == "P-256"
    assert k.properties.enabled is True
    assert name in ls(m)                                 # at once
    assert os.path.isdir(kp(m, name))
    assert read_info(m, name)["version"] == k.properties.version
    assert ec_sign_verify(m, name, tmp_path).returncode == 0


def test_mkdir_key_option(emu, kc, mount_factory):
    o = mount_factory(emu, name="octmk", options=["mkdir_key=RSA:2048"])
    name = uniq("mk-rsa")
    rc, err = shell(o, f"mkdir {kp(o, name)}")
    assert rc == 0, err
    k = kc.get_key(name)
    assert k.key_type in ("RSA", "RSA-HSM") and len(k.key.n) * 8 == 2048
    assert read_info(o, name)["size"] == "2048"


def test_mkdir_existing_key_is_eexist(m, kc):
    name = uniq("mk-dup")
    kc.create_ec_key(name)
    before = sdk_state(kc, name)
    assert errno_of(os.mkdir, kp(m, name)) == EEXIST
    assert sdk_state(kc, name) == before      # no new version made
    # nor by create (the service would make a new version: that is rotate;
    # the issue is silent, hsmfs refuses with EEXIST)
    rc, err = shell_cmd(m, f"create {name} kty=EC", os.path.join(m.path, "ctl"))
    assert_failed(rc, err, "/ctl", EEXIST, ("exist",))
    assert sdk_state(kc, name) == before


def test_mkdir_invalid_name_creates_nothing(m, kc):
    names = sorted(p.name for p in kc.list_properties_of_keys())
    for bad in ["bad.name", "under_score", "x" * 128]:
        with pytest.raises(OSError):
            os.mkdir(kp(m, bad))
    assert sorted(p.name for p in kc.list_properties_of_keys()) == names


# -- rmdir keys/NAME: soft delete ---------------------------------------------------

def test_rmdir_soft_deletes(m, kc):
    name = uniq("rm")
    os.mkdir(kp(m, name))               # made here, so listed here at once
    k = kc.get_key(name)
    assert name in ls(m) and name not in ls(m, "deleted")   # both lists cached
    os.stat(kp(m, name, "info"))
    rc, err = shell(m, f"rmdir {kp(m, name)}")
    assert rc == 0, err
    assert sdk_absent(kc, name)
    d = sdk_deleted(kc, name)
    assert d is not None and d.id == k.id
    # at once: gone from keys/, present in deleted/
    assert name not in ls(m)
    assert errno_of(os.stat, kp(m, name)) == ENOENT
    assert errno_of(os.stat, kp(m, name, "info")) == ENOENT
    assert name in ls(m, "deleted")
    assert {"info", "meta.json"} <= set(os.listdir(dp(m, name)))
    meta = json.load(open(dp(m, name, "meta.json")))
    assert meta["recoveryId"] == d.recovery_id
    assert meta["deletedDate"] == int(d.deleted_date.timestamp())
    assert meta["scheduledPurgeDate"] == int(d.scheduled_purge_date.timestamp())
    assert meta["key"]["kid"] == k.id
    info = open(dp(m, name, "info")).read()
    assert d.recovery_id in info
    assert iso(d.deleted_date) in info and iso(d.scheduled_purge_date) in info
    st = os.stat(dp(m, name, "info"))
    assert st.st_size == len(info.encode())


def test_rmdir_missing_key_is_enoent(m):
    assert errno_of(os.rmdir, kp(m, uniq("none"))) == ENOENT
    assert errno_of(os.rmdir, dp(m, uniq("none"))) == ENOENT


def test_without_allow_delete_is_eperm(emu, kc, mount_factory):
    plain = mount_factory(emu, name="plain", options=["list_ttl=600"])
    name = uniq("keep")
    kc.create_ec_key(name)
    before = sdk_state(kc, name)
    assert errno_of(os.rmdir, kp(plain, name)) == EPERM
    rc, err = shell(plain, f"rmdir {kp(plain, name)}")
    assert_failed(rc, err, f"/keys/{name}", EPERM, ("allow_delete",))
    assert sdk_state(kc, name) == before and sdk_deleted(kc, name) is None
    assert name in ls(plain)
    # purge is as destructive: a key soft-deleted elsewhere stays recoverable
    kc.begin_delete_key(name).result()
    assert name in ls(plain, "deleted")
    assert errno_of(os.rmdir, dp(plain, name)) == EPERM
    rc, err = shell(plain, f"rmdir {dp(plain, name)}")
    assert_failed(rc, err, f"/deleted/{name}", EPERM, ("allow_delete",))
    assert sdk_deleted(kc, name) is not None
    # recovering destroys nothing: allowed without allow_delete
    rc, err = shell(plain, f"mv {dp(plain, name)} {plain.path}/keys/")
    assert rc == 0, err
    assert sdk_state(kc, name)["id"] == before["id"]


# -- creating a soft-deleted name ----------------------------------------------------

def test_creating_a_soft_deleted_name_is_eexist(m, kc):
    name = uniq("zombie")
    kc.create_ec_key(name)
    os.rmdir(kp(m, name))
    assert errno_of(os.mkdir, kp(m, name)) == EEXIST
    rc, err = shell(m, f"mkdir {kp(m, name)}")
    assert_failed(rc, err, f"/keys/{name}", EEXIST, ("recover",), ("purge",))
    rc, err = shell_cmd(m, f"create {name} kty=EC", os.path.join(m.path, "ctl"))
    assert_failed(rc, err, "/ctl", EEXIST, ("recover",), ("purge",))
    assert sdk_absent(kc, name) and sdk_deleted(kc, name) is not None
    assert name not in ls(m) and name in ls(m, "deleted")


# -- mv deleted/NAME keys/: recover ------------------------------------------------

def test_mv_recovers(m, kc, tmp_path):
    name = uniq("rec")
    k = kc.create_ec_key(name)
    os.rmdir(kp(m, name))
    assert name in ls(m, "deleted") and name not in ls(m)
    rc, err = shell(m, f"mv {dp(m, name)} {m.path}/keys/")
    assert rc == 0, err
    k1 = kc.get_key(name)
    assert k1.id == k.id and k1.key.x == k.key.x
    assert sdk_deleted(kc, name) is None
    assert name in ls(m) and name not in ls(m, "deleted")         # at once
    assert errno_of(os.stat, dp(m, name)) == ENOENT
    assert read_info(m, name)["version"] == k.properties.version
    assert ec_sign_verify(m, name, tmp_path).returncode == 0


def test_rename_elsewhere_is_refused(m, kc):
    """Only deleted/NAME -> keys/NAME recovers; a rename of a key or to
    another name changes nothing."""
    name = uniq("mvx")
    kc.create_ec_key(name)
    with pytest.raises(OSError):
        os.rename(kp(m, name), kp(m, name + "-b"))
    with pytest.raises(OSError):
        os.rename(kp(m, name), dp(m, name))
    assert not sdk_absent(kc, name) and sdk_deleted(kc, name) is None
    os.rmdir(kp(m, name))
    with pytest.raises(OSError):
        os.rename(dp(m, name), kp(m, name + "-c"))
    assert sdk_deleted(kc, name) is not None and sdk_absent(kc, name + "-c")


# -- rmdir deleted/NAME: purge ------------------------------------------------------

def test_rmdir_deleted_purges(m, kc, tmp_path):
    name = uniq("purge")
    k = kc.create_ec_key(name)
    os.rmdir(kp(m, name))
    assert name in ls(m, "deleted")
    rc, err = shell(m, f"rmdir {dp(m, name)}")
    assert rc == 0, err
    assert sdk_deleted(kc, name) is None and sdk_absent(kc, name)
    assert name not in ls(m, "deleted")                            # at once
    assert errno_of(os.stat, dp(m, name)) == ENOENT
    # the name is free again: a new key, not the old one
    os.mkdir(kp(m, name))
    k2 = kc.get_key(name)
    assert k2.properties.version != k.properties.version and k2.key.x != k.key.x
    assert ec_sign_verify(m, name, tmp_path).returncode == 0



# -- several users: allow_other ------------------------------------------------------

NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"


def test_other_uid_cannot_change_keys(emu, kc, tmp_path_factory):
    """With allow_other (and default_permissions) every user sees the tree,
    but only the mounting user changes keys (ctl is the owner's, §3.4):
    another uid's commands, mkdir, rmdir, mv and restore are EACCES and the
    service is untouched."""
    import shutil
    import tempfile
    top = tempfile.mkdtemp(prefix="hsmfs-life-uid-")
    os.chmod(top, 0o755)
    o = hsmtest.Mount(emu, os.path.join(top, "mnt"),
                      options=["allow_other", "default_permissions", "allow_delete"])
    try:
        name, gone = uniq("shared"), uniq("shared-del")
        kc.create_ec_key(name)
        kc.create_ec_key(gone)
        kc.begin_delete_key(gone).result()
        before = sdk_state(kc, name)
        blob = open(kp(o, name, "backup")).read()
        ctl = os.path.join(o.path, "ctl")
        for cmd in [f"echo disable > {kp(o, name, 'ctl')}",
                    f"echo 'tag a=b' > {kp(o, name, 'ctl')}",
                    f"echo 'create {name}-x kty=EC' > {ctl}",
                    f"echo '{{}}' > {kp(o, name, 'rotation.json')}",
                    f"echo {blob.strip()} > {o.path}/restore",
                    f"mkdir {kp(o, name + '-y')}",
                    f"rmdir {kp(o, name)}",
                    f"rmdir {dp(o, gone)}",
                    f"mv {dp(o, gone)} {o.path}/keys/"]:
            r = sh(f"{NOBODY} bash -c {shlex.quote(cmd)}", check=False)
            assert r.returncode != 0, cmd
            assert b"Permission denied" in r.stderr, (cmd, r.stderr)
        # the backup blob is the key, wrapped: not for every user
        r = sh(f"{NOBODY} cat {kp(o, name, 'backup')}", check=False)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr
        assert sdk_state(kc, name) == before
        assert sdk_absent(kc, name + "-x") and sdk_absent(kc, name + "-y")
        assert sdk_absent(kc, gone) and sdk_deleted(kc, gone) is not None
        # the mounting user may
        rc, err = shell_cmd(o, "disable", kp(o, name, "ctl"))
        assert rc == 0, err
        assert kc.get_key(name).properties.enabled is False
    finally:
        try:
            close_mount(o)
        finally:
            shutil.rmtree(top, ignore_errors=True)
