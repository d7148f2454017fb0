"""Every call of the client library against the emulator, judged by the
Azure SDK for Python, the `cryptography` package (OpenSSL) and the
emulator's own request counters."""
import base64
import hashlib
import json
import os
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

import clientutil
import hsmtest
from clientutil import clean_env, fails, hsm_call


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(run):
    """clientutil.ok(), giving the first result (what these tests read)."""
    return clientutil.ok(run).r


@pytest.fixture(scope="module")
def sdk(emulator):
    kc, crypto = hsmtest.sdk_clients(emulator)
    return kc


DEMO = ["ec-p256", "ec-p256k", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072",
        "rsa-4096", "aes-128", "aes-192", "aes-256"]


def test_list_keys_matches_sdk(call, sdk):
    r = ok(call("list"))
    mine = {k["name"] for k in r["keys"]}
    theirs = {p.name for p in sdk.list_properties_of_keys()}
    assert mine == theirs
    assert set(DEMO) <= mine
    assert all(k["version"] is None for k in r["keys"])


def test_list_follows_every_page(emulator_factory):
    emu = emulator_factory(demo_keys=False)
    env = emu.env()
    names = sorted(uniq("p") for _ in range(30))
    for n in names:
        ok(hsm_call(emu, "create", n, "EC", env=env))
    emu.reset_stats()
    r = ok(hsm_call(emu, "list", env=env))
    assert sorted(k["name"] for k in r["keys"]) == names
    # 30 keys at 25 per page: two pages, the second through nextLink
    # (which the service sends without api-version).
    assert emu.op_count("list") == 2
    ok(hsm_call(emu, "create", names[0], "EC", env=env))
    r = ok(hsm_call(emu, "versions", names[0], env=env))
    assert len(r["keys"]) == 2 and all(len(k["version"]) == 32 for k in r["keys"])


def test_get_latest_and_version_match_sdk(call, sdk):
    for name in ("ec-p256", "ec-p384", "rsa-2048", "aes-256"):
        k = ok(call("get", name))["key"]
        s = sdk.get_key(name)
        assert k["name"] == name and k["version"] == s.properties.version
        assert k["kid"] == s.id
        if s.key.kty.startswith("EC"):
            assert bytes.fromhex(k["x"]) == s.key.x and bytes.fromhex(k["y"]) == s.key.y
            assert k["bits"] == {"P-256": 256, "P-384": 384}[s.key.crv]
        elif s.key.kty.startswith("RSA"):
            assert bytes.fromhex(k["n"]) == s.key.n and bytes.fromhex(k["e"]) == s.key.e
            assert k["bits"] == 2048
        else:
            assert k["bits"] == 256
        assert set(k["ops"]) == set(s.key_operations)
        assert json.loads(json.dumps(k["bundle"]))["key"]["kid"] == s.id
        assert k["jwk"] == k["bundle"]["key"]
        v = ok(call("get", name, k["version"]))["key"]
        assert v["kid"] == k["kid"]


def test_create_kinds_and_attributes(call, sdk):
    n = uniq("c")
    k = ok(call("create", n, "EC", "crv=P-384", "ops=sign,verify", "tag:team=hsm",
                "tag:env=test"))["key"]
    s = sdk.get_key(n)
    assert k["kty"] == "EC-HSM" and s.key.crv == "P-384" and k["bits"] == 384
    assert set(k["ops"]) == {"sign", "verify"} == set(s.key_operations)
    assert k["tags"] == {"team": "hsm", "env": "test"} == s.properties.tags
    r = ok(call("create", uniq("r"), "RSA", "size=3072"))["key"]
    assert r["kty"] == "RSA-HSM" and r["bits"] == 3072
    o = ok(call("create", uniq("o"), "oct", "size=128"))["key"]
    assert o["kty"] == "oct-HSM" and o["bits"] == 128
    d = ok(call("create", uniq("d"), "EC", "disabled", "exp=4102444800"))["key"]
    assert d["enabled"] is False and d["exp"] == 4102444800


def test_create_on_deleted_name_is_conflict(call):
    n = uniq("cf")
    ok(call("create", n, "EC"))
    ok(call("delete", n))
    fails(call("create", n, "EC"), "HSM_E_CONFLICT")


