"""hsm-emulator process level: command line, TLS files and verification,
plain HTTP, persistence across restarts, signals, the temporary data
directory.  Judges: the openssl command and Python's ssl module."""
import hashlib
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import hsmtest
from server_util import b64url, b64url_decode, fresh_emulator, openssl


def emulator_bin():
    return hsmtest.bin_path("emulator/hsm-emulator")


def run(*args, timeout=30):
    return subprocess.run([emulator_bin(), *args], capture_output=True, timeout=timeout)


# -- command line -------------------------------------------------------------

def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for opt in ("--listen", "--data", "--ready-file", "--identities", "--plain-http",
                "--demo-keys", "--help", "--version"):
        assert opt in out
    r = run("--version")
    assert r.returncode == 0 and re.match(r"^hsm-emulator \d+\.\d+", r.stdout.decode())


@pytest.mark.parametrize("args", [["--bogus"], ["--listen"], ["--listen", "nonsense"],
                                  ["--listen", "127.0.0.1:70000"], ["--listen", "127.0.0.1:"],
                                  ["extra-arg"], ["--data", ""]])
def test_bad_arguments_exit_2(args):
    r = run(*args)
    assert r.returncode == 2, r
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("hsm-emulator: "), err
    assert r.stdout == b""


def test_bad_identities_file(tmp_path):
    for content, needle in (("{not json", "identities"), ('{"clients": [{"secret": "x"}]}', "client_id"),
                            ('{"clients": [{"client_id": "a", "secret": "x", "role": "god"}]}', "role"),
                            ('{"clients": [{"client_id": "a", "certificate": "/nonexistent.pem"}]}',
                             "nonexistent")):
        f = tmp_path / "ids.json"
        f.write_text(content)
        r = run("--identities", str(f), "--data", str(tmp_path / "d"))
        assert r.returncode == 1, content
        err = r.stderr.decode()
        assert err.count("\n") == 1 and needle in err, err


CERT_NEEDS = "needs \"secret\", \"certificate\" or \"federated_subject\""


@pytest.mark.parametrize("content,message", [
    ('[1]', "cannot read identities file {f}: not a JSON object"),
    ('{"clients": {}}', '{f}: "clients" must be an array'),
    ('{"managed_identities": 1}', '{f}: "managed_identities" must be an array'),
    ('{"clients": [{"secret": "x"}]}', '{f}: clients[0] needs a "client_id" string'),
    ('{"managed_identities": [{"client_id": "m"}, {"client_id": ""}]}',
     '{f}: managed_identities[1] needs a "client_id" string'),
    ('{"clients": [{"client_id": "a", "secret": "x"}, {"client_id": "a", "secret": "y"}]}',
     "{f}: client 'a' is defined twice"),
    ('{"clients": [{"client_id": "hsmfs-local", "secret": "y"}]}',
     "{f}: client 'hsmfs-local' is defined twice"),
    ('{"managed_identities": [{"client_id": "mi-2"}, {"client_id": "mi-2", "role": "user"}]}',
     "{f}: managed identity 'mi-2' is defined twice"),
    ('{"managed_identities": [{"client_id": "hsmfs-mi"}]}',
     "{f}: managed identity 'hsmfs-mi' is defined twice"),
    ('{"managed_identities": [{"client_id": "m", "role": "admin"}]}',
     "{f}: identity 'm': unknown role 'admin' (use none, reader, user or officer)"),
    ('{"clients": [{"client_id": "a", "role": "reader"}]}', "{f}: client 'a' " + CERT_NEEDS),
    ('{"clients": [{"client_id": "a", "certificate": "/nonexistent.pem"}]}',
     "{f}: client 'a': cannot read certificate /nonexistent.pem: No such file or directory"),
    ('{"clients": [{"client_id": "a", "certificate": "{d}/junk.pem"}]}',
     "{f}: client 'a': {d}/junk.pem holds no PEM certificate"),
    ('{"clients": [{"client_id": "a", "certificate": "{d}/ec.pem"}]}',
     "{f}: client 'a': the certificate in {d}/ec.pem must have an RSA key"),
])
def test_identities_file_refused(tmp_path, content, message):
    """Each refusal of the identities loader: exit 1 and one line on stderr
    naming the file and what is wrong with it; nothing on stdout."""
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    if "ec.pem" in content:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", str(tmp_path / "ec.key"), "-out", str(tmp_path / "ec.pem"),
                "-days", "1", "-subj", "/CN=ec")
    f = tmp_path / "ids.json"
    f.write_text(content.replace("{d}", str(tmp_path)))
    r = run("--identities", str(f), "--data", str(tmp_path / "d"), timeout=10)
    assert r.returncode == 1, r
    want = message.replace("{f}", str(f)).replace("{d}", str(tmp_path))
    assert r.stderr.decode() == "hsm-emulator: " + want + "\n"
    assert r.stdout == b""


