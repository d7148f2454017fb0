"""hsmfs as a system service (issue 13): -o credentials=FILE and fstab.

The mounts here detach (no -f), as from fstab or the systemd unit: the
command returns once the mount is up, and fusermount3 -u ends the daemon.
"""
import os
import shutil
import subprocess
import time

import pytest

import hsmtest


def clean_env():
    """The environment without any credential: they come from the file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env["PATH"] = os.path.dirname(hsmtest.bin_path("fs/hsmfs")) + ":/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def write_cred(path, emulator, mode=0o600):
    lines = ["# hsmfs credentials (test)", ""]
    lines += [f"{k}={v}" for k, v in emulator.env().items() if k.startswith("AZURE_")]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    os.chmod(path, mode)
    return str(path)


def wait_gone(mnt, timeout=10):
    deadline = time.monotonic() + timeout
    while hsmtest.is_mounted(mnt) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not hsmtest.is_mounted(mnt)


def check_and_unmount(mnt):
    try:
        assert hsmtest.is_mounted(mnt)
        assert os.listdir(os.path.join(mnt, "keys")), "no demo keys listed"
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
    assert wait_gone(mnt)


def test_credentials_file_mounts(emulator, tmp_path):
    mnt = tmp_path / "m"
    mnt.mkdir()
    cred = write_cred(tmp_path / "x.cred", emulator)
    r = subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-o",
                        f"credentials={cred},cafile={emulator.ca},auth=secret",
                        emulator.url, str(mnt)],
                       env=clean_env(), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    check_and_unmount(str(mnt))


def test_credentials_file_0644_refused(emulator, tmp_path):
    mnt = tmp_path / "m"
    mnt.mkdir()
    cred = write_cred(tmp_path / "x.cred", emulator, 0o644)
    r = subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-o",
                        f"credentials={cred},cafile={emulator.ca}",
                        emulator.url, str(mnt)],
                       env=clean_env(), capture_output=True, timeout=30)
    err = r.stderr.decode()
    if hsmtest.is_mounted(str(mnt)):        # a defect: do not leave it
        subprocess.run(["fusermount3", "-u", str(mnt)])
    assert r.returncode != 0
    assert err.count("\n") == 1 and "mode 0644" in err and "group or others" in err, err
    assert "local-secret" not in err
    assert not hsmtest.is_mounted(str(mnt))


def fstab_mount(emulator, tmp_path, mode):
    """mount -a -T FSTAB with the man page's line (fuse3's mount.fuse3 runs
    'hsmfs URL MOUNTPOINT -o OPTIONS' for a 'hsmfs#URL' source).  mount
    resets PATH, so the line names the hsmfs under test by its path; an
    installed one is 'hsmfs#URL'."""
    if os.geteuid() != 0:
        pytest.skip("mount -a needs root")
    mnt = tmp_path / "hsm"
    mnt.mkdir()
    cred = write_cred(tmp_path / "x.cred", emulator, mode)
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# test fstab\n"
        f"{hsmtest.bin_path('fs/hsmfs')}#{emulator.url} {mnt} fuse _netdev,credentials={cred},"
        f"cafile={emulator.ca},allow_other,default_permissions 0 0\n")
    r = subprocess.run(["mount", "-a", "-T", str(fstab)], env=clean_env(),
                       capture_output=True, timeout=30)
    return str(mnt), r


def test_fstab_mount(emulator, tmp_path):
    mnt, r = fstab_mount(emulator, tmp_path, 0o600)
    assert r.returncode == 0, r.stderr.decode()
    check_and_unmount(mnt)


def test_fstab_0644_refused(emulator, tmp_path):
    mnt, r = fstab_mount(emulator, tmp_path, 0o644)
    if hsmtest.is_mounted(mnt):             # a defect: do not leave it
        subprocess.run(["fusermount3", "-u", mnt])
    assert r.returncode != 0
    assert "mode 0644" in r.stderr.decode(), r.stderr.decode()
    assert not hsmtest.is_mounted(mnt)


UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "systemd", "hsmfs@.service")


def test_unit_verifies(tmp_path):
    """systemd-analyze verify on an instance of the template: no error and
    no warning (an unknown or misplaced directive is only a warning).  The
    ExecStart= program is the hsmfs under test: verify checks it exists."""
    # scripts/deps installs systemd: a missing tool is a failure, not a skip
    assert shutil.which("systemd-analyze"), "systemd-analyze is not installed"
    text = open(UNIT).read()
    assert "ExecStart=/usr/bin/hsmfs " in text
    inst = tmp_path / "hsmfs@demo.service"
    inst.write_text(text.replace("/usr/bin/hsmfs", hsmtest.bin_path("fs/hsmfs")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(inst)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr.decode().strip() == "", r.stderr.decode()


def test_unit_no_mount_namespace():
    """A FUSE mount made in a private mount namespace is never seen by the
    host: none of the directives that create one may be in the unit."""
    names = [line.split("=", 1)[0].strip() for line in open(UNIT)
             if "=" in line and not line.lstrip().startswith("#")]
    bad = {"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
           "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
           "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
           "ProtectControlGroups", "PrivateMounts", "TemporaryFileSystem",
           "BindPaths", "BindReadOnlyPaths", "ProtectProc", "ProcSubset",
           "MountAPIVFS", "RootDirectory", "RootImage"}
    assert not bad & set(names)
    assert "Type" in names and "CapabilityBoundingSet" in names


def test_unit_execstart_mounts(emulator, tmp_path):
    """The unit's ExecStart= line, as systemd would run it (Type=forking:
    returns once mounted), with a config and a LoadCredential= copy."""
    mnt = tmp_path / "hsm"
    creddir = tmp_path / "credentials"
    creddir.mkdir(mode=0o700)
    write_cred(creddir / "hsmfs.cred", emulator, 0o400)
    conf = {"HSMFS_URL": emulator.url, "HSMFS_MOUNTPOINT": str(mnt),
            "HSMFS_OPTIONS": f"cafile={emulator.ca},default_permissions"}
    line = [x.split("=", 1)[1] for x in open(UNIT) if x.startswith("ExecStart=")][0]
    argv = [conf.get(w[2:-1], w) if w.startswith("${") else w for w in line.split()]
    argv = [w.replace("%d", str(creddir)) for w in argv]
    argv[0] = hsmtest.bin_path("fs/hsmfs")
    mnt.mkdir()
    r = subprocess.run(argv, env=clean_env(), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    check_and_unmount(str(mnt))