def test_update_and_key_state_errors(call):
    n = uniq("u")
    ok(call("create", n, "EC"))
    digest = hashlib.sha256(b"x").hexdigest()
    k = ok(call("update", n, "enabled=0", "tag:a=1"))["key"]
    assert k["enabled"] is False and k["tags"] == {"a": "1"}
    r = fails(call("sign", n, "ES256", digest), "HSM_E_KEY_EXPIRED")
    assert r["http"] == 403 and r["inner"] == "KeyDisabled"
    ok(call("update", n, "enabled=1", "exp=1000000000"))
    r = fails(call("sign", n, "ES256", digest), "HSM_E_KEY_EXPIRED")
    assert r["inner"] == "KeyExpired"
    k = ok(call("update", n, "exp=4102444800", "ops=verify", "tag:b=2"))["key"]
    assert k["exp"] == 4102444800 and k["ops"] == ["verify"] and k["tags"] == {"b": "2"}
    r = fails(call("sign", n, "ES256", digest), "HSM_E_UNSUPPORTED")
    assert r["inner"] == "ForbiddenByPolicy"


def test_delete_recover_purge(call, sdk):
    n = uniq("del")
    ok(call("create", n, "RSA"))
    d = ok(call("delete", n))["key"]
    assert d["recovery_id"].endswith("/deletedkeys/" + n)
    assert d["scheduled_purge_date"] == d["deleted_date"] + d["recoverable_days"] * 86400
    g = ok(call("get-deleted", n))["key"]
    assert g["deleted_date"] == d["deleted_date"]
    assert n in {k["name"] for k in ok(call("deleted"))["keys"]}
    fails(call("get", n), "HSM_E_NOT_FOUND")
    ok(call("recover", n))
    assert sdk.get_key(n).name == n
    ok(call("delete", n))
    ok(call("purge", n))
    r = fails(call("get-deleted", n), "HSM_E_NOT_FOUND")
    assert r["http"] == 404 and r["code"] == "KeyNotFound"


def test_backup_restore(call, tmp_path):
    n = uniq("bk")
    k = ok(call("create", n, "EC"))["key"]
    blob = tmp_path / "blob"
    ok(call("backup", n, blob))
    assert len(blob.read_text()) > 100
    ok(call("delete", n))
    ok(call("purge", n))
    r = ok(call("restore", blob))["key"]
    assert r["kid"] == k["kid"] and r["x"] == k["x"]


def test_rotation(call):
    n = uniq("rot")
    k = ok(call("create", n, "EC"))["key"]
    policy = json.dumps({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"},
                                              "action": {"type": "Rotate"}}],
                         "attributes": {"expiryTime": "P90D"}})
    p = ok(call("policy-set", n, policy))["policy"]
    assert p["lifetimeActions"][0]["action"]["type"].lower() == "rotate"
    g = ok(call("policy-get", n))["policy"]
    assert g["attributes"]["expiryTime"] == "P90D"
    r = ok(call("rotate", n))["key"]
    assert r["name"] == n and r["version"] != k["version"]
    assert r["exp"] == r["created"] + 90 * 86400


def raw_to_der(sig):
    h = len(sig) // 2
    return utils.encode_dss_signature(int.from_bytes(sig[:h], "big"),
                                      int.from_bytes(sig[h:], "big"))


@pytest.mark.parametrize("name,alg,curve,hashf", [
    ("ec-p256", "ES256", ec.SECP256R1(), hashes.SHA256()),
    ("ec-p256k", "ES256K", ec.SECP256K1(), hashes.SHA256()),
    ("ec-p384", "ES384", ec.SECP384R1(), hashes.SHA384()),
    ("ec-p521", "ES512", ec.SECP521R1(), hashes.SHA512()),
])
def test_ecdsa_sign_verified_by_openssl(call, name, alg, curve, hashf):
    k = ok(call("get", name))["key"]
    pub = ec.EllipticCurvePublicNumbers(int(k["x"], 16), int(k["y"], 16), curve).public_key()
    h = hashes.Hash(hashf)
    h.update(b"message for " + name.encode())
    digest = h.finalize()
    r = ok(call("sign", name, alg, digest.hex()))
    sig = bytes.fromhex(r["value"])
    assert r["kid"] == k["kid"]
    pub.verify(raw_to_der(sig), digest, ec.ECDSA(utils.Prehashed(hashf)))
    assert ok(call("verify", name, alg, digest.hex(), sig.hex()))["valid"] is True
    bad = bytearray(sig)
    bad[5] ^= 1
    assert ok(call("verify", name, alg, digest.hex(), bad.hex()))["valid"] is False


