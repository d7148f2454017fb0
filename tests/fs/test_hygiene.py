"""The process (DESIGN.md §5): not dumpable, credentials gone from the
environment once read, secrets in DontDump memory, the Azure CLI run with
a minimal environment and no inherited descriptors, the service's sockets
close-on-exec."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time

import pytest

import hsmtest

# No audit to syslog: these tests are about the process, and a syslog that
# does not read (another test's fake /dev/log) would block the daemon.
QUIET = ["audit=off"]

def kp(m, key, name):
    return os.path.join(m.path, "keys", key, name)


def sign(m):
    sig = hsmtest.one_handle(kp(m, "ec-p256", "sign.raw"), b"hygiene")
    assert len(sig) == 64
    assert hsmtest.one_handle(kp(m, "ec-p256", "verify.raw"), sig + b"hygiene") == b"valid\n"


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def test_credentials_leave_the_environment(emulator, mount_factory):
    """/proc/PID/environ shows the block the process started with: the
    client secret must be wiped from it, not just unset; the client keeps
    working from its own copy."""
    env = emulator.env()
    secret = env["AZURE_CLIENT_SECRET"].encode()
    assert secret in b"".join(f"{k}={v}".encode() for k, v in env.items())
    m = mount_factory(emulator, options=QUIET)
    sign(m)
    block = environ_of(m.proc.pid)
    assert secret not in block
    assert b"AZURE_CLIENT_SECRET" not in block and b"AZURE_CLIENT_ID" not in block
    assert b"PATH=" in block          # the rest is left alone


def test_credentials_file_values_leave_the_environment(emulator, mount_factory, tmp_path):
    """-o credentials=FILE: setenv()'s copies ("NAME=VALUE" strings in the
    heap, which /proc/PID/environ never shows) are removed and wiped too:
    the daemon's memory (read through /proc/PID/mem, as root) holds no
    "AZURE_CLIENT_SECRET=..." anywhere, and the client's own copy of the
    secret is in DontDump memory.  The token request curl sent,
    "...&client_secret=...", is wiped with curl's buffer (client/curlmem.c)."""
    creds = tmp_path / "creds"
    creds.write_text(f"AZURE_TENANT_ID={hsmtest.TENANT}\nAZURE_CLIENT_ID={hsmtest.CLIENT_ID}\n"
                     f"AZURE_CLIENT_SECRET={hsmtest.CLIENT_SECRET}\n"
                     f"AZURE_AUTHORITY_HOST={emulator.url}\n")
    creds.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    m = mount_factory(emulator, options=QUIET + [f"credentials={creds}"], env=env)
    sign(m)
    found = scan_memory(m.proc.pid, hsmtest.CLIENT_SECRET.encode())
    assert found["dontdump"] >= 1, found      # the client's copy, in secret memory
    found = scan_memory(m.proc.pid, f"AZURE_CLIENT_SECRET={hsmtest.CLIENT_SECRET}".encode())
    assert found["dontdump"] == found["other"] == 0, found
    found = scan_memory(m.proc.pid, f"client_secret={hsmtest.CLIENT_SECRET}".encode())
    assert found["other"] == 0, found


def scan_memory(pid, needle):
    """Count needle in pid's writable private mappings: in DontDump ones
    (secret memory) and in the others."""
    counts = {"dontdump": 0, "other": 0, "unlocked": 0, "where": []}
    maps = []
    with open(f"/proc/{pid}/smaps") as f:
        cur = None
        for line in f:
            mo = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ", line)
            if mo:
                cur = [int(mo.group(1), 16), int(mo.group(2), 16), mo.group(3), False,
                       line.strip(), False]
                maps.append(cur)
            elif line.startswith("VmFlags:") and cur:
                cur[3] = " dd" in line
                cur[5] = " lo" in line
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, perms, dd, desc, locked in maps:
            if "r" not in perms or "w" not in perms or hi - lo > (1 << 30):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            n = data.count(needle)
            if n:
                counts["dontdump" if dd else "other"] += n
                if dd and not locked:
                    counts["unlocked"] += n
                if not dd:
                    counts["where"].append(desc)
    return counts


