"""hsm-emulator admin API: statistics, every fault kind, loopback-only
serving, unknown paths and methods."""
import http.client
import json
import socket
import ssl
import time
import urllib.parse

import pytest

import hsmtest
from server_util import b64url, connection, fresh_emulator, sign_rate

DIGEST = b64url(b"\x01" * 32)


@pytest.fixture
def emu(emulator_factory):
    e = fresh_emulator(emulator_factory)
    yield e
    e.stop()                                           # exit status 0 (ASan: no leaks)
    log = e.log()
    assert "runtime error" not in log and "Sanitizer" not in log, log


def sign(emu, tok, timeout=30):
    return emu.request("POST", "/keys/ec-p256/sign?api-version=7.5",
                       {"alg": "ES256", "value": DIGEST}, token=tok, timeout=timeout)


def get(emu, tok, name="ec-p256"):
    return emu.request("GET", f"/keys/{name}?api-version=7.5", token=tok)


# -- statistics ---------------------------------------------------------------

def test_stats_counts_ops(emu):
    tok = emu.token()
    emu.reset_stats()
    s = emu.stats()
    assert s["tokens"] == 0 and s["challenges"] == 0 and s["total"] == 0
    assert all(v == 0 for v in s["requests"].values())
    for _ in range(3):
        assert get(emu, tok)[0] == 200
    assert sign(emu, tok)[0] == 200
    assert emu.request("GET", "/keys?api-version=7.5", token=tok)[0] == 200
    assert emu.request("POST", "//rng?api-version=7.5", {"count": 4}, token=tok)[0] == 200
    emu.request("GET", "/keys/ec-p256?api-version=7.5")          # challenge: not an op
    emu.token()
    s = emu.stats()
    assert s["requests"]["get"] == 3
    assert s["requests"]["sign"] == 1
    assert s["requests"]["list"] == 1
    assert s["requests"]["rng"] == 1
    assert s["total"] == 6
    assert s["challenges"] == 1
    assert s["tokens"] == 1
    assert emu.op_count("sign") == 1
    emu.reset_stats()
    assert emu.stats()["total"] == 0


def test_stats_count_connections(emu):
    """Every accepted connection (over TLS, one handshake) is counted, not
    every request: scripts/bench tells connection reuse from churn by it."""
    tok = emu.token()
    emu.reset_stats()
    c = connection(emu)
    hdrs = {"Authorization": "Bearer " + tok}
    for _ in range(5):                                  # one keep-alive connection
        c.request("GET", "/keys/ec-p256?api-version=7.5", headers=hdrs)
        r = c.getresponse()
        r.read()
        assert r.status == 200
    c.close()
    s = emu.stats()                                     # this request's own: 2
    assert s["requests"]["get"] == 5
    assert s["connections"] == 2, s
    for _ in range(3):                                  # a new connection each
        assert get(emu, tok)[0] == 200
    assert emu.stats()["connections"] == 2 + 3 + 1
    emu.reset_stats()
    assert emu.stats()["connections"] == 1              # the stats request's


def test_stats_count_denied_and_bad_version(emu):
    """Authenticated, routed requests count even when refused later."""
    tok = emu.token()
    emu.reset_stats()
    assert emu.request("GET", "/keys/ec-p256?api-version=1.0", token=tok)[0] == 400
    assert emu.op_count("get") == 1


# -- faults -------------------------------------------------------------------

def test_fault_429_retry_after(emu):
    tok = emu.token()
    emu.faults(ops=["sign"], status=429, retry_after=3)
    st, h, body = sign(emu, tok)
    assert st == 429
    assert h["Retry-After"] == "3"
    assert body["error"]["code"] == "Throttled"
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert get(emu, tok)[0] == 200                     # ops filter: get unaffected
    assert sign(emu, tok)[0] == 429                    # no count: keeps failing
    emu.clear_faults()
    assert sign(emu, tok)[0] == 200


def test_fault_retry_after_ms(emu):
    tok = emu.token()
    emu.faults(status=503, retry_after_ms=250)
    st, h, body = get(emu, tok)
    assert st == 503 and h["retry-after-ms"] == "250"
    assert "Retry-After" not in h
    assert body["error"]["code"] == "ServiceUnavailable"


