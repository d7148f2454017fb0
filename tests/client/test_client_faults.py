"""Retries, deadlines, cancellation, failover, token refresh and secrets
hygiene, with faults injected by the emulator."""
import re
import subprocess
import time

import pytest

import hsmtest
from clientutil import SHA, clean_env, fails, hsm_call, ok


def test_429_retry_after_is_honoured(call, emulator):
    emulator.reset_stats()
    emulator.faults(ops=["sign"], status=429, count=1, retry_after=2)
    run = ok(call("sign", "ec-p256", "ES256", SHA, opts=["--debug"]))
    assert run.r["retries"] == 1
    assert run.r["elapsed_ms"] >= 2000, run
    assert emulator.op_count("sign") == 2
    assert run.stats["throttled"] == 1
    assert re.search(r"warning: POST /keys/ec-p256/sign: .*retry 1/5 in 2000 ms", run.stderr), run


def test_retry_after_ms_header(call, emulator):
    emulator.faults(ops=["sign"], status=503, count=1, retry_after_ms=300)
    run = ok(call("sign", "ec-p256", "ES256", SHA))
    assert run.r["retries"] == 1 and 300 <= run.r["elapsed_ms"] < 2000, run


def test_503_burst_succeeds_within_budget(call, emulator):
    emulator.reset_stats()
    emulator.faults(ops=["sign"], status=503, count=3)
    run = ok(call("sign", "ec-p256", "ES256", SHA))
    assert run.r["retries"] == 3 and run.stats["server_errors"] == 3
    assert emulator.op_count("sign") == 4
    # backoff 0.5, 1, 2 s nominal, jitter 0.8-1.2
    assert 2800 <= run.r["elapsed_ms"] < 10000


def test_retry_budget_exhausted(call, emulator):
    emulator.faults(ops=["get"], status=500)
    r = fails(call("get", "ec-p256", opts=["--retries", "2"]), "HSM_E_SERVER")
    assert r["retries"] == 2 and r["http"] == 500


def test_deadline_caps_retries(call, emulator):
    emulator.faults(ops=["get"], status=429, retry_after=10)
    run = call("get", "ec-p256", opts=["--timeout", "3000"])
    r = fails(run, "HSM_E_THROTTLED")
    assert r["retries"] == 0 and run.elapsed < 3


def test_dropped_connection_is_retried(call, emulator):
    emulator.reset_stats()
    emulator.faults(ops=["sign"], drop=True, count=1)
    run = ok(call("sign", "ec-p256", "ES256", SHA))
    # Sent twice: by our retry, or by libcurl's own re-send on a reused
    # connection that died (allowed for replay-safe requests).
    assert emulator.op_count("sign") == 2 and run.r["retries"] <= 1
    emulator.faults(ops=["sign"], drop=True, count=2)
    run = ok(call("sign", "ec-p256", "ES256", SHA))
    assert run.r["retries"] >= 1


def test_create_is_not_retried_blindly(call, emulator):
    emulator.reset_stats()
    emulator.faults(ops=["create"], status=503, count=1)
    r = fails(call("create", "noretry-a", "EC"), "HSM_E_SERVER")
    assert r["retries"] == 0 and emulator.op_count("create") == 1
    emulator.faults(ops=["create"], drop=True, count=1)
    r = fails(call("create", "noretry-b", "EC"), "HSM_E_IO")
    assert r["retries"] == 0 and "not retried" in r["message"]
    # 429 says the request was not processed: retried
    emulator.faults(ops=["create"], status=429, count=1, retry_after_ms=100)
    run = ok(call("create", "noretry-c", "EC"))
    assert run.r["retries"] == 1


def test_stalled_reply_times_out_within_deadline(call, emulator):
    emulator.faults(ops=["sign"], stall_ms=6000, count=1)
    run = call("sign", "ec-p256", "ES256", SHA, opts=["--timeout", "1500"])
    r = fails(run, "HSM_E_TIMEOUT")
    assert 1400 <= r["elapsed_ms"] < 2500, run


def test_cancellation(call, emulator):
    emulator.faults(ops=["sign"], stall_ms=6000, count=1)
    run = call("sign", "ec-p256", "ES256", SHA, opts=["--cancel-after-ms", "400"])
    r = fails(run, "HSM_E_CANCELLED")
    assert r["elapsed_ms"] < 1500, run
    # also while waiting between retries
    emulator.faults(ops=["sign"], status=429, retry_after=5, count=1)
    run = call("sign", "ec-p256", "ES256", SHA, opts=["--cancel-after-ms", "500"])
    r = fails(run, "HSM_E_CANCELLED")
    assert r["elapsed_ms"] < 1500, run


def test_reply_size_cap(call):
    r = fails(call("list", opts=["--max-reply", "200"]), "HSM_E_PROTOCOL")
    assert "200 bytes" in r["message"]


def test_expired_token_refreshed_without_failure(call, emulator):
    emulator.faults(token_lifetime=2)
    run = ok(call("sign", "ec-p256", "ES256", SHA, opts=["--repeat", "4", "--interval-ms", "1200"]))
    assert len(run.results) == 4
    assert run.stats["token_requests"] >= 2, run


def test_one_token_for_many_threads(call, emulator):
    emulator.reset_stats()
    run = ok(call("sign", "ec-p256", "ES256", SHA, opts=["--threads", "8", "--repeat", "5"]))
    assert len(run.results) == 40
    assert run.stats["token_requests"] == 1
    assert emulator.stats()["tokens"] == 1


