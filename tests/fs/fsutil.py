"""Helpers for tests/fs: shell runs, openssl checks, DER from r||s."""
import contextlib
import os
import shutil
import subprocess
import tempfile

import hsmtest

EC_KEYS = {"ec-p256": ("ES256", "sha256", 32), "ec-p256k": ("ES256K", "sha256", 32),
           "ec-p384": ("ES384", "sha384", 48), "ec-p521": ("ES512", "sha512", 66)}
RSA_KEYS = ["rsa-2048", "rsa-3072", "rsa-4096"]
AES_KEYS = {"aes-128": 128, "aes-192": 192, "aes-256": 256}
RSA_SIGN = {"RS256": "sha256", "RS384": "sha384", "RS512": "sha512",
            "PS256": "sha256", "PS384": "sha384", "PS512": "sha512"}


def sh(cmd, cwd=None, check=True, input=None, timeout=60):
    return hsmtest.sh(cmd, cwd=cwd, check=check, input=input, timeout=timeout)


def der_int(b):
    v = int.from_bytes(b, "big").to_bytes((int.from_bytes(b, "big").bit_length() + 8) // 8 or 1, "big")
    return b"\x02" + der_len(len(v)) + v


def der_len(n):
    if n < 128:
        return bytes([n])
    s = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(s)]) + s


def raw_to_der(raw):
    h = len(raw) // 2
    body = der_int(raw[:h]) + der_int(raw[h:])
    return b"\x30" + der_len(len(body)) + body


def openssl_verify(pem, md, sig, msg, tmp, pss=False):
    """True when `openssl dgst -verify` accepts sig over msg."""
    sp, mp = os.path.join(tmp, "sig.bin"), os.path.join(tmp, "msg.bin")
    with open(sp, "wb") as f:
        f.write(sig)
    with open(mp, "wb") as f:
        f.write(msg)
    opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] if pss else []
    r = subprocess.run(["openssl", "dgst", "-" + md, "-verify", pem] + opts +
                       ["-signature", sp, mp], capture_output=True)
    return r.returncode == 0 and b"Verified OK" in r.stdout


@contextlib.contextmanager
def shared_mounts(prefix, *base_options):
    """mount(emu, *options, name=...) with allow_other,default_permissions
    and base_options, in a directory other uids can reach (pytest's
    tmp_path is root's alone); every mount unmounted at the end."""
    top = tempfile.mkdtemp(prefix=prefix)
    os.chmod(top, 0o755)
    mounts = []

    def mount(emu, *options, name=None):
        m = hsmtest.Mount(emu, os.path.join(top, name or "mnt%d" % len(mounts)),
                          options=["allow_other", "default_permissions",
                                   *base_options, *options], debug=False)
        mounts.append(m)
        return m
    mount.top = top
    try:
        yield mount
    finally:
        for m in mounts:
            if m.proc.poll() is None:
                m.umount()
            else:
                m.cleanup()
        shutil.rmtree(top, ignore_errors=True)