def test_fault_503_burst_with_count(emu):
    tok = emu.token()
    emu.faults(ops=["sign"], status=503, count=2)
    assert [sign(emu, tok)[0] for _ in range(4)] == [503, 503, 200, 200]
    emu.reset_stats()
    emu.faults(status=500, count=1)                    # every op
    assert get(emu, tok)[0] == 500
    assert get(emu, tok)[0] == 200
    assert emu.op_count("get") == 2                    # injected ones count too


def test_fault_rate(emu):
    tok = emu.token()
    emu.faults(ops=["get"], status=503, rate=0.0)
    assert all(get(emu, tok)[0] == 200 for _ in range(20))
    emu.faults(ops=["get"], status=503, rate=0.5)
    statuses = [get(emu, tok)[0] for _ in range(120)]
    n = statuses.count(503)
    assert set(statuses) == {200, 503}
    assert 25 <= n <= 95, n                            # ~60 expected


def test_fault_drop(emu):
    tok = emu.token()
    emu.faults(ops=["sign"], drop=True, count=1)
    c = connection(emu)
    body = json.dumps({"alg": "ES256", "value": DIGEST})
    hdrs = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    c.request("POST", "/keys/ec-p256/sign?api-version=7.5", body, hdrs)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError,
                        ssl.SSLError, http.client.IncompleteRead)):
        c.getresponse().read()
    c.close()
    assert sign(emu, tok)[0] == 200                    # count=1: only the first
    assert "dropped" in emu.log()


def test_fault_stall(emu):
    tok = emu.token()
    emu.faults(ops=["sign"], stall_ms=1500, count=1)
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, OSError)):
        sign(emu, tok, timeout=0.5)
    assert time.monotonic() - t0 < 1.4
    time.sleep(1.2)                                    # let the stalled one finish
    t0 = time.monotonic()
    assert sign(emu, tok)[0] == 200
    assert time.monotonic() - t0 < 1.0
    # A stall with a status: hold, then answer with it.
    emu.faults(ops=["get"], stall_ms=600, status=503)
    t0 = time.monotonic()
    assert get(emu, tok)[0] == 503
    assert time.monotonic() - t0 >= 0.55


def test_fault_latency(emu):
    tok = emu.token()
    t0 = time.monotonic()
    get(emu, tok)
    base = time.monotonic() - t0
    emu.faults(latency_ms=400)
    t0 = time.monotonic()
    st, h, _ = get(emu, tok)
    took = time.monotonic() - t0
    assert st == 200
    assert took >= 0.38, took
    assert int(h["x-ms-server-latency"]) >= 380
    emu.faults(ops=["sign"], latency_ms=400)           # filtered out for get
    t0 = time.monotonic()
    get(emu, tok)
    assert time.monotonic() - t0 < base + 0.3