@pytest.mark.parametrize("alg,pad,hashf", [
    ("RS256", "pkcs1", hashes.SHA256()), ("PS384", "pss", hashes.SHA384()),
    ("RS512", "pkcs1", hashes.SHA512())])
def test_rsa_sign_verified_by_openssl(call, alg, pad, hashf):
    k = ok(call("get", "rsa-2048"))["key"]
    pub = rsa.RSAPublicNumbers(int(k["e"], 16), int(k["n"], 16)).public_key()
    h = hashes.Hash(hashf)
    h.update(b"rsa message")
    digest = h.finalize()
    sig = bytes.fromhex(ok(call("sign", "rsa-2048", alg, digest.hex(), "version=" + k["version"]))["value"])
    p = padding.PKCS1v15() if pad == "pkcs1" else padding.PSS(
        mgf=padding.MGF1(hashf), salt_length=hashf.digest_size)
    pub.verify(sig, digest, p, utils.Prehashed(hashf))


def test_bad_digest_and_algorithm(call):
    r = fails(call("sign", "ec-p256", "ES256", "00" * 31), "HSM_E_INVALID")
    assert r["http"] == 400
    r = fails(call("sign", "ec-p256", "RS256", "00" * 32), "HSM_E_UNSUPPORTED")
    assert r["http"] == 400 and r["inner"] == "UnsupportedAlgorithm"


def test_rsa_encrypt_decrypt_wrap(call):
    k = ok(call("get", "rsa-2048"))["key"]
    pub = rsa.RSAPublicNumbers(int(k["e"], 16), int(k["n"], 16)).public_key()
    pt = os.urandom(48)
    # Encrypted here by OpenSSL, decrypted by the HSM.
    ct = pub.encrypt(pt, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                      algorithm=hashes.SHA256(), label=None))
    assert bytes.fromhex(ok(call("decrypt", "rsa-2048", "RSA-OAEP-256", ct.hex()))["value"]) == pt
    ct2 = ok(call("encrypt", "rsa-2048", "RSA-OAEP", pt.hex()))["value"]
    assert len(ct2) == 512
    assert bytes.fromhex(ok(call("decrypt", "rsa-2048", "RSA-OAEP", ct2))["value"]) == pt
    w = ok(call("wrap", "rsa-2048", "RSA-OAEP-256", pt[:32].hex()))["value"]
    assert bytes.fromhex(ok(call("unwrap", "rsa-2048", "RSA-OAEP-256", w))["value"]) == pt[:32]


