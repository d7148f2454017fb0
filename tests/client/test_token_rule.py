"""Where the token goes (DESIGN.md §5): a challenge is honoured only when
the request's host ends with "." + the challenge resource's host; a URL
written as a loopback address (the emulator) is the one exception.

The fake service is an HTTPS server on 127.0.0.1 that answers every request
without a token with a challenge naming https://managedhsm.azure.net and
records what reached it.  The client reaches it by names (fake.example.test,
myhsm.managedhsm.azure.net) that exist only in a private mount namespace
whose /etc/hosts maps them to 127.0.0.1 (unshare -m + a bind mount): the
host's /etc/hosts is never touched and nothing leaves loopback.  The token
endpoint (AZURE_AUTHORITY_HOST) is the same server by its address.
"""
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from clientutil import FakeService, Run, call_argv, checked, clean_env

CHALLENGE = ('Bearer authorization="https://login.microsoftonline.com/tenant", '
             'resource="https://managedhsm.azure.net"')
TOKEN = "fake.bearer.token"
EVIL = "fake.example.test"
GOOD = "myhsm.managedhsm.azure.net"


class Fake(FakeService):

    def any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        host = (self.headers.get("Host") or "").split(":")[0]
        authz = self.headers.get("Authorization")
        self.server.seen.append({"host": host, "path": self.path,
                                 "authorization": authz, "body": body})
        if "/oauth2/" in self.path:
            return self.reply(200, json.dumps({"token_type": "Bearer", "expires_in": 3600,
                                               "access_token": TOKEN}).encode())
        if not authz:
            return self.reply(401, b"", {"WWW-Authenticate": self.server.challenge})
        if host == GOOD and self.server.good_fails:
            return self.reply(503, b'{"error":{"code":"ServiceUnavailable","message":"x"}}')
        self.reply(200, b'{"value": []}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = any


class FakeEmu:
    """What call_argv() needs of an emulator."""
    plain_http = False

    def __init__(self, url, ca):
        self.url = url
        self.ca = ca


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    d = tmp_path_factory.mktemp("token-rule")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=fake service", "-keyout", str(key), "-out", str(crt),
                    "-addext", f"subjectAltName=DNS:{EVIL},DNS:{GOOD},IP:127.0.0.1"],
                   check=True, capture_output=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    srv.daemon_threads = True
    srv.seen = []
    srv.good_fails = False
    srv.challenge = CHALLENGE
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    hosts = d / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {EVIL}\n127.0.0.1 {GOOD}\n")
    srv.port = srv.server_address[1]
    srv.ca = str(crt)
    srv.hosts = str(hosts)
    yield srv
    srv.shutdown()
    srv.server_close()


def run(fake, *urls, env=None, args=("list",)):
    """hsm-call against urls in a mount namespace whose /etc/hosts knows the
    fake names; fake.seen holds only this run's requests afterwards."""
    fake.seen.clear()
    emu = FakeEmu(urls[0], fake.ca)
    argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
            fake.hosts] + call_argv(emu, *args, urls=list(urls),
                                    opts=["--timeout", "8000", "--retries", "1"])
    if env is None:
        env = clean_env(AZURE_CLIENT_ID="app", AZURE_CLIENT_SECRET="s",
                        AZURE_AUTHORITY_HOST=f"https://127.0.0.1:{fake.port}")
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    r = checked(Run(p, time.monotonic() - t0))
    assert "unshare" not in r.stderr and "mount" not in r.stderr, r
    return r


def url(fake, host):
    return f"https://{host}:{fake.port}"


def test_fake_server_gets_no_token(fake):
    r = run(fake, url(fake, EVIL))
    assert r.r["status"] == "HSM_E_AUTH" and r.rc != 0, r
    msg = r.r["message"]
    assert "refused" in msg and EVIL in msg and "managedhsm.azure.net" in msg, r
    # Only the probe came: no token request, no Authorization header.
    assert fake.seen and all(s["authorization"] is None for s in fake.seen), fake.seen
    assert not any("/oauth2/" in s["path"] for s in fake.seen), fake.seen
    assert TOKEN not in r.stdout + r.stderr


