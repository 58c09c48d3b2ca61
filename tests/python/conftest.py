"""conftest.py - makes the in-tree package importable, seeds the RNG, restores the active kernel variant."""
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_DIR = os.path.join(REPO, "python")
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # hf_reference

import posenc  # noqa: E402


def pytest_report_header(config):
    try:
        lib = posenc.library()
    except posenc.LibraryError as exc:
        return "posenc: %s" % exc
    return "posenc %s from %s; libposenc %s at %s, variant %s" % (
        posenc.__version__, os.path.dirname(posenc.__file__), lib.version, lib.path, posenc.isa())


@pytest.fixture
def rng():
    seed = int(os.environ.get("POSENC_TEST_SEED", "20240611"))
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def keep_active_variant():
    """A test that switches the variant must not leak it into the next one."""
    before = posenc.isa()
    yield
    posenc.set_isa(before)


def supported_variants():
    return [name for name, ok in posenc.isas() if ok]
