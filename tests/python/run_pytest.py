"""run_pytest.py - meson's entry to the Python package tests: runs pytest on tests/python, 77 (SKIP) without pytest/numpy.

Usage: /usr/bin/python3 tests/python/run_pytest.py [pytest arguments...]
POSENC_LIBRARY should name the built libposenc.so (meson sets it); PYTHONPATH need not be set.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

missing = []
for module in ("pytest", "numpy"):
    try:
        __import__(module)
    except ImportError:
        missing.append(module)
if missing:
    print("SKIP: %s not importable by %s (Debian: apt-get install %s)" % (
        ", ".join(missing), sys.executable, " ".join("python3-" + m for m in missing)), file=sys.stderr)
    sys.exit(77)

import pytest  # noqa: E402  (after the availability check)

# -p no:cacheprovider: never write .pytest_cache into the source tree.
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rs", HERE] + sys.argv[1:]))
