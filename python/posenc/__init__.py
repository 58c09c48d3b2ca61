"""posenc - Python bindings for libposenc (SIMD RoPE and ALiBi-biased softmax), pure Python over ctypes.

    import numpy as np, posenc
    plan = posenc.RopePlan(head_dim=128, base=500000.0)
    q = np.random.rand(16, 32, 128).astype(np.float32)        # [tokens, heads, head_dim]
    plan.apply(q, start=100, out=q)                           # in place, positions 100..115
    p = posenc.softmax(scores, alibi=True, causal=True, scale=128 ** -0.5)
    with posenc.ThreadPool(2) as pool:                        # the library's tasks on 2 threads, same bits
        plan.apply(q, start=100, out=q, pool=pool)

The library is found by posenc.load(path), the POSENC_LIBRARY environment variable, the system loader
(libposenc.so.0) or the build tree of a source checkout, in that order. Every call releases the GIL.
Training and split-K: softmax(..., stats=True), softmax_backward, softmax_merge, softmax_merge_concat.
"""

from . import _lib
from ._arrays import DTYPES
from ._errors import (ConfigError, DimError, EnumError, Error, LibraryError, NoMemError, NullError, OverlapError,
                      ParamError, RangeError, ShapeError, StrideError, StructSizeError, UnsupportedError)
from ._lib import Library, load
from ._pool import ThreadPool
from ._rope import RopePlan
from ._softmax import alibi_slopes, softmax, softmax_backward, softmax_merge, softmax_merge_concat

__version__ = "0.2.0"   # released with libposenc 0.2; works with 0.1 and 0.2

__all__ = [
    "RopePlan", "softmax", "softmax_backward", "softmax_merge", "softmax_merge_concat", "alibi_slopes",
    "ThreadPool", "isa", "isas", "set_isa", "isa_forced", "version", "load", "library",
    "Library", "DTYPES", "Error", "NullError", "DimError", "ShapeError", "StrideError", "OverlapError",
    "EnumError", "ParamError", "RangeError", "StructSizeError", "NoMemError", "UnsupportedError", "ConfigError",
    "LibraryError",
]


def library():
    """The loaded Library (loading the default one on first use): .path, .version, .version_number."""
    return _lib.library()


def version():
    """The library's version, "MAJOR.MINOR.PATCH" (posenc.__version__ is this package's)."""
    return _lib.library().version


def isa():
    """The name of the kernel variant in use ("scalar", "avx2", "avx512" or "neon")."""
    return _lib.library().posenc_isa().decode()


def isas():
    """Every variant compiled into the library, best first: a list of (name, supported on this CPU)."""
    lib = _lib.library()
    return [(lib.posenc_isa_name(i).decode(), bool(lib.posenc_isa_supported(i)))
            for i in range(lib.posenc_isa_count())]


def set_isa(name):
    """Switch every later call (all threads) to the named variant, any letter case. UnsupportedError if the name
    is unknown or this CPU lacks it (the active variant is then unchanged)."""
    lib = _lib.library()
    if not isinstance(name, str):
        raise TypeError("name must be a str, not %s" % type(name).__name__)
    try:
        encoded = name.encode("ascii")
    except UnicodeEncodeError:
        encoded = b"?"     # no variant has a non-ASCII name: let the library refuse it
    if b"\0" in encoded:
        encoded = b"?"
    lib.check(lib.posenc_set_isa(encoded), "posenc_set_isa")


def isa_forced():
    """What the POSENC_ISA environment variable did when the library was loaded: "forced" (it named a variant
    this CPU runs, which was selected), "unset" (unset or empty: the best variant was selected) or "refused"
    (an unknown or unsupported name: the best variant was selected instead). NotImplementedError on a library
    without posenc_isa_forced."""
    lib = _lib.library()
    if not lib.has("posenc_isa_forced"):
        raise NotImplementedError("libposenc %s has no posenc_isa_forced" % lib.version)
    answer = lib.posenc_isa_forced()
    if answer == 1:
        return "forced"
    if answer == 0:
        return "unset"
    if answer == _lib.ERR_UNSUPPORTED:
        return "refused"
    raise Error("posenc_isa_forced returned %d, which this package does not know" % answer, answer,
                "posenc_isa_forced")
