"""test_softmax.py - posenc.softmax / alibi_slopes against BLOOM-style ALiBi attention and float64 softmax references."""
import numpy as np
import pytest

import posenc
from conftest import supported_variants
from hf_reference import assert_probs_close, bloom_attention_probs, bloom_slopes, softmax64


def reference(scores, scale=1.0, slopes=None, mode="none", q_pos=None, k_pos=None, mask=None, sinks=None):
    """float64 softmax of scale*s + slope*b(k - q) + mask, with optional sink logits; -inf / future keys -> 0."""
    s = np.asarray(scores, dtype=np.float64)
    h, r, c = s.shape
    q_pos = np.arange(r) if q_pos is None else np.asarray(q_pos)
    k_pos = np.arange(c) if k_pos is None else np.asarray(k_pos)
    d = (k_pos[None, :] - q_pos[:, None]).astype(np.float64)
    logits = float(np.float32(scale)) * s
    if slopes is not None:
        slopes = np.asarray(slopes, dtype=np.float32).astype(np.float64)[:, None, None]
        logits = logits + slopes * (d if mode == "causal" else -np.abs(d))[None]
    if mask is not None:
        logits = logits + np.broadcast_to(np.asarray(mask, dtype=np.float64), logits.shape)
    if mode == "causal":
        logits = np.where((d > 0)[None], -np.inf, logits)
    if sinks is None:
        return softmax64(logits)
    sink = np.broadcast_to(np.asarray(sinks, np.float32).astype(np.float64)[:, None, None], (h, r, 1))
    return softmax64(np.concatenate([logits, sink], axis=-1))[..., :c]


def scores_of(rng, *shape, spread=8.0):
    return (rng.standard_normal(shape) * spread).astype(np.float32)


@pytest.mark.parametrize("n_heads", list(range(1, 65)) + [80, 96, 112])
def test_alibi_slopes_are_blooms(n_heads):
    assert np.array_equal(posenc.alibi_slopes(n_heads), bloom_slopes(n_heads).astype(np.float32))


def test_alibi_slopes_max_bias_and_known_values():
    assert np.array_equal(posenc.alibi_slopes(8), np.float32(2.0) ** -np.arange(1, 9, dtype=np.float32))
    c = 8
    m0 = 2.0 ** (-4.0 / c)
    assert np.array_equal(posenc.alibi_slopes(8, max_bias=4), (m0 ** np.arange(1, 9)).astype(np.float32))
    assert np.allclose(posenc.alibi_slopes(12)[8:], [0.7071, 0.3536, 0.1768, 0.0884], atol=1e-4)
    assert posenc.alibi_slopes(1).dtype == np.float32


@pytest.mark.parametrize("n_heads,n_rows,n_cols", [(12, 1, 1000), (8, 16, 16), (12, 5, 37), (3, 7, 64)])
def test_bloom_style_causal_alibi_attention(rng, api, n_heads, n_rows, n_cols):
    head_dim = 64
    scores = scores_of(rng, n_heads, n_rows, n_cols)
    y = posenc.softmax(scores, alibi=True, causal=True, scale=head_dim ** -0.5)
    slopes = bloom_slopes(n_heads).astype(np.float32)          # BLOOM's slopes as float32 tensors
    ref = bloom_attention_probs(scores, slopes, float(np.float32(head_dim ** -0.5)), q_offset=n_cols - n_rows)
    assert_probs_close(y, ref)
    assert np.allclose(y.sum(-1), 1.0, atol=1e-6)
    # keys after each query are exactly 0
    future = np.arange(n_cols)[None, :] > (n_cols - n_rows + np.arange(n_rows))[:, None]
    assert np.all(y[:, future] == 0)


def test_positions_symmetric_custom_slopes_and_offsets(rng, api):
    scores = scores_of(rng, 4, 6, 30)
    slopes = np.array([0.5, 0.1, 0.02, 0.0], np.float32)
    y = posenc.softmax(scores, slopes=slopes, symmetric=True, scale=0.3, q_start=10, k_start=0)
    assert_probs_close(y, reference(scores, 0.3, slopes, "symmetric", q_pos=np.arange(10, 16)))
    y = posenc.softmax(scores, alibi=True, causal=True, q_start=100, k_start=90)
    assert_probs_close(y, reference(scores, 1.0, posenc.alibi_slopes(4), "causal", q_pos=np.arange(100, 106),
                                    k_pos=np.arange(90, 120)))
    # the default q_start: the queries are the last rows of the keys (k_start + n_cols - n_rows)
    assert np.array_equal(posenc.softmax(scores, alibi=True, causal=True, k_start=7),
                          posenc.softmax(scores, alibi=True, causal=True, k_start=7, q_start=7 + 24))
    # plain softmax and causal without a bias
    assert_probs_close(posenc.softmax(scores), reference(scores))
    assert_probs_close(posenc.softmax(scores, causal=True, q_start=0), reference(scores, mode="causal"))


