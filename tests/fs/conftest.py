"""Fixtures of the hsmfs mount tests (tests/fs/).

`mnt` is one mount of the shared demo-key emulator for a whole test module
(mounting per test would cost most of the run); tests that need faults,
other identities or a stopped service use `mount_factory` with a private
emulator from `emulator_factory`.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import hsmtest  # noqa: E402


@pytest.fixture(scope="module")
def mnt(emulator, tmp_path_factory):
    m = hsmtest.Mount(emulator, tmp_path_factory.mktemp("fsmnt") / "mnt")
    try:
        yield m
    except BaseException:
        m.cleanup()
        raise
    else:
        if m.proc.poll() is None:
            m.umount()          # strict: the daemon must exit 0
        else:
            raise AssertionError("hsmfs died: " + m.log())
    finally:
        m.cleanup()
