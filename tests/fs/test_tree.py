"""The mounted tree of DESIGN.md §3 (issue 4's part), metadata files,
caches and the Azure SDK as an independent client."""
import json
import os
import subprocess
import time

import pytest

import hsmtest
from fsutil import AES_KEYS, EC_KEYS, RSA_KEYS, openssl_verify, sh

DEMO = sorted(list(EC_KEYS) + RSA_KEYS + list(AES_KEYS))
# The AES keys are a Managed HSM's only.
DEMO_PARAMS = [pytest.param(k, marks=pytest.mark.mhsm_only) if k in AES_KEYS else k
               for k in DEMO]
META = ["algs", "info", "jwk.json", "meta.json"]


def kp(m, name, f=""):
    return os.path.join(m.path, "keys", name, f)


@pytest.mark.mhsm_only  # random at the root
def test_root(mnt):
    assert sorted(os.listdir(mnt.path)) == ["README", "ctl", "deleted", "error", "keys",
                                            "metrics", "random", "restore", "status"]
    readme = open(os.path.join(mnt.path, "README")).read()
    assert "two commands" in readme.lower() or "Shell scripts" in readme
    assert os.stat(os.path.join(mnt.path, "README")).st_size == len(readme.encode())
    assert set(DEMO) <= set(os.listdir(os.path.join(mnt.path, "keys")))


