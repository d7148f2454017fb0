"""Fair use per uid (DESIGN.md §3.4; issue 11 findings 2 and 3).

One user (uid 65534, in the mount's group so that it may use keys) tries
to take the daemon from the others: requests from fresh scopes, input
held by read-write handles, 80 readers of `random`, 20,000 stats of
made-up key names.  Root must keep its pending request and a responsive
mount, and the daemon's memory (VmRSS from /proc) must stay bounded.
"""
import errno
import os
import signal
import subprocess
import sys
import time

import pytest

import fsutil
import hsmtest

USER = "setpriv --reuid=65534 --regid=65534 --clear-groups"
MIB = 1 << 20


@pytest.fixture
def shared():
    """mount(emu, options...) in a directory uid 65534 can reach."""
    # audit=off: nothing here is about the audit, and a stuck syslog
    # must not hold the workers this test counts.
    with fsutil.shared_mounts("hsmfs-fair-", "gid=65534", "audit=off") as mount:
        yield mount


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def sh(script, timeout=120):
    return subprocess.run(["bash", "-c", script], capture_output=True, timeout=timeout)


# Run as uid 65534: `small` one-byte requests, then `big` of 1 MiB, each
# from a shell of its own (a scope of its own, DESIGN.md §4.2); then
# `handles` read-write handles fed 1 MiB each and kept open while the
# parent looks.  Prints "requests OK FAILED" per batch, then "handles OK
# EAGAIN" and whether the error file named the cap.
FLOOD = r'''
import errno, os, sys
path, small, big, handles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def flood(n, size):
    ok = failed = 0
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            os.execv("/bin/sh", ["sh", "-c", 'exec 3>"$0" && head -c "$1" /dev/zero >&3',
                                 path, str(size)])
        _, st = os.waitpid(pid, 0)
        ok, failed = (ok + 1, failed) if st == 0 else (ok, failed + 1)
    print("requests", ok, failed, flush=True)
flood(small, 1)
flood(big, 1 << 20)
'''
FLOOD += r'''
fds, again, said = [], 0, ""
for i in range(handles):
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, b"y" * (1 << 20))
        fds.append(fd)
    except OSError as e:
        assert e.errno == errno.EAGAIN, e
        again += 1
        os.close(fd)
        with open(path.rsplit("/", 3)[0] + "/error") as f:
            said = said or f.read()
print("handles", len(fds), again, flush=True)
print("said", "max_pending_bytes" in said, flush=True)
sys.stdin.read()            # hold the handles until told
'''


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_flood_of_requests_and_handles(emulator_factory, shared):
    emu = emulator_factory(demo_keys=True)
    m = shared(emu)
    enc = os.path.join(m.path, "keys", "aes-256", "encrypt")
    sign = os.path.join(m.path, "keys", "ec-p256", "sign")
    before = rss_kib(m.proc.pid)
    # Root leaves a request, lets the flood run, then reads its answer.
    root = subprocess.Popen(
        ["bash", "-c", f"echo -n hello > {sign}; read go; cat {sign} > $1",
         "root", os.path.join(os.path.dirname(m.path), "sig")],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    flood = subprocess.Popen(
        USER.split() + [sys.executable, "-c", FLOOD, enc, "300", "100", "100"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        small = flood.stdout.readline().split()
        big = flood.stdout.readline().split()
        handles = flood.stdout.readline().split()
        said = flood.stdout.readline().split()
        peak = rss_kib(m.proc.pid)
        status = open(os.path.join(m.path, "status")).read()
    finally:
        flood.stdin.close()
        flood.wait(60)
    root.stdin.write(b"\n")
    root.stdin.close()
    assert root.wait(30) == 0, root.stderr.read()
    sig = os.path.join(os.path.dirname(m.path), "sig")
    r = sh(f"echo -n hello | openssl dgst -sha256 -verify "
           f"{m.path}/keys/ec-p256/public.pem -signature {sig}")
    assert b"Verified OK" in r.stdout, r       # root's request survived
    # Every small request was taken, the user's own oldest making room:
    # it holds max_pending (64) of them, plus root's one.
    assert small == ["requests", "300", "0"], small
    pending = int(status.split("pending_requests: ")[1].split()[0])
    assert pending <= 65, status
    # The big ones and the handles stopped at max_pending_bytes (64M).
    assert big[0] == "requests" and int(big[2]) > 0, big
    assert handles[0] == "handles" and int(handles[2]) > 0, handles
    assert int(handles[1]) < 64, handles
    # Held by the daemon at once: at most 64 MiB of the user's input (and
    # what malloc keeps); the unpatched daemon held 300 MiB of requests
    # plus 100 MiB of handles here.
    if not hsmtest.sanitized():                   # ASan's quarantine: see hsmtest
        assert peak - before < 160 * 1024, (before, peak)
    assert said == ["said", "True"], said      # the error file names the cap
    assert m.proc.poll() is None


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_random_readers_do_not_starve_others(emulator_factory, shared):
    emu = emulator_factory(demo_keys=True)
    m = shared(emu)
    info = os.path.join(m.path, "keys", "ec-p256", "info")
    open(info).read()           # the key is known; the readers come next
    emu.faults(latency_ms=20)
    readers = subprocess.Popen(
        ["bash", "-c", f"for i in $(seq 80); do {USER} cat {m.path}/random >/dev/null & done; wait"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(2)           # all 80 have opened and are reading
        t0 = time.monotonic()
        r = sh(f"cat {info} {m.path}/status")
        took = time.monotonic() - t0
    finally:
        os.killpg(readers.pid, signal.SIGKILL)
        readers.wait(30)
        emu.clear_faults()
        # The readers are gone once their reads in flight end (at most
        # 32 calls each): then the mount is not busy any more.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(readers.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        time.sleep(1)
    assert r.returncode == 0 and b"name: ec-p256" in r.stdout, r
    # The finding's own figure: 16.9 s with every worker held by one
    # user's readers, 0.016 s otherwise.  One second leaves room for a
    # loaded machine while failing the unpatched daemon by far.
    assert took < 1.0, took
    assert m.proc.poll() is None


def test_stats_of_made_up_names(emulator_factory, shared):
    emu = emulator_factory(demo_keys=True)
    m = shared(emu)
    keys = os.path.join(m.path, "keys")
    for i in range(200):        # warm up: malloc's arenas, the list
        try:
            os.stat(os.path.join(keys, "warm-%d" % i))
        except FileNotFoundError:
            pass
    emu.reset_stats()
    before = rss_kib(m.proc.pid)
    t0 = time.monotonic()
    r = subprocess.run(USER.split() + [sys.executable, "-c", f"""
import os
n = 0
for i in range(20000):
    try:
        os.stat("{keys}/made-up-%d" % i)
    except FileNotFoundError:
        n += 1
print(n)
"""], capture_output=True, text=True, timeout=300)
    after = rss_kib(m.proc.pid)
    took = time.monotonic() - t0
    assert r.stdout.strip() == "20000", r
    total = emu.stats()["total"]
    # unpatched: 20,002 requests and +7 MB.  Now at most 16 names a
    # second are asked for by name (KC_MISS_GETS), the rest answered by
    # the key list, fetched at most every 5 s.
    assert total <= 16 * (took + 1) + took / 5 + 2, (took, emu.stats())
    assert total < 2000, (took, emu.stats())
    if not hsmtest.sanitized():                   # ASan's quarantine: see hsmtest
        assert after - before < 2048, (before, after)


# Run as uid 65534: n one-handle signs at once; prints how many got a
# signature, EAGAIN with max_calls in the error file, EAGAIN without.
CALLS = r'''
import errno, os, sys, threading
path, n = sys.argv[1], int(sys.argv[2])
res = []
def one():
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, b"message")
        res.append("ok" if len(os.read(fd, 4096)) > 0 else "empty")
    except OSError as e:
        assert e.errno == errno.EAGAIN, e
        with open(path.rsplit("/", 3)[0] + "/error") as f:
            res.append("named" if "max_calls" in f.read() else "unnamed")
    finally:
        os.close(fd)
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
print(res.count("ok"), res.count("named"), len(res))
'''


def test_max_calls_per_uid(emulator_factory, shared):
    emu = emulator_factory(demo_keys=True)
    m = shared(emu, "max_calls=4")
    sign = os.path.join(m.path, "keys", "ec-p256", "sign")
    open(os.path.join(m.path, "keys", "ec-p256", "info")).read()
    emu.faults(ops=["sign"], latency_ms=1500)
    try:
        user = subprocess.Popen(USER.split() + [sys.executable, "-c", CALLS, sign, "10"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)         # the user's 4 calls are in flight
        r = sh(f"exec 3<>{sign}; echo -n root >&3; head -c 8 <&3 | wc -c")
        out, err = user.communicate(timeout=60)
    finally:
        emu.clear_faults()
    assert r.stdout.strip() == b"8", r          # root has slots of its own
    # every thread ended with a signature or with EAGAIN naming max_calls,
    # and at most 4 of the user's were in flight at once
    ok, named, total = map(int, out.split())
    assert total == 10 and ok + named == 10 and named >= 1, (out, err)
    assert emu.op_count("sign") <= ok + 1, emu.stats()


# As uid 65534 under max_spool_bytes=1M: seal 700 KiB on handle A and
# keep it; the same on B must stop with EAGAIN naming the cap; once A is
# closed, C seals 700 KiB whole.  Prints "A n", "B errno named", "C n".
SPOOL = r'''
import errno, os, sys
seal, err_file = sys.argv[1], sys.argv[2]
def sealed(fd):
    os.write(fd, b"x" * (700 << 10))
    out = b""
    while (chunk := os.read(fd, 1 << 20)):
        out += chunk
    return len(out)
a = os.open(seal, os.O_RDWR)
print("A", sealed(a), flush=True)
b = os.open(seal, os.O_RDWR)
try:
    print("B", sealed(b), "-", flush=True)
except OSError as e:
    with open(err_file) as f:
        print("B", errno.errorcode[e.errno], "max_spool_bytes" in f.read(), flush=True)
os.close(b)
os.close(a)
c = os.open(seal, os.O_RDWR)
print("C", sealed(c), flush=True)
os.close(c)
'''


@pytest.mark.mhsm_only  # an AES key's seal: RSA's would do on a vault, AES is quicker
def test_max_spool_bytes_per_uid(emulator_factory, shared, tmp_path):
    """A user cannot fill the spool's disk: seal and unseal spool under a
    per-uid cap (-o max_spool_bytes), counted until the output is read
    and the handle closed or the request gone; root's own seals are not
    touched by the user's use."""
    emu = emulator_factory(demo_keys=True)
    m = shared(emu, "max_spool_bytes=1M")
    key = os.path.join(m.path, "keys", "aes-256")
    seal = os.path.join(key, "seal")
    r = subprocess.run(USER.split() + [sys.executable, "-c", SPOOL, seal,
                                       os.path.join(m.path, "error")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    # 700 KiB of plaintext is ~700 KiB of blob (11 chunks, 16 bytes each)
    a, c = int(lines[0].split()[1]), int(lines[2].split()[1])
    assert lines[0].startswith("A ") and 700 << 10 < a < 720 << 10, r.stdout
    assert lines[1] == "B EAGAIN True", r.stdout
    assert lines[2].startswith("C ") and c == a, r.stdout
    # Two commands: the pending request keeps its spool until it is read.
    held = sh(f"{USER} bash -c 'head -c 700K /dev/zero > {seal}'")
    assert held.returncode == 0, held
    over = sh(f"{USER} bash -c 'head -c 700K /dev/zero > {seal}'")
    assert over.returncode != 0 and b"Resource temporarily unavailable" in over.stderr, over
    # Root is another uid: a blob of 900 KiB, and it unseals to its input.
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(900 << 10))
    r = sh(f"exec 3<>{seal}; cat {plain} >&3; cat <&3 > {tmp_path}/blob; exec 3>&-; "
           f"exec 4<>{key}/unseal; cat {tmp_path}/blob >&4; cat <&4 > {tmp_path}/back")
    assert r.returncode == 0, r
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()
