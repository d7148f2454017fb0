"""scripts/run, the newcomer's one command: it builds, starts the emulator,
mounts, runs a tour whose signature OpenSSL verifies, and Ctrl-C at the
terminal unmounts and stops everything (exit 0).

It runs in a pseudo-terminal so that Ctrl-C is delivered the way a user's
is: by the terminal, to the foreground process group.
"""
import os
import pty
import select
import time

import hsmtest


def read_until(fd, buf, marker, timeout):
    end = time.monotonic() + timeout
    while marker not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_scripts_run_tour_and_ctrl_c(tmp_path):
    mnt = tmp_path / "hsm"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(hsmtest.REPO)
        os.environ["HSMFS_MNT"] = str(mnt)
        os.execvp("bash", ["bash", "scripts/run"])
    buf = b""
    try:
        buf = read_until(fd, buf, b"Ctrl-C unmounts", 240)
        text = buf.decode(errors="replace")
        assert "Verified OK" in text, text
        assert "ec-p256" in text and "rsa-2048" in text, text
        assert hsmtest.is_mounted(mnt), text
        os.write(fd, b"\x03")
        buf = read_until(fd, buf, b"unmounted", 60)
        _, status = os.waitpid(pid, 0)
        pid = 0
        text = buf.decode(errors="replace")
        assert os.waitstatus_to_exitcode(status) == 0, text
        assert "unmounted " + str(mnt) in text, text
        assert not hsmtest.is_mounted(mnt)
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        if hsmtest.is_mounted(mnt):
            os.system(f"fusermount3 -u -z {mnt}")
        os.close(fd)