def test_masks_broadcast_without_copies(rng, api):
    h, r, c = 3, 5, 20
    scores = scores_of(rng, h, r, c)
    per_head = rng.standard_normal((h, r, c)).astype(np.float32)
    per_head[1, 2, 5:9] = -np.inf
    shared_rows = per_head[0]                  # [r, c]: one mask for every head
    one_row = per_head[2, 1]                   # [c]: one row for every row and head
    for mask in (per_head, shared_rows, one_row, per_head[:, :1, :]):
        y = posenc.softmax(scores, mask=mask, alibi=True, causal=True)
        assert_probs_close(y, reference(scores, 1.0, posenc.alibi_slopes(h), "causal",
                                        q_pos=np.arange(c - r, c), mask=mask))
    assert np.all(posenc.softmax(scores, mask=per_head)[1, 2, 5:9] == 0)
    # a strided mask (every other row of a bigger one) is read in place
    big = rng.standard_normal((h, 2 * r, c + 3)).astype(np.float32)
    view = big[:, ::2, :c]
    assert_probs_close(posenc.softmax(scores, mask=view), reference(scores, mask=view))
    with pytest.raises(ValueError, match="broadcast"):
        posenc.softmax(scores, mask=np.zeros((2, r, c), np.float32))


def test_sinks_and_fully_masked_rows(rng, api):
    scores = scores_of(rng, 4, 3, 12)
    sinks = np.array([0.0, 2.5, -1.0, -np.inf], np.float32)
    y = posenc.softmax(scores, sinks=sinks, scale=0.5)
    ref = reference(scores, 0.5, sinks=sinks)
    assert_probs_close(y, ref)
    assert np.all(y[:3].sum(-1) < 1.0) and np.allclose(y[3].sum(-1), 1.0, atol=1e-6)
    masked = scores.copy()
    masked[0, 1] = -np.inf
    out = posenc.softmax(masked)
    assert np.all(out[0, 1] == 0)


def test_out_in_place_two_d_and_strided(rng, api):
    scores = scores_of(rng, 2, 4, 33)
    expected = posenc.softmax(scores, alibi=True, causal=True)
    inplace = scores.copy()
    assert posenc.softmax(inplace, alibi=True, causal=True, out=inplace) is inplace
    assert np.array_equal(inplace, expected)
    # rows of a bigger buffer (a KV-cache-sized score matrix), written into another strided view
    big = np.zeros((2, 4, 40), np.float32)
    big[:, :, :33] = scores
    dst = np.full((2, 4, 50), 7.0, np.float32)
    posenc.softmax(big[:, :, :33], alibi=True, causal=True, out=dst[:, :, 1:34])
    assert np.array_equal(dst[:, :, 1:34], expected)
    assert np.all(dst[:, :, 0] == 7) and np.all(dst[:, :, 34:] == 7)
    # 2-D: one head
    two_d = posenc.softmax(scores[1], alibi=True, causal=True)
    assert two_d.shape == (4, 33)
    assert_probs_close(two_d, reference(scores[1:], 1.0, posenc.alibi_slopes(1), "causal",
                                        q_pos=np.arange(29, 33))[0])


