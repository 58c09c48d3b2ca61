"""posenc._softmax - the fused ALiBi-biased softmax, its backward pass, split-K merges, and posenc_alibi_slopes."""

import ctypes

import numpy as np

from . import _lib
from ._arrays import FLOAT32, Tensor, as_index_array, as_param_array, as_tensor
from ._errors import ShapeError
from ._pool import parallel_hook
from ._rope import require_computable, view

__all__ = ["softmax", "softmax_backward", "softmax_merge", "softmax_merge_concat", "alibi_slopes"]


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


def _function(lib, name):
    if not lib.has(name):
        raise NotImplementedError("libposenc %s has no %s (added in 0.2)" % (lib.version, name))
    return getattr(lib, name)


def _pool_feature(lib, pool):
    if pool is not None:
        _feature(lib, "parallel")


def _float32_out(shape, out, name, like=None):
    """(numpy result, Tensor) of an output: a new float32 array when out is None, else out validated."""
    if out is None:
        array = np.empty(shape, np.float32)
        return array, as_tensor(array, name, writable=True)
    t = as_tensor(out, name, writable=True)
    if t.shape != tuple(shape):
        raise ShapeError("%s has shape %s; expected %s" % (name, t.shape, tuple(shape)))
    return out, t


def _contiguous_float32(obj, name, shape, writable=False, copy=False):
    """A Tensor of a C-contiguous float32 array of exactly `shape` (the statistics' fixed C layout)."""
    t = as_tensor(obj, name, writable=writable, copy=copy)
    if t.dtype is not FLOAT32:
        if copy and not writable:
            t = Tensor(np.ascontiguousarray(t.array, np.float32), FLOAT32, obj)
        else:
            raise TypeError("%s must be float32, not %s" % (name, t.dtype.name))
    if t.shape != tuple(shape):
        raise ShapeError("%s has shape %s; expected %s" % (name, t.shape, tuple(shape)))
    if not t.array.flags.c_contiguous:
        if writable or not copy:
            raise ValueError("%s must be C-contiguous (the statistics have a fixed layout)%s" % (
                name, "" if writable else "; copy=True makes a contiguous copy"))
        t = Tensor(np.ascontiguousarray(t.array), FLOAT32, obj)
    return t


