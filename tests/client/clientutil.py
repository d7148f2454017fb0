"""Helpers for the client library's integration tests: run the hsm-call
driver (built in $HSMFS_BUILD/tests/client) against an emulator.

They live here, not in conftest.py, because every suite's conftest is a
module named "conftest" and importing from it picks whichever came first."""
import http.server
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import hsmtest  # noqa: E402

# Variables of every credential kind: each test sets exactly what it means.
CRED_VARS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
             "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE",
             "AZURE_AUTHORITY_HOST", "AZURE_ACCESS_TOKEN", "IDENTITY_ENDPOINT",
             "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "MSI_ENDPOINT")


# SHA-256 of "abc" (FIPS 180-2 appendix B.1): the digest the sign calls send.
SHA = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def ok(run):
    """Assert that every result of an hsm-call run succeeded; the run."""
    assert run.rc == 0 and run.results and all(r["ok"] for r in run.results), run
    return run


def fails(run, status):
    """Assert that an hsm-call run failed with status; its first result."""
    assert run.results and not run.r["ok"] and run.r["status"] == status, run
    assert run.rc != 0, run
    return run.r


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items() if k not in CRED_VARS}
    e.update(extra)
    return e


class Run:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.elapsed = elapsed
        lines = [json.loads(l) for l in self.stdout.splitlines() if l.strip()]
        self.results = [l for l in lines if "op" in l]
        st = [l["stats"] for l in lines if "stats" in l]
        self.stats = st[0] if st else None

    @property
    def r(self):
        assert self.results, f"no result (rc {self.rc}): {self.stderr}"
        return self.results[0]

    def __repr__(self):
        return f"<hsm-call rc={self.rc} out={self.stdout[:2000]!r} err={self.stderr[-2000:]!r}>"


def call_argv(emu, *args, opts=(), urls=None, cafile=None):
    """The hsm-call command line for args against emu."""
    cmd = [hsmtest.bin_path("tests/client/hsm-call")]
    for u in (urls or [emu.url]):
        cmd += ["--url", u]
    ca = cafile or emu.ca
    if ca:
        cmd += ["--cafile", ca]
    if emu.plain_http:
        cmd.append("--allow-http")
    return cmd + list(opts) + [str(a) for a in args]


def hsm_call(emu, *args, env=None, opts=(), urls=None, cafile=None, timeout=120):
    cmd = call_argv(emu, *args, opts=opts, urls=urls, cafile=cafile)
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env if env is not None else emu.env(),
                       capture_output=True, timeout=timeout)
    return checked(Run(p, time.monotonic() - t0))


def checked(run):
    """run, once its stderr shows no sanitizer report."""
    # In the sanitizer build every run must also be clean (leaks included),
    # failing calls too.
    assert "Sanitizer" not in run.stderr and "runtime error:" not in run.stderr, run
    return run


class FakeService(http.server.BaseHTTPRequestHandler):
    """Base of the small in-process services the client tests talk to:
    HTTP/1.1, quiet, reply() with a Content-Length."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