def test_cached_token_in_dontdump_memory(emulator, mount_factory, tmp_path):
    """The token the client keeps between calls is in secret memory, and
    nowhere else after requests: the Authorization lines curl built are
    wiped with its buffers (client/curlmem.c; two copies before), and what
    OpenSSL sent was encrypted in place."""
    tok = emulator.token()
    tf = tmp_path / "token"
    tf.write_text(tok + "\n")
    tf.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    m = mount_factory(emulator, options=QUIET + ["auth=token", f"token_file={tf}"], env=env)
    for _ in range(5):
        sign(m)
    found = scan_memory(m.proc.pid, tok.encode())
    assert found["dontdump"] >= 1 and found["other"] == 0, found


@pytest.mark.mhsm_only  # an AES key's wrap
def test_wrapped_key_leaves_no_copy(emulator, mount_factory):
    """The key a wrap request carries (base64url in curl's request body)
    is not left in ordinary memory after the request."""
    m = mount_factory(emulator, options=QUIET)
    key = os.urandom(32)
    hsmtest.one_handle(kp(m, "aes-256", "wrap"), key)
    b64 = base64.urlsafe_b64encode(key).rstrip(b"=")
    found = scan_memory(m.proc.pid, b64[16:])
    assert found["other"] == 0, found


def test_secrets_stay_locked_after_daemonising(emulator, tmp_path):
    """mlock() does not survive fuse_daemonize()'s fork: secret memory the
    mount-time probe client left empty, reused by the daemon, held its
    copy of the client secret unlocked (swappable).  The daemon's copies
    are in locked memory."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-o", ",".join(
        QUIET + ["auth=secret", f"cafile={emulator.ca}"]), emulator.url, str(mnt)],
        env=emulator.env(), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    try:
        pid = daemon_pid(str(mnt))
        assert pid, "no daemon"
        hsmtest.one_handle(os.path.join(mnt, "keys", "ec-p256", "sign"), b"locked")
        found = scan_memory(pid, hsmtest.CLIENT_SECRET.encode() + b"\0")
        assert found["dontdump"] >= 1, found
        if not hsmtest.sanitized():               # ASan's mlock() does nothing
            assert found["unlocked"] == 0, found
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], stderr=subprocess.DEVNULL)


def test_decrypted_plaintext_leaves_no_copy(emulator, mount_factory):
    """After a remote decrypt, the daemon's memory outside DontDump mappings
    holds no copy of the base64url plaintext the service sent as a value
    parsed out of the reply: json-c's parse buffer and the parsed tree are
    wiped.  (curl's receive buffer may keep the reply, '"value":"B64"',
    which ends in a quote where the parsed copies end in a NUL; and
    libfuse's path-based API copies each read's data into a buffer it frees
    unwiped: both listed in hsmfs(1).)"""
    m = mount_factory(emulator, options=QUIET)
    secret = os.urandom(48)
    ct = hsmtest.one_handle(kp(m, "rsa-2048", "encrypt"), secret)
    assert hsmtest.one_handle(kp(m, "rsa-2048", "decrypt"), ct) == secret
    b64 = base64.urlsafe_b64encode(secret).rstrip(b"=")
    # The first 16 bytes of a freed malloc chunk hold free-list pointers:
    # look for the tail, as a C string.
    found = scan_memory(m.proc.pid, b64[24:] + b"\0")
    assert found["other"] == 0, found


def test_written_plaintext_leaves_no_copy(emulator, mount_factory):
    """What a caller writes (here plaintext to seal, small and large) sits
    in the receive buffer of the FUSE worker that took it, which libfuse
    keeps for the worker's life, until a later request there overwrites
    it.  Once the handler has the data the daemon wipes it, and gives the
    whole pages of a large write back (fs/ops.c)."""
    m = mount_factory(emulator, options=QUIET)
    marker = os.urandom(32)
    small = marker + b" the small one"
    large = marker * (512 * 1024 // len(marker))
    fd = os.open(kp(m, "rsa-2048", "seal"), os.O_RDWR)
    try:
        assert os.write(fd, small) == len(small)
        assert os.write(fd, large) == len(large)
        blob = b""
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            blob += b
    finally:
        os.close(fd)
    assert len(blob) > len(small) + len(large)
    # Outside secret memory: the sealer's chunk of plaintext lives in
    # locked DontDump memory, wiped when the handle's RELEASE (sent in the
    # background after close) is served.
    found = scan_memory(m.proc.pid, marker)
    assert found["other"] == 0, found


def test_secrets_are_in_dontdump_memory(emulator, mount_factory):
    """A decrypted plaintext held as a pending result sits in a DontDump
    (and, within RLIMIT_MEMLOCK, locked) mapping."""
    m = mount_factory(emulator, options=QUIET)
    sign(m)
    with open(f"/proc/{m.proc.pid}/smaps") as f:
        flags = [l for l in f if l.startswith("VmFlags:")]
    assert any(" dd" in l for l in flags), flags


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def daemon_pid(mnt):
    """The hsmfs process serving mnt (a daemon has no parent of ours)."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"hsmfs") and mnt.encode() in argv:
            return int(p)
    return None