def test_imported_keys_judged_locally(call, tmp_path):
    # RSA: import a key we know, let the HSM decrypt what OpenSSL encrypted
    # and check its signatures with the local key.
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pn = priv.private_numbers()

    def i2b(i):
        return b64u(i.to_bytes((i.bit_length() + 7) // 8, "big"))
    jwk = {"kty": "RSA-HSM", "n": i2b(pn.public_numbers.n), "e": i2b(pn.public_numbers.e),
           "d": i2b(pn.d), "p": i2b(pn.p), "q": i2b(pn.q), "dp": i2b(pn.dmp1),
           "dq": i2b(pn.dmq1), "qi": i2b(pn.iqmp)}
    f = tmp_path / "rsa.jwk"
    f.write_text(json.dumps(jwk))
    n = uniq("imp")
    k = ok(call("import", n, f, "ops=sign,verify,wrapKey,unwrapKey,encrypt,decrypt"))["key"]
    assert int(k["n"], 16) == pn.public_numbers.n
    w = bytes.fromhex(ok(call("wrap", n, "RSA-OAEP", (b"k" * 32).hex()))["value"])
    assert priv.decrypt(w, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                        algorithm=hashes.SHA1(), label=None)) == b"k" * 32
    # oct: AES-GCM and AES-KW results opened with the known key.
    key = os.urandom(32)
    f2 = tmp_path / "oct.jwk"
    f2.write_text(json.dumps({"kty": "oct-HSM", "k": b64u(key)}))
    o = uniq("aes")
    ok(call("import", o, f2, "ops=encrypt,decrypt,wrapKey,unwrapKey"))
    pt = os.urandom(100)
    aad = b"header"
    r = ok(call("encrypt", o, "A256GCM", pt.hex(), "aad=" + aad.hex()))
    iv, tag, ct = (bytes.fromhex(r[x]) for x in ("iv", "tag", "value"))
    assert len(iv) == 12 and len(tag) == 16 and len(ct) == 100
    assert AESGCM(key).decrypt(iv, ct + tag, aad) == pt
    back = ok(call("decrypt", o, "A256GCM", ct.hex(), "iv=" + iv.hex(), "tag=" + tag.hex(),
                   "aad=" + aad.hex()))
    assert bytes.fromhex(back["value"]) == pt
    cek = os.urandom(32)
    w = bytes.fromhex(ok(call("wrap", o, "A256KW", cek.hex()))["value"])
    assert len(w) == 40 and aes_key_unwrap(key, w) == cek
    assert bytes.fromhex(ok(call("unwrap", o, "A256KW", w.hex()))["value"]) == cek
    civ = os.urandom(16)
    r = ok(call("encrypt", o, "A256CBCPAD", pt.hex(), "iv=" + civ.hex()))
    assert bytes.fromhex(r["iv"]) == civ and len(r["value"]) == 2 * 112
    assert bytes.fromhex(ok(call("decrypt", o, "A256CBCPAD", r["value"], "iv=" + civ.hex()))["value"]) == pt


def test_import_refuses_non_json(call, tmp_path):
    f = tmp_path / "bad.jwk"
    f.write_text("not json")
    fails(call("import", uniq("x"), f), "HSM_E_INVALID")


def test_random_split_into_128_byte_calls(call, emulator):
    emulator.reset_stats()
    r = ok(call("random", 300))
    v = bytes.fromhex(r["value"])
    assert len(v) == 300 and len(set(v)) > 100
    assert emulator.op_count("rng") == 3


def test_errors_before_any_request(call, emulator):
    emulator.reset_stats()
    fails(call("get", "bad_name"), "HSM_E_INVALID")
    fails(call("get", "a" * 128), "HSM_E_INVALID")
    fails(call("get", "ec-p256", "../../x"), "HSM_E_INVALID")
    s = emulator.stats()
    assert s.get("total", 0) == 0 and s.get("challenges", 0) == 0 and s.get("tokens", 0) == 0, s


def test_not_found_detail(call):
    r = fails(call("get", "no-such-key-here"), "HSM_E_NOT_FOUND")
    assert r["http"] == 404 and r["code"] == "KeyNotFound" and "no-such-key-here" in r["message"]
    assert len(ok_cid(r)) == 36


def ok_cid(r):
    return r["client_request_id"]


def test_reader_role_is_forbidden(emulator_factory, tmp_path):
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"clients": [{"client_id": "reader-app", "secret": "s3",
                                            "role": "reader"}]}))
    emu = emulator_factory(demo_keys=False, identities=str(ids))
    env = emu.env(client_id="reader-app", secret="s3")
    ok(hsm_call(emu, "list", env=env))
    r = fails(hsm_call(emu, "create", "x", "EC", env=env), "HSM_E_FORBIDDEN")
    assert r["http"] == 403 and r["code"] == "AccessDenied"


def test_plain_http_only_with_allow_http(emulator_factory):
    emu = emulator_factory(demo_keys=False, plain_http=True)
    ok(hsm_call(emu, "list", env=emu.env()))
    cmd_env = emu.env()
    import subprocess
    p = subprocess.run([hsmtest.bin_path("tests/client/hsm-call"), "--url", emu.url, "list"],
                       env=cmd_env, capture_output=True)
    assert p.returncode == 97 and b"allow_http" in p.stderr