@pytest.mark.parametrize("key", DEMO_PARAMS)
def test_key_directory(mnt, key):
    names = sorted(os.listdir(kp(mnt, key)))
    if key.startswith("ec"):
        want = ["public.der", "public.pem", "sign", "verify"]
    elif key.startswith("rsa"):
        want = ["decrypt", "encrypt", "public.der", "public.pem", "seal", "sign",
                "unseal", "unwrap", "verify", "wrap"]
    else:
        want = ["decrypt", "encrypt", "seal", "unseal", "unwrap", "wrap"]
    assert names == sorted(want + META + ["versions", "ctl", "rotation.json", "backup"])
    for f in names:
        if f == "versions":
            continue
        st = os.stat(kp(mnt, key, f))
        if f in META or f.startswith("public"):
            data = open(kp(mnt, key, f), "rb").read()
            assert st.st_size == len(data) > 0, f
            with open(kp(mnt, key, f), "rb") as fh:
                assert os.fstat(fh.fileno()).st_size == st.st_size
        elif f == "backup":
            assert not st.st_mode & 0o222
        else:
            assert st.st_mode & 0o222
    info = dict(l.split(": ", 1) for l in open(kp(mnt, key, "info")).read().splitlines())
    assert info["name"] == key and len(info["version"]) == 32
    for f in ("kty", "key_ops", "enabled", "created", "updated", "nbf", "exp", "tags",
              "recoverable_days"):
        assert f in info
    jwk = json.load(open(kp(mnt, key, "jwk.json")))
    meta = json.load(open(kp(mnt, key, "meta.json")))
    assert meta["key"]["kid"] == jwk["kid"] and jwk["kid"].endswith(info["version"])
    assert "attributes" in meta and "d" not in jwk and "k" not in jwk
    algs = open(kp(mnt, key, "algs")).read().splitlines()
    assert [l.split(":")[0] for l in algs] == [n for n in ["sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "seal", "unseal"] if n in names]
    # versions/VERSION holds the same files, pinned
    vdir = kp(mnt, key, "versions")
    assert info["version"] in os.listdir(vdir)
    pinned = sorted(os.listdir(os.path.join(vdir, info["version"])))
    assert pinned == sorted(n for n in names
                            if n not in ("versions", "ctl", "rotation.json", "backup"))
    assert open(os.path.join(vdir, info["version"], "info")).read() == open(kp(mnt, key, "info")).read()


@pytest.mark.parametrize("key", ["ec-p256", "ec-p521", "rsa-3072"])
def test_public_files_match_openssl(mnt, key, tmp_path):
    pem = kp(mnt, key, "public.pem")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert der == open(kp(mnt, key, "public.der"), "rb").read()
    jwk = json.load(open(kp(mnt, key, "jwk.json")))
    text = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-text", "-noout"],
                          capture_output=True, check=True).stdout.decode()
    if jwk["kty"].startswith("EC"):
        assert {"P-256": "prime256v1", "P-521": "secp521r1"}[jwk["crv"]] in text
    else:
        assert f"({int(key.split('-')[1])} bit)" in text


def test_pinned_version_sign(mnt, tmp_path):
    v = dict(l.split(": ", 1) for l in open(kp(mnt, "ec-p256", "info")).read().splitlines())["version"]
    s = kp(mnt, "ec-p256", f"versions/{v}/sign")
    sig = sh(f"echo -n pinned > {s}; cat {s}").stdout
    assert openssl_verify(kp(mnt, "ec-p256", f"versions/{v}/public.pem"), "sha256", sig,
                          b"pinned", str(tmp_path))


@pytest.mark.mhsm_only  # random at the root
def test_random(mnt):
    r = os.path.join(mnt.path, "random")
    a = sh(f"head -c 1000 {r}").stdout
    b = sh(f"head -c 1000 {r}").stdout
    assert len(a) == 1000 and a != b
    with open(r, "rb") as f:
        assert len(f.read(300)) == 300
        total = 300
        while True:
            chunk = f.read(256 * 1024)
            if not chunk:
                break
            total += len(chunk)
    assert total == 1 << 20


def test_status(mnt):
    st = dict(l.split(": ", 1) for l in open(os.path.join(mnt.path, "status")).read().splitlines())
    assert st["endpoint"] == mnt.emu.url
    assert "hsmfs-local" in st["identity"]
    assert st["token_expires"] != "none"
    assert int(st["requests"]) > 0 and int(st["token_requests"]) >= 1


def test_sdk_created_key_appears_and_works(emulator, mnt, tmp_path):
    kc, crypto = hsmtest.sdk_clients(emulator)
    key = kc.create_ec_key("fs-sdk-made", curve="P-384")
    # lookup by name works at once (no wait for the list TTL)
    info = dict(l.split(": ", 1) for l in open(kp(mnt, "fs-sdk-made", "info")).read().splitlines())
    assert info["version"] == key.properties.version and info["curve"] == "P-384"
    sig = sh(f"echo -n sdk > {kp(mnt, 'fs-sdk-made', 'sign.raw')}; cat {kp(mnt, 'fs-sdk-made', 'sign.raw')}").stdout
    from azure.keyvault.keys.crypto import SignatureAlgorithm
    import hashlib
    res = crypto(key).verify(SignatureAlgorithm.es384, hashlib.sha384(b"sdk").digest(), sig)
    assert res.is_valid
    # and the SDK's signature verifies through the filesystem
    s2 = crypto(key).sign(SignatureAlgorithm.es384, hashlib.sha384(b"back").digest()).signature
    fd = os.open(kp(mnt, "fs-sdk-made", "verify.raw"), os.O_RDWR)
    try:
        os.write(fd, s2 + b"back")
        assert os.read(fd, 10) == b"valid\n"
    finally:
        os.close(fd)


@pytest.mark.mhsm_only  # creates oct keys
def test_ls_l_makes_list_requests_only(emulator_factory, mount_factory):
    emu = emulator_factory(demo_keys=False)
    tok = emu.token()
    for i in range(200):
        st, _, body = emu.request("POST", f"/keys/k{i:03d}/create?api-version=7.5",
                                  {"kty": "oct-HSM", "key_size": 128}, token=tok)
        assert st == 200, body
    m = mount_factory(emu)
    emu.reset_stats()
    r = subprocess.run(["ls", "-l", os.path.join(m.path, "keys")], capture_output=True, check=True)
    lines = [l for l in r.stdout.decode().splitlines() if l.startswith("d")]
    assert len(lines) == 200
    reqs = {k: v for k, v in emu.stats()["requests"].items() if v}
    assert reqs.get("get", 0) == 0, reqs
    assert reqs.get("list", 0) >= 1
    assert set(reqs) <= {"list"}, reqs