def test_static_token_waits_for_the_challenge(fake, tmp_path):
    """A static token (token_file, AZURE_ACCESS_TOKEN) is not sent on the
    first request either: only the challenge says where it may go."""
    env = clean_env(AZURE_ACCESS_TOKEN="static.secret.token")
    r = run(fake, url(fake, EVIL), env=env)
    assert r.r["status"] == "HSM_E_AUTH", r
    assert fake.seen and all(s["authorization"] is None for s in fake.seen), fake.seen
    r = run(fake, url(fake, GOOD), env=env)
    assert r.rc == 0 and r.r["ok"], r
    assert [s["authorization"] for s in fake.seen] == [None, "Bearer static.secret.token"], fake.seen


def test_subdomain_of_the_resource_gets_the_token(fake):
    r = run(fake, url(fake, GOOD))
    assert r.rc == 0 and r.r["ok"], r
    paths = [(s["host"], s["path"].split("?")[0], s["authorization"]) for s in fake.seen]
    assert paths[0][0] == GOOD and paths[0][2] is None, paths
    assert any("/tenant/oauth2/" in p for _, p, _ in paths), paths
    assert paths[-1][0] == GOOD and paths[-1][2] == "Bearer " + TOKEN, paths


def test_next_url_is_checked_too(fake):
    """A token fetched for the first URL's challenge does not go to a
    second configured URL that is not a subdomain of the resource."""
    fake.good_fails = True
    try:
        r = run(fake, url(fake, GOOD), url(fake, EVIL))
    finally:
        fake.good_fails = False
    assert r.rc != 0 and not r.r["ok"], r
    assert any(s["host"] == GOOD and s["authorization"] for s in fake.seen), fake.seen
    evil = [s for s in fake.seen if s["host"] == EVIL]
    assert all(s["authorization"] is None for s in evil), evil


def test_loopback_address_is_the_exception(fake):
    """The emulator's case: a URL written as 127.0.0.1 honours the challenge
    (judged by what the URL says: the names above resolve to 127.0.0.1 too
    and were refused)."""
    r = run(fake, f"https://127.0.0.1:{fake.port}")
    assert r.rc == 0 and r.r["ok"], r
    assert fake.seen[-1]["authorization"] == "Bearer " + TOKEN, fake.seen


def challenge_for(resource):
    return ('Bearer authorization="https://login.microsoftonline.com/tenant", '
            f'resource="{resource}"')


def test_host_naming_its_own_parent_gets_no_token(fake):
    """The suffix rule alone lets the judged host choose the resource:
    fake.example.test naming https://example.test passes it.  A static
    token is an HSM's whatever the challenge says: it must not go there."""
    fake.challenge = challenge_for("https://example.test")
    try:
        r = run(fake, url(fake, EVIL), env=clean_env(AZURE_ACCESS_TOKEN="static.secret.token"))
    finally:
        fake.challenge = CHALLENGE
    assert r.r["status"] == "HSM_E_AUTH" and r.rc != 0, r
    assert "example.test" in r.r["message"], r
    assert fake.seen and all(s["authorization"] is None for s in fake.seen), fake.seen


def test_loopback_asking_for_another_audience_gets_no_token(fake):
    """Any local user may listen on a loopback port: the emulator's
    exception covers the suffix, not the audience (a management or Graph
    token from the same credential must never be fetched for it)."""
    fake.challenge = challenge_for("https://management.azure.com")
    try:
        r = run(fake, f"https://127.0.0.1:{fake.port}")
    finally:
        fake.challenge = CHALLENGE
    assert r.r["status"] == "HSM_E_AUTH" and r.rc != 0, r
    assert not any("/oauth2/" in s["path"] for s in fake.seen), fake.seen
    assert all(s["authorization"] is None for s in fake.seen), fake.seen
