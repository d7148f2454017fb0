"""The Azure SDK's own credentials (azure-identity / MSAL) get tokens from
hsm-emulator's endpoints and the key client uses them: the SDK is the
judge of the token endpoints' wire format.  Against both flavours: a
Managed HSM, and a vault, whose tokens are for https://vault.azure.net."""
import json

import pytest

import hsmtest
from server_util import fresh_emulator, make_cert

@pytest.fixture(scope="module", params=["mhsm", "vault"])
def env(tmp_path_factory, request):
    d = tmp_path_factory.mktemp("sdk")
    key, cert, _ = make_cert(str(d), "cert-app")
    both = d / "cert-app-with-key.pem"
    both.write_text(open(cert).read() + open(key).read())
    ids = d / "ids.json"
    ids.write_text(json.dumps({
        "clients": [{"client_id": "cert-app", "certificate": cert, "role": "reader"},
                    {"client_id": "wl-app", "role": "user",
                     "federated_subject": "system:serviceaccount:ns:sa"}],
        "managed_identities": [{"client_id": "mi-2", "role": "reader"}]}))
    emu = fresh_emulator(identities=str(ids), flavor=request.param)
    try:
        yield {"emu": emu, "pem": str(both), "dir": d}
    finally:
        emu.stop()
        emu.close()


def use(emu, cred):
    """Token through the credential, then a real call with the SDK."""
    tok = cred.get_token(emu.resource + "/.default")
    assert tok.token.count(".") == 2
    kc, _ = hsmtest.sdk_clients(emu, credential=cred)
    assert kc.get_key("ec-p256").name == "ec-p256"
    return tok


def test_client_secret_credential(env):
    from azure.identity import ClientSecretCredential
    emu = env["emu"]
    cred = ClientSecretCredential(hsmtest.TENANT, "hsmfs-local", "local-secret",
                                  authority=emu.url, instance_discovery=False,
                                  connection_verify=emu.ca)
    use(emu, cred)
    bad = ClientSecretCredential(hsmtest.TENANT, "hsmfs-local", "nope",
                                 authority=emu.url, instance_discovery=False,
                                 connection_verify=emu.ca)
    from azure.core.exceptions import ClientAuthenticationError
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        bad.get_token(emu.resource + "/.default")


@pytest.mark.parametrize("send_chain", [False, True])
def test_certificate_credential(env, send_chain):
    from azure.identity import CertificateCredential
    emu = env["emu"]
    cred = CertificateCredential(hsmtest.TENANT, "cert-app", env["pem"],
                                 authority=emu.url, instance_discovery=False,
                                 connection_verify=emu.ca,
                                 send_certificate_chain=send_chain)
    use(emu, cred)


def test_workload_identity_assertion(env, monkeypatch):
    """What WorkloadIdentityCredential does (that class is newer than the
    installed azure-identity): a ClientAssertionCredential re-reading the
    federated token file."""
    from azure.identity import ClientAssertionCredential
    emu = env["emu"]
    fed = emu.admin("GET", "federated-token?sub=system:serviceaccount:ns:sa")["token"]
    f = env["dir"] / "federated-token"
    f.write_text(fed)
    # This azure-identity passes any keyword on to object.__init__(), so the
    # authority and the CA come from the environment, as in a pod.
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", emu.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca)
    cred = ClientAssertionCredential(hsmtest.TENANT, "wl-app", lambda: f.read_text())
    use(emu, cred)


def test_managed_identity_app_service(env, monkeypatch):
    from azure.identity import ManagedIdentityCredential
    emu = env["emu"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "local-identity-header")
    cred = ManagedIdentityCredential(connection_verify=emu.ca)
    use(emu, cred)
    cred = ManagedIdentityCredential(client_id="mi-2", connection_verify=emu.ca)
    use(emu, cred)


def test_managed_identity_imds(env, monkeypatch):
    from azure.identity import ManagedIdentityCredential
    emu = env["emu"]
    for v in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
              "IMDS_ENDPOINT"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.url)
    cred = ManagedIdentityCredential(connection_verify=emu.ca)
    use(emu, cred)
