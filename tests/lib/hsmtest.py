"""Shared helpers for the pytest suites: start hsm-emulator, talk to its
admin API, get tokens, mount hsmfs.

Everything here drives the real programs from the build directory named by
$HSMFS_BUILD (default: <repo>/build).
"""
import atexit
import json
import os
import re
import shutil
import shlex
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANT = "00000000-0000-0000-0000-000000000000"
CLIENT_ID = "hsmfs-local"
CLIENT_SECRET = "local-secret"
RESOURCE = "https://managedhsm.azure.net"
SCOPE = RESOURCE + "/.default"
VAULT_RESOURCE = "https://vault.azure.net"
# The flavour of the emulators the suites start (hsm-emulator --flavor):
# "mhsm", or "vault" for the run of the fs suite against a Key Vault
# (scripts/test); tests marked mhsm_only are deselected then.
FLAVOR = os.environ.get("HSMFS_TEST_FLAVOR", "mhsm")


def build_dir():
    return os.environ.get("HSMFS_BUILD", os.path.join(REPO, "build"))


def bin_path(rel):
    p = os.path.join(build_dir(), rel)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p} is not built (run scripts/test or ninja -C {build_dir()})")
    return p


def sanitized():
    """Whether the build under test is the ASan one.  Its daemon's memory
    figures include ASan's quarantine of freed blocks (up to 256 MB) and
    its mlock() does nothing (sanitizers do not support it), so memory
    bounds and locking are judged on the plain build; ASan runs the same
    paths for memory safety."""
    try:
        with open(bin_path("fs/hsmfs"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


_demo_template = {}


def _demo_data_template(flavor):
    """A data directory holding the demo keys, made once per test process.

    Generating the demo keys (RSA-4096 above all) takes seconds; the
    emulator keeps its keys in --data, so a copy of a directory it filled
    once serves every later emulator that wants the demo keys.
    """
    if flavor not in _demo_template:
        tmp = tempfile.mkdtemp(prefix="hsmemu-demo-")
        atexit.register(shutil.rmtree, tmp, True)
        emu = Emulator(demo_keys=True, data=tmp, _template=False, flavor=flavor)
        emu.stop()
        for junk in ("ready", "emulator.log"):
            if os.path.exists(os.path.join(tmp, junk)):
                os.unlink(os.path.join(tmp, junk))
        _demo_template[flavor] = tmp
    return _demo_template[flavor]


class Emulator:
    """One hsm-emulator process.

    opts: demo_keys (bool), plain_http (bool), identities (path),
    data (dir; default a fresh temporary one), extra (list of arguments),
    flavor ("mhsm" or "vault"; default FLAVOR).
    """

    def __init__(self, demo_keys=True, plain_http=False, identities=None,
                 data=None, extra=(), listen="127.0.0.1:0", _template=True,
                 flavor=None):
        self._tmp = None
        self.flavor = flavor or FLAVOR
        if data is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hsmemu-")
            data = self._tmp.name
            if demo_keys and _template:
                shutil.copytree(_demo_data_template(self.flavor), data, dirs_exist_ok=True)
        self.data = data
        self.demo_keys = demo_keys
        self.plain_http = plain_http
        self.identities = identities
        self.extra = list(extra)
        self.listen = listen
        self.proc = None
        self.url = None
        self.log_path = os.path.join(data, "emulator.log")
        self.start()

    @property
    def resource(self):
        """The audience its tokens need (the challenge's resource)."""
        return VAULT_RESOURCE if self.flavor == "vault" else RESOURCE

    @property
    def ca(self):
        return None if self.plain_http else os.path.join(self.data, "tls", "ca.pem")

    @property
    def port(self):
        return urllib.parse.urlsplit(self.url).port

    def start(self, timeout=30):
        ready = os.path.join(self.data, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [bin_path("emulator/hsm-emulator"), "--listen", self.listen,
               "--data", self.data, "--ready-file", ready]
        if self.demo_keys:
            cmd.append("--demo-keys")
        if self.plain_http:
            cmd.append("--plain-http")
        if self.identities:
            cmd += ["--identities", self.identities]
        cmd += ["--flavor", self.flavor]
        cmd += self.extra
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hsm-emulator exited with {self.proc.returncode}: {self.log()}")
            if os.path.exists(ready):
                with open(ready) as f:
                    url = f.read().strip()
                if url:
                    self.url = url
                    # Restarts keep the port so clients keep working.
                    self.listen = "127.0.0.1:%d" % self.port
                    return
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError("hsm-emulator did not become ready: " + self.log())

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, check=True):
        """SIGTERM and wait; the emulator must exit 0 when check is set."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError("hsm-emulator ignored SIGTERM")
        rc = self.proc.returncode
        self.proc = None
        self._log.close()
        if check and rc != 0:
            raise AssertionError(f"hsm-emulator exited {rc}: {self.log()}")

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        try:
            self.stop(check=False)
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    # -- HTTP -------------------------------------------------------------

    def ssl_context(self):
        if self.plain_http:
            return None
        return ssl.create_default_context(cafile=self.ca)

    def request(self, method, path, body=None, headers=None, token=None,
                raw=False, timeout=30):
        """Send one request; returns (status, headers, body) with body parsed
        as JSON unless raw or empty.  path may be absolute or a full URL."""
        url = path if path.startswith("http") else self.url + path
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            resp = urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout)
            status, rh, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rh, payload = e.code, e.headers, e.read()
        if raw or not payload:
            return status, rh, payload
        return status, rh, json.loads(payload)

    def admin(self, method, path, body=None):
        status, _, payload = self.request(method, "/_emulator/" + path.lstrip("/"), body)
        if status >= 300:
            raise AssertionError(f"admin {method} {path}: {status} {payload!r}")
        return payload

    def stats(self):
        return self.admin("GET", "stats")

    def op_count(self, op):
        return self.stats().get("requests", {}).get(op, 0)

    def reset_stats(self):
        self.admin("POST", "stats/reset")

    def faults(self, **kw):
        """Inject faults; see emulator/README.md for the fields."""
        self.admin("PUT", "faults", kw)

    def clear_faults(self):
        self.admin("DELETE", "faults")

    def token(self, client_id=CLIENT_ID, secret=CLIENT_SECRET, scope=None,
              tenant=TENANT):
        scope = scope or self.resource + "/.default"
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": secret, "scope": scope}).encode()
        status, _, body = self.request(
            "POST", f"/{tenant}/oauth2/v2.0/token", form,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise AssertionError(f"token request failed: {status} {body!r}")
        return body["access_token"]

    def env(self, client_id=CLIENT_ID, secret=CLIENT_SECRET):
        """Environment for a client that authenticates with a secret here."""
        e = dict(os.environ)
        e.update({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": client_id,
                  "AZURE_CLIENT_SECRET": secret, "AZURE_AUTHORITY_HOST": self.url})
        return e


class EmulatorCredential:
    """An azure-core TokenCredential that gets tokens from the emulator's
    Entra-style token endpoint, for the Azure SDK's clients."""

    def __init__(self, emu, client_id=CLIENT_ID, secret=CLIENT_SECRET):
        self.emu, self.client_id, self.secret = emu, client_id, secret
        self.requests = 0

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.secret, "scope": " ".join(scopes)}).encode()
        tenant = kwargs.get("tenant_id") or TENANT
        self.requests += 1
        status, _, body = self.emu.request(
            "POST", f"/{tenant}/oauth2/v2.0/token", form,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            from azure.core.exceptions import ClientAuthenticationError
            raise ClientAuthenticationError(message=f"token endpoint said {status}: {body}")
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def sdk_clients(emu, credential=None, api_version=None):
    """KeyClient and a factory for CryptographyClient, pointed at emu."""
    from azure.keyvault.keys import KeyClient
    from azure.keyvault.keys.crypto import CryptographyClient
    cred = credential or EmulatorCredential(emu)
    kw = {"verify_challenge_resource": False, "connection_verify": emu.ca or True}
    if api_version:
        kw["api_version"] = api_version
    kc = KeyClient(emu.url, cred, **kw)

    def crypto(key_or_id):
        return CryptographyClient(key_or_id, cred, **kw)
    return kc, crypto


# -- mounting hsmfs ---------------------------------------------------------

def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(unescape_mount(line.split()[1]) == path for line in f)


def unescape_mount(field):
    """/proc/self/mounts writes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class Mount:
    """hsmfs mounted in the foreground against an emulator.

    The daemon runs with -f; umount() is strict (the daemon must exit 0),
    cleanup() is forgiving (lazy unmount, terminate, kill).
    """

    def __init__(self, emu, mnt, options=(), env=None, debug=True, args=()):
        self.emu = emu
        self.path = str(mnt)
        os.makedirs(self.path, exist_ok=True)
        self.log_path = os.path.join(os.path.dirname(self.path),
                                     os.path.basename(self.path) + ".log")
        opts = []
        if emu.ca:
            opts.append("cafile=" + emu.ca)
        if emu.plain_http:
            opts.append("allow_http")
        opts += list(options)
        cmd = [bin_path("fs/hsmfs"), "-f"]
        if debug:
            cmd.append("-d")
        if opts:
            cmd += ["-o", ",".join(opts)]
        cmd += list(args) + [emu.url, self.path]
        # HSMFS_DAEMON_WRAPPER (scripts/test's valgrind phase): run the
        # daemon under e.g. "valgrind --error-exitcode=99 ...".  A
        # valgrind wrapper writes its report next to the mount's log;
        # umount() fails on any error in it.
        self.wrapper_log = None
        wrapper = shlex.split(os.environ.get("HSMFS_DAEMON_WRAPPER", ""))
        if wrapper:
            if os.path.basename(wrapper[0]) == "valgrind":
                self.wrapper_log = self.log_path + ".valgrind"
                wrapper.append("--log-file=" + self.wrapper_log)
            cmd = wrapper + cmd
        self.cmd = cmd
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env if env is not None else emu.env())
        try:
            self.wait_for_mount()
        except BaseException:
            self.cleanup()
            raise

    def wait_for_mount(self, timeout=20):
        if self.wrapper_log:
            timeout *= 10       # valgrind starts the daemon slowly
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.path):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"hsmfs exited {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        raise RuntimeError("hsmfs did not mount: " + self.log())

    def log(self):
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def umount(self):
        # The kernel sends RELEASEDIR in the background, and libfuse drops
        # a request a worker has read but not begun when the session ends
        # (fuse_loop_mt: the worker sees mt->exit and returns).  Either way
        # libfuse never frees its state for that directory handle
        # (valgrind: 120 bytes definitely lost, calloc in a libfuse worker;
        # under valgrind's one-thread-at-a-time scheduling the window is
        # wide).  So wait until libfuse has begun every RELEASEDIR: its
        # debug log names each directory handle opened and each released.
        # A mount without -d gets one synchronous request instead: it is
        # queued behind the releases already sent.
        self.wait_dirs_released(30 if self.wrapper_log else 10)
        try:
            os.statvfs(self.path)
        except OSError:
            pass
        subprocess.run(["fusermount3", "-u", self.path], check=True)
        rc = self.proc.wait(300 if self.wrapper_log else 30)
        self._log.close()
        assert rc == 0, f"hsmfs exited {rc}: {self.log()}{self.wrapper_report()}"
        self.check_wrapper()

    def dirs_open(self):
        """Directory handles libfuse opened and has not begun to release
        (its -d log: "opendir[N] flags" at each, "releasedir[N]" at each
        release); None for a mount without -d."""
        if "-d" not in self.cmd:
            return None
        text = self.log()
        return text.count("opendir[") - text.count("releasedir[")

    def wait_dirs_released(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            n = self.dirs_open()
            if n is None or n <= 0:
                return
            time.sleep(0.05)

    def wrapper_report(self):
        if not self.wrapper_log or not os.path.exists(self.wrapper_log):
            return ""
        with open(self.wrapper_log, errors="replace") as f:
            return "\nvalgrind (" + self.wrapper_log + "):\n" + f.read()[-6000:]

    def check_wrapper(self):
        """valgrind's verdict on the daemon: no errors, no definite leak."""
        if not self.wrapper_log:
            return
        with open(self.wrapper_log, errors="replace") as f:
            text = f.read()
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        assert m, "valgrind wrote no summary: " + self.wrapper_report()
        lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
        assert int(m.group(1)) == 0 and (not lost or lost.group(1) == "0"), \
            "valgrind found errors in hsmfs: " + self.wrapper_report()

    def cleanup(self):
        stop_daemon(self.proc, self.path)
        if not self._log.closed:
            self._log.close()


def stop_daemon(proc, path, grace=0, term_wait=5):
    """Unmount path and end the hsmfs process proc, whatever state they
    are in.  With grace, first a normal unmount and up to grace seconds for
    the daemon to exit by itself (a profiler wrapping it then gets to write
    its data); then a lazy unmount, SIGTERM, and SIGKILL after term_wait."""
    if grace:
        subprocess.run(["fusermount3", "-u", path], stderr=subprocess.DEVNULL)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None or is_mounted(path):
        subprocess.run(["fusermount3", "-z", "-u", path],
                       stderr=subprocess.DEVNULL)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(term_wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_to_eof(fd, chunk=65536):
    """Read fd to its end: an operation file's output ends at EOF
    (DESIGN.md §4.1)."""
    out = b""
    while True:
        b = os.read(fd, chunk)
        if not b:
            return out
        out += b


def one_handle(path, data, chunk=65536):
    """One operation through one handle (DESIGN.md §4.1): open path
    read-write, write data, return all the output."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, data)
        return read_to_eof(fd, chunk)
    finally:
        os.close(fd)


def sh(cmd, cwd=None, env=None, input=None, check=True, timeout=60):
    """Run cmd through bash exactly as a user types it; returns CompletedProcess
    with bytes stdout/stderr."""
    r = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, input=input,
                       capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r