def softmax(scores, scale=1.0, alibi=False, slopes=None, max_bias=8.0, causal=False, symmetric=False, mask=None,
            sinks=None, q_start=None, k_start=0, out=None, copy=False, q_positions=None, k_positions=None,
            stats=False, pool=None, precision="exact", grid_width=None, grid_prefix=0, grid_metric="euclidean"):
    """Softmax over the last axis of scores [n_heads, n_rows, n_cols] (or [n_rows, n_cols]: one head).

    z = scale * s [+ slope_h * b(k - q)] [+ mask]; row i sits at position q_start + i, column j at k_start + j.
    causal: b = k - q and keys after the query get exactly 0; symmetric: b = -|k - q|; neither: no bias.
    alibi=True uses posenc.alibi_slopes(n_heads, max_bias); slopes=[n_heads] your own (both need causal or
    symmetric). mask: additive, broadcastable to [n_heads, n_rows, n_cols] (shared rows / heads stay shared,
    no copy). sinks: per-head sink logits [n_heads] (join the max and the sum, produce no column).
    q_start=None puts the queries at the last n_rows keys: k_start + max(n_cols - n_rows, 0) (decoding with a
    KV cache); the C default is 0. q_positions: per-row query positions [n_rows] (packed sequences, tree
    decoding; libposenc 0.2), replacing q_start. k_positions: per-column key positions [n_cols] (a KV cache
    after eviction, packed sequences, trees), replacing k_start; causal then masks every key after its query.
    grid_width: 2-D ALiBi for image patches (instead of causal / symmetric): positions are patches of a grid in
    raster order, grid_width per line, after grid_prefix tokens off the grid (a CLS token: bias 0);
    b = -distance of the patches, grid_metric "euclidean" (CROMA's 2D-ALiBi) or "manhattan".
    out: None allocates a numpy array of the scores' dtype; out=scores works in place. copy=True lets inputs
    that are not addressable as they are be copied to float32 first. Element types other than float32 need a
    library whose posenc_softmax_forward takes them (0.2 refuses them: UnsupportedError).
    stats=True also returns each row's statistics (M, S) as float32 [n_heads, n_rows, 2] (scores' leading axes,
    then 2): M the largest logit, S = sum exp(z - M), so y = exp(z - M) / S; (-inf, 0) for a row with no live
    column. stats= a C-contiguous float32 array of that shape (e.g. block b of a [n_blocks, n_heads, n_rows, 2]
    array for softmax_merge) receives them. The result is then (probs, stats). pool: a posenc.ThreadPool (or a
    concurrent.futures.Executor) to split the rows over threads; the same bits as without.
    precision: "exact" (the default: the exp argument in float64, 1e-6 relative) or "fast" (all float32, about
    twice the throughput, error growing with the logits' magnitudes: include/posenc.h, "Precision").
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
    if grid_width is not None:
        if causal or symmetric:
            raise ValueError("grid_width (2-D ALiBi) replaces causal / symmetric; pass neither")
        if grid_metric not in ("euclidean", "manhattan"):
            raise ValueError('grid_metric must be "euclidean" or "manhattan", not %r' % (grid_metric,))
        _feature(lib, "grid_width")
        desc.position = (_lib.POSITION_GRID_EUCLIDEAN if grid_metric == "euclidean"
                         else _lib.POSITION_GRID_MANHATTAN)
        desc.grid_width = int(grid_width)
        desc.grid_prefix = int(grid_prefix)
    elif grid_prefix:
        raise ValueError("grid_prefix needs grid_width")
    keep = []
    if alibi and slopes is not None:
        raise ValueError("pass alibi=True or slopes=, not both")
    if (alibi or slopes is not None) and desc.position == _lib.POSITION_NONE:
        raise ValueError("ALiBi slopes need causal=True, symmetric=True or grid_width=: without a position mode "
                         "libposenc adds no bias")
    if alibi:
        desc.slopes_mode = _lib.SLOPES_ALIBI
        desc.max_bias = float(max_bias)
    elif slopes is not None:
        s = as_param_array(slopes, "slopes", np.float32, n_heads)
        keep.append(s)
        desc.slopes_mode = _lib.SLOPES_CUSTOM
        desc.slopes = s.ctypes.data
    desc.scale = float(scale)
    if precision not in ("exact", "fast"):
        raise ValueError('precision must be "exact" or "fast", not %r' % (precision,))
    if precision == "fast":
        _feature(lib, "precision")
        desc.precision = _lib.SOFTMAX_FAST
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

    stats_result = None
    if stats is not None and stats is not False:
        _feature(lib, "stats")
        lead = src.shape[:-1] + (2,)
        if stats is True:
            stats_result = np.empty(lead, np.float32)
            st_t = as_tensor(stats_result, "stats", writable=True)
        else:
            stats_result = stats
            st_t = _contiguous_float32(stats, "stats", lead, writable=True)
        keep.append(st_t)
        desc.stats = st_t.ptr
    _pool_feature(lib, pool)

    with parallel_hook(pool) as parallel:
        desc.parallel = parallel
        if lib.tensor_api:
            st = lib.posenc_softmax_forward(ctypes.byref(desc), ctypes.byref(view(src, shs, srs)),
                                            ctypes.byref(view(dst, dhs, drs)), n_heads, n_rows, n_cols)
            function = "posenc_softmax_forward"
        else:
            st = lib.posenc_softmax(ctypes.byref(desc), src.ptr, shs, srs, dst.ptr, dhs, drs, n_heads, n_rows,
                                    n_cols)
            function = "posenc_softmax"
    lib.check(st, function)
    return result if stats_result is None else (result, stats_result)


def softmax_backward(y, dy, scale=1.0, out=None, pool=None, copy=False):
    """The softmax's backward pass (posenc_softmax_backward): dx = scale * y * (dy - <dy, y>) per row.

    y: the forward's output, dy = dL/dy, both float32 [n_heads, n_rows, n_cols] (or [n_rows, n_cols]); scale:
    the forward's (only the scale reaches the scores' gradient; masked columns, y = 0, get dx = 0). Computed in
    double, each dx rounded once to float32. out: None allocates, out=dy works in place, any other float32
    array of that shape receives dx (it must not overlap y). pool as in softmax(). Returns dx.
    """
    lib = _lib.library()
    backward = _function(lib, "posenc_softmax_backward")
    yt = as_tensor(y, "y", copy=copy)
    dyt = as_tensor(dy, "dy", copy=copy)
    if dyt.shape != yt.shape:
        raise ShapeError("dy has shape %s but y has shape %s" % (dyt.shape, yt.shape))
    n_heads, n_rows, n_cols, yhs, yrs = _layout(yt, "y")
    _, _, _, dyhs, dyrs = _layout(dyt, "dy")
    result, dxt = _float32_out(yt.shape, out, "out")
    _, _, _, dxhs, dxrs = _layout(dxt, "out")
    _pool_feature(lib, pool)
    desc = lib.new_softmax_desc()
    desc.scale = float(scale)
    with parallel_hook(pool) as parallel:
        desc.parallel = parallel
        st = backward(ctypes.byref(desc), ctypes.byref(view(yt, yhs, yrs)), ctypes.byref(view(dyt, dyhs, dyrs)),
                      ctypes.byref(view(dxt, dxhs, dxrs)), n_heads, n_rows, n_cols)
    lib.check(st, "posenc_softmax_backward")
    return result


def _blocks(blocks, copy, block_cols=None):
    """The blocks argument as a list of Tensors: a list / tuple of arrays, or one array whose first axis counts
    the blocks (or, with block_cols, whose last axis is split into blocks of those widths)."""
    if isinstance(blocks, (list, tuple)):
        return [as_tensor(b, "blocks[%d]" % i, copy=copy) for i, b in enumerate(blocks)]
    t = as_tensor(blocks, "blocks", copy=copy)
    if block_cols is None:
        if t.array.ndim not in (3, 4):
            raise ShapeError("blocks as one array is [n_blocks, n_heads, n_rows, n_cols] (or [n_blocks, n_rows, "
                             "n_cols]), not of shape %s" % (t.shape,))
        return [Tensor(t.array[b], t.dtype, blocks) for b in range(t.shape[0])]
    out, c = [], 0
    for w in block_cols:
        out.append(Tensor(t.array[..., c:c + w], t.dtype, blocks))
        c += w
    if c != t.shape[-1]:
        raise ShapeError("block_cols add up to %d but blocks has %d columns" % (c, t.shape[-1]))
    return out


def _widths(block_cols):
    if isinstance(block_cols, (str, bytes)):
        raise TypeError("block_cols must be a sequence of ints")
    widths = []
    for w in block_cols:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
            raise ValueError("block_cols must hold non-negative ints, not %r" % (w,))
        widths.append(int(w))
    return widths


def _merge(function, block_stats, block_list, widths, sinks, out, pool, copy):
    lib = _lib.library()
    merge = _function(lib, function)
    if not block_list:
        raise ShapeError("no blocks: a merge needs n_blocks >= 1")
    lead = block_list[0].shape[:-1]
    for i, b in enumerate(block_list):
        if b.array.ndim not in (2, 3) or b.shape[:-1] != lead or (widths is None and b.shape != block_list[0].shape):
            raise ShapeError("blocks[%d] has shape %s; block 0 has %s (blocks are [n_heads, n_rows, n_cols] or "
                             "[n_rows, n_cols]%s)" % (i, b.shape, block_list[0].shape,
                                                      ", widths may differ" if widths is not None else ""))
    n_blocks = len(block_list)
    n_cols = sum(widths) if widths is not None else block_list[0].shape[-1]
    layouts = [_layout(b, "blocks[%d]" % i) for i, b in enumerate(block_list)]
    n_heads, n_rows = layouts[0][0], layouts[0][1]
    stats = _contiguous_float32(block_stats, "block_stats", (n_blocks,) + lead + (2,), copy=copy)
    result, dst = _float32_out(lead + (n_cols,), out, "out")
    _, _, _, dhs, drs = _layout(dst, "out")
    views = (_lib.TensorView * n_blocks)(*[view(b, l[3], l[4]) for b, l in zip(block_list, layouts)])
    desc = lib.new_softmax_desc()
    keep = []
    if sinks is not None:
        s = as_param_array(sinks, "sinks", np.float32, n_heads)
        keep.append(s)
        desc.sinks = s.ctypes.data
    _pool_feature(lib, pool)
    with parallel_hook(pool) as parallel:
        desc.parallel = parallel
        if widths is None:
            st = merge(ctypes.byref(desc), stats.ptr, views, ctypes.byref(view(dst, dhs, drs)), n_blocks, n_heads,
                       n_rows, n_cols)
        else:
            cols = (ctypes.c_size_t * n_blocks)(*widths)
            st = merge(ctypes.byref(desc), stats.ptr, cols, views, ctypes.byref(view(dst, dhs, drs)), n_blocks,
                       n_heads, n_rows, n_cols)
    lib.check(st, function)
    return result


def softmax_merge(block_stats, blocks, sinks=None, out=None, pool=None, copy=False):
    """Merge split-K partial results by their weights (posenc_softmax_merge, flash-decoding's combine).

    Block b computed a softmax over its own key columns, with statistics block_stats[b] (M_b, S_b) as
    softmax(..., stats=True) returns them, and a partial result blocks[b] of n_cols values per row (typically
    P_b V_b, n_cols = head_dim). With M = max(M_b, sink), S = sum_b S_b exp(M_b - M) + exp(sink - M), the
    result is sum_b (S_b exp(M_b - M) / S) blocks[b]: what the whole row's softmax gives.
    block_stats: float32 [n_blocks, n_heads, n_rows, 2], C-contiguous. blocks: a list of n_blocks float32
    [n_heads, n_rows, n_cols] (or [n_rows, n_cols]) arrays, or one [n_blocks, ...] array. sinks: per-head sink
    logits [n_heads], counted once here (compute the blocks without them). out: None allocates float32
    [n_heads, n_rows, n_cols]; out may be one of the blocks (in place). pool as in softmax(). Returns out.
    """
    return _merge("posenc_softmax_merge", block_stats, _blocks(blocks, copy), None, sinks, out, pool, copy)


def softmax_merge_concat(block_stats, blocks, block_cols=None, sinks=None, out=None, pool=None, copy=False):
    """Merge split-K partial probabilities by concatenation (posenc_softmax_merge_concat).

    Block b holds the softmax probabilities of its own block_cols[b] key columns, with statistics
    block_stats[b]; the result [n_heads, n_rows, sum of the widths] is the whole row's softmax: block b's
    columns times its weight S_b exp(M_b - M) / S (M, S and sinks as in softmax_merge).
    blocks: a list of float32 [n_heads, n_rows, w_b] (or [n_rows, w_b]) arrays, their widths read from their
    shapes (block_cols, if given, must agree); or one [n_heads, n_rows, n_cols] array split into block_cols
    widths (the usual case: blocks written side by side into one score matrix, merged with out=that array, in
    place). A block of width 0 needs statistics (-inf, 0). Returns out.
    """
    if not isinstance(blocks, (list, tuple)) and block_cols is None:
        raise TypeError("blocks as one array needs block_cols (the widths of its column blocks)")
    widths = _widths(block_cols) if block_cols is not None else None
    block_list = _blocks(blocks, copy, widths if not isinstance(blocks, (list, tuple)) else None)
    shape_widths = [b.shape[-1] for b in block_list]
    if widths is not None and widths != shape_widths:
        raise ShapeError("block_cols %s differ from the blocks' widths %s" % (widths, shape_widths))
    return _merge("posenc_softmax_merge_concat", block_stats, block_list, shape_widths, sinks, out, pool, copy)
