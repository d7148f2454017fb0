"""Fixtures for the client library's integration tests."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import hsmtest  # noqa: E402
from clientutil import clean_env, hsm_call  # noqa: E402


@pytest.fixture
def call(emulator):
    """call(*args, **kw): hsm-call against the shared emulator, as the
    default client secret identity.  Faults are cleared afterwards."""
    def run(*args, **kw):
        kw.setdefault("env", clean_env(**{
            "AZURE_TENANT_ID": hsmtest.TENANT, "AZURE_CLIENT_ID": hsmtest.CLIENT_ID,
            "AZURE_CLIENT_SECRET": hsmtest.CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": emulator.url}))
        return hsm_call(emulator, *args, **kw)
    yield run
    emulator.clear_faults()
