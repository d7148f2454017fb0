"""The client against a hostile or broken service: every bad reply ends in a
precise status within the deadline, never a crash, a hang or a success.

The service here is a small in-process HTTP server (plain HTTP on loopback,
which the client allows with allow_http) that answers the challenge and the
token request normally, then misbehaves in one way per test.  In the
sanitizer build hsm_call() also fails on any ASan/UBSan report.
"""
import http.server
import json
import threading
import time

import pytest

from clientutil import FakeService, clean_env, hsm_call

CHALLENGE = ('Bearer authorization="https://login.microsoftonline.com/tenant", '
             'resource="https://managedhsm.azure.net"')
DIGEST = "00" * 32


class Hostile(FakeService):
    mode = None

    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        mode = self.server.mode
        if "/oauth2/" in self.path:
            if mode == "token-without-token":
                return self.reply(200, b'{"access_token": 12, "expires_in": "x"}')
            return self.reply(200, json.dumps({"token_type": "Bearer", "expires_in": 3600,
                                               "access_token": "hostile.token.x"}).encode())
        if not self.headers.get("Authorization"):
            return self.reply(401, b"", {"WWW-Authenticate": CHALLENGE})
        if mode == "garbage":
            return self.reply(200, b"\x00\xff{{{ not json")
        if mode == "deep-nesting":
            return self.reply(200, b"[" * 100000 + b"]" * 100000)
        if mode == "wrong-types":
            return self.reply(200, json.dumps({"value": [1, 2], "kid": 5, "alg": None}).encode())
        if mode == "bad-base64":
            return self.reply(200, b'{"kid":"https://x/keys/a/b","value":"!!!***"}')
        if mode == "endless":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"a" * 65536)
            except OSError:
                return
        if mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return
        if mode == "error-not-json":
            return self.reply(500, b"<html>oops</html>")
        self.reply(400, b"unknown mode")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = any


class FakeEmu:
    """What hsm_call() needs of an emulator."""
    plain_http = True
    ca = None

    def __init__(self, url):
        self.url = url


@pytest.fixture
def hostile():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]

    def run(mode, timeout_ms=4000):
        srv.mode = mode
        env = clean_env(AZURE_CLIENT_ID="app", AZURE_CLIENT_SECRET="s",
                        AZURE_AUTHORITY_HOST=url)
        return hsm_call(FakeEmu(url), "sign", "k", "ES256", DIGEST, env=env,
                        opts=["--timeout", str(timeout_ms), "--retries", "1"],
                        timeout=60)
    yield run
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("mode,status", [
    ("garbage", "HSM_E_PROTOCOL"),
    ("deep-nesting", "HSM_E_PROTOCOL"),
    ("wrong-types", "HSM_E_PROTOCOL"),
    ("bad-base64", "HSM_E_PROTOCOL"),
    ("endless", "HSM_E_PROTOCOL"),          # the reply cap stops it
    ("token-without-token", "HSM_E_AUTH"),
    ("error-not-json", "HSM_E_SERVER"),
])
def test_bad_reply_is_a_precise_failure(hostile, mode, status):
    r = hostile(mode)
    assert r.rc != 0 and r.r["ok"] is False, r
    assert r.r["status"] == status, r
    assert r.r["message"], r
    assert "hostile.token" not in r.stdout + r.stderr


def test_trickling_reply_ends_at_the_deadline(hostile):
    t = time.monotonic()
    r = hostile("trickle", timeout_ms=2000)
    took = time.monotonic() - t
    assert r.r["status"] == "HSM_E_TIMEOUT", r
    assert 1.5 < took < 10, took
