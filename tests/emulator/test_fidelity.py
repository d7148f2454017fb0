"""Fidelity of hsm-emulator's keys data plane, judged by independent parties:

* the Azure SDK for Python (KeyClient, CryptographyClient) drives every
  endpoint and algorithm;
* the `openssl` command verifies every signature the emulator makes and
  encrypts data the emulator must decrypt;
* the `cryptography` module checks AES results for imported keys;
* the recordings of the real service (shared/reference/recordings) give the
  JSON shapes: same members and JSON types, recursively, values ignored.

Every check runs against both flavours of the emulator: a Managed HSM and a
Key Vault vault (--flavor vault); those of what only a Managed HSM has (oct
keys, random bytes) are marked mhsm_only and not run against the vault,
whose own refusals are checked at the end.
"""
import base64
import glob
import hashlib
import json
import os
import re
import subprocess
import uuid

import pytest

import hsmtest

from azure.core.exceptions import (HttpResponseError, ResourceExistsError,
                                   ResourceNotFoundError)
from azure.keyvault.keys import (JsonWebKey, KeyRotationLifetimeAction,
                                 KeyRotationPolicy, KeyRotationPolicyAction)
from azure.keyvault.keys.crypto import EncryptionAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

RECORDINGS = os.environ.get(
    "HSMFS_RECORDINGS", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recordings"))


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture(scope="module", params=["mhsm", "vault"])
def emulator(request):
    """This module's emulator, once per flavour (overrides the session one)."""
    emu = hsmtest.Emulator(demo_keys=True, flavor=request.param)
    try:
        yield emu
    finally:
        emu.close()


def kty(emulator, base):
    """The kty the service gives a key asked for as base ("RSA", "EC"):
    Managed HSM protects every key by HSM; a vault makes a software key."""
    return base if emulator.flavor == "vault" else base + "-HSM"


@pytest.fixture(scope="module")
def sdk(emulator):
    return hsmtest.sdk_clients(emulator)


@pytest.fixture(scope="module")
def token(emulator):
    return emulator.token()


# -- independent judges ------------------------------------------------------

def public_pem(jwk, tmp_path):
    """SPKI PEM from the JWK the emulator returned, via `cryptography`."""
    if jwk.kty.startswith("RSA"):
        pub = rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"),
                                   int.from_bytes(jwk.n, "big")).public_key()
    else:
        curve = {"P-256": ec.SECP256R1(), "P-256K": ec.SECP256K1(),
                 "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[jwk.crv]
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"),
                                            int.from_bytes(jwk.y, "big"),
                                            curve).public_key()
    path = tmp_path / ("pub-%s.pem" % uuid.uuid4().hex[:8])
    path.write_bytes(pub.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(path)


def openssl_verify(pem, alg, digest, sig, tmp_path):
    """Verify a service-format signature with `openssl pkeyutl`."""
    md = "sha" + re.sub(r"\D", "", alg)[:3]
    if alg.startswith("ES"):
        half = len(sig) // 2
        sig = encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                   int.from_bytes(sig[half:], "big"))
    d = tmp_path / "digest.bin"
    s = tmp_path / "sig.bin"
    d.write_bytes(digest)
    s.write_bytes(sig)
    cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem,
           "-in", str(d), "-sigfile", str(s), "-pkeyopt", "digest:" + md]
    if alg.startswith("PS"):
        cmd += ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def openssl_encrypt(pem, alg, data, tmp_path):
    inp = tmp_path / "plain.bin"
    inp.write_bytes(data)
    cmd = ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", str(inp)]
    if alg == "RSA1_5":
        cmd += ["-pkeyopt", "rsa_padding_mode:pkcs1"]
    elif alg == "RSA-OAEP":
        cmd += ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1"]
    else:
        cmd += ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                "-pkeyopt", "rsa_mgf1_md:sha256"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


# -- shapes against the recordings -------------------------------------------

def load_recording(fragment):
    paths = glob.glob(os.path.join(RECORDINGS, "*%s*" % fragment))
    assert len(paths) == 1, "recording %s not found in %s" % (fragment, RECORDINGS)
    with open(paths[0], encoding="utf-8") as f:
        return json.load(f)["Entries"]


def recorded(fragment, method, path_re, status=200, pick=None):
    """Response body of the first matching entry (pick: predicate on it)."""
    for e in load_recording(fragment):
        path = e["RequestUri"].split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if (e["RequestMethod"] == method and re.fullmatch(path_re, "/" + path) and
                e["StatusCode"] == status and (pick is None or pick(e))):
            return e["ResponseBody"]
    raise AssertionError("no %s %s -> %d in %s" % (method, path_re, status, fragment))