def test_fault_token_lifetime(emu):
    emu.faults(token_lifetime=120)
    st, _, body = emu.request("POST", f"/{hsmtest.TENANT}/oauth2/v2.0/token",
                              urllib.parse.urlencode({
                                  "grant_type": "client_credentials", "client_id": "hsmfs-local",
                                  "client_secret": "local-secret", "scope": hsmtest.SCOPE}).encode(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and body["expires_in"] == 120
    st, _, body = emu.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                              "&resource=https://managedhsm.azure.net",
                              headers={"Metadata": "true"})
    assert body["expires_in"] == "120"


def test_faults_do_not_touch_tokens_or_challenges(emu):
    emu.faults(status=503)
    tok = emu.token()                                  # token endpoint unaffected
    st, _, raw = emu.request("GET", "/keys/ec-p256?api-version=7.5", raw=True)
    assert (st, raw) == (401, b"")                     # challenge first
    assert get(emu, tok)[0] == 503


def test_fault_put_replaces_and_delete_clears(emu):
    tok = emu.token()
    emu.faults(ops=["get"], status=429)
    emu.faults(ops=["sign"], status=500)
    assert get(emu, tok)[0] == 200
    assert sign(emu, tok)[0] == 500
    emu.clear_faults()
    assert sign(emu, tok)[0] == 200
    st, _, cur = emu.request("GET", "/_emulator/faults")
    assert st == 200 and cur["status"] == 0


@pytest.mark.parametrize("body", [{"status": "x"}, {"rate": 2}, {"ops": ["fly"]},
                                  {"bogus": 1}, {"count": -1}, {"drop": 1}, [1, 2]])
def test_fault_bad_body(emu, body):
    st, _, resp = emu.request("PUT", "/_emulator/faults", body)
    assert st == 400 and resp["error"]["code"] == "BadParameter"


# -- admin paths --------------------------------------------------------------

def test_admin_unknown_and_methods(emu):
    assert emu.request("GET", "/_emulator/nothing")[0] == 404
    st, h, body = emu.request("POST", "/_emulator/stats")
    assert st == 405 and body["error"]["code"] == "MethodNotAllowed"
    assert emu.request("GET", "/_emulator/stats/reset")[0] == 405


# Each 405 of http_method_ok (the token endpoints and the admin API) names
# the methods the path takes in Allow (RFC 9110 15.5.6) and carries the
# service's error envelope.
@pytest.mark.parametrize("method,path,allow", [
    ("POST", "/metadata/identity/oauth2/token", {"GET"}),
    ("GET", f"/{hsmtest.TENANT}/oauth2/v2.0/token", {"POST"}),
    ("POST", "/_emulator/stats", {"GET"}),
    ("PATCH", "/_emulator/faults", {"PUT", "DELETE", "GET"}),
])
def test_405_allow_and_envelope(emu, method, path, allow):
    st, h, body = emu.request(method, path)
    assert st == 405
    assert {m.strip() for m in h.get("Allow", "").split(",")} == allow, h.get("Allow")
    assert body == {"error": {"code": "MethodNotAllowed", "message":
                              f"The requested resource does not support http method '{method}'."}}


def test_405_keys_path_envelope(emu):
    """A method the keys API does not take on a data-plane path: the key
    side's own 405 (no Allow header there: keys.c's refused())."""
    st, _, body = emu.request("PUT", "/keys/ec-p256/sign?api-version=7.5", token=emu.token())
    assert st == 405
    assert body == {"error": {"code": "MethodNotAllowed",
                              "message": "The method PUT is not allowed on /keys/ec-p256/sign."}}


def test_admin_served_on_loopback_only(emulator_factory):
    """Listen on every address; the admin API answers a loopback peer and
    refuses one connecting through the machine's own non-loopback address."""
    emu = fresh_emulator(emulator_factory, key=None, plain_http=True, listen="0.0.0.0:0")
    assert emu.url.startswith("http://127.0.0.1:")
    assert emu.request("GET", "/_emulator/stats")[0] == 200
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("192.0.2.1", 9))                        # no packet is sent
    addr = s.getsockname()[0]
    s.close()
    assert not addr.startswith("127."), "this test needs a non-loopback interface"
    st, _, body = emu.request("GET", f"http://{addr}:{emu.port}/_emulator/stats")
    assert st == 403 and body["error"]["code"] == "Forbidden"
    st, _, body = emu.request("PUT", f"http://{addr}:{emu.port}/_emulator/faults", {"status": 500})
    assert st == 403
    # The data plane itself is served on that address.
    st, _, raw = emu.request("GET", f"http://{addr}:{emu.port}/keys?api-version=7.5", raw=True)
    assert st == 401


# -- routing ------------------------------------------------------------------

def test_unknown_path_404_envelope(emulator):
    for path in ("/", "/secrets/x?api-version=7.5", "/keysx", "/x/y/z"):
        st, h, body = emulator.request("GET", path)
        assert st == 404, path
        assert set(body["error"]) >= {"code", "message"}
        assert h["Content-Type"] == "application/json; charset=utf-8"


def test_body_too_large_413(emulator):
    tok = emulator.token()
    st, _, body = emulator.request("POST", "/keys/ec-p256/sign?api-version=7.5",
                                   b"{" + b" " * (1024 * 1024 + 10) + b"}", token=tok,
                                   headers={"Content-Type": "application/json"})
    assert st == 413 and "error" in body


def test_percent_decoded_path(emulator):
    tok = emulator.token()
    st, _, body = emulator.request("GET", "/keys/ec%2Dp256?api-version=7.5", token=tok)
    assert st == 200 and body["key"]["kid"].split("/")[-2] == "ec-p256"


def test_double_slash_rng(emulator):
    tok = emulator.token()
    st, _, body = emulator.request("POST", "//rng?api-version=7.5", {"count": 16}, token=tok)
    assert st == 200 and len(body["value"]) > 0


