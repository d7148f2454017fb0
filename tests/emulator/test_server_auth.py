"""hsm-emulator HTTP side: the 401 challenge, token endpoints for every
credential type, token validation, roles and the api-version whitelist.

Independent judges: JWT signatures are checked with python-cryptography
against the JWK set, client assertions are signed by the openssl command.
"""
import hashlib
import json
import re
import time
import urllib.parse

import pytest

import hsmtest
from server_util import (CHALLENGE, FORM_HDR, JWT_BEARER, TENANT, assertion,
                         b64url, b64url_decode, form, fresh_emulator, jwt_parts,
                         make_cert, token_request)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SCOPE = hsmtest.SCOPE


@pytest.fixture(scope="module")
def ids_env(tmp_path_factory):
    """An emulator with an identities file covering every credential type."""
    d = tmp_path_factory.mktemp("ids")
    key, cert, der = make_cert(str(d), "cert-app")
    other_key, _, _ = make_cert(str(d), "other")
    ids = {
        "clients": [
            {"client_id": "reader-app", "secret": "s3", "role": "reader"},
            {"client_id": "user-app", "secret": "s4", "role": "user"},
            {"client_id": "none-app", "secret": "s5", "role": "none"},
            {"client_id": "cert-app", "certificate": cert, "role": "officer"},
            {"client_id": "wl-app", "federated_subject": "system:serviceaccount:ns:sa",
             "role": "user"},
        ],
        "managed_identities": [{"client_id": "mi-2", "role": "user"}],
        "identity_header": "other-header-value",
    }
    path = d / "identities.json"
    path.write_text(json.dumps(ids))
    emu = fresh_emulator(identities=str(path))
    try:
        yield {"emu": emu, "key": key, "der": der, "other_key": other_key}
    finally:
        emu.stop()
        emu.close()


def get_key(emu, token, name="ec-p256", version="7.5"):
    return emu.request("GET", f"/keys/{name}?api-version={version}", token=token)


def sign(emu, token, name="ec-p256"):
    value = b64url(hashlib.sha256(b"x").digest())
    return emu.request("POST", f"/keys/{name}/sign?api-version=7.5",
                       {"alg": "ES256", "value": value}, token=token)