def jtype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return type(v).__name__


def shape_diff(ours, theirs, where="$"):
    """Differences of members and JSON types; values are ignored."""
    if jtype(ours) != jtype(theirs):
        return ["%s: %s vs recorded %s" % (where, jtype(ours), jtype(theirs))]
    out = []
    if isinstance(ours, dict):
        for k in sorted(set(ours) | set(theirs)):
            if k not in ours:
                out.append("%s.%s missing" % (where, k))
            elif k not in theirs:
                out.append("%s.%s not in the recording" % (where, k))
            else:
                out += shape_diff(ours[k], theirs[k], where + "." + k)
    elif isinstance(ours, list) and ours and theirs:
        for i, item in enumerate(ours):
            out += shape_diff(item, theirs[min(i, len(theirs) - 1)], "%s[%d]" % (where, i))
    return out


def assert_shape(ours, theirs):
    diff = shape_diff(ours, theirs)
    assert not diff, "shape differs from the service:\n" + "\n".join(diff)


def api(emu, token, method, path, body=None):
    sep = "&" if "?" in path else "?"
    return emu.request(method, path + sep + "api-version=7.4", body, token=token)


def kid_version(kid):
    return kid.rstrip("/").rsplit("/", 1)[1]


# -- the SDK: keys ------------------------------------------------------------

RSA_OPS = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
EC_OPS = {"sign", "verify", "deriveKey"}
OCT_OPS = {"deriveKey", "wrapKey", "verify", "sign", "unwrapKey", "encrypt", "decrypt"}


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_create_rsa(sdk, emulator, size):
    kc, _ = sdk
    k = kc.create_rsa_key(uniq("rsa"), size=size)
    assert k.key_type == kty(emulator, "RSA")
    assert len(k.key.n) * 8 == size and k.key.e == b"\x01\x00\x01"
    assert set(k.key_operations) == RSA_OPS
    assert re.fullmatch(r"[0-9a-f]{32}", k.properties.version)
    assert k.properties.recoverable_days == 7
    assert k.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    assert k.properties.exportable is False


def test_create_rsa_public_exponent(sdk):
    kc, _ = sdk
    k = kc.create_rsa_key(uniq("rsa-e"), size=2048, public_exponent=17)
    assert k.key.e == b"\x11"


@pytest.mark.parametrize("crv,coord", [("P-256", 32), ("P-256K", 32), ("P-384", 48), ("P-521", 66)])
def test_create_ec(sdk, emulator, crv, coord):
    kc, _ = sdk
    k = kc.create_ec_key(uniq("ec"), curve=crv)
    assert k.key_type == kty(emulator, "EC") and k.key.crv == crv
    assert len(k.key.x) == coord and len(k.key.y) == coord
    assert set(k.key_operations) == EC_OPS


@pytest.mark.mhsm_only
@pytest.mark.parametrize("size", [128, 192, 256])
def test_create_oct(sdk, size):
    kc, _ = sdk
    k = kc.create_oct_key(uniq("oct"), size=size, hardware_protected=True)
    assert k.key_type == "oct-HSM"
    assert set(k.key_operations) == OCT_OPS
    assert k.key.k is None


@pytest.mark.mhsm_only
def test_oct_key_size_on_the_wire(emulator, token):
    name = uniq("octsz")
    st, _, body = api(emulator, token, "POST", "/keys/%s/create" % name,
                      {"kty": "oct", "key_size": 192})
    assert st == 200 and body["attributes"]["key_size"] == 192 and "k" not in body["key"]


