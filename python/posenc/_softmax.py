"""posenc._softmax - the fused, optionally ALiBi-biased softmax over posenc_softmax, and posenc_alibi_slopes."""

import ctypes

import numpy as np

from . import _lib
from ._arrays import FLOAT32, as_index_array, as_param_array, as_tensor
from ._rope import require_computable, view

__all__ = ["softmax", "alibi_slopes"]


def alibi_slopes(n_heads, max_bias=8.0):
    """The ALiBi slopes for n_heads heads (float32 [n_heads]); max_bias 8 gives the paper's / BLOOM's / MPT's."""
    lib = _lib.library()
    if isinstance(n_heads, bool) or not isinstance(n_heads, (int, np.integer)) or n_heads < 0:
        raise ValueError("n_heads must be a non-negative int, not %r" % (n_heads,))
    out = np.empty(int(n_heads), np.float32)
    lib.check(lib.posenc_alibi_slopes(int(n_heads), float(max_bias), out.ctypes.data),
              "posenc_alibi_slopes")
    return out


def _layout(t, name):
    """(n_heads, n_rows, n_cols, head_stride, row_stride) of [heads, rows, cols] or [rows, cols]."""
    if t.array.ndim == 3:
        n_heads, n_rows, n_cols = t.shape
        hs, rs = t.strides[0], t.strides[1]
    elif t.array.ndim == 2:
        (n_rows, n_cols), n_heads = t.shape, 1
        hs, rs = 0, t.strides[0]
    else:
        raise ValueError("%s must be [n_heads, n_rows, n_cols] or [n_rows, n_cols], not of shape %s"
                         % (name, t.shape))
    if n_rows <= 1:
        rs = n_cols
    if n_heads <= 1:
        hs = max(n_rows - 1, 0) * rs + n_cols
    return n_heads, n_rows, n_cols, hs, rs


def _feature(lib, field):
    if not lib.has_field(_lib.SoftmaxDesc, field):
        raise NotImplementedError("%s needs posenc_softmax_desc.%s, which libposenc %s does not have"
                                  % (field, field, lib.version))


def softmax(scores, scale=1.0, alibi=False, slopes=None, max_bias=8.0, causal=False, symmetric=False, mask=None,
            sinks=None, q_start=None, k_start=0, out=None, copy=False, q_positions=None, k_positions=None):
    """Softmax over the last axis of scores [n_heads, n_rows, n_cols] (or [n_rows, n_cols]: one head).

    z = scale * s [+ slope_h * b(k - q)] [+ mask]; row i sits at position q_start + i, column j at k_start + j.
    causal: b = k - q and keys after the query get exactly 0; symmetric: b = -|k - q|; neither: no bias.
    alibi=True uses posenc.alibi_slopes(n_heads, max_bias); slopes=[n_heads] your own (both need causal or
    symmetric). mask: additive, broadcastable to [n_heads, n_rows, n_cols] (shared rows / heads stay shared,
    no copy). sinks: per-head sink logits [n_heads] (join the max and the sum, produce no column).
    q_start=None puts the queries at the last n_rows keys: k_start + max(n_cols - n_rows, 0) (decoding with a
    KV cache); the C default is 0. q_positions: per-row query positions [n_rows] (packed sequences, tree
    decoding; libposenc 0.2), replacing q_start. k_positions (per-column key positions) awaits library support.
    out: None allocates a numpy array of the scores' dtype; out=scores works in place. copy=True lets inputs
    that are not addressable as they are be copied to float32 first. Element types other than float32 need a
    library whose posenc_softmax_forward takes them (0.2 refuses them: UnsupportedError).
    """
    lib = _lib.library()
    src = as_tensor(scores, "scores", copy=copy)
    require_computable(src, "scores", lib)
    n_heads, n_rows, n_cols, shs, srs = _layout(src, "scores")

    if out is None:
        result = np.empty(src.shape, src.dtype.storage if src.dtype.numpy_native else FLOAT32.storage)
        dst = as_tensor(result, "out", writable=True)
    else:
        result = out
        dst = as_tensor(out, "out", writable=True)
        require_computable(dst, "out", lib)
        if dst.shape != src.shape:
            raise ValueError("out has shape %s but scores has shape %s" % (dst.shape, src.shape))
    _, _, _, dhs, drs = _layout(dst, "out")

    desc = lib.new_softmax_desc()
    if causal and symmetric:
        raise ValueError("causal and symmetric exclude each other")
    desc.position = (_lib.POSITION_CAUSAL if causal else _lib.POSITION_SYMMETRIC if symmetric
                     else _lib.POSITION_NONE)
    keep = []
    if alibi and slopes is not None:
        raise ValueError("pass alibi=True or slopes=, not both")
    if (alibi or slopes is not None) and desc.position == _lib.POSITION_NONE:
        raise ValueError("ALiBi slopes need causal=True or symmetric=True: without a position mode libposenc adds "
                         "no bias")
    if alibi:
        desc.slopes_mode = _lib.SLOPES_ALIBI
        desc.max_bias = float(max_bias)
    elif slopes is not None:
        s = as_param_array(slopes, "slopes", np.float32, n_heads)
        keep.append(s)
        desc.slopes_mode = _lib.SLOPES_CUSTOM
        desc.slopes = s.ctypes.data
    desc.scale = float(scale)
    if sinks is not None:
        s = as_param_array(sinks, "sinks", np.float32, n_heads)
        keep.append(s)
        desc.sinks = s.ctypes.data
    if q_start is None:
        q_start = int(k_start) + max(n_cols - n_rows, 0)
    desc.q_pos0 = int(q_start)
    desc.k_pos0 = int(k_start)

    if mask is not None:
        m = as_tensor(mask, "mask", copy=copy)
        if m.dtype is not FLOAT32:
            raise TypeError("mask must be float32, not %s" % m.dtype.name)
        try:
            mask_view = np.broadcast_to(m.array, (n_heads, n_rows, n_cols))
        except ValueError:
            raise ValueError("mask of shape %s does not broadcast to scores' [%d, %d, %d]" % (
                m.shape, n_heads, n_rows, n_cols)) from None
        keep.append(m)
        item = m.dtype.itemsize
        desc.mask = m.ptr
        desc.mask_head_stride = mask_view.strides[0] // item if n_heads > 1 else 0
        desc.mask_row_stride = mask_view.strides[1] // item if n_rows > 1 else 0

    for field, value in (("q_positions", q_positions), ("k_positions", k_positions)):
        if value is None:
            continue
        _feature(lib, field)
        p = as_index_array(value, field)
        want = n_rows if field == "q_positions" else n_cols
        if p.shape != (want,):
            raise ValueError("%s has shape %s; expected [%d]" % (field, p.shape, want))
        keep.append(p)
        setattr(desc, field, p.ctypes.data)

    if lib.tensor_api:
        st = lib.posenc_softmax_forward(ctypes.byref(desc), ctypes.byref(view(src, shs, srs)),
                                        ctypes.byref(view(dst, dhs, drs)), n_heads, n_rows, n_cols)
        lib.check(st, "posenc_softmax_forward")
    else:
        lib.check(lib.posenc_softmax(ctypes.byref(desc), src.ptr, shs, srs, dst.ptr, dhs, drs, n_heads, n_rows,
                                     n_cols), "posenc_softmax")
    return result