def test_keep_alive_connection_reused(emulator):
    tok = emulator.token()
    c = connection(emulator)
    hdrs = {"Authorization": "Bearer " + tok}
    c.request("GET", "/keys/ec-p256?api-version=7.5", headers=hdrs)
    r = c.getresponse()
    r.read()
    sock = c.sock
    for _ in range(5):
        c.request("GET", "/keys/ec-p256?api-version=7.5", headers=hdrs)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        assert c.sock is sock                          # same TLS connection
    c.close()


def test_sign_rate(emulator, capsys):
    """Throughput smoke test; prints the figure.  The floor is far below
    what the emulator does, to catch serialisation bugs, not to benchmark."""
    rate, count, errors = sign_rate(emulator, emulator.token(), threads=4, seconds=2.0)
    with capsys.disabled():
        print(f"\n[emulator] ES256 sign over keep-alive TLS, 4 threads: {rate:.0f}/s")
    assert errors == 0
    assert rate > 100, rate


def test_stall_does_not_block_other_connections(emu):
    """A stalled or delayed request holds only its own connection: requests
    on other connections (kept alive from before, or new) are answered at
    once."""
    import threading
    tok = emu.token()
    hdrs = {"Authorization": "Bearer " + tok}
    path = "/keys/ec-p256?api-version=7.5"
    conns = []
    for _ in range(12):                                # spread over the workers
        c = connection(emu, timeout=3)
        c.request("GET", path, headers=hdrs)
        c.getresponse().read()
        conns.append(c)
    emu.faults(ops=["sign"], stall_ms=4000, count=3)
    stalled = [threading.Thread(target=lambda: sign(emu, tok)) for _ in range(3)]
    for t in stalled:
        t.start()
    time.sleep(0.3)
    for c in conns:
        t0 = time.monotonic()
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        assert time.monotonic() - t0 < 1.0
        c.close()
    for _ in range(12):
        t0 = time.monotonic()
        assert emu.request("GET", path, token=tok, timeout=3)[0] == 200
        assert time.monotonic() - t0 < 1.0
    for t in stalled:
        t.join(10)


def test_hostile_inputs(emu):
    """Malformed tokens, forms, assertions and paths get precise errors and
    never hurt the server (run this under the ASan build too)."""
    import random
    rnd = random.Random(1234)
    tok = emu.token()
    bad_tokens = ["", ".", "..", "...", "a.b", "a.b.c.d", "=.=.=", "%%%.%%%.%%%",
                  "eyJ.eyJ.sig", "x" * 20000, tok + "x", tok[:-3], "." + tok,
                  tok.replace(".", "..", 1), "\t" + tok]
    for _ in range(30):
        n = rnd.randint(1, 3000)
        bad_tokens.append("".join(rnd.choice("ABCxyz019-_.=+/ ") for _ in range(n)))
    for b in bad_tokens:
        st, _, raw = emu.request("GET", "/keys/ec-p256?api-version=7.5",
                                 headers={"Authorization": "Bearer " + b}, raw=True)
        assert (st, raw) == (401, b""), b[:40]
    forms = [b"", b"=", b"&&&", b"grant_type", b"grant_type=%", b"grant_type=%zz%4",
             b"client_id=%00&grant_type=client_credentials&client_secret=%00&scope=x",
             b"grant_type=client_credentials&client_id=hsmfs-local&client_assertion="
             b"a.b.c&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
             b"&scope=https%3A%2F%2Fmanagedhsm.azure.net%2F.default",
             b"grant_type=client_credentials&" * 2000]
    for f in forms:
        st, _, body = emu.request("POST", f"/{hsmtest.TENANT}/oauth2/v2.0/token", f,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert st in (400, 401) and "error" in body and "access_token" not in body, f[:60]
    for path in ("/keys/%00?api-version=7.5", "/keys/" + "a" * 5000 + "?api-version=7.5",
                 "/_emulator/" + "x" * 3000, "/%2e%2e/%2e%2e/etc/passwd",
                 "/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token/extra"):
        st, _, _ = emu.request("GET", path, token=tok, raw=True)
        assert 400 <= st < 500, path
    for body in (b"{", b"[]", b"null", b'{"ops": "sign"}', b'{"latency_ms": 1e99}',
                 b'{"status": 429, "rate": "NaN"}', b"\xff\xfe"):
        st, _, _ = emu.request("PUT", "/_emulator/faults", body,
                               headers={"Content-Type": "application/json"})
        assert st == 400, body
    assert emu.request("GET", "/keys/ec-p256?api-version=7.5", token=tok)[0] == 200
