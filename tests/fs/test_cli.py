"""The command line of DESIGN.md §6."""
import os
import shutil
import subprocess
import time

import pytest

import hsmtest


def hsmfs():
    return hsmtest.bin_path("fs/hsmfs")


def run(args, env=None, timeout=20):
    return subprocess.run([hsmfs()] + args, capture_output=True, timeout=timeout, env=env)


def test_help_and_version():
    r = run(["--help"])
    assert r.returncode == 0
    out = r.stdout.decode()
    assert out.startswith("usage: ") and "cafile=PATH" in out and "result_ttl" in out
    # libfuse's options follow ours
    assert out.index("result_ttl") < out.index("max_idle_threads") if "max_idle_threads" in out else True
    r = run(["--version"])
    assert r.returncode == 0 and b"hsmfs version" in r.stdout


@pytest.mark.parametrize("args,word", [
    (["ftp://example.com"], "URL"),
    (["https://127.0.0.1:1", "-o", "cafile=/nonexistent/ca.pem"], "ca"),
    (["https://127.0.0.1:1", "-o", "timeout=0"], "timeout"),
    (["https://127.0.0.1:1", "-o", "auth=magic"], "auth"),
    (["https://127.0.0.1:1", "-o", "allow_other"], "default_permissions"),
    (["https://127.0.0.1:1", "-o", "mkdir_key=DSA"], "mkdir_key"),
])
def test_bad_arguments_one_line(emulator, tmp_path, args, word):
    mnt = tmp_path / "m"
    mnt.mkdir()
    r = run(args + [str(mnt)], env=emulator.env())
    assert r.returncode != 0
    err = r.stderr.decode().strip()
    assert err.count("\n") == 0 and word.lower() in err.lower(), err
    assert not hsmtest.is_mounted(str(mnt))


def test_cafile_without_certificates_one_line(emulator, tmp_path):
    """A cafile that holds no certificate is said at mount time, once,
    not by every connection later (the CA store is read once)."""
    ca = tmp_path / "not-a-bundle.pem"
    ca.write_text("this is not a certificate\n")
    mnt = tmp_path / "m"
    mnt.mkdir()
    r = run(["-o", "cafile=" + str(ca), emulator.url, str(mnt)], env=emulator.env())
    if hsmtest.is_mounted(str(mnt)):                  # the defect: never keep it
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)])
    assert r.returncode != 0
    err = r.stderr.decode().strip()
    assert err.count("\n") == 0 and "no CA certificate" in err and str(ca) in err, err
    assert not hsmtest.is_mounted(str(mnt))


def test_missing_credentials(emulator, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env["PATH"] = "/usr/bin:/bin"          # no az CLI either
    mnt = tmp_path / "m"
    mnt.mkdir()
    r = run(["-o", "auth=secret,cafile=" + emulator.ca, emulator.url, str(mnt)], env=env)
    assert r.returncode != 0
    assert r.stderr.decode().strip().count("\n") == 0
    assert not hsmtest.is_mounted(str(mnt))


def wait_unmounted_and_gone(path, pid_check, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not hsmtest.is_mounted(path) and not pid_check():
            return True
        time.sleep(0.05)
    return False


def daemon_pids(mnt):
    out = subprocess.run(["pgrep", "-f", f"hsmfs.* {mnt}$"], capture_output=True).stdout.split()
    return [int(p) for p in out]


def test_daemon_mode_and_relative_cafile(emulator, tmp_path):
    """Without -f the command returns once the mount is up; a relative
    cafile still works after daemonising (which changes to /)."""
    mnt = tmp_path / "m"
    mnt.mkdir()
    shutil.copy(emulator.ca, tmp_path / "ca.pem")
    r = subprocess.run([hsmfs(), "-o", "cafile=ca.pem", emulator.url, str(mnt)],
                       cwd=tmp_path, env=emulator.env(), capture_output=True, timeout=20)
    try:
        assert r.returncode == 0, r.stderr
        assert hsmtest.is_mounted(str(mnt))          # up when the command returns
        assert "ec-p256" in os.listdir(mnt / "keys")
        assert len(open(mnt / "keys" / "ec-p256" / "public.pem").read()) > 50
    finally:
        pids = daemon_pids(mnt)
        subprocess.run(["fusermount3", "-u", str(mnt)])
        assert wait_unmounted_and_gone(str(mnt), lambda: any(os.path.exists(f"/proc/{p}") for p in pids))


@pytest.mark.parametrize("form", ["fuse.hsmfs", "fuse#path"])
def test_mount_command(emulator, tmp_path, form):
    """mount(8) runs mount.fuse3, which runs `hsmfs URL MNT -o ...`.
    mount(8) searches a fixed safe PATH (where `meson install` puts
    hsmfs), so the build tree's binary is reached through mount.fuse3 with
    PATH set (what `mount -t fuse.hsmfs` does), and through mount(8) itself
    with the fuse "PROGRAM#SOURCE" form."""
    helper = shutil.which("mount.fuse3") or "/sbin/mount.fuse3"
    if not os.path.exists(helper):
        pytest.skip("mount.fuse3 is not installed")
    if os.geteuid() != 0:
        pytest.skip("mount(8) needs root")
    mnt = tmp_path / "m"
    mnt.mkdir()
    env = emulator.env()
    opts = "cafile=" + emulator.ca + ",list_ttl=5"
    if form == "fuse.hsmfs":
        env["PATH"] = os.path.dirname(hsmfs()) + ":" + env.get("PATH", "/usr/bin:/bin")
        cmd = [helper, emulator.url, str(mnt), "-t", "fuse.hsmfs", "-o", opts]
    else:
        cmd = ["mount", "-t", "fuse", hsmfs() + "#" + emulator.url, str(mnt), "-o", opts]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=30)
    try:
        assert r.returncode == 0, r.stderr
        assert "rsa-2048" in os.listdir(mnt / "keys")
    finally:
        pids = daemon_pids(mnt)
        subprocess.run(["umount", str(mnt)], capture_output=True)
        assert wait_unmounted_and_gone(str(mnt), lambda: any(os.path.exists(f"/proc/{p}") for p in pids))


@pytest.mark.mhsm_only  # looks for the demo key aes-128
def test_plain_http_needs_allow_http(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(plain_http=True)
    mnt = tmp_path / "refused"
    mnt.mkdir()
    r = run([emu.url, str(mnt)], env=emu.env())
    assert r.returncode != 0 and r.stderr.decode().strip().count("\n") == 0
    m = mount_factory(emu)                 # Mount adds allow_http for plain http
    assert "aes-128" in os.listdir(os.path.join(m.path, "keys"))


def test_several_urls_fail_over(emulator, mount_factory):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "https://127.0.0.1:%d" % s.getsockname()[1]
    s.close()                              # nothing listens there now

    class Emu:                             # the same emulator behind a URL list
        pass
    e = Emu()
    e.__dict__.update(emulator.__dict__)
    e.url = dead + "," + emulator.url
    e.ca, e.plain_http = emulator.ca, False
    e.env = emulator.env
    m = mount_factory(e, options=["retries=2"])
    sig_path = os.path.join(m.path, "keys", "ec-p256", "sign")
    fd = os.open(sig_path, os.O_RDWR)
    try:
        os.write(fd, b"failover")
        assert len(os.read(fd, 200)) > 60
    finally:
        os.close(fd)
    st = dict(l.split(": ", 1) for l in open(os.path.join(m.path, "status")).read().splitlines())
    assert st["endpoint"] == emulator.url and int(st["failovers"]) >= 1
