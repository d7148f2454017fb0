"""Helpers for the emulator HTTP-side tests: JWTs, certificates made with
the openssl command, raw HTTP connections, a small load generator."""
import base64
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import threading
import time
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import hsmtest  # noqa: E402

TENANT = hsmtest.TENANT
CHALLENGE = ('Bearer authorization="https://login.microsoftonline.com/%s", '
             'resource="https://managedhsm.azure.net"' % TENANT)
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def form(**kw):
    return urllib.parse.urlencode(kw).encode()


FORM_HDR = {"Content-Type": "application/x-www-form-urlencoded"}


def token_request(emu, tenant=TENANT, **fields):
    """POST the token endpoint; returns (status, body)."""
    st, _, body = emu.request("POST", f"/{tenant}/oauth2/v2.0/token",
                              form(**fields), headers=FORM_HDR)
    return st, body


def openssl(*args, input=None):
    r = subprocess.run(["openssl", *args], input=input, capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def make_cert(directory, name="client"):
    """RSA key + self-signed certificate with the openssl command.
    Returns (key_path, cert_path, der_bytes)."""
    key = os.path.join(directory, name + ".key")
    cert = os.path.join(directory, name + ".pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
            "-out", cert, "-days", "2", "-subj", "/CN=" + name)
    der = openssl("x509", "-in", cert, "-outform", "DER")
    return key, cert, der


def sign_jwt(header, claims, key_path, alg="RS256"):
    """A compact JWS signed by the openssl command (the independent judge)."""
    header = dict(header, alg=alg, typ="JWT")
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    args = ["dgst", "-sha256", "-sign", key_path]
    if alg == "PS256":
        args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    sig = openssl(*args, input=signing_input.encode())
    return signing_input + "." + b64url(sig)


def assertion(emu, client_id, key_path, der, alg="RS256", thumb="x5t",
              aud=None, exp_delta=600, iss=None):
    now = int(time.time())
    if thumb == "x5t":
        hdr = {"x5t": b64url(hashlib.sha1(der).digest())}
    elif thumb == "x5t#S256":
        hdr = {"x5t#S256": b64url(hashlib.sha256(der).digest())}
    else:
        hdr = {}
    claims = {"aud": aud or f"{emu.url}/{TENANT}/oauth2/v2.0/token",
              "iss": iss or client_id, "sub": client_id, "jti": "j-%d" % now,
              "nbf": now - 5, "exp": now + exp_delta}
    return sign_jwt(hdr, claims, key_path, alg)


def fresh_emulator(factory=None, key="ec-p256", **kw):
    """An emulator without the demo keys (their RSA-4096 generation makes
    start-up slow) plus one EC P-256 key created over REST."""
    emu = factory(demo_keys=False, **kw) if factory else hsmtest.Emulator(demo_keys=False, **kw)
    if key:
        st, _, body = emu.request("POST", f"/keys/{key}/create?api-version=7.5",
                                  {"kty": "EC", "crv": "P-256"}, token=emu.token())
        if st != 200 and factory is None:
            emu.close()
        assert st == 200, body
    return emu


def connection(emu, timeout=30):
    u = urllib.parse.urlsplit(emu.url)
    if emu.plain_http:
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                       context=emu.ssl_context())


def sign_rate(emu, token, key="ec-p256", threads=4, seconds=3.0):
    """ES256 signs per second over keep-alive TLS connections, one per
    thread.  Returns (rate, count, errors)."""
    digest = b64url(hashlib.sha256(b"bench").digest())
    body = json.dumps({"alg": "ES256", "value": digest}).encode()
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    path = f"/keys/{key}/sign?api-version=7.5"
    counts, errors = [0] * threads, [0] * threads
    start = threading.Barrier(threads + 1)
    stop = [0.0]

    def worker(i):
        c = connection(emu)
        c.request("POST", path, body, hdrs)     # handshake outside the clock
        c.getresponse().read()
        start.wait()
        while time.monotonic() < stop[0]:
            c.request("POST", path, body, hdrs)
            r = c.getresponse()
            r.read()
            if r.status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    stop[0] = time.monotonic() + 3600
    start.wait()
    t0 = time.monotonic()
    stop[0] = t0 + seconds
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    return sum(counts) / elapsed, sum(counts), sum(errors)


if __name__ == "__main__":
    # python3 tests/emulator/server_util.py: print the ES256 sign rate.
    emu = hsmtest.Emulator(demo_keys=True)
    try:
        tok = emu.token()
        for n in (1, 4, 8):
            rate, count, errs = sign_rate(emu, tok, threads=n, seconds=5)
            print(f"threads={n}: {rate:.0f} ES256 signs/s ({count} ok, {errs} errors)")
    finally:
        emu.close()
