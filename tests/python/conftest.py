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


@pytest.fixture(params=["0.2", "0.1"])
def api(request):
    """Run the test through the 0.2 tensor-view calls and through the 0.1 calls of the same library."""
    lib = posenc.library()
    saved = lib.tensor_api
    if request.param == "0.2" and not saved:
        pytest.skip("libposenc %s has no tensor-view calls (0.2)" % lib.version)
    lib.tensor_api = request.param == "0.2"
    yield request.param
    lib.tensor_api = saved


def fn(api, v01, v02):
    """The C function a call goes through on each path (for error messages)."""
    return v02 if api == "0.2" else v01


def supported_variants():
    return [name for name, ok in posenc.isas() if ok]