@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "daemon"])
def test_not_dumpable(emulator, foreground):
    """Run by an unprivileged user, a dumpable process owns the files in its
    /proc/PID and that user may read its environ and memory (and gdb it);
    hsmfs is not dumpable, so the kernel gives them to root and the user
    reads nothing.  Also after fuse_daemonize()'s fork.  (A core-file test would
    need core_pattern changed: hsmfs's working directory is /.)"""
    top = tempfile.mkdtemp(prefix="hsmfs-hyg-")
    os.chmod(top, 0o755)
    ca = os.path.join(top, "ca.pem")
    shutil.copy(emulator.ca, ca)
    os.chmod(ca, 0o644)
    mnt = os.path.join(top, "mnt")
    os.mkdir(mnt)
    os.chown(mnt, 65534, 65534)
    # /dev/fuse is root's here: the daemon keeps the two capabilities
    # that open it and mount, as ambient ones (no privilege gained at
    # exec, so they alone do not make it undumpable: the mutation test
    # showed /proc/PID owned by nobody without PR_SET_DUMPABLE).
    caps = ["--inh-caps=+sys_admin,+dac_override",
            "--ambient-caps=+sys_admin,+dac_override"]
    cmd = NOBODY + caps + [hsmtest.bin_path("fs/hsmfs")] + (["-f"] if foreground else []) + \
        ["-o", ",".join(QUIET + [f"cafile={ca}"]), emulator.url, mnt]
    proc = subprocess.Popen(cmd, env=emulator.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    pid = None
    try:
        deadline = time.monotonic() + 20
        while not hsmtest.is_mounted(mnt) and time.monotonic() < deadline:
            if foreground:
                assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        assert hsmtest.is_mounted(mnt), proc.stderr.read() if proc.poll() is not None else ""
        pid = proc.pid if foreground else daemon_pid(mnt)
        assert pid and (foreground or pid != proc.pid)
        with open(f"/proc/{pid}/status") as f:
            uids = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
        assert uids == "65534"                      # it runs as nobody...
        for name in ("status", "environ", "mem"):   # ...but its files are root's
            assert os.stat(f"/proc/{pid}/{name}").st_uid == 0, name
        r = subprocess.run(NOBODY + ["cat", f"/proc/{pid}/environ"], capture_output=True)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    finally:
        subprocess.run(["fusermount3", "-u", "-z", mnt], stderr=subprocess.DEVNULL)
        if foreground:
            hsmtest.stop_daemon(proc, mnt)
        else:
            proc.wait(10)
            deadline = time.monotonic() + 10
            while pid and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid and os.path.exists(f"/proc/{pid}"):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(top, ignore_errors=True)


def tcp_inodes(pid):
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                for line in f.readlines()[1:]:
                    inodes.add(line.split()[9])
        except FileNotFoundError:
            pass
    return inodes


def test_service_sockets_close_on_exec(emulator, mount_factory):
    """Every TCP socket the daemon holds after talking to the service is
    O_CLOEXEC (curl's own socket() would not be).  (curl's other
    descriptors, its wake-up socket pairs, are closed in the Azure CLI's
    child by closefrom: the next test.)"""
    m = mount_factory(emulator, options=QUIET)
    sign(m)
    pid = m.proc.pid
    tcp = tcp_inodes(pid)
    sockets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        mo = re.match(r"socket:\[(\d+)\]", target)
        if mo and mo.group(1) in tcp:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = int(re.search(r"flags:\s+([0-7]+)", f.read()).group(1), 8)
            sockets.append((fd, flags & os.O_CLOEXEC != 0))
    assert sockets, "no TCP socket open: the test needs a pooled connection"
    assert all(cloexec for _, cloexec in sockets), sockets


# Where it writes is in its text: az gets none of our variables.
FAKE_AZ = textwrap.dedent("""\
    #!/bin/sh
    # First, with builtins only: around each fork and wait dash blocks
    # every signal for a moment, so a later look (grep) could catch that.
    while IFS= read -r l; do
        case "$l" in SigBlk:*|SigIgn:*) echo "$l" ;; esac
    done < /proc/$$/status > "DIR/sig"
    env > "DIR/env" 2>/dev/null
    ls -l /proc/$$/fd > "DIR/fds" 2>&1
    cat "DIR/token.json"
    """)


def test_azure_cli_sees_no_secret_and_no_descriptor(emulator, mount_factory, tmp_path,
                                                    monkeypatch):
    """auth=azcli: a fake az on PATH records its environment and its open
    descriptors.  The daemon's environment holds a client secret (as a
    host's may): az must not see it, nor any AZURE_* credential, nor a
    socket or /dev/fuse; it gets PATH, HOME and AZURE_CONFIG_DIR."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    az = bindir / "az"
    az.write_text(FAKE_AZ.replace("DIR", str(tmp_path)))
    az.chmod(0o755)
    tok = emulator.token()
    (tmp_path / "token.json").write_text(json.dumps(
        {"accessToken": tok, "expires_on": int(time.time()) + 3600, "tokenType": "Bearer"}))
    env = emulator.env()
    env.update(PATH=f"{bindir}:/usr/bin:/bin", FAKE_AZ_DIR=str(tmp_path),
               HOME=str(tmp_path), AZURE_CONFIG_DIR=str(tmp_path / "azcfg"),
               IDENTITY_HEADER="idheader-secret")
    # The daemon starts with SIGUSR1 ignored (as under a service manager
    # that ignores signals): az must not inherit that.
    ign = tmp_path / "ignusr1"
    ign.write_text("#!/bin/sh\ntrap '' USR1\nexec \"$@\"\n")
    ign.chmod(0o755)
    monkeypatch.setenv("HSMFS_DAEMON_WRAPPER", str(ign))
    m = mount_factory(emulator, options=QUIET + ["auth=azcli"], env=env)
    sign(m)
    seen = dict(l.split("=", 1) for l in (tmp_path / "env").read_text().splitlines() if "=" in l)
    assert not [k for k in seen if k.startswith("AZURE_") and k != "AZURE_CONFIG_DIR"], seen
    assert hsmtest.CLIENT_SECRET not in (tmp_path / "env").read_text()
    assert "IDENTITY_HEADER" not in seen and "FAKE_AZ_DIR" not in seen
    assert seen["AZURE_CONFIG_DIR"] == str(tmp_path / "azcfg") and seen["HOME"] == str(tmp_path)
    assert seen["PATH"].startswith(str(bindir))
    fds = (tmp_path / "fds").read_text()
    assert "socket:" not in fds and "/dev/fuse" not in fds, fds
    # started as from a shell: no standard signal (1..31) blocked or
    # ignored (the daemon's SIGUSR1, its worker threads' masks); 32 and
    # 33 are glibc's own
    sig = dict(l.split(":\t", 1) for l in (tmp_path / "sig").read_text().splitlines())
    std = (1 << 31) - 1
    assert int(sig["SigBlk"], 16) & std == 0 and int(sig["SigIgn"], 16) & std == 0, sig
    # /dev/null (0), the pipe to the daemon (1), and what the shell opened
    # itself (its script, the file it writes, saved copies of 1 and 2):
    # nothing else of the daemon's (log file, /dev/fuse, audit file).
    targets = {l.split(" -> ", 1)[1] for l in fds.splitlines() if " -> " in l}
    pipes = {t for t in targets if t.startswith("pipe:")}
    assert len(pipes) == 1, fds
    assert targets - pipes <= {"/dev/null", str(tmp_path / "fds"), str(az)}, fds
