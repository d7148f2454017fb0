"""Smoke tests of the benchmark's load generator (bench/hsm-load).

The numbers scripts/bench prints are only worth something if the load
generator counts right, so these short runs check it against judges it does
not control: the emulator's own request counters, the wall clock, and the
per-operation latencies it wrote out.
"""
import json
import os
import subprocess
import sys
import time

import pytest

import hsmtest

REPO = hsmtest.REPO
DURATION = 0.6


def load(emu, mode, *args, check_rc=True):
    exe = hsmtest.bin_path("bench/hsm-load")
    cmd = [exe, mode, "--url", emu.url, "--cafile", emu.ca] + list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=emu.env(), timeout=120)
    wall = time.monotonic() - t0
    if check_rc:
        assert p.returncode == 0, f"{cmd} exited {p.returncode}: {p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1]), wall, p


def latencies(path):
    with open(path) as f:
        return [int(x) for x in f]


def check_run(r, lat, threads, wall):
    """Internal consistency of one measured run."""
    assert r["errors"] == 0, r["first_error"]
    assert r["ops"] > 0
    assert r["threads"] == threads
    # The window is --duration; the last operation may end a little after.
    assert DURATION <= r["seconds"] < DURATION + 2.0, r
    assert r["seconds"] < wall
    assert abs(r["ops_per_s"] - r["ops"] / r["seconds"]) < 1e-6 * r["ops_per_s"] + 1e-9
    # Every counted operation has one latency, and they fit in the window:
    # N callers cannot be busy for more than N x the window, and closed-loop
    # callers are busy nearly all of it.
    assert len(lat) == r["ops"]
    busy = sum(lat) / 1e6
    assert busy <= threads * r["seconds"] * 1.02 + 0.01, (busy, r)
    assert busy >= threads * DURATION * 0.5, (busy, r)
    lat.sort()
    assert lat[0] <= r["p50_us"] <= r["p99_us"] <= r["max_us"] == lat[-1]
    assert r["p50_us"] == lat[(len(lat) + 1) // 2 - 1]
    # CPU time of the callers over the window: some, and no more than the
    # machine's CPUs could give in that time.
    cpu = r["cpu_s"]["self"]
    assert 0 < cpu <= r["seconds"] * os.cpu_count() + 0.05, r


@pytest.mark.parametrize("threads", [1, 3])
def test_client_mode_counts_match_emulator(emulator_factory, tmp_path, threads):
    emu = emulator_factory(demo_keys=True)
    lat_path = tmp_path / "lat"
    r, wall, _ = load(emu, "client", "--key", "ec-p256", "--alg", "ES256",
                      "--threads", str(threads), "--duration", str(DURATION),
                      "--warmup", "0.1", "--stats", "--lat-out", str(lat_path),
                      "--cpu", f"emu={emu.proc.pid}")
    lat = latencies(lat_path)
    check_run(r, lat, threads, wall)
    # The emulator worked for every signature it answered.
    assert 0 < r["cpu_s"]["emu"] <= r["seconds"] * os.cpu_count() + 0.05, r
    e = r["emulator"]
    # The emulator saw exactly the signs counted, nothing else, and no token
    # request inside the window (the token came with the set-up operation).
    assert e["sign"] == r["ops"], r
    assert e["total"] == r["ops"], r
    assert e["tokens"] == 0, r
    assert r["client_token_requests"] == 1, r


def test_raw_mode_counts_match_emulator(emulator_factory, tmp_path):
    emu = emulator_factory(demo_keys=True)
    lat_path = tmp_path / "lat"
    r, wall, _ = load(emu, "raw", "--key", "rsa-2048", "--alg", "RS256",
                      "--threads", "2", "--duration", str(DURATION),
                      "--warmup", "0.1", "--stats", "--lat-out", str(lat_path))
    lat = latencies(lat_path)
    check_run(r, lat, 2, wall)
    assert r["emulator"]["sign"] == r["ops"], r
    assert r["emulator"]["tokens"] == 0, r


def test_errors_are_counted_not_hidden(emulator_factory):
    """A key that does not exist: every operation fails, the run says so and
    exits non-zero instead of reporting a rate."""
    emu = emulator_factory(demo_keys=True)
    r, _, p = load(emu, "client", "--key", "no-such-key", "--alg", "ES256",
                   "--duration", "0.3", "--warmup", "0", check_rc=False)
    assert p.returncode == 1
    assert r["ops"] == 0 and r["errors"] > 0
    assert "not found" in r["first_error"].lower()


def test_create_mode_creates_exactly(emulator_factory):
    emu = emulator_factory(demo_keys=False)
    r, _, _ = load(emu, "create", "--count", "60", "--threads", "3",
                   "--prefix", "smoke", "--stats")
    assert r["created"] == 60 and r["errors"] == 0
    assert r["emulator"]["create"] == 60
    tok = emu.token()
    names = set()
    url = "/keys?api-version=7.5"
    while url:
        st, _, body = emu.request("GET", url, token=tok)
        assert st == 200, body
        names |= {k["kid"].rstrip("/").rsplit("/", 1)[1] for k in body["value"]}
        url = body.get("nextLink")
        if url and "api-version=" not in url:   # as the service sends it
            url += ("&" if "?" in url else "?") + "api-version=7.5"
    assert names == {f"smoke-{i:05d}" for i in range(60)}


def test_fs_mode_through_hsmfs(emulator_factory, mount_factory, tmp_path):
    """hsmfs one handle per operation: every counted op is one sign at the
    emulator, and the signatures verify with openssl."""
    emu = emulator_factory(demo_keys=True)
    m = mount_factory(emu, debug=False)
    op = os.path.join(m.path, "keys", "ec-p256", "sign")
    lat_path = tmp_path / "lat"
    r, wall, _ = load(emu, "fs", "--path", op, "--threads", "2",
                      "--duration", str(DURATION), "--warmup", "0.1",
                      "--stats", "--lat-out", str(lat_path))
    check_run(r, latencies(lat_path), 2, wall)
    assert r["emulator"]["sign"] == r["ops"], r
    # The message the load generator signs, checked by an independent judge.
    msg = tmp_path / "msg"
    msg.write_bytes(b"hsmfs benchmark message: the quick brown fox jumps over the lazy dog")
    fd = os.open(op, os.O_RDWR)
    os.write(fd, msg.read_bytes())
    sig = os.read(fd, 4096)
    os.close(fd)
    (tmp_path / "sig").write_bytes(sig)
    hsmtest.sh(f"openssl dgst -sha256 -verify {m.path}/keys/ec-p256/public.pem "
               f"-signature {tmp_path}/sig {msg}")


def test_bench_quick_run(tmp_path):
    """scripts/bench's driver end to end, shortened: it must finish, fill
    every section and account for every token."""
    out = tmp_path / "bench.md"
    p = subprocess.run([sys.executable, os.path.join(REPO, "bench", "bench.py"),
                        "--build", hsmtest.build_dir(), "--quick", "--callers", "1,2", "--keys", "300",
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    for section in ("### Machine", "### Sign", "### Emulator ceiling",
                    "### Verify with a cached key", "`ls -l keys/`", "### Token requests",
                    "### Targets"):
        assert section in text
    assert "<!-- bench:begin -->" in text and "<!-- bench:end -->" in text
    for alg in ("ES256", "RS256"):
        for method in ("(a) client library", "(b) hsmfs, one handle", "(c) hsmfs, shell",
                       "(d) Azure SDK"):
            assert any(line.startswith(f"| {alg} | 2 | {method}") for line in text.splitlines()), \
                (alg, method)
    assert "| entries listed | 300 |" in text
    # One handle per operation is at least OPEN, WRITE, READ and the READ
    # that finds EOF, and the counter must have been read.
    head = [c.strip() for c in next(l for l in text.splitlines()
                                    if l.startswith("| alg | callers | method")).split("|")]
    col = head.index("FUSE req/op")
    for line in text.splitlines():
        if line.startswith("| ES256 | 1 | (b) hsmfs, one handle"):
            fuse = float(line.split("|")[col])
            assert 4 <= fuse <= 8, line
            break
    else:
        raise AssertionError("no (b) row at 1 caller")
    # hsmfs needed exactly one token, counted by the emulator.
    assert "**hsmfs made 1**" in text
