"""Every credential of DESIGN.md §5 through the client library, against the
emulator's token endpoints."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

import hsmtest
from clientutil import SHA, Run, call_argv, checked, clean_env, fails, hsm_call, ok


def sign_and_list(emu, env, auth, extra=()):
    run = ok(hsm_call(emu, "sign", "ec-p256", "ES256", SHA, env=env,
                      opts=["--auth", auth, *extra]))
    assert len(run.r["value"]) == 128
    assert run.stats["token_requests"] == 1
    return run


def test_secret_with_tenant_from_challenge(emulator):
    env = clean_env(AZURE_CLIENT_ID=hsmtest.CLIENT_ID, AZURE_CLIENT_SECRET=hsmtest.CLIENT_SECRET,
                    AZURE_AUTHORITY_HOST=emulator.url)
    run = sign_and_list(emulator, env, "secret")
    assert run.stats["identity"] == "client secret hsmfs-local"
    assert run.stats["token_expires"] > 0


def test_wrong_secret_is_auth_error(emulator):
    env = emulator.env(secret="wrong")
    r = fails(hsm_call(emulator, "list", env=env, opts=["--auth", "secret"]), "HSM_E_AUTH")
    assert "invalid_client" in r["message"] and "wrong" not in r["message"]


def test_credential_not_configured(emulator):
    for auth, var in (("secret", "AZURE_CLIENT_SECRET"), ("cert", "AZURE_CLIENT_CERTIFICATE_PATH"),
                      ("workload", "AZURE_FEDERATED_TOKEN_FILE"),
                      ("appservice", "IDENTITY_ENDPOINT"), ("token", "AZURE_ACCESS_TOKEN")):
        run = hsm_call(emulator, "list", env=clean_env(PATH="/nonexistent"),
                       opts=["--auth", auth])
        assert run.rc == 97 and var in run.stderr and run.stderr.count("\n") == 1, (auth, run)


@pytest.fixture(scope="module")
def id_emulator(tmp_path_factory):
    d = tmp_path_factory.mktemp("ids")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=cert-app"], check=True, capture_output=True)
    both = d / "client.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    ids = d / "ids.json"
    ids.write_text(json.dumps({
        "clients": [{"client_id": "cert-app", "certificate": str(cert), "role": "officer"},
                    {"client_id": "wl-app", "federated_subject": "system:serviceaccount:ns:sa",
                     "role": "user"}],
        "managed_identities": [{"client_id": "mi-2", "role": "user"}]}))
    emu = hsmtest.Emulator(demo_keys=False, identities=str(ids))
    env = emu.env()
    subprocess.run([hsmtest.bin_path("tests/client/hsm-call"), "--url", emu.url, "--cafile",
                    emu.ca, "create", "ec-p256", "EC"], env=env, check=True,
                   capture_output=True)
    emu.client_pem = str(both)
    emu.tmp = d
    try:
        yield emu
    finally:
        emu.close()


def test_client_certificate(id_emulator):
    emu = id_emulator
    env = clean_env(AZURE_CLIENT_ID="cert-app", AZURE_TENANT_ID=hsmtest.TENANT,
                    AZURE_CLIENT_CERTIFICATE_PATH=emu.client_pem, AZURE_AUTHORITY_HOST=emu.url)
    run = sign_and_list(emu, env, "cert")
    assert run.stats["identity"] == "client certificate cert-app"
    # auto picks the certificate when no secret is set
    ok(hsm_call(emu, "list", env=env))


def test_certificate_mismatch_refused(id_emulator, tmp_path):
    emu = id_emulator
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(tmp_path / "k"), "-out", str(tmp_path / "c"), "-days", "1",
                    "-subj", "/CN=x"], check=True, capture_output=True)
    other.write_bytes((tmp_path / "c").read_bytes() + (tmp_path / "k").read_bytes())
    env = clean_env(AZURE_CLIENT_ID="cert-app", AZURE_CLIENT_CERTIFICATE_PATH=str(other),
                    AZURE_AUTHORITY_HOST=emu.url)
    fails(hsm_call(emu, "list", env=env, opts=["--auth", "cert"]), "HSM_E_AUTH")


def workload_env(emu, tmp_path):
    """A federated token file for wl-app and the environment naming it."""
    _, _, body = emu.request("GET", "/_emulator/federated-token?sub=system:serviceaccount:ns:sa")
    f = tmp_path / "fed"
    f.write_text(body["token"])
    return f, clean_env(AZURE_CLIENT_ID="wl-app", AZURE_TENANT_ID=hsmtest.TENANT,
                        AZURE_FEDERATED_TOKEN_FILE=str(f), AZURE_AUTHORITY_HOST=emu.url)


def test_workload_identity_rereads_file(id_emulator, tmp_path):
    emu = id_emulator
    f, env = workload_env(emu, tmp_path)
    run = sign_and_list(emu, env, "workload")
    assert "workload identity wl-app" == run.stats["identity"]
    # role user: no create
    fails(hsm_call(emu, "create", "nope", "EC", env=env, opts=["--auth", "workload"]),
          "HSM_E_FORBIDDEN")
    f.write_text("garbage")
    fails(hsm_call(emu, "list", env=env, opts=["--auth", "workload"]), "HSM_E_AUTH")


def test_failed_refresh_keeps_valid_token(id_emulator, tmp_path):
    # A 6 s token is due for refresh after 3 s.  The token endpoint then
    # refuses (the federated token file turned to garbage): the second
    # call, at 3.5 s, still goes through with the old token; the third,
    # at 7 s, finds it expired and fails.
    emu = id_emulator
    f, env = workload_env(emu, tmp_path)
    cmd = call_argv(emu, "sign", "ec-p256", "ES256", SHA,
                    opts=["--auth", "workload", "--debug", "--repeat", "3", "--interval-ms", "3500"])
    emu.faults(token_lifetime=6)
    emu.reset_stats()
    try:
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as p:
            first = p.stdout.readline()
            f.write_text("garbage")
            out, err = p.communicate(timeout=60)
    finally:
        emu.clear_faults()
    run = checked(Run(subprocess.CompletedProcess(cmd, p.returncode, first + out, err), 0))
    assert [r["status"] for r in run.results] == ["HSM_OK", "HSM_OK", "HSM_E_AUTH"], run
    assert "invalid_client" in run.results[2]["message"], run
    assert "token refresh failed, keeping the current token" in run.stderr, run
    assert run.stats["token_requests"] == 3, run
    assert emu.stats()["tokens"] == 1 and emu.op_count("sign") == 2


def test_app_service(emulator):
    env = clean_env(IDENTITY_ENDPOINT=emulator.url + "/msi/token",
                    IDENTITY_HEADER="local-identity-header")
    run = sign_and_list(emulator, env, "appservice")
    assert run.stats["identity"].startswith("App Service")
    ok(hsm_call(emulator, "list", env=env))           # auto picks it
    env["IDENTITY_HEADER"] = "wrong"
    fails(hsm_call(emulator, "list", env=env, opts=["--auth", "appservice"]), "HSM_E_AUTH")


def test_imds(emulator, id_emulator):
    env = clean_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=emulator.url)
    run = sign_and_list(emulator, env, "imds")
    assert "IMDS" in run.stats["identity"]
    ok(hsm_call(emulator, "list", env=env))           # auto falls back to IMDS
    # a user-assigned identity chosen with AZURE_CLIENT_ID (role user)
    env2 = clean_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=id_emulator.url, AZURE_CLIENT_ID="mi-2")
    ok(hsm_call(id_emulator, "sign", "ec-p256", "ES256", SHA, env=env2, opts=["--auth", "imds"]))
    fails(hsm_call(id_emulator, "create", "x", "EC", env=env2, opts=["--auth", "imds"]),
          "HSM_E_FORBIDDEN")


FAKE_AZ = textwrap.dedent("""\
    #!/usr/bin/python3
    # A stand-in for the Azure CLI: gets a token from the emulator.
    import json, os, ssl, sys, time, urllib.parse, urllib.request
    # Written in by the test: az gets none of the client's environment.
    os.environ.update(CONF)
    with open(os.environ["FAKE_AZ_ARGS"], "w") as f:
        json.dump(sys.argv[1:], f)
    form = urllib.parse.urlencode({"grant_type": "client_credentials",
        "client_id": "hsmfs-local", "client_secret": "local-secret",
        "scope": sys.argv[sys.argv.index("--resource") + 1] + "/.default"}).encode()
    ctx = ssl.create_default_context(cafile=os.environ["FAKE_AZ_CA"])
    r = json.load(urllib.request.urlopen(os.environ["FAKE_AZ_URL"] +
        "/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token", form, context=ctx))
    exp = int(time.time()) + int(r["expires_in"])
    print(json.dumps({"accessToken": r["access_token"],
        "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(exp)),
        "expires_on": exp, "subscription": "s", "tenant": "t", "tokenType": "Bearer"}, indent=2))
    """)


def test_azure_cli(emulator, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    az = bindir / "az"
    args = tmp_path / "args.json"
    az.write_text(FAKE_AZ.replace("CONF", repr(dict(
        FAKE_AZ_URL=emulator.url, FAKE_AZ_CA=emulator.ca, FAKE_AZ_ARGS=str(args)))))
    az.chmod(0o755)
    env = clean_env(PATH=f"{bindir}:/usr/bin:/bin")
    run = sign_and_list(emulator, env, "azcli")
    assert json.loads(args.read_text()) == ["account", "get-access-token", "--resource",
                                            "https://managedhsm.azure.net", "-o", "json"]
    assert run.stats["identity"] == "Azure CLI"
    az.write_text("#!/bin/sh\nexit 1\n")
    r = fails(hsm_call(emulator, "list", env=env, opts=["--auth", "azcli"]), "HSM_E_AUTH")
    assert "az login" in r["message"]


def test_static_token_file_and_env(emulator, tmp_path):
    tok = emulator.token()
    f = tmp_path / "token"
    f.write_text(tok + "\n")
    f.chmod(0o600)
    env = clean_env()
    run = ok(hsm_call(emulator, "list", env=env, opts=["--auth", "token", "--token-file", str(f)]))
    assert run.stats["token_requests"] == 1
    # auto with a token file: the static token first
    ok(hsm_call(emulator, "list", env=env, opts=["--token-file", str(f)]))
    f.chmod(0o644)
    run = hsm_call(emulator, "list", env=env, opts=["--auth", "token", "--token-file", str(f)])
    assert run.rc == 97 and "0644" in run.stderr and "chmod 600" in run.stderr
    f.chmod(0o600)
    os.symlink(f, tmp_path / "link")
    run = hsm_call(emulator, "list", env=env,
                   opts=["--auth", "token", "--token-file", str(tmp_path / "link")])
    assert run.rc == 97
    ok(hsm_call(emulator, "list", env=clean_env(AZURE_ACCESS_TOKEN=tok), opts=["--auth", "token"]))


def test_static_expired_token_retried_once(emulator, tmp_path):
    emulator.faults(token_lifetime=1)
    try:
        tok = emulator.token()
    finally:
        emulator.clear_faults()
    import time
    time.sleep(2.2)
    r = fails(hsm_call(emulator, "list", env=clean_env(AZURE_ACCESS_TOKEN=tok),
                       opts=["--auth", "token"]), "HSM_E_UNAUTHORIZED")
    assert r["retries"] == 1 and r["http"] == 401 and "TokenExpired" in r["message"]
