"""test_softmax_training.py - softmax_backward, softmax(stats=True) and the split-K merges against float64 numpy."""
import numpy as np
import pytest

import posenc
from posenc import _lib
from hf_reference import assert_probs_close, softmax64

TINY = 1e-30      # below this a probability may be flushed (the library's documented accuracy range)


def logits64(scores, scale=1.0, slopes=None, mode="none", q_pos=None, k_pos=None, mask=None):
    """float64 logits scale*s + slope*b(k - q) + mask of [H, R, C] scores; causally masked keys are -inf."""
    s = np.asarray(scores, np.float64)
    h, r, c = s.shape
    q_pos = np.arange(r) if q_pos is None else np.asarray(q_pos)
    k_pos = np.arange(c) if k_pos is None else np.asarray(k_pos)
    d = (k_pos[None, :] - q_pos[:, None]).astype(np.float64)
    z = float(np.float32(scale)) * s
    if slopes is not None:
        z = z + np.asarray(slopes, np.float32).astype(np.float64)[:, None, None] * (
            d if mode == "causal" else -np.abs(d))[None]
    if mask is not None:
        z = z + np.broadcast_to(np.asarray(mask, np.float64), z.shape)
    if mode == "causal":
        z = np.where((d > 0)[None], -np.inf, z)
    return z


def with_sinks64(z, sinks):
    """Softmax over [z, sink] per row, the sink's column dropped."""
    if sinks is None:
        return softmax64(z)
    h, r, c = z.shape
    sink = np.broadcast_to(np.asarray(sinks, np.float32).astype(np.float64)[:, None, None], (h, r, 1))
    return softmax64(np.concatenate([z, sink], axis=-1))[..., :c]