def jwks_verify(emu, token):
    """Check a token's RS256 signature with the published JWK set."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    st, _, jwks = emu.request("GET", f"/{TENANT}/discovery/v2.0/keys")
    assert st == 200
    hdr, _, sig = jwt_parts(token)
    (k,) = [k for k in jwks["keys"] if k["kid"] == hdr["kid"]]
    pub = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(k["e"]), "big"),
                               int.from_bytes(b64url_decode(k["n"]), "big")).public_key()
    signing_input = token.rsplit(".", 1)[0].encode()
    pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())  # raises if bad


# -- the challenge -----------------------------------------------------------

@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer not-a-jwt", "Basic abc",
                                  "Bearer a.b.c"])
def test_challenge_shape(emulator, auth):
    hdrs = {"Authorization": auth} if auth else {}
    st, h, body = emulator.request("GET", "/keys/ec-p256?api-version=7.5",
                                   headers=hdrs, raw=True)
    assert st == 401
    assert body == b""
    assert h["Content-Length"] == "0"
    assert h["WWW-Authenticate"] == CHALLENGE
    assert h["Content-Type"] == "application/json; charset=utf-8"


def test_challenge_before_api_version_and_routing(emulator):
    for path in ("/keys/ec-p256?api-version=0.1", "/keys/ec-p256", "/rng?api-version=7.5",
                 "//rng?api-version=7.5", "/deletedkeys?api-version=7.5"):
        st, h, body = emulator.request("POST" if "rng" in path else "GET", path, raw=True)
        assert (st, body) == (401, b""), path
        assert h["WWW-Authenticate"] == CHALLENGE


def test_challenge_counted(emulator):
    before = emulator.stats()["challenges"]
    emulator.request("GET", "/keys?api-version=7.5")
    emulator.request("GET", "/keys?api-version=7.5")
    assert emulator.stats()["challenges"] == before + 2


def test_mhsm_response_headers(emulator):
    st, h, _ = get_key(emulator, emulator.token())
    assert st == 200
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert h["Cache-Control"] == "no-cache"
    assert UUID.match(h["x-ms-request-id"])
    assert int(h["x-ms-server-latency"]) >= 0
    assert h["x-ms-keyvault-region"]
    assert h["x-ms-build-version"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Strict-Transport-Security"].startswith("max-age=")
    # A fresh request id per response.
    _, h2, _ = get_key(emulator, emulator.token())
    assert h2["x-ms-request-id"] != h["x-ms-request-id"]


# -- client secret ------------------------------------------------------------

def test_secret_token_claims_and_signature(emulator):
    before = emulator.stats()["tokens"]
    st, body = token_request(emulator, grant_type="client_credentials",
                             client_id="hsmfs-local", client_secret="local-secret",
                             scope=SCOPE)
    assert st == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and body["ext_expires_in"] == 3600
    tok = body["access_token"]
    hdr, claims, _ = jwt_parts(tok)
    assert hdr["alg"] == "RS256"
    assert claims["aud"] == "https://managedhsm.azure.net"
    assert claims["iss"] == f"{emulator.url}/{TENANT}/v2.0"
    assert claims["tid"] == TENANT
    assert claims["appid"] == "hsmfs-local"
    assert UUID.match(claims["oid"]) and claims["sub"] == claims["oid"]
    now = time.time()
    assert abs(claims["iat"] - now) < 60 and claims["nbf"] <= now + 1
    assert claims["exp"] - claims["iat"] == 3600
    jwks_verify(emulator, tok)
    assert emulator.stats()["tokens"] == before + 1
    assert get_key(emulator, tok)[0] == 200


def test_token_response_headers(emulator):
    st, h, _ = emulator.request("POST", f"/{TENANT}/oauth2/v2.0/token",
                                form(grant_type="client_credentials", client_id="hsmfs-local",
                                     client_secret="local-secret", scope=SCOPE),
                                headers=FORM_HDR)
    assert st == 200
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert "no-store" in h["Cache-Control"]


def test_bad_secret_invalid_client(emulator):
    st, body = token_request(emulator, grant_type="client_credentials",
                             client_id="hsmfs-local", client_secret="wrong", scope=SCOPE)
    assert st == 401
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: ")
    assert "wrong" not in json.dumps(body)      # never echo the secret


@pytest.mark.parametrize("fields,status,error", [
    ({"client_id": "hsmfs-local", "client_secret": "local-secret", "scope": SCOPE},
     400, "invalid_request"),                                    # no grant_type
    ({"grant_type": "password", "client_id": "hsmfs-local",
      "client_secret": "local-secret", "scope": SCOPE}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_secret": "local-secret",
      "scope": SCOPE}, 400, "invalid_request"),                  # no client_id
    ({"grant_type": "client_credentials", "client_id": "nobody",
      "client_secret": "x", "scope": SCOPE}, 400, "unauthorized_client"),
    ({"grant_type": "client_credentials", "client_id": "hsmfs-local",
      "client_secret": "local-secret", "scope": "https://managedhsm.azure.net"},
     400, "invalid_scope"),
    ({"grant_type": "client_credentials", "client_id": "hsmfs-local",
      "scope": SCOPE}, 401, "invalid_client"),                   # no credential
])
def test_token_request_errors(emulator, fields, status, error):
    st, body = token_request(emulator, **fields)
    assert (st, body["error"]) == (status, error)
    assert re.match(r"^AADSTS\d+: ", body["error_description"])
    assert isinstance(body["error_codes"], list)


def test_unknown_tenant(emulator):
    st, body = token_request(emulator, tenant="11111111-1111-1111-1111-111111111111",
                             grant_type="client_credentials", client_id="hsmfs-local",
                             client_secret="local-secret", scope=SCOPE)
    assert st == 400 and body["error_codes"] == [90002]


def test_token_endpoint_method(emulator):
    st, _, body = emulator.request("GET", f"/{TENANT}/oauth2/v2.0/token")
    assert st == 405 and body["error"]["code"] == "MethodNotAllowed"


def test_wrong_audience_rejected(emulator):
    st, body = token_request(emulator, grant_type="client_credentials",
                             client_id="hsmfs-local", client_secret="local-secret",
                             scope="https://vault.azure.net/.default")
    assert st == 200
    assert jwt_parts(body["access_token"])[1]["aud"] == "https://vault.azure.net"
    st, h, raw = emulator.request("GET", "/keys/ec-p256?api-version=7.5",
                                  token=body["access_token"], raw=True)
    assert (st, raw) == (401, b"")
    assert h["WWW-Authenticate"] == CHALLENGE


def test_tampered_token_rejected(emulator):
    tok = emulator.token()
    h, p, s = tok.split(".")
    claims = json.loads(b64url_decode(p))
    claims["appid"] = "someone-else"
    forged = h + "." + b64url(json.dumps(claims).encode()) + "." + s
    st, _, raw = emulator.request("GET", "/keys/ec-p256?api-version=7.5", token=forged, raw=True)
    assert (st, raw) == (401, b"")
    # Flip one signature bit.
    sig = bytearray(b64url_decode(s))
    sig[10] ^= 1
    bad = h + "." + p + "." + b64url(bytes(sig))
    assert emulator.request("GET", "/keys/ec-p256?api-version=7.5", token=bad)[0] == 401


def test_expired_token(emulator_factory):
    emu = fresh_emulator(emulator_factory)
    emu.faults(token_lifetime=2)
    st, body = token_request(emu, grant_type="client_credentials", client_id="hsmfs-local",
                             client_secret="local-secret", scope=SCOPE)
    assert body["expires_in"] == 2
    tok = body["access_token"]
    # Used while valid (the server may remember it), then after expiry.
    for _ in range(3):
        assert emu.request("GET", "/keys/ec-p256?api-version=7.5", token=tok)[0] == 200
    time.sleep(3.2)
    st, h, payload = emu.request("GET", "/keys/ec-p256?api-version=7.5", token=tok)
    assert st == 401
    assert payload == {"error": {"code": "Unauthorized",
                                 "message": "[TokenExpired] Error validating token: 'S2S12086'."}}
    assert h["WWW-Authenticate"] == CHALLENGE
    emu.clear_faults()
    st, body = token_request(emu, grant_type="client_credentials", client_id="hsmfs-local",
                             client_secret="local-secret", scope=SCOPE)
    assert body["expires_in"] == 3600


# -- certificate assertions --------------------------------------------------

@pytest.mark.parametrize("alg,thumb", [("RS256", "x5t"), ("PS256", "x5t#S256"),
                                       ("RS256", "x5t#S256"), ("PS256", "x5t")])
def test_certificate_assertion(ids_env, alg, thumb):
    emu = ids_env["emu"]
    a = assertion(emu, "cert-app", ids_env["key"], ids_env["der"], alg=alg, thumb=thumb)
    st, body = token_request(emu, grant_type="client_credentials", client_id="cert-app",
                             client_assertion_type=JWT_BEARER, client_assertion=a,
                             scope=SCOPE)
    assert st == 200, body
    claims = jwt_parts(body["access_token"])[1]
    assert claims["appid"] == "cert-app"
    assert get_key(emu, body["access_token"])[0] == 200


@pytest.mark.parametrize("case", ["other_key", "no_thumb", "wrong_thumb", "expired",
                                  "wrong_aud", "wrong_iss", "bad_type"])
def test_certificate_assertion_rejected(ids_env, case):
    emu, key, der = ids_env["emu"], ids_env["key"], ids_env["der"]
    kw = {}
    atype = JWT_BEARER
    if case == "other_key":
        key = ids_env["other_key"]
    elif case == "no_thumb":
        kw["thumb"] = None
    elif case == "wrong_thumb":
        der = der + b"x"
    elif case == "expired":
        kw["exp_delta"] = -10
    elif case == "wrong_aud":
        kw["aud"] = "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT
    elif case == "wrong_iss":
        kw["iss"] = "hsmfs-local"
    elif case == "bad_type":
        atype = "urn:something:else"
    a = assertion(emu, "cert-app", key, der, **kw)
    st, body = token_request(emu, grant_type="client_credentials", client_id="cert-app",
                             client_assertion_type=atype, client_assertion=a, scope=SCOPE)
    assert st in (400, 401), body
    assert body["error"] in ("invalid_client", "invalid_request")
    assert "access_token" not in body


def test_certificate_client_has_no_secret(ids_env):
    st, body = token_request(ids_env["emu"], grant_type="client_credentials",
                             client_id="cert-app", client_secret="guess", scope=SCOPE)
    assert (st, body["error"]) == (401, "invalid_client")


# -- workload identity --------------------------------------------------------

def test_federated_token(ids_env):
    emu = ids_env["emu"]
    fed = emu.admin("GET", "federated-token?sub=" +
                    urllib.parse.quote("system:serviceaccount:ns:sa"))["token"]
    claims = jwt_parts(fed)[1]
    assert claims["sub"] == "system:serviceaccount:ns:sa"
    assert 3500 <= claims["exp"] - time.time() <= 3600
    st, body = token_request(emu, grant_type="client_credentials", client_id="wl-app",
                             client_assertion_type=JWT_BEARER, client_assertion=fed,
                             scope=SCOPE)
    assert st == 200, body
    tok = body["access_token"]
    assert jwt_parts(tok)[1]["appid"] == "wl-app"
    assert get_key(emu, tok)[0] == 200


def test_federated_token_wrong_subject(ids_env):
    emu = ids_env["emu"]
    fed = emu.admin("GET", "federated-token?sub=system:serviceaccount:ns:other")["token"]
    st, body = token_request(emu, grant_type="client_credentials", client_id="wl-app",
                             client_assertion_type=JWT_BEARER, client_assertion=fed,
                             scope=SCOPE)
    assert (st, body["error"]) == (401, "invalid_client")
    # A federated token is not a certificate assertion for another client.
    fed = emu.admin("GET", "federated-token?sub=system:serviceaccount:ns:sa")["token"]
    st, body = token_request(emu, grant_type="client_credentials", client_id="cert-app",
                             client_assertion_type=JWT_BEARER, client_assertion=fed,
                             scope=SCOPE)
    assert (st, body["error"]) == (401, "invalid_client")


def test_federated_token_needs_sub(emulator):
    st, _, body = emulator.request("GET", "/_emulator/federated-token")
    assert st == 400


# -- managed identity: IMDS and App Service -------------------------------

def imds(emu, headers=None, **q):
    q.setdefault("api-version", "2018-02-01")
    q.setdefault("resource", "https://managedhsm.azure.net")
    return emu.request("GET", "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(q),
                       headers=headers)


def test_imds_token(emulator):
    st, h, body = imds(emulator, headers={"Metadata": "true"})
    assert st == 200, body
    for f in ("access_token", "refresh_token", "expires_in", "expires_on", "not_before",
              "resource", "token_type", "client_id"):
        assert isinstance(body[f], str), f
    assert body["expires_in"] == "3600" and body["token_type"] == "Bearer"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3600
    assert body["resource"] == "https://managedhsm.azure.net"
    assert body["client_id"] == "hsmfs-mi"
    assert jwt_parts(body["access_token"])[1]["appid"] == "hsmfs-mi"
    jwks_verify(emulator, body["access_token"])
    assert get_key(emulator, body["access_token"])[0] == 200


@pytest.mark.parametrize("hdrs", [None, {"Metadata": "false"}, {"Metadata": "True "}])
def test_imds_needs_metadata_header(emulator, hdrs):
    st, _, body = imds(emulator, headers=hdrs)
    assert st == 400 and body["error"] == "bad_request_102"


def test_imds_user_assigned(ids_env):
    emu = ids_env["emu"]
    st, _, body = imds(emu, headers={"Metadata": "true"}, client_id="mi-2")
    assert st == 200 and body["client_id"] == "mi-2"
    tok = body["access_token"]
    assert get_key(emu, tok)[0] == 200           # role user: reads
    st, _, err = imds(emu, headers={"Metadata": "true"}, client_id="nope")
    assert st == 400 and err["error"] == "invalid_request"


def test_imds_missing_resource(emulator):
    st, _, body = emulator.request(
        "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01",
        headers={"Metadata": "true"})
    assert st == 400 and body["error"] == "invalid_request"


def appservice(emu, header, **q):
    q.setdefault("api-version", "2019-08-01")
    q.setdefault("resource", "https://managedhsm.azure.net")
    return emu.request("GET", "/msi/token?" + urllib.parse.urlencode(q),
                       headers={"X-IDENTITY-HEADER": header} if header else None)


def test_appservice_token(emulator):
    st, _, body = appservice(emulator, "local-identity-header")
    assert st == 200, body
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert int(body["expires_on"]) > time.time() + 3000
    assert get_key(emulator, body["access_token"])[0] == 200


def test_appservice_wrong_header(emulator):
    st, _, body = appservice(emulator, "wrong-value")
    assert st == 401 and "access_token" not in body
    st, _, body = appservice(emulator, None)
    assert st == 400 and "access_token" not in body


def test_appservice_header_from_identities(ids_env):
    emu = ids_env["emu"]
    assert appservice(emu, "local-identity-header")[0] == 401
    st, _, body = appservice(emu, "other-header-value", client_id="mi-2")
    assert st == 200 and body["client_id"] == "mi-2"


# -- roles --------------------------------------------------------------------

def test_reader_role(ids_env):
    emu = ids_env["emu"]
    tok = emu.token("reader-app", "s3")
    assert get_key(emu, tok)[0] == 200
    assert emu.request("GET", "/keys?api-version=7.5", token=tok)[0] == 200
    st, _, body = sign(emu, tok)
    assert st == 403
    assert body["error"]["code"] == "AccessDenied"
    assert re.match(r"^Not authorized to access Microsoft\.KeyVault/managedHsm/keys/sign/action "
                    r"on /keys/ec-p256 \(Activity ID: [0-9a-f-]{36}\)$",
                    body["error"]["message"]), body
    st, _, body = emu.request("POST", "/keys/new-key/create?api-version=7.5",
                              {"kty": "EC", "crv": "P-256"}, token=tok)
    assert st == 403 and body["error"]["code"] == "AccessDenied"
    st, _, body = emu.request("POST", "/rng?api-version=7.5", {"count": 8}, token=tok)
    assert st == 403
    assert body["error"]["message"].startswith(
        "Not authorized to access Microsoft.KeyVault/managedHsm/keys/rng/action on /rng ")


def test_restore_denied_scope(ids_env):
    """AccessDenied for POST /keys/restore names the scope /keys/restore, as
    the server's scope_of() words it (the key side's own refusal says /keys;
    what the service says is not recorded: see scope_of())."""
    emu = ids_env["emu"]
    st, _, body = emu.request("POST", "/keys/restore?api-version=7.5", {"value": "AA"},
                              token=emu.token("user-app", "s4"))
    assert st == 403 and body["error"]["code"] == "AccessDenied"
    assert re.match(r"^Not authorized to access Microsoft\.KeyVault/managedHsm/keys/restore/action "
                    r"on /keys/restore \(Activity ID: [0-9a-f-]{36}\)$",
                    body["error"]["message"]), body


def test_user_role(ids_env):
    emu = ids_env["emu"]
    tok = emu.token("user-app", "s4")
    st, _, body = sign(emu, tok)
    assert st == 200, body
    st, _, body = emu.request("DELETE", "/keys/ec-p256?api-version=7.5", token=tok)
    assert st == 403 and body["error"]["code"] == "AccessDenied"


def test_none_role(ids_env):
    emu = ids_env["emu"]
    tok = emu.token("none-app", "s5")
    st, _, body = get_key(emu, tok)
    assert st == 403 and body["error"]["code"] == "AccessDenied"
    st, _, body = emu.request("GET", "/deletedkeys?api-version=7.5", token=tok)
    assert st == 403
    assert body["error"]["message"].startswith(
        "Not authorized to access Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action "
        "on /deletedkeys ")
    # Denied before the api-version is looked at.
    st, _, body = emu.request("GET", "/keys/ec-p256?api-version=0.0", token=tok)
    assert st == 403


def test_officer_role(emulator):
    st, _, body = sign(emulator, emulator.token())
    assert st == 200, body


# -- api-version --------------------------------------------------------------

@pytest.mark.parametrize("version", ["7.0", "7.1", "7.2", "7.3", "7.4", "7.4-preview.1",
                                     "7.5", "7.6", "7.6-preview.1", "7.6-preview.2",
                                     "2025-07-01", "2026-01-01-preview",
                                     "2026-03-01-preview"])
def test_api_version_accepted(emulator, version):
    st, _, body = get_key(emulator, emulator.token(), version=version)
    assert st == 200, body


@pytest.mark.parametrize("version", ["7.7", "2016-10-01", "7.5 ", "latest", ""])
def test_api_version_rejected(emulator, version):
    st, _, body = emulator.request("GET", "/keys/ec-p256?api-version=" +
                                   urllib.parse.quote(version), token=emulator.token())
    assert st == 400
    assert body["error"]["code"] == "BadParameter"
    assert body["error"]["message"] == (
        "The specified version (%s) is not recognized. Consider using the latest "
        "supported version (2025-07-01)." % version)


def test_api_version_missing(emulator):
    st, _, body = emulator.request("GET", "/keys/ec-p256", token=emulator.token())
    assert st == 400 and body["error"]["code"] == "BadParameter"


# -- an SDK drives the whole flow --------------------------------------------

def test_sdk_challenge_flow(emulator_factory):
    """The Azure SDK starts without a token, follows the challenge to the
    token endpoint and retries: one challenge, one token, then the call."""
    from azure.keyvault.keys._shared import http_challenge_cache
    emu = fresh_emulator(emulator_factory)
    http_challenge_cache.clear()      # the SDK remembers challenges per host
    kc, _ = hsmtest.sdk_clients(emu)
    emu.reset_stats()
    key = kc.get_key("ec-p256")
    assert key.name == "ec-p256"
    s = emu.stats()
    assert s["challenges"] == 1 and s["tokens"] == 1 and s["requests"]["get"] == 1