def test_listen_address_in_use():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        with tempfile.TemporaryDirectory() as d:
            r = run("--listen", "127.0.0.1:%d" % s.getsockname()[1], "--data", d)
        assert r.returncode == 1
        assert "cannot listen" in r.stderr.decode()
    finally:
        s.close()


def test_prints_url_and_ready_file(tmp_path):
    ready = tmp_path / "ready"
    p = subprocess.Popen([emulator_bin(), "--data", str(tmp_path / "d"),
                          "--ready-file", str(ready)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode().strip()
        assert re.match(r"^https://127\.0\.0\.1:\d+$", line), line
        assert ready.read_text().strip() == line
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(20) == 0


# -- signals and the temporary directory ---------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_clean_exit_removes_temp_dir(sig):
    p = subprocess.Popen([emulator_bin()], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = p.stdout.readline().decode().strip()
    assert url.startswith("https://127.0.0.1:")
    # Find the data directory from the start-up log line.
    line = b""
    deadline = time.monotonic() + 10
    while b"data in " not in line and time.monotonic() < deadline:
        line = p.stderr.readline()
    tmp = re.search(rb"data in (\S+)\)", line).group(1).decode()
    assert os.path.isdir(os.path.join(tmp, "tls"))
    p.send_signal(sig)
    assert p.wait(20) == 0
    assert not os.path.exists(tmp)


def test_sigterm_during_stall(emulator_factory):
    """A stalled request does not hold shutdown back."""
    emu = fresh_emulator(emulator_factory)
    tok = emu.token()
    emu.faults(stall_ms=600000)
    import threading

    def stalled():
        try:
            emu.request("GET", "/keys/ec-p256?api-version=7.5", token=tok, timeout=30)
        except Exception:                          # closed at shutdown: fine too
            pass
    t = threading.Thread(target=stalled)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    emu.stop()                                     # asserts exit status 0
    assert time.monotonic() - t0 < 10
    t.join(30)


# -- TLS ----------------------------------------------------------------------

def test_tls_files_and_modes(emulator):
    tls = os.path.join(emulator.data, "tls")
    for f in ("ca.key", "server.key", "token-signing.key"):
        mode = stat.S_IMODE(os.stat(os.path.join(tls, f)).st_mode)
        assert mode == 0o600, (f, oct(mode))
    ca = os.path.join(tls, "ca.pem")
    server = os.path.join(tls, "server.pem")
    out = openssl("verify", "-CAfile", ca, server).decode()
    assert out.strip().endswith(": OK")
    text = openssl("x509", "-in", server, "-noout", "-text").decode()
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    assert "TLS Web Server Authentication" in text
    ca_text = openssl("x509", "-in", ca, "-noout", "-text").decode()
    assert "CA:TRUE" in ca_text


def test_tls_verified_by_ca(emulator):
    # Python's ssl with the CA: verifies the chain and the IP address.
    st, _, _ = emulator.request("GET", "/_emulator/stats")
    assert st == 200
    # Without the CA the server is not trusted.
    with pytest.raises(urllib.error.URLError) as ei:
        urllib.request.urlopen(emulator.url + "/_emulator/stats",
                               context=ssl.create_default_context(), timeout=10)
    assert isinstance(ei.value.reason, ssl.SSLCertVerificationError)
    # Another CA does not verify it either.
    with tempfile.TemporaryDirectory() as d:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", d + "/k", "-out", d + "/c", "-days", "1", "-subj", "/CN=x")
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(emulator.url + "/_emulator/stats",
                                   context=ssl.create_default_context(cafile=d + "/c"),
                                   timeout=10)


def test_tls_by_localhost_name(emulator):
    url = emulator.url.replace("127.0.0.1", "localhost")
    with urllib.request.urlopen(url + "/_emulator/stats",
                                context=emulator.ssl_context(), timeout=10) as r:
        assert r.status == 200


def test_openssl_s_client_verifies(emulator):
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % emulator.port,
                        "-CAfile", emulator.ca, "-verify_return_error", "-verify_ip",
                        "127.0.0.1", "-brief"], input=b"", capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert b"Verification: OK" in r.stderr


def test_plain_http(emulator_factory):
    emu = fresh_emulator(emulator_factory, plain_http=True)
    assert emu.url.startswith("http://127.0.0.1:")
    assert not os.path.exists(os.path.join(emu.data, "tls", "server.pem"))
    st, h, raw = emu.request("GET", "/keys/ec-p256?api-version=7.5", raw=True)
    assert st == 401 and "Strict-Transport-Security" not in h
    assert emu.request("GET", "/keys/ec-p256?api-version=7.5", token=emu.token())[0] == 200


# -- persistence --------------------------------------------------------------

def test_restart_keeps_keys_tls_and_tokens(emulator_factory):
    emu = fresh_emulator(emulator_factory, key="persist-me")
    tok = emu.token()
    ca_before = open(emu.ca, "rb").read()
    st, _, created = emu.request("GET", "/keys/persist-me?api-version=7.5", token=tok)
    jwk = created["key"]
    emu.restart()
    assert open(emu.ca, "rb").read() == ca_before        # TLS files reused
    # A token issued before the restart is still good (same signing key).
    digest = hashlib.sha256(b"after restart").digest()
    st, _, body = emu.request("POST", "/keys/persist-me/sign?api-version=7.5",
                              {"alg": "ES256", "value": b64url(digest)}, token=tok)
    assert st == 200, body
    # Verify the signature with the key published before the restart.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                        int.from_bytes(b64url_decode(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    sig = b64url_decode(body["value"])
    assert len(sig) == 64
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                     int.from_bytes(sig[32:], "big"))
    pub.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # Key files are private.
    files = []
    for root, _, names in os.walk(os.path.join(emu.data, "keys")):
        files += [os.path.join(root, n) for n in names]
    assert files, "no key files under DATA/keys"
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0, f


def test_request_log_lines_without_secrets(emulator_factory):
    emu = fresh_emulator(emulator_factory)
    tok = emu.token()
    emu.request("GET", "/keys/ec-p256?api-version=7.5&maxresults=3", token=tok)
    emu.request("GET", "/keys/ec-p256?api-version=7.5")
    emu.stop()
    log = emu.log()
    assert re.search(r"^hsm-emulator: GET /keys/ec-p256 200 \d+ms$", log, re.M), log
    assert re.search(r"^hsm-emulator: GET /keys/ec-p256 401 \d+ms$", log, re.M), log
    assert re.search(r"^hsm-emulator: POST /0{8}-0{4}-0{4}-0{4}-0{12}/oauth2/v2.0/token 200 \d+ms$",
                     log, re.M), log
    for secret in (tok, tok.split(".")[2], "local-secret", "maxresults", "Bearer"):
        assert secret not in log


def test_listen_ipv6_loopback(emulator_factory):
    emu = fresh_emulator(emulator_factory, listen="[::1]:0")
    assert re.match(r"^https://\[::1\]:\d+$", emu.url), emu.url
    st, _, body = emu.request("GET", "/keys/ec-p256?api-version=7.5", token=emu.token())
    assert st == 200, body
    assert emu.request("GET", "/_emulator/stats")[0] == 200     # ::1 is loopback


def test_sigterm_with_idle_keepalive_connections(emulator_factory):
    """Open keep-alive connections do not delay shutdown."""
    from server_util import connection
    emu = fresh_emulator(emulator_factory, key=None)
    conns = []
    for _ in range(6):
        c = connection(emu)
        c.request("GET", "/_emulator/stats")
        c.getresponse().read()
        conns.append(c)
    t0 = time.monotonic()
    emu.stop()
    assert time.monotonic() - t0 < 5
    for c in conns:
        c.close()