def test_failover_to_second_url(emulator_factory, tmp_path):
    a = emulator_factory(demo_keys=False)
    b = emulator_factory(demo_keys=False)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(open(a.ca, "rb").read() + open(b.ca, "rb").read())
    ok(hsm_call(b, "create", "fo", "EC", env=b.env()))
    a_url = a.url
    a.stop()
    env = clean_env(AZURE_TENANT_ID=hsmtest.TENANT, AZURE_CLIENT_ID=hsmtest.CLIENT_ID,
                    AZURE_CLIENT_SECRET=hsmtest.CLIENT_SECRET, AZURE_AUTHORITY_HOST=b.url)
    run = ok(hsm_call(b, "sign", "fo", "ES256", SHA, urls=[a_url, b.url], cafile=str(ca),
                      env=env, opts=["--repeat", "3"]))
    assert len(run.results) == 3
    assert run.stats["failovers"] == 1 and run.stats["endpoint"] == b.url
    # stays with the one that works: only the first call paid a retry
    assert [r["retries"] for r in run.results] == [1, 0, 0]


def test_failover_on_5xx(call, emulator):
    # A 5xx moves the client to the next URL too (DESIGN.md §5), not only
    # a transport error.  Failover goes by URL, so the second URL is the
    # same emulator under another name; the fault hits the first sign only.
    urls = [emulator.url, emulator.url.replace("127.0.0.1", "localhost")]
    assert urls[0] != urls[1]
    emulator.reset_stats()
    emulator.faults(ops=["sign"], status=503, count=1)
    run = ok(call("sign", "ec-p256", "ES256", SHA, urls=urls, opts=["--repeat", "3", "--debug"]))
    assert run.stats["failovers"] == 1 and run.stats["endpoint"] == urls[1], run
    assert run.stats["server_errors"] == 1 and emulator.op_count("sign") == 4
    assert [r["retries"] for r in run.results] == [1, 0, 0]
    assert re.search(r"-> 503 .*\n.*warning: switching to endpoint " + re.escape(urls[1]) +
                     r"\n.*retry 1/5 in \d+ ms\n.*-> 200 ", run.stderr), run


def test_token_never_in_output(call, emulator, tmp_path):
    # A static token we know: it must not appear anywhere at debug level.
    tok = emulator.token()
    f = tmp_path / "tok"
    f.write_text(tok)
    f.chmod(0o600)
    emulator.faults(ops=["sign"], status=503, count=1)
    run = ok(hsm_call(emulator, "sign", "ec-p256", "ES256", SHA, env=clean_env(),
                      opts=["--debug", "--auth", "token", "--token-file", str(f)]))
    out = run.stdout + run.stderr
    assert "debug:" in run.stderr and "warning:" in run.stderr
    assert tok not in out and tok[-40:] not in out
    # Tokens the driver fetched itself (client secret): no JWT at all in
    # the output, nor the secret.
    emulator.clear_faults()
    run = ok(call("sign", "ec-p256", "ES256", SHA, opts=["--debug", "--repeat", "2"]))
    out = run.stdout + run.stderr
    assert "got a token" in run.stderr
    assert "eyJ" not in out and hsmtest.CLIENT_SECRET not in out
    # one debug line per request with method, path, status, request id
    lines = [l for l in run.stderr.splitlines() if "debug:" in l]
    assert len(lines) == run.stats["requests"] - run.stats["token_requests"]
    assert all(re.search(r"(POST|GET) /[^ ?]* -> \d{3} \(\d+ ms, retries \d+, request-id [-0-9a-f]+\)", l)
               for l in lines), lines


def test_one_deadline_for_a_chunked_call(call, emulator):
    # 640 random bytes are five requests; each waits 400 ms here, so a
    # 1 s deadline for the whole call must end it after about 1 s.
    emulator.faults(ops=["rng"], latency_ms=400)
    run = call("random", 640, opts=["--timeout", "1000"])
    r = fails(run, "HSM_E_TIMEOUT")
    assert r["elapsed_ms"] < 1600, run
    emulator.faults(ops=["rng"], status=503, count=2, retry_after_ms=50)
    run = ok(call("random", 300))
    assert run.r["retries"] == 2 and len(run.r["value"]) == 600


def test_only_the_configured_ca_is_trusted(emulator_factory):
    # Every connection verifies the service against the one CA store the
    # transport loads (client/transport.c): another emulator's CA, or the
    # system's bundle when no cafile is given, does not vouch for this one.
    a = emulator_factory(demo_keys=False)
    b = emulator_factory(demo_keys=False)
    ok(hsm_call(a, "create", "fo", "EC", env=a.env()))
    r = hsm_call(a, "sign", "fo", "ES256", SHA, cafile=b.ca, env=a.env())
    assert r.rc != 0 and not r.r["ok"] and "certificate" in r.r["message"].lower(), r
    cmd = [hsmtest.bin_path("tests/client/hsm-call"), "--url", a.url, "sign", "fo", "ES256", SHA]
    p = subprocess.run(cmd, env=a.env(), capture_output=True, timeout=60)
    assert p.returncode != 0 and b"certificate" in p.stdout.lower(), p
    ok(hsm_call(a, "sign", "fo", "ES256", SHA, env=a.env()))