def test_python_side_argument_errors(rng):
    scores = scores_of(rng, 2, 3, 4)
    with pytest.raises(ValueError, match="exclude"):
        posenc.softmax(scores, causal=True, symmetric=True)
    with pytest.raises(ValueError, match="causal=True, symmetric=True or grid_width"):
        posenc.softmax(scores, alibi=True)
    with pytest.raises(ValueError, match="not both"):
        posenc.softmax(scores, alibi=True, slopes=[1, 2], causal=True)
    with pytest.raises(ValueError, match="entries, expected 2"):
        posenc.softmax(scores, slopes=[1.0], causal=True)
    with pytest.raises(ValueError, match="entries, expected 2"):
        posenc.softmax(scores, sinks=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shape"):
        posenc.softmax(scores, out=np.empty((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="n_rows"):
        posenc.softmax(np.zeros((1, 2, 3, 4), np.float32))


def test_per_row_query_positions(rng, api):
    scores = scores_of(rng, 2, 3, 8)
    q_positions = np.array([2, 5, 7])
    lib = posenc.library()
    if not lib.has_field(posenc._lib.SoftmaxDesc, "q_positions"):
        with pytest.raises(NotImplementedError, match="q_positions"):
            posenc.softmax(scores, alibi=True, causal=True, q_positions=q_positions)
        return
    for mode in ("causal", "symmetric"):
        y = posenc.softmax(scores, alibi=True, q_positions=q_positions, k_start=1, **{mode: True})
        assert_probs_close(y, reference(scores, 1.0, posenc.alibi_slopes(2), mode, q_pos=q_positions,
                                        k_pos=np.arange(1, 9)))
    with pytest.raises(ValueError, match="q_positions has shape"):
        posenc.softmax(scores, q_positions=[1, 2])
    with pytest.raises(posenc.RangeError):
        posenc.softmax(scores, causal=True, q_positions=[0, -1, 2])


@pytest.mark.parametrize("mode", ["causal", "symmetric"])
def test_per_column_key_positions(rng, api, mode):
    """A KV cache after StreamingLLM-style eviction: 4 sink tokens, then a recent window, keys in any order."""
    n_heads, n_rows = 4, 3
    k_positions = np.concatenate([np.arange(4), np.arange(5000, 5060)])
    rng.shuffle(k_positions)
    q_positions = np.array([5030, 5059, 5061])
    scores = scores_of(rng, n_heads, n_rows, k_positions.size)
    slopes = posenc.alibi_slopes(n_heads)
    y = posenc.softmax(scores, alibi=True, causal=mode == "causal", symmetric=mode == "symmetric", scale=0.125,
                       q_positions=q_positions, k_positions=k_positions)
    assert_probs_close(y, reference(scores, 0.125, slopes, mode, q_pos=q_positions, k_pos=k_positions))
    if mode == "causal":   # keys after each query are exactly 0, wherever they sit in the row
        assert np.all(y[:, k_positions[None, :] > q_positions[:, None]] == 0)
    with pytest.raises(ValueError, match="k_positions has shape"):
        posenc.softmax(scores, causal=True, k_positions=[1, 2])
    with pytest.raises(posenc.RangeError):
        posenc.softmax(scores, causal=True, k_positions=np.full(k_positions.size, -3))


def grid_reference(scores, scale, slopes, width, prefix, metric, q_pos, k_pos):
    """float64 2-D ALiBi: b = -distance between the patches (x, y) = ((t - prefix) % width, (t - prefix) // width),
    0 next to a token before the grid; the Euclidean distance rounded to float32 as the library defines it."""
    q = np.asarray(q_pos)[:, None] - prefix
    k = np.asarray(k_pos)[None, :] - prefix
    dx = k % width - q % width
    dy = k // width - q // width
    if metric == "euclidean":
        dist = np.sqrt((dx * dx + dy * dy).astype(np.float64)).astype(np.float32).astype(np.float64)
    else:
        dist = (np.abs(dx) + np.abs(dy)).astype(np.float64)
    b = np.where((q < 0) | (k < 0), 0.0, -dist)
    logits = float(np.float32(scale)) * np.asarray(scores, np.float64)
    logits = logits + np.asarray(slopes, np.float32).astype(np.float64)[:, None, None] * b[None]
    return softmax64(logits)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
@pytest.mark.parametrize("prefix", [0, 1])
def test_two_d_alibi_on_a_patch_grid(rng, api, metric, prefix):
    width, lines, n_heads = 8, 6, 16
    n = prefix + width * lines
    scores = scores_of(rng, n_heads, n, n)
    slopes = posenc.alibi_slopes(n_heads)
    y = posenc.softmax(scores, alibi=True, scale=0.125, grid_width=width, grid_prefix=prefix, grid_metric=metric,
                       q_start=0)
    assert_probs_close(y, grid_reference(scores, 0.125, slopes, width, prefix, metric, np.arange(n), np.arange(n)))
    for bad in ({"causal": True}, {"grid_metric": "chebyshev"}):
        with pytest.raises(ValueError):
            posenc.softmax(scores, alibi=True, grid_width=width, **bad)
    with pytest.raises(posenc.ParamError):
        posenc.softmax(scores, alibi=True, grid_width=0)


def test_every_variant_gives_identical_bits(rng, api):
    scores = scores_of(rng, 5, 9, 301, spread=30.0)
    mask = rng.standard_normal((9, 301)).astype(np.float32)
    sinks = rng.standard_normal(5).astype(np.float32)
    results = set()
    for variant in supported_variants():
        posenc.set_isa(variant)
        results.add(posenc.softmax(scores, alibi=True, causal=True, scale=0.125, mask=mask, sinks=sinks).tobytes())
    assert len(results) == 1


@pytest.mark.parametrize("n_heads,n_rows,n_cols", [(4, 1, 1024), (8, 7, 300), (2, 3, 33)])
def test_fast_precision_is_close_and_identical_on_every_variant(rng, api, n_heads, n_rows, n_cols):
    scores = scores_of(rng, n_heads, n_rows, n_cols)
    mask = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
    sinks = rng.standard_normal(n_heads).astype(np.float32)
    results = set()
    for variant in supported_variants():
        posenc.set_isa(variant)
        y = posenc.softmax(scores, alibi=True, causal=True, scale=0.125, mask=mask, sinks=sinks, precision="fast")
        results.add(y.tobytes())
    assert len(results) == 1
    slopes = posenc.alibi_slopes(n_heads)
    ref = reference(scores, 0.125, slopes, "causal", q_pos=np.arange(n_rows) + n_cols - n_rows, mask=mask,
                    sinks=sinks)
    # logits of a few tens: FAST's bound (include/posenc.h) is a few 1e-5 here
    assert_probs_close(y, ref, rtol=5e-5)
    exact = posenc.softmax(scores, alibi=True, causal=True, scale=0.125, mask=mask, sinks=sinks)
    assert not np.array_equal(exact, y) or n_cols < 2   # a different path, not the exact one renamed
    with pytest.raises(ValueError, match="precision"):
        posenc.softmax(scores, precision="approximate")