def test_import_rsa_sign_with_sdk(sdk, emulator, tmp_path):
    kc, crypto = sdk
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv.private_numbers()
    pub = n.public_numbers

    def be(i):
        return i.to_bytes((i.bit_length() + 7) // 8, "big")
    jwk = JsonWebKey(kty="RSA", n=b"\x00" + be(pub.n), e=be(pub.e), d=be(n.d), p=be(n.p),
                     q=be(n.q), dp=be(n.dmp1), dq=be(n.dmq1), qi=be(n.iqmp),
                     key_ops=["sign", "verify", "decrypt", "encrypt"])
    k = kc.import_key(uniq("imp-rsa"), jwk)
    assert k.key_type == kty(emulator, "RSA")
    assert k.key.n == be(pub.n), "leading zero byte stripped as the service does"
    assert set(k.key_operations) == {"sign", "verify", "decrypt", "encrypt"}
    digest = hashlib.sha256(b"imported").digest()
    sig = crypto(k).sign(SignatureAlgorithm.rs256, digest).signature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils
    priv.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert openssl_verify(public_pem(k.key, tmp_path), "RS256", digest, sig, tmp_path)


def test_import_ec(sdk, tmp_path):
    kc, crypto = sdk
    priv = ec.generate_private_key(ec.SECP384R1())
    nums = priv.private_numbers()
    jwk = JsonWebKey(kty="EC-HSM", crv="P-384", d=nums.private_value.to_bytes(48, "big"),
                     x=nums.public_numbers.x.to_bytes(48, "big"),
                     y=nums.public_numbers.y.to_bytes(48, "big"))
    k = kc.import_key(uniq("imp-ec"), jwk)
    assert k.key_type == "EC-HSM" and k.key.crv == "P-384"
    assert int.from_bytes(k.key.x, "big") == nums.public_numbers.x
    digest = hashlib.sha384(b"ec").digest()
    sig = crypto(k).sign(SignatureAlgorithm.es384, digest).signature
    assert openssl_verify(public_pem(k.key, tmp_path), "ES384", digest, sig, tmp_path)


@pytest.mark.mhsm_only
def test_import_oct_aes_against_cryptography(sdk):
    """Encrypt on the emulator, decrypt with `cryptography` (and back)."""
    kc, crypto = sdk
    key = os.urandom(32)
    k = kc.import_key(uniq("imp-oct"), JsonWebKey(kty="oct-HSM", k=key,
                                                   key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey"]))
    assert k.key_type == "oct-HSM"
    cc = crypto(k)
    plain = os.urandom(200)
    r = cc.encrypt(EncryptionAlgorithm.a256_gcm, plain, additional_authenticated_data=b"test")
    assert len(r.iv) == 12 and len(r.tag) == 16
    assert AESGCM(key).decrypt(r.iv, r.ciphertext + r.tag, b"test") == plain
    iv = os.urandom(12)
    ct = AESGCM(key).encrypt(iv, plain, b"aad2")
    d = cc.decrypt(EncryptionAlgorithm.a256_gcm, ct[:-16], iv=iv, authentication_tag=ct[-16:],
                   additional_authenticated_data=b"aad2")
    assert d.plaintext == plain
    # A plain string: with the enum, SDK 4.8 "wraps" locally with a key it
    # does not have (k is never returned) and never asks the emulator.
    w = cc.wrap_key("A256KW", key[:16] * 2)
    assert w.encrypted_key == aes_key_wrap(key, key[:16] * 2)


def test_get_update_versions(sdk):
    kc, _ = sdk
    name = uniq("crud")
    first = kc.create_ec_key(name, tags={"purpose": "unit test", "test name ": "x"})
    second = kc.create_ec_key(name)
    assert kc.get_key(name).id == second.id
    assert kc.get_key(name, first.properties.version).id == first.id
    assert kc.get_key(name.upper(), first.properties.version).id == first.id
    assert first.properties.tags == {"purpose": "unit test", "test name ": "x"}
    u = kc.update_key_properties(name, key_operations=["sign"], tags={"foo": "bar"},
                                 expires_on=None, enabled=True)
    assert set(u.key_operations) == {"sign"} and u.properties.tags == {"foo": "bar"}
    assert u.properties.created_on == second.properties.created_on
    versions = {p.version for p in kc.list_properties_of_key_versions(name)}
    assert versions == {first.properties.version, second.properties.version}


def test_list_paging_private(emulator_factory):
    emu = emulator_factory(demo_keys=False)
    kc, _ = hsmtest.sdk_clients(emu)
    names = {"page-%02d" % i for i in range(27)}
    for n in names:
        kc.create_oct_key(n, size=128, hardware_protected=True)
    emu.reset_stats()
    listed = [p.name for p in kc.list_properties_of_keys(max_page_size=5)]
    assert sorted(listed) == sorted(names)
    assert emu.op_count("list") == 6, "27 keys in pages of 5 take 6 requests"
    emu.reset_stats()
    assert len(list(kc.list_properties_of_keys())) == 27
    assert emu.op_count("list") == 2, "default page size is 25"
    for i in range(8):
        kc.create_ec_key("many-versions")
    assert len(list(kc.list_properties_of_key_versions("many-versions", max_page_size=3))) == 8
    for n in list(names)[:4]:
        kc.begin_delete_key(n).result()
    assert len(list(kc.list_deleted_keys(max_page_size=3))) == 4


def test_delete_recover_purge(sdk):
    kc, _ = sdk
    name = uniq("del")
    kc.create_rsa_key(name)
    d = kc.begin_delete_key(name).result()
    assert d.recovery_id.endswith("/deletedkeys/" + name)
    assert (d.scheduled_purge_date - d.deleted_date).total_seconds() == 7 * 86400
    with pytest.raises(ResourceNotFoundError):
        kc.get_key(name)
    assert kc.get_deleted_key(name).name == name
    assert name in {k.name for k in kc.list_deleted_keys()}
    with pytest.raises(ResourceExistsError):
        kc.create_rsa_key(name)
    kc.begin_recover_deleted_key(name).result()
    assert kc.get_key(name).name == name
    kc.begin_delete_key(name).result()
    kc.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        kc.get_deleted_key(name)


def test_backup_restore(sdk):
    kc, crypto = sdk
    name = uniq("bak")
    k = kc.create_ec_key(name, curve="P-256")
    blob = kc.backup_key(name)
    jwe = blob.decode()     # the SDK has already undone the outer base64url
    header = json.loads(unb64u(jwe.split(".")[0]))
    assert header == {"alg": "dir", "enc": "A256CBC-HS512", "kid": "backup-protection-key"}
    with pytest.raises(ResourceExistsError):
        kc.restore_key_backup(blob)
    kc.begin_delete_key(name).result()
    kc.purge_deleted_key(name)
    r = kc.restore_key_backup(blob)
    assert r.id == k.id and r.key.x == k.key.x
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(HttpResponseError) as ei:
        kc.restore_key_backup(bytes(bad))
    assert ei.value.status_code == 400


def test_rotation(sdk):
    kc, _ = sdk
    name = uniq("rot")
    kc.create_rsa_key(name)
    with pytest.raises(HttpResponseError) as ei:
        kc.rotate_key(name)
    assert ei.value.status_code == 400
    pol = KeyRotationPolicy(expires_in="P1Y", lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P6M")])
    got = kc.update_key_rotation_policy(name, pol)
    assert got.id == "keys/%s/rotationpolicy" % name
    assert got.expires_in == "P1Y"
    assert got.lifetime_actions[0].action == "rotate"
    assert kc.get_key_rotation_policy(name).lifetime_actions[0].time_after_create == "P6M"
    r = kc.rotate_key(name)
    assert (r.properties.expires_on - r.properties.created_on).total_seconds() == 365 * 86400
    assert len(list(kc.list_properties_of_key_versions(name))) == 2
    with pytest.raises(HttpResponseError):
        kc.update_key_rotation_policy(name, KeyRotationPolicy(lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_before_expiry="P30D")]))


@pytest.mark.mhsm_only
def test_random_bytes(sdk):
    kc, _ = sdk
    a = kc.get_random_bytes(32)
    b = kc.get_random_bytes(32)
    assert len(a) == 32 and a != b
    assert len(kc.get_random_bytes(128)) == 128
    with pytest.raises(HttpResponseError):
        kc.get_random_bytes(129)


# -- the SDK: cryptography ----------------------------------------------------

SIGN_CASES = [
    ("ec-p256", "ES256", hashlib.sha256), ("ec-p256k", "ES256K", hashlib.sha256),
    ("ec-p384", "ES384", hashlib.sha384), ("ec-p521", "ES512", hashlib.sha512),
] + [(k, a, h) for k in ("rsa-2048", "rsa-3072", "rsa-4096")
     for a, h in (("RS256", hashlib.sha256), ("RS384", hashlib.sha384),
                  ("RS512", hashlib.sha512), ("PS256", hashlib.sha256),
                  ("PS384", hashlib.sha384), ("PS512", hashlib.sha512))]


@pytest.mark.parametrize("key,alg,h", SIGN_CASES)
def test_sign_verified_by_openssl(sdk, emulator, token, tmp_path, key, alg, h):
    kc, crypto = sdk
    k = kc.get_key(key)
    digest = h(b"hsmfs fidelity " + alg.encode()).digest()
    cc = crypto(k)
    r = cc.sign(alg, digest)
    assert r.algorithm == alg and r.key_id == k.id
    if alg.startswith("ES"):
        assert len(r.signature) == 2 * len(k.key.x)
    else:
        assert len(r.signature) == len(k.key.n)
    assert openssl_verify(public_pem(k.key, tmp_path), alg, digest, r.signature, tmp_path)
    assert cc.verify(alg, digest, r.signature).is_valid
    # and the emulator's own verify endpoint
    st, _, body = api(emulator, token, "POST", "/keys/%s/verify" % key,
                      {"alg": alg, "digest": b64u(digest), "value": b64u(r.signature)})
    assert st == 200 and body["value"] is True
    st, _, body = api(emulator, token, "POST", "/keys/%s/verify" % key,
                      {"alg": alg, "digest": b64u(h(b"other").digest()), "value": b64u(r.signature)})
    assert st == 200 and body["value"] is False


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"])
@pytest.mark.parametrize("key", ["rsa-2048", "rsa-3072", "rsa-4096"])
def test_rsa_openssl_encrypt_emulator_decrypt(sdk, tmp_path, key, alg):
    kc, crypto = sdk
    k = kc.get_key(key)
    plain = os.urandom(100)
    ct = openssl_encrypt(public_pem(k.key, tmp_path), alg, plain, tmp_path)
    cc = crypto(k)
    assert cc.decrypt(alg, ct).plaintext == plain
    assert cc.unwrap_key(alg, ct).key == plain
    # SDK-side encrypt/wrap (local with the public key) round trips too
    assert cc.decrypt(alg, cc.encrypt(alg, plain).ciphertext).plaintext == plain
    assert cc.unwrap_key(alg, cc.wrap_key(alg, plain).encrypted_key).key == plain


@pytest.mark.mhsm_only
@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_all_modes(sdk, bits):
    kc, crypto = sdk
    cc = crypto(kc.get_key("aes-%d" % bits))
    plain = os.urandom(200)
    gcm = "A%dGCM" % bits
    r = cc.encrypt(gcm, plain, additional_authenticated_data=b"aad")
    assert len(r.iv) == 12 and len(r.tag) == 16 and len(r.ciphertext) == 200
    assert r.aad == b"aad"
    assert cc.decrypt(gcm, r.ciphertext, iv=r.iv, authentication_tag=r.tag,
                      additional_authenticated_data=b"aad").plaintext == plain
    iv = os.urandom(16)
    cbc = cc.encrypt("A%dCBC" % bits, plain, iv=iv)
    assert len(cbc.ciphertext) == 208 and cbc.iv == iv
    assert cc.decrypt("A%dCBC" % bits, cbc.ciphertext, iv=iv).plaintext == plain + b"\0" * 8
    pad = cc.encrypt("A%dCBCPAD" % bits, plain, iv=iv)
    assert len(pad.ciphertext) == 208 and pad.ciphertext[:192] == cbc.ciphertext[:192]
    assert cc.decrypt("A%dCBCPAD" % bits, pad.ciphertext, iv=iv).plaintext == plain
    kw = "A%dKW" % bits
    cek = os.urandom(32)
    w = cc.wrap_key(kw, cek)
    assert len(w.encrypted_key) == 40
    assert cc.unwrap_key(kw, w.encrypted_key).key == cek


def test_key_ops_and_state_enforced(sdk, emulator, token):
    kc, crypto = sdk
    name = uniq("ops")
    k = kc.create_ec_key(name, key_operations=["verify"])
    st, _, body = api(emulator, token, "POST", "/keys/%s/sign" % name,
                      {"alg": "ES256", "value": b64u(bytes(32))})
    assert st == 403 and body["error"]["innererror"]["code"] == "ForbiddenByPolicy"
    kc.update_key_properties(name, key_operations=["sign"], enabled=False)
    st, _, body = api(emulator, token, "POST", "/keys/%s/sign" % name,
                      {"alg": "ES256", "value": b64u(bytes(32))})
    assert st == 403 and body["error"]["innererror"]["code"] == "KeyDisabled"
    st, _, body = api(emulator, token, "POST", "/keys/%s/%s/sign" % (name, k.properties.version),
                      {"alg": "ES384", "value": b64u(bytes(48))})
    assert st in (400, 403)
    kc.update_key_properties(name, enabled=True)
    st, _, body = api(emulator, token, "POST", "/keys/%s//sign" % name,
                      {"alg": "ES384", "value": b64u(bytes(48))})
    assert st == 400 and body["error"]["innererror"]["code"] == "UnsupportedAlgorithm"
    st, _, body = api(emulator, token, "POST", "/keys/%s/sign" % name,
                      {"alg": "ES256", "value": b64u(b64u(bytes(32)).encode())})
    assert st == 400 and body["error"]["message"] == \
        "Invalid length of 'value': 43 bytes. ES256 requires 32 bytes, encoded with base64url."


# -- SDK wire behaviour: challenge and api-version ------------------------------

@pytest.mark.parametrize("version,expected", [(None, "7.4-preview.1"), ("7.3", "7.3")])
def test_sdk_challenge_and_api_version(emulator_factory, version, expected):
    # A private emulator: the SDK caches challenges per URL for the process.
    emulator = emulator_factory(demo_keys=True)
    seen = []

    def hook(request):
        seen.append((request.http_request.method, request.http_request.url,
                     "Authorization" in request.http_request.headers))
    emulator.reset_stats()
    kc, crypto = hsmtest.sdk_clients(emulator, api_version=version)
    k = kc.get_key("ec-p256", raw_request_hook=hook)
    crypto(k).sign("ES256", bytes(32))
    stats = emulator.stats()
    assert stats["challenges"] == 1, "the SDK's first, unauthenticated request got the 401"
    assert stats["requests"].get("sign") == 1
    assert all("api-version=" + expected in url for _, url, _ in seen)
    assert seen and seen[0][1].startswith(emulator.url + "/keys/ec-p256")


# -- shapes against the recordings ----------------------------------------------

CRUD = "test_key_crud_operations"


def test_shape_create_rsa(emulator, token):
    st, _, ours = api(emulator, token, "POST", "/keys/%s/create" % uniq("shape"), {"kty": "RSA-HSM"})
    assert st == 200
    assert_shape(ours, recorded("test_backup_restore", "POST", r"/keys/[^/]+/create"))


def test_shape_create_ec_with_tags_and_get(emulator, token):
    name = uniq("shape")
    body = {"kty": "EC-HSM", "attributes": {"enabled": True},
            "tags": {"purpose": "unit test", "test name": "CreateECKeyTest"}}
    st, _, ours = api(emulator, token, "POST", "/keys/%s/create" % name, body)
    assert st == 200
    rec = recorded(CRUD, "POST", r"/keys/[^/]+/create", pick=lambda e: "tags" in (e["RequestBody"] or {}))
    assert_shape(ours, rec)
    assert ours["key"]["crv"] == "P-256"
    st, _, got = api(emulator, token, "GET", "/keys/%s/%s" % (name, kid_version(ours["key"]["kid"])))
    assert_shape(got, rec)


@pytest.mark.mhsm_only
def test_shape_import_rsa_and_oct(emulator, token):
    rec = recorded(CRUD, "PUT", r"/keys/[^/]+")
    st, _, ours = api(emulator, token, "PUT", "/keys/%s" % uniq("shape"),
                      load_recording(CRUD)[3]["RequestBody"])
    assert st == 200
    assert_shape(ours, rec)
    assert ours["key"]["n"] == rec["key"]["n"], "leading zero stripped, same modulus"
    sym = "test_symmetric_encrypt_and_decrypt"
    entries = load_recording(sym)
    st, _, ours = api(emulator, token, "PUT", "/keys/%s" % uniq("shape"), entries[1]["RequestBody"])
    assert st == 200
    assert_shape(ours, entries[1]["ResponseBody"])


def test_shape_list(emulator, token):
    st, _, ours = api(emulator, token, "GET", "/keys?maxresults=2")
    assert st == 200 and "nextLink" in ours
    assert "api-version" not in ours["nextLink"]
    assert re.fullmatch(re.escape(emulator.url) + r"/keys\?maxresults=2&\$skiptoken=[^&]+",
                        ours["nextLink"])
    rec = recorded("test_key_list", "GET", r"/keys")
    plain = [i for i in rec["value"] if set(i) == {"attributes", "kid"} and
             "exp" not in i["attributes"] and "nbf" not in i["attributes"]]
    assert_shape({"nextLink": ours["nextLink"], "value": [i for i in ours["value"]]},
                  {"nextLink": rec["nextLink"], "value": plain})
    assert all(i["kid"].count("/") == 4 for i in ours["value"]), "kid without version"


def test_shape_sign_encrypt(emulator, token):
    st, _, ours = api(emulator, token, "POST", "/keys/ec-p256/sign",
                      {"alg": "ES256", "value": b64u(bytes(32))})
    assert st == 200
    assert_shape(ours, recorded("test_ec_verify_local", "POST", r"/keys/[^/]+/[0-9a-f]{32}/sign"))
    st, _, ours = api(emulator, token, "POST", "/keys/rsa-2048/encrypt",
                      {"alg": "RSA-OAEP", "value": b64u(b"5063e6aaa845f150200547944fd199679c98ed6f99da0a0b2dafeaf1f4684496fd532c1c229968cb9dee44957fcef7ccef59ceda0b362e56bcd78fd3faee5781c623c0bb22b35beabde0664fd30e0e824aba3dd1b0afffc4a3d955ede20cf6a854d52cfd")})
    assert st == 200
    assert_shape(ours, recorded("test_encrypt_and_decrypt", "POST", r"/keys/[^/]+/[0-9a-f]{32}/encrypt"))
    # AES: a Managed HSM's only (a vault has no oct keys)
    for alg, pick in (("A256GCM", "A256GCM"), ("A256CBC", "A256CBC")) * (emulator.flavor == "mhsm"):
        body = {"alg": alg, "value": b64u(os.urandom(200)), "aad": "dGVzdA"}
        if alg == "A256CBC":
            body["iv"] = b64u(os.urandom(16))
        st, _, ours = api(emulator, token, "POST", "/keys/aes-256/encrypt", body)
        assert st == 200
        assert_shape(ours, recorded("test_symmetric_encrypt_and_decrypt", "POST",
                                    r"/keys/[^/]+/[0-9a-f]{32}/encrypt",
                                    pick=lambda e, a=pick: e["RequestBody"]["alg"] == a))
    st, _, ours = api(emulator, token, "POST", "/keys/rsa-2048/verify",
                      {"alg": "RS256", "digest": b64u(bytes(32)), "value": b64u(bytes(256))})
    assert st == 200
    assert_shape(ours, recorded("test_sign_and_verify", "POST", r"/keys/[^/]+/[0-9a-f]{32}/verify"))


def test_shape_delete_and_errors(emulator, token):
    name = uniq("shape")
    api(emulator, token, "POST", "/keys/%s/create" % name, {"kty": "RSA-HSM"})
    st, _, ours = api(emulator, token, "DELETE", "/keys/%s" % name)
    assert st == 200
    assert_shape(ours, recorded("test_purge", "DELETE", r"/keys/[^/]+"))
    st, _, got = api(emulator, token, "GET", "/deletedkeys/%s" % name)
    assert_shape(got, recorded("test_purge", "GET", r"/deletedkeys/[^/]+"))
    st, _, lst = api(emulator, token, "GET", "/deletedkeys")
    rec = recorded("test_purge", "GET", r"/deletedkeys")
    mine = [i for i in lst["value"] if i["kid"].endswith("/" + name)]
    assert_shape({"value": mine}, {"value": [i for i in rec["value"] if "tags" not in i
                                              and "exp" not in i["attributes"]]})
    st, hdrs, body = api(emulator, token, "DELETE", "/deletedkeys/%s" % name)
    assert st == 204 and body == b""
    st, _, err = api(emulator, token, "GET", "/deletedkeys/%s" % name)
    rec = recorded("test_purge", "GET", r"/deletedkeys/[^/]+", status=404)
    assert st == 404
    assert_shape(err, rec)
    assert re.fullmatch(r"Key not found: %s/deletedkeys/%s \(Activity ID: [0-9a-f-]{36}\)"
                        % (re.escape(emulator.url), name), err["error"]["message"])


def test_shape_rotation_policy(emulator, token):
    name = uniq("shape")
    api(emulator, token, "POST", "/keys/%s/create" % name, {"kty": "RSA-HSM"})
    rec_entries = load_recording("test_key_rotation_policy")
    st, _, ours = api(emulator, token, "PUT", "/keys/%s/rotationpolicy" % name,
                      rec_entries[2]["RequestBody"])
    assert st == 200
    assert_shape(ours, rec_entries[2]["ResponseBody"])
    assert ours["lifetimeActions"][0]["action"]["type"] == "rotate"
    rot = load_recording("test_key_rotation[")
    st, _, ours = api(emulator, token, "POST", "/keys/%s/rotate" % name)
    assert st == 200
    assert_shape(ours, rot[3]["ResponseBody"])


@pytest.mark.mhsm_only
def test_shape_rng_and_backup(emulator, token):
    st, _, ours = api(emulator, token, "POST", "/rng", {"count": 8})
    assert st == 200
    assert_shape(ours, recorded("test_get_random_bytes", "POST", r"/rng"))
    assert len(unb64u(ours["value"])) == 8
    st, _, ours = api(emulator, token, "POST", "/keys/ec-p384/backup")
    assert st == 200
    assert_shape(ours, recorded("test_backup_restore", "POST", r"/keys/[^/]+/backup"))


# -- a vault: what it refuses, how it authenticates ------------------------------

@pytest.mark.parametrize("make", [
    lambda kc, n: kc.create_oct_key(n, size=256),
    lambda kc, n: kc.create_oct_key(n, size=256, hardware_protected=True),
    lambda kc, n: kc.create_key(n, "oct"),
    lambda kc, n: kc.import_key(n, JsonWebKey(kty="oct", k=os.urandom(32))),
])
@pytest.mark.vault_only
def test_vault_refuses_oct_keys(sdk, emulator, make):
    """The answer a vault gave the .NET and Java SDKs (azure-sdk-for-net
    #13437): 400 BadParameter, innererror KeyTypeNotSupported."""
    kc, _ = sdk
    name = uniq("vault-oct")
    with pytest.raises(HttpResponseError) as e:
        make(kc, name)
    assert e.value.status_code == 400
    err = json.loads(e.value.response.text())["error"]
    assert err["code"] == "BadParameter" and err["innererror"]["code"] == "KeyTypeNotSupported"
    assert re.fullmatch(r"Invalid kty value: oct(-HSM)?", err["message"]), err
    with pytest.raises(ResourceNotFoundError):
        kc.get_key(name)


@pytest.mark.vault_only
def test_vault_has_no_random_bytes(sdk, emulator):
    kc, _ = sdk
    with pytest.raises(HttpResponseError) as e:
        kc.get_random_bytes(16)
    assert e.value.status_code == 400
    assert emulator.stats()["requests"].get("rng") >= 1


@pytest.mark.vault_only
def test_vault_software_and_hsm_keys(sdk, emulator, tmp_path):
    kc, crypto = sdk
    soft = kc.create_rsa_key(uniq("v-soft"), size=2048)
    hard = kc.create_rsa_key(uniq("v-hard"), size=2048, hardware_protected=True)
    ech = kc.create_ec_key(uniq("v-ech"), curve="P-256", hardware_protected=True)
    assert (soft.key_type, hard.key_type, ech.key_type) == ("RSA", "RSA-HSM", "EC-HSM")
    # kids name the vault's own base URL, as the service names its host
    assert soft.id.startswith(emulator.url + "/keys/")
    # protection survives a rotation and a restart
    kc.update_key_rotation_policy(hard.name, KeyRotationPolicy(
        expires_in="P90D", lifetime_actions=[KeyRotationLifetimeAction(
            KeyRotationPolicyAction.rotate, time_after_create="P30D")]))
    assert kc.rotate_key(hard.name).key_type == "RSA-HSM"
    emulator.restart()
    assert kc.get_key(soft.name).key_type == "RSA"
    assert kc.get_key(hard.name).key_type == "RSA-HSM"
    digest = hashlib.sha256(b"vault").digest()
    for k, alg in ((soft, "RS256"), (ech, "ES256")):
        sig = crypto(kc.get_key(k.name)).sign(alg, digest).signature
        assert openssl_verify(public_pem(kc.get_key(k.name).key, tmp_path), alg, digest, sig, tmp_path)


@pytest.mark.vault_only
def test_vault_challenge_and_audience(emulator):
    """A vault's challenge names https://vault.azure.net [rec-vault]; its
    data plane takes tokens for that audience only."""
    st, hdrs, body = emulator.request("GET", "/keys?api-version=7.5")
    assert st == 401 and body["error"]["message"] == "Request is missing a Bearer or PoP token."
    assert hdrs["WWW-Authenticate"] == (
        'Bearer authorization="https://login.windows.net/%s", resource="https://vault.azure.net"'
        % hsmtest.TENANT)
    mhsm_token = emulator.token(scope=hsmtest.SCOPE)
    st, _, _ = emulator.request("GET", "/keys?api-version=7.5", token=mhsm_token)
    assert st == 401
    st, _, _ = emulator.request("GET", "/keys?api-version=7.5", token=emulator.token())
    assert st == 200
