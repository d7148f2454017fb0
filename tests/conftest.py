"""Fixtures shared by every pytest suite (see tests/lib/hsmtest.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import hsmtest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mhsm_only: needs what only a Managed HSM offers (oct keys, "
        "random bytes); deselected against an emulator in the vault flavour")
    config.addinivalue_line(
        "markers", "vault_only: checks a vault's own behaviour; deselected "
        "against a Managed HSM emulator")


def _vault_item(item):
    """The test runs against a vault: the whole run is (HSMFS_TEST_FLAVOR),
    or its emulator fixture is parametrized so."""
    cs = getattr(item, "callspec", None)
    return (hsmtest.FLAVOR == "vault" or
            (cs is not None and cs.params.get("emulator") == "vault"))


def pytest_collection_modifyitems(config, items):
    """Deselect, not skip: a vault run reports only what it really ran."""
    keep, drop = [], []
    for item in items:
        vault = _vault_item(item)
        (drop if (item.get_closest_marker("mhsm_only") and vault) or
         (item.get_closest_marker("vault_only") and not vault)
         else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def emulator():
    """One TLS emulator with the demo keys, shared by a whole run.  Tests
    that change its faults must clear them."""
    emu = hsmtest.Emulator(demo_keys=True)
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def emulator_factory():
    """Start private emulators: emulator_factory(**Emulator options)."""
    started = []

    def make(**kw):
        emu = hsmtest.Emulator(**kw)
        started.append(emu)
        return emu
    yield make
    for emu in started:
        emu.stop()
        emu.close()


@pytest.fixture
def mount_factory(tmp_path):
    """Mount hsmfs: mount_factory(emu, options=(...), env=None).  Every mount
    is unmounted strictly at teardown (the daemon must exit 0)."""
    mounts = []

    def make(emu, name="mnt", **kw):
        m = hsmtest.Mount(emu, tmp_path / name, **kw)
        mounts.append(m)
        return m
    yield make
    failed = []
    for m in mounts:
        try:
            if m.proc.poll() is None:
                m.umount()
            else:
                # The daemon died during the test: its mount is dead but
                # still there, and would wedge later runs.
                rc = m.proc.returncode
                m.cleanup()
                raise AssertionError(f"hsmfs died during the test (exit {rc}): {m.log()[-2000:]}")
        except BaseException as e:  # keep going: never leave a mount behind
            failed.append(e)
            m.cleanup()
    if failed:
        raise failed[0]


@pytest.fixture(autouse=True)
def _fresh_sdk_challenges():
    """The Azure SDK remembers bearer challenges per host for the whole
    process, so a test that counts challenges would depend on which tests
    ran before it.  Every test starts and ends with an empty cache."""
    try:
        from azure.keyvault.keys._shared import http_challenge_cache
    except ImportError:          # only suites that use the SDK need it
        yield
        return
    http_challenge_cache.clear()
    yield
    http_challenge_cache.clear()
