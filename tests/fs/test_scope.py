"""Scope isolation of the two-command idiom (DESIGN.md §4.2) and
concurrency of one-handle operations."""
import errno
import os
import subprocess
import threading

import pytest

from fsutil import openssl_verify, sh
from hsmtest import read_to_eof

SCRIPT = r'''
i=$1; dir=$2; S=$3; pem=$4; fails=0
for j in $(seq 1 $N); do
    msg="script $i iteration $j $RANDOM"
    echo -n "$msg" > "$S"
    cat "$S" > "$dir/sig.$i"
    printf %s "$msg" > "$dir/msg.$i"
    openssl dgst -sha256 -verify "$pem" -signature "$dir/sig.$i" "$dir/msg.$i" >/dev/null || fails=$((fails+1))
done
echo "$i $fails" > "$dir/result.$i"
'''


def test_sixteen_scripts_from_one_parent(mnt, tmp_path):
    key = os.path.join(mnt.path, "keys", "ec-p256")
    (tmp_path / "s.sh").write_text(SCRIPT)
    # one bash parent starts all 16 at once and waits
    r = sh(f'export N=50; for i in $(seq 1 16); do bash {tmp_path}/s.sh $i {tmp_path} '
           f'{key}/sign {key}/public.pem & done; wait', timeout=600)
    assert r.returncode == 0
    results = sorted((tmp_path).glob("result.*"))
    assert len(results) == 16
    for f in results:
        i, fails = f.read_text().split()
        assert fails == "0", f"script {i}: {fails} of 50 results did not verify against its own message"


def test_xargs_parallel_sh(mnt, tmp_path):
    key = os.path.join(mnt.path, "keys", "ec-p384")
    out = tmp_path / "out"
    out.mkdir()
    sh(f"seq 1 96 | xargs -P 8 -I{{}} sh -c 'm=\"message {{}} $$\"; printf %s \"$m\" > {key}/sign.raw.hex; "
       f"cat {key}/sign.raw.hex > {out}/{{}}.sig; printf %s \"$m\" > {out}/{{}}.msg'", timeout=300)
    from fsutil import raw_to_der
    for n in range(1, 97):
        raw = bytes.fromhex((out / f"{n}.sig").read_text().strip())
        msg = (out / f"{n}.msg").read_bytes()
        assert openssl_verify(f"{key}/public.pem", "sha384", raw_to_der(raw), msg, str(tmp_path)), n


def test_eight_threads_one_handle_each(mnt, tmp_path):
    key = os.path.join(mnt.path, "keys", "rsa-2048")
    results, errors = [], []

    def worker(t):
        try:
            fd = os.open(f"{key}/sign", os.O_RDWR)
            try:
                for j in range(20):
                    msg = f"thread {t} op {j}".encode()
                    os.write(fd, msg)
                    results.append((msg, read_to_eof(fd, 4096)))
            finally:
                os.close(fd)
        except Exception as e:  # reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert len(results) == 160
    for msg, sig in results[::8] + results[-3:]:
        assert openssl_verify(f"{key}/public.pem", "sha256", sig, msg, str(tmp_path))
    # and every one of them through the daemon's own (local) verify
    for msg, sig in results:
        fd = os.open(f"{key}/verify", os.O_RDWR)
        try:
            os.write(fd, sig + msg)
            assert os.read(fd, 100) == b"valid\n"
        finally:
            os.close(fd)


def test_scopes_do_not_leak(mnt):
    """A request left by one shell is invisible to another shell and to
    a process outside any shell."""
    s = os.path.join(mnt.path, "keys", "ec-p256", "sign.b64url")
    sh(f"echo -n private > {s}")
    r = sh(f"cat {s}", check=False)
    assert r.returncode != 0 and b"No data available" in r.stderr
    with pytest.raises(OSError) as e:
        os.open(s, os.O_RDONLY)
    assert e.value.errno == errno.ENODATA


def signed(mnt, key, sig, msg, tmp, hex=False):
    """Does openssl accept sig (DER, or its hex) as key's signature of msg?"""
    if hex:
        sig = bytes.fromhex(sig.decode().strip())
    pem = os.path.join(mnt.path, "keys", key, "public.pem")
    return openssl_verify(pem, "sha256", sig, msg, str(tmp))


