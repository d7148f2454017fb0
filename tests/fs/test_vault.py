"""A Key Vault vault through hsmfs (DESIGN.md §5, issue 13): the emulator in
its vault flavour (a Premium vault: software RSA and EC keys besides
RSA-HSM and EC-HSM; no oct keys, no random bytes).  What a vault does not
offer is absent from the tree or refused with the service's word and
what to do; its keys work, judged by openssl.

These run in every run (they start their own vault emulator); the run of
the whole fs suite against a vault is scripts/test's HSMFS_TEST_FLAVOR=vault
phase.
"""
import errno
import os
import subprocess

import pytest

from fsutil import openssl_verify, sh

MSG = b"a vault signs this \x00\xff\n"


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    import hsmtest
    emu = hsmtest.Emulator(demo_keys=True, flavor="vault")
    m = hsmtest.Mount(emu, tmp_path_factory.mktemp("vault") / "mnt")
    try:
        yield emu, m
    finally:
        try:
            m.umount()
        finally:
            m.cleanup()
            emu.close()


def ctl(m, cmd):
    with open(os.path.join(m.path, "ctl"), "w") as f:
        f.write(cmd + "\n")


def info(m, name):
    with open(os.path.join(m.path, "keys", name, "info")) as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines())


def error_text(m):
    return sh(f"cat {m.path}/error").stdout.decode()


def test_no_random_at_the_root(vault):
    emu, m = vault
    names = os.listdir(m.path)
    assert "random" not in names and "keys" in names and "ctl" in names, names
    for fn in (os.stat, os.open):
        with pytest.raises(OSError) as e:
            fn(os.path.join(m.path, "random"), *(() if fn is os.stat else (os.O_RDONLY,)))
        assert e.value.errno == errno.ENOENT
    # The service was never asked for random bytes.
    assert emu.op_count("rng") == 0


def test_demo_keys_are_software_keys(vault):
    _, m = vault
    keys = sorted(os.listdir(os.path.join(m.path, "keys")))
    assert not any(k.startswith("aes-") for k in keys), keys
    assert info(m, "rsa-2048")["kty"] == "RSA"
    assert info(m, "ec-p384")["kty"] == "EC" and info(m, "ec-p384")["curve"] == "P-384"


@pytest.mark.parametrize("cmd,kty", [
    ("create v-rsa kty=RSA size=2048", "RSA"),
    ("create v-ec kty=EC crv=P-256", "EC"),
    ("create v-rsahsm kty=RSA-HSM size=2048", "RSA-HSM"),
    ("create v-echsm kty=EC-HSM crv=P-384", "EC-HSM"),
])
def test_create_software_and_hsm_keys_sign_verified_by_openssl(vault, tmp_path, cmd, kty):
    _, m = vault
    name = cmd.split()[1]
    ctl(m, cmd)
    assert info(m, name)["kty"] == kty
    kd = os.path.join(m.path, "keys", name)
    with open(os.path.join(kd, "sign"), "r+b", buffering=0) as f:
        f.write(MSG)
        sig = f.read(1 << 16)
    md = "sha384" if kty == "EC-HSM" else "sha256"
    pem = os.path.join(kd, "public.pem")
    assert openssl_verify(pem, md, sig, MSG, str(tmp_path))
    assert not openssl_verify(pem, md, sig, MSG + b"x", str(tmp_path))
    # and verify through the tree says so too
    with open(os.path.join(kd, "verify"), "r+b", buffering=0) as f:
        f.write(sig + MSG)
        assert f.read(100) == b"valid\n"


def test_rsa_software_key_encrypt_decrypt(vault, tmp_path):
    _, m = vault
    kd = os.path.join(m.path, "keys", "rsa-3072")
    pt = b"the data key \x00\x01"
    ct = subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey",
                         os.path.join(kd, "public.pem"), "-pkeyopt", "rsa_padding_mode:oaep",
                         "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
                        input=pt, capture_output=True, check=True).stdout
    with open(os.path.join(kd, "decrypt"), "r+b", buffering=0) as f:
        f.write(ct)
        assert f.read(1024) == pt


@pytest.mark.parametrize("cmd", ["create v-oct kty=oct", "create v-octh kty=oct-HSM size=256"])
def test_oct_create_refused_with_what_to_do(vault, cmd):
    _, m = vault
    with pytest.raises(OSError) as e:
        ctl(m, cmd)
    assert e.value.errno == errno.EOPNOTSUPP
    err = error_text(m)
    assert "code: BadParameter" in err and "Invalid kty value: oct" in err, err
    assert "no oct keys" in err and "RSA or EC" in err, err
    assert cmd.split()[1] not in os.listdir(os.path.join(m.path, "keys"))


def test_mkdir_key_types_against_a_vault(vault, mount_factory):
    emu, m = vault
    os.mkdir(os.path.join(m.path, "keys", "v-mk1"))          # default EC:P-256
    assert info(m, "v-mk1")["kty"] == "EC"
    h = mount_factory(emu, name="hsmmk", options=["mkdir_key=RSA-HSM:2048"])
    os.mkdir(os.path.join(h.path, "keys", "v-mk2"))
    assert info(h, "v-mk2")["kty"] == "RSA-HSM" and info(h, "v-mk2")["size"] == "2048"
    o = mount_factory(emu, name="octmk", options=["mkdir_key=oct:128"])
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(o.path, "keys", "v-mk3"))
    assert e.value.errno == errno.EOPNOTSUPP
    assert "Invalid kty value: oct" in error_text(o)
    assert "v-mk3" not in os.listdir(os.path.join(o.path, "keys"))


def test_vault_found_by_one_probe(emulator_factory, mount_factory):
    """On loopback only the challenge says "vault": the first root listing
    asks with one challenge probe (no token, no body), then never again."""
    emu = emulator_factory(demo_keys=False, flavor="vault")
    m = mount_factory(emu)
    emu.reset_stats()
    assert "random" not in os.listdir(m.path)
    s = emu.stats()
    assert s.get("challenges") == 1 and s.get("tokens", 0) == 0, s
    assert "random" not in os.listdir(m.path)
    os.listdir(os.path.join(m.path, "keys"))
    assert emu.stats().get("challenges") == 1


def test_mhsm_root_keeps_random(emulator_factory, mount_factory):
    emu = emulator_factory(demo_keys=False, flavor="mhsm")
    m = mount_factory(emu)
    assert "random" in os.listdir(m.path)
    with open(os.path.join(m.path, "random"), "rb") as f:
        assert len(f.read(16)) == 16


@pytest.mark.parametrize("url,has_random", [
    ("https://myvault.vault.azure.net", False),
    ("https://myvault.VAULT.azure.cn/", False),
    ("https://myhsm.managedhsm.azure.net", True),
])
def test_service_known_from_the_url(emulator, tmp_path, url, has_random):
    """A service host name says which service it is without a request: the
    root of a mount of an unreachable vault URL has no random."""
    import hsmtest
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = emulator.env()
    p = subprocess.Popen([hsmtest.bin_path("fs/hsmfs"), "-f", url, str(mnt)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(str(mnt), p)
        assert ("random" in os.listdir(mnt)) == has_random
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _wait(path, proc, timeout=20):
    import time
    import hsmtest
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if hsmtest.is_mounted(path):
            return
        if proc.poll() is not None:
            raise AssertionError("hsmfs exited: " + proc.stderr.read().decode())
        time.sleep(0.05)
    raise AssertionError("not mounted in time")