def assert_rel_close(got, want, rtol=1e-6):
    """Per element: relative difference <= rtol where want >= TINY; absolute <= TINY below."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    big = want >= TINY
    rel = np.abs(got - want)[big] / want[big]
    assert rel.size == 0 or rel.max() <= rtol, "max relative difference %.3g" % rel.max()
    assert np.all(np.abs(got - want)[~big] <= TINY)


def random_widths(rng, n_cols, n_blocks, allow_empty=True):
    cuts = np.sort(rng.integers(0 if allow_empty else 1, n_cols + (1 if allow_empty else 0), n_blocks - 1))
    if not allow_empty:
        cuts = np.unique(cuts)
    edges = np.concatenate([[0], cuts, [n_cols]])
    return [int(w) for w in np.diff(edges)]


# ---- backward ---------------------------------------------------------------------------------------------------
def backward64(y, dy, scale):
    y, dy = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    dot = np.sum(y * dy, axis=-1, keepdims=True)
    return float(np.float32(scale)) * y * (dy - dot)


def assert_backward_bound(dx, y, dy, scale):
    """include/posenc.h: |dx - dx64| <= 2^-24 |dx64| + |scale y_j| (n_cols/32 + 6) 2^-52 sum_k |dy_k y_k|,
    results below 2^-126 flushed to +0."""
    y64, dy64 = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    ref = backward64(y, dy, scale)
    n_cols = y64.shape[-1]
    bound = (2.0 ** -24 * np.abs(ref) + np.abs(float(np.float32(scale)) * y64) * (n_cols / 32 + 6) * 2.0 ** -52
             * np.sum(np.abs(dy64 * y64), axis=-1, keepdims=True) + 2.0 ** -126)
    err = np.abs(np.asarray(dx, np.float64) - ref)
    assert np.all(err <= bound), "worst error / bound %.3g" % (err / bound).max()


@pytest.mark.parametrize("shape", [(8, 6, 1000), (3, 1, 32768), (2, 5, 37), (1, 4, 1)])
def test_backward_matches_the_analytic_formula(rng, shape):
    h, r, c = shape
    scores = (rng.standard_normal(shape) * 5).astype(np.float32)
    y = posenc.softmax(scores, alibi=True, causal=True, scale=0.125, q_start=max(c - r - 3, 0))
    dy = rng.standard_normal(shape).astype(np.float32)
    dx = posenc.softmax_backward(y, dy, scale=0.125)
    assert dx.dtype == np.float32 and dx.shape == shape
    assert_backward_bound(dx, y, dy, 0.125)
    masked = y == 0
    assert np.all(dx[masked] == 0) and not np.any(np.signbit(dx[masked]))    # +0, never -0
    # in place into dy, and strided views of bigger buffers: the same bits
    dy2 = dy.copy()
    assert posenc.softmax_backward(y, dy2, scale=0.125, out=dy2) is dy2
    assert dy2.tobytes() == dx.tobytes()
    ybig = np.zeros((h, r + 2, c + 9), np.float32)
    ybig[:, 1:r + 1, 4:c + 4] = y
    out = np.full((h, r, c + 5), 7.0, np.float32)
    posenc.softmax_backward(ybig[:, 1:r + 1, 4:c + 4], dy, scale=0.125, out=out[..., 2:c + 2])
    assert out[..., 2:c + 2].tobytes() == dx.tobytes()
    assert np.all(out[..., :2] == 7) and np.all(out[..., c + 2:] == 7)
    # two-dimensional: one head
    assert posenc.softmax_backward(y[0], dy[0], scale=0.125).tobytes() == dx[0].tobytes()


def test_backward_against_finite_differences(rng):
    """dL/ds of L = sum(w * softmax(scale*s + ALiBi + mask)) by central differences in float64."""
    h, r, c = 2, 3, 7
    scale = 0.7
    s = rng.standard_normal((h, r, c))
    w = rng.standard_normal((h, r, c)).astype(np.float32)
    mask = rng.uniform(-1, 0, (r, c)).astype(np.float32)
    slopes = posenc.alibi_slopes(h)
    q_pos = np.arange(c - r, c)

    def loss(s64):
        return np.sum(w * softmax64(logits64(s64, scale, slopes, "causal", q_pos=q_pos, mask=mask)))

    fd = np.zeros_like(s)
    step = 1e-6
    for idx in np.ndindex(s.shape):
        e = np.zeros_like(s)
        e[idx] = step
        fd[idx] = (loss(s + e) - loss(s - e)) / (2 * step)
    s32 = s.astype(np.float32)
    y = posenc.softmax(s32, alibi=True, causal=True, scale=scale, mask=mask)
    dx = posenc.softmax_backward(y, w, scale=scale)
    # the library's inputs are float32 (s rounded, y to ~1e-7): agreement to 1e-5 of the gradient's size
    assert np.max(np.abs(dx - fd)) <= 1e-5 * np.max(np.abs(fd))
    assert np.all(dx[:, np.arange(c)[None, :] > q_pos[:, None]] == 0)


def test_backward_errors_leave_the_output_untouched(rng):
    y = posenc.softmax(rng.standard_normal((2, 3, 40)).astype(np.float32))
    dy = rng.standard_normal((2, 3, 40)).astype(np.float32)
    out = np.full_like(y, 3.0)
    with pytest.raises(posenc.OverlapError) as info:
        posenc.softmax_backward(y, dy, out=y)
    assert info.value.function == "posenc_softmax_backward"
    with pytest.raises(posenc.ParamError):
        posenc.softmax_backward(y, dy, scale=float("nan"), out=out)
    with pytest.raises(posenc.UnsupportedError):
        posenc.softmax_backward(y.astype(np.float16), dy.astype(np.float16), out=out)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_backward(y, dy[:, :2], out=out)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_backward(y, dy, out=out[:, :2])
    assert np.all(out == 3.0)
    # empty calls
    assert posenc.softmax_backward(y[:, :0], dy[:, :0]).shape == (2, 0, 40)


# ---- forward statistics -----------------------------------------------------------------------------------------
def test_stats_are_each_rows_max_and_sum(rng, api):
    h, r, c = 6, 5, 3000
    scores = (rng.standard_normal((h, r, c)) * 6).astype(np.float32)
    mask = np.where(rng.random((r, c)) < 0.1, -np.inf, rng.uniform(-2, 2, (r, c))).astype(np.float32)
    mask[2] = -np.inf                           # a row with no live column
    sinks = np.array([0.5, -np.inf, 3.0, -1.0, 20.0, 0.0], np.float32)
    probs, stats = posenc.softmax(scores, alibi=True, causal=True, scale=0.3, mask=mask, sinks=sinks, stats=True)
    assert stats.shape == (h, r, 2) and stats.dtype == np.float32
    assert np.array_equal(probs, posenc.softmax(scores, alibi=True, causal=True, scale=0.3, mask=mask, sinks=sinks))
    z = logits64(scores, 0.3, posenc.alibi_slopes(h), "causal", q_pos=np.arange(c - r, c), mask=mask)
    z_all = np.concatenate([z, np.broadcast_to(sinks.astype(np.float64)[:, None, None], (h, r, 1))], axis=-1)
    m64 = z_all.max(-1)
    M, S = stats[..., 0].astype(np.float64), stats[..., 1].astype(np.float64)
    live = m64 > -np.inf
    assert np.all(M[~live] == -np.inf) and np.all(S[~live] == 0)
    M, S, m64, z, z_all = M[live], S[live], m64[live], z[live], z_all[live]
    # M: the largest float32 logit (one or two float32 roundings of the float64 one)
    assert np.all(np.abs(M - m64) <= 2.0 ** -22 * np.abs(m64))
    # S = sum exp(z - M), the sink included, within 1e-6 relative of float64
    s64 = np.sum(np.exp(z_all - M[..., None]), axis=-1)
    assert np.all(np.abs(S - s64) <= 1e-6 * s64)
    assert_probs_close(probs[live], np.exp(z - M[..., None]) / S[..., None])
    # head 1 has no sink (-inf): its row 2 is all masked -> (-inf, 0)
    assert stats[1, 2, 0] == -np.inf and stats[1, 2, 1] == 0 and np.all(probs[1, 2] == 0)

    # into a slice of a [n_blocks, n_heads, n_rows, 2] array; two-dimensional scores give [n_rows, 2]
    all_stats = np.zeros((3, h, r, 2), np.float32)
    _, returned = posenc.softmax(scores, stats=all_stats[1])
    assert returned is all_stats[1] or np.shares_memory(returned, all_stats)
    assert np.all(all_stats[0] == 0) and np.all(all_stats[2] == 0)
    assert np.array_equal(all_stats[1], posenc.softmax(scores, stats=True)[1])
    p0, s0 = posenc.softmax(scores[0], stats=True)
    assert s0.shape == (r, 2) and np.array_equal(s0, all_stats[1, 0])


def test_an_older_library_raises_not_implemented(rng, monkeypatch):
    """A library without the 0.2 descriptor fields and calls: each new feature says so before any call."""
    lib = posenc.library()
    monkeypatch.setattr(lib, "softmax_desc_size", _lib._prefix_size(_lib.SoftmaxDesc, _lib.SOFTMAX_DESC_FIRST_FIELDS))
    new_calls = ("posenc_softmax_backward", "posenc_softmax_merge", "posenc_softmax_merge_concat")
    has = lib.has
    monkeypatch.setattr(lib, "has", lambda name: name not in new_calls and has(name))
    s = rng.standard_normal((2, 3, 8)).astype(np.float32)
    stats = np.zeros((1, 2, 3, 2), np.float32)
    with posenc.ThreadPool(2) as pool:
        for call in (lambda: posenc.softmax(s, stats=True), lambda: posenc.softmax(s, pool=pool),
                     lambda: posenc.softmax_backward(s, s), lambda: posenc.softmax_merge(stats, [s]),
                     lambda: posenc.softmax_merge_concat(stats, [s])):
            with pytest.raises(NotImplementedError):
                call()


def test_stats_errors(rng):
    scores = rng.standard_normal((2, 3, 50)).astype(np.float32)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax(scores, stats=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(TypeError):
        posenc.softmax(scores, stats=np.zeros((2, 3, 2), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        posenc.softmax(scores, stats=np.zeros((2, 4, 2), np.float32)[:, :3])
    out = np.full((2, 3, 50), 5.0, np.float32)
    with pytest.raises(posenc.OverlapError):        # the statistics inside the output
        posenc.softmax(scores, out=out, stats=out.reshape(-1)[:12].reshape(2, 3, 2))
    assert np.all(out == 5.0)


# ---- split-K: concatenation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("h,r,c,n_blocks", [(4, 6, 3000, 5), (2, 1, 32768, 8), (3, 9, 200, 7), (1, 2, 33, 2)])
def test_a_row_split_into_key_blocks_and_merged_equals_the_unsplit_softmax(rng, h, r, c, n_blocks):
    scores = (rng.standard_normal((h, r, c)) * 4).astype(np.float32)
    mask = rng.uniform(-3, 1, (h, r, c)).astype(np.float32)
    sinks = rng.uniform(-2, 2, h).astype(np.float32)
    q0 = c - r - 2                                  # the last two keys lie in the queries' future
    opts = dict(alibi=True, causal=True, scale=0.2, q_start=q0)
    unsplit = posenc.softmax(scores, mask=mask, sinks=sinks, **opts)
    widths = random_widths(rng, c, n_blocks)
    probs = np.full((h, r, c), np.nan, np.float32)
    stats = np.empty((n_blocks, h, r, 2), np.float32)
    col = 0
    for b, w in enumerate(widths):
        if w == 0:
            stats[b] = (-np.inf, 0.0)               # a block of width 0 has no forward call
        else:                                       # each block without the sinks: the merge adds them once
            posenc.softmax(scores[..., col:col + w], mask=mask[..., col:col + w], k_start=col,
                           out=probs[..., col:col + w], stats=stats[b], **opts)
        col += w
    separate = [probs[..., c0:c0 + w].copy() for c0, w in zip(np.cumsum([0] + widths[:-1]), widths)]
    merged = posenc.softmax_merge_concat(stats, probs, block_cols=widths, sinks=sinks, out=probs)
    assert merged is probs
    assert_rel_close(merged, unsplit, 1e-6)
    assert_probs_close(merged, with_sinks64(logits64(scores, 0.2, posenc.alibi_slopes(h), "causal",
                                                      q_pos=np.arange(q0, q0 + r), mask=mask), sinks))
    # the blocks as separate arrays, out of place: the same bits
    again = posenc.softmax_merge_concat(stats, separate, sinks=sinks)
    assert again.tobytes() == merged.tobytes()


def test_concat_of_one_block_without_sinks_is_the_block(rng):
    scores = rng.standard_normal((3, 4, 100)).astype(np.float32)
    probs, stats = posenc.softmax(scores, stats=True)
    merged = posenc.softmax_merge_concat(stats[None], [probs])
    assert merged.tobytes() == probs.tobytes()


# ---- split-K: flash-decoding merge of P_b V_b -------------------------------------------------------------------
@pytest.mark.parametrize("h,r,c,head_dim,n_blocks", [(8, 1, 5000, 64, 6), (4, 3, 1200, 128, 4), (2, 2, 100, 16, 3)])
def test_flash_decoding_merge_equals_full_attention(rng, h, r, c, head_dim, n_blocks):
    scores = (rng.standard_normal((h, r, c)) * 3).astype(np.float32)
    values = rng.standard_normal((h, c, head_dim)).astype(np.float32)
    sinks = rng.uniform(-1, 4, h).astype(np.float32)
    q0 = c - r - 30 if c > 60 else c - r           # with c > 60 the last block lies wholly in the future
    opts = dict(alibi=True, causal=True, scale=head_dim ** -0.5, q_start=q0)
    widths = random_widths(rng, c - 20, n_blocks - 1, allow_empty=False) + [20]
    stats = np.empty((len(widths), h, r, 2), np.float32)
    partial = np.empty((len(widths), h, r, head_dim), np.float32)
    col = 0
    for b, w in enumerate(widths):
        p_b, _ = posenc.softmax(scores[..., col:col + w], k_start=col, stats=stats[b], **opts)
        o_b = np.einsum("hrk,hkd->hrd", p_b.astype(np.float64), values[:, col:col + w].astype(np.float64))
        partial[b] = o_b                             # P_b V_b in float64, rounded once to float32
        col += w
    if c > 60:
        assert np.all(stats[-1, ..., 0] == -np.inf) and np.all(stats[-1, ..., 1] == 0)
        partial[-1] = np.nan                         # a block of weight 0 is never read
    out = posenc.softmax_merge(stats, partial, sinks=sinks)
    assert out.shape == (h, r, head_dim) and out.dtype == np.float32

    p64 = with_sinks64(logits64(scores, head_dim ** -0.5, posenc.alibi_slopes(h), "causal",
                                q_pos=np.arange(q0, q0 + r)), sinks)
    o64 = np.einsum("hrk,hkd->hrd", p64, values.astype(np.float64))
    scale_of = np.einsum("hrk,hkd->hrd", p64, np.abs(values.astype(np.float64)))
    err = np.abs(out.astype(np.float64) - o64)
    assert np.all(err <= 1e-6 * scale_of), "worst error %.3g of sum p|v|" % (err / scale_of).max()

    # the blocks as a list, in place into block 0: the same bits
    blocks = [partial[b].copy() for b in range(len(widths))]
    assert posenc.softmax_merge(stats, blocks, sinks=sinks, out=blocks[0]) is blocks[0]
    assert blocks[0].tobytes() == out.tobytes()


def test_merge_of_one_block_without_sinks_is_the_block(rng):
    block = rng.standard_normal((2, 3, 16)).astype(np.float32)
    _, stats = posenc.softmax(rng.standard_normal((2, 3, 50)).astype(np.float32), stats=True)
    assert posenc.softmax_merge(stats[None], [block]).tobytes() == block.tobytes()
    assert posenc.softmax_merge(stats[None, 0], [block[0]]).tobytes() == block[0].tobytes()   # 2-D blocks


def test_merge_errors_leave_the_output_untouched(rng):
    h, r, n = 2, 3, 8
    blocks = rng.standard_normal((3, h, r, n)).astype(np.float32)
    stats = np.tile(np.array([0.0, 1.0], np.float32), (3, h, r, 1))
    out = np.full((h, r, n), 9.0, np.float32)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge(stats[:2], blocks, out=out)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge(stats, [blocks[0], blocks[1], blocks[2][:, :2]], out=out)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge(stats[:0], [], out=out)
    with pytest.raises(posenc.ParamError) as info:
        posenc.softmax_merge(stats, blocks, sinks=[np.nan, 0], out=out)
    assert info.value.function == "posenc_softmax_merge"
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge(stats, blocks, out=np.zeros((h, r, n + 1), np.float32))
    assert np.all(out == 9.0)
    # the output overlapping the statistics, or overlapping a block other than in place
    memory = np.full(h * r * n + 3 * h * r * 2, 9.0, np.float32)
    shared_out = memory[:h * r * n].reshape(h, r, n)
    shared_stats = memory[h * r * n - 4:h * r * n - 4 + 3 * h * r * 2].reshape(3, h, r, 2)
    shared_stats[...] = stats
    before = memory.copy()
    with pytest.raises(posenc.OverlapError):
        posenc.softmax_merge(shared_stats, blocks, out=shared_out)
    assert memory.tobytes() == before.tobytes()
    wide = np.full((h, r, 2 * n), 9.0, np.float32)
    with pytest.raises(posenc.OverlapError):
        posenc.softmax_merge(stats, [wide[..., 1:n + 1], blocks[1], blocks[2]], out=wide[..., :n])

    # concatenation: widths that disagree, one array without widths, a block not at its own columns
    probs = np.full((h, r, 10), 9.0, np.float32)
    st2 = stats[:2]
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge_concat(st2, [probs[..., :4], probs[..., 4:]], block_cols=[5, 5], out=probs)
    with pytest.raises(posenc.ShapeError):
        posenc.softmax_merge_concat(st2, probs, block_cols=[4, 5], out=probs)
    with pytest.raises(TypeError):
        posenc.softmax_merge_concat(st2, probs, out=probs)
    with pytest.raises(posenc.OverlapError) as info:
        posenc.softmax_merge_concat(st2, [probs[..., 6:], probs[..., :6]], out=probs)
    assert info.value.function == "posenc_softmax_merge_concat"
    assert np.all(probs == 9.0)
    for error in (posenc.ShapeError, posenc.OverlapError, posenc.ParamError):
        assert issubclass(error, posenc.Error) and issubclass(error, ValueError)