def test_own_request_first_and_replacement(mnt, tmp_path):
    s = os.path.join(mnt.path, "keys", "ec-p256", "sign.hex")
    # a program outside any shell writes and reads itself
    with open(s, "wb") as f:
        f.write(b"first")
    with open(s, "rb") as f:
        a = f.read()
    with open(s, "rb") as f:
        assert f.read() == a            # re-readable
    with open(s, "wb") as f:
        f.write(b"second")
    with open(s, "rb") as f:
        b = f.read()
    assert a != b and len(a) > 100
    assert signed(mnt, "ec-p256", a, b"first", tmp_path, hex=True)
    assert signed(mnt, "ec-p256", b, b"second", tmp_path, hex=True)
    # in a shell: the newest request of the scope wins (one writer, the
    # shell itself, replaces its own request)
    sig = sh(f"echo -n one > {s}; echo -n two > {s}; cat {s}").stdout
    assert signed(mnt, "ec-p256", sig, b"two", tmp_path, hex=True)
    assert not signed(mnt, "ec-p256", sig, b"one", tmp_path, hex=True)


# Two requests of one scope that are both kept: a writer's request stays
# while the writer lives (so that a program reading its own answer is not
# robbed by a sibling), and a reader that wrote nothing gets the newest.
NEWEST = {
    # the shell's own request, then a child's: the shell is still alive
    # (cat is not the last command, which bash -c would exec: see below)
    "shell then child": "echo -n one > {s}; /usr/bin/printf two > {s}; cat {s}; true",
    # two programs that outlive their requests, then a reader
    "two live programs": """
        w() {{ /usr/bin/python3 -c 'import sys, time
with open(sys.argv[1], "wb") as f: f.write(sys.argv[2].encode())
print("written", flush=True); time.sleep(60)' {s} "$1" > "$2" & }}
        wait_for() {{ for i in $(seq 1 200); do [ -s "$1" ] && return; sleep 0.05; done; return 1; }}
        w one {tmp}/w1; p1=$!; wait_for {tmp}/w1
        w two {tmp}/w2; p2=$!; wait_for {tmp}/w2
        cat {s} > {tmp}/sig; rc=$?
        kill $p1 $p2; wait
        cat {tmp}/sig; exit $rc""",
}


@pytest.mark.parametrize("script", sorted(NEWEST))
def test_reader_gets_the_newest_of_its_scope(mnt, tmp_path, script):
    s = os.path.join(mnt.path, "keys", "ec-p256", "sign")
    sig = sh(NEWEST[script].format(s=s, tmp=tmp_path), timeout=60).stdout
    assert signed(mnt, "ec-p256", sig, b"two", tmp_path), "not a signature of the newest request"
    assert not signed(mnt, "ec-p256", sig, b"one", tmp_path)


def test_result_ttl(emulator, mount_factory):
    import time
    m = mount_factory(emulator, options=["result_ttl=1"])
    s = os.path.join(m.path, "keys", "ec-p256", "sign")
    out = sh(f"echo -n a > {s}; cat {s} >/dev/null; cat {s} | wc -c; sleep 1.3; cat {s}",
             check=False)
    assert out.returncode != 0 and b"No data available" in out.stderr
    assert int(out.stdout.split()[0]) > 60      # re-read within the ttl worked


def test_exec_last_command_gets_the_newest(mnt, tmp_path):
    """bash -c execs its last command: cat is the very process that wrote
    'one' with its builtin echo, but another program now, so it is no
    longer that request's writer and gets the newest of the scope."""
    s = os.path.join(mnt.path, "keys", "ec-p256", "sign")
    sig = sh(f"echo -n one > {s}; /usr/bin/printf two > {s}; cat {s}").stdout
    assert signed(mnt, "ec-p256", sig, b"two", tmp_path)


# A program that wrote and reads while a sibling of its scope writes too:
# it still gets its own request (what "own request first" is for; the exec
# rule above must not take it away from a program that did not exec).
OWN = r"""
    /usr/bin/python3 -c 'import os, sys, time
s, tmp = sys.argv[1], sys.argv[2]
with open(s, "wb") as f: f.write(b"mine")
open(tmp + "/written", "w").close()
for i in range(400):
    if os.path.exists(tmp + "/sibling"): break
    time.sleep(0.05)
with open(s, "rb") as f: sys.stdout.buffer.write(f.read())' {s} {tmp} &
    for i in $(seq 1 400); do [ -e {tmp}/written ] && break; sleep 0.05; done
    /usr/bin/printf theirs > {s}; touch {tmp}/sibling
    wait $!"""


def test_program_gets_its_own_while_a_sibling_writes(mnt, tmp_path):
    s = os.path.join(mnt.path, "keys", "ec-p256", "sign")
    sig = sh(OWN.format(s=s, tmp=tmp_path), timeout=60).stdout
    assert signed(mnt, "ec-p256", sig, b"mine", tmp_path), "not a signature of its own request"
    assert not signed(mnt, "ec-p256", sig, b"theirs", tmp_path)
