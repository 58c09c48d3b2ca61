"""test_rope.py - RopePlan against HF-style float64 references: pairings, partial rotary, positions, flags, every call, every scheme."""
import numpy as np
import pytest

import posenc
from conftest import supported_variants
from hf_reference import (apply_rotary, cos_sin, head_rel_error, mrope_freqs, mrope_interleaved_freqs,
                          rope_default, rope_dynamic, rope_linear, rope_llama3, rope_longrope, rope_ntk, rope_yarn,
                          rope_1d, vision_2d_freqs)

TOL = 2e-6   # the library's 1e-6 per-head bound, plus float32 input/output rounding


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


@pytest.mark.parametrize("pairing", ["half", "interleaved"])
@pytest.mark.parametrize("head_dim,rotary_dim", [(128, 128), (64, 32), (80, 80), (6, 4), (96, 48)])
def test_apply_matches_rotate_half_and_every_two(rng, api, pairing, head_dim, rotary_dim):
    plan = posenc.RopePlan(head_dim=head_dim, rotary_dim=rotary_dim, pairing=pairing, base=10000.0)
    x = rand(rng, 7, 3, head_dim)
    y = plan.apply(x, start=1000)
    inv_freq, _ = rope_default(10000.0, rotary_dim)
    ref = rope_1d(x, inv_freq, np.arange(1000, 1007), interleaved=(pairing == "interleaved"))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert head_rel_error(y, ref) <= TOL
    assert np.array_equal(y[..., rotary_dim:], x[..., rotary_dim:])      # the tail is copied bit for bit
    assert not np.shares_memory(y, x)


def test_positions_array_start_and_large_positions(rng, api):
    plan = posenc.RopePlan(head_dim=64, base=500000.0)
    x = rand(rng, 5, 2, 64)
    positions = np.array([0, 7, 2**31 - 1, -(2**31 - 1), 123456789], dtype=np.int64)
    ref = rope_1d(x, rope_default(500000.0, 64)[0], positions)
    for pos in (positions, list(positions), positions.astype(np.int32)[:2]):
        if len(pos) != 5:
            with pytest.raises(ValueError, match="positions has shape"):
                plan.apply(x, positions=pos)
            continue
        assert head_rel_error(plan.apply(x, positions=pos), ref) <= TOL
    # start counts up from start; positions given as a column also work
    y = plan.apply(x, start=40)
    assert np.array_equal(y, plan.apply(x, positions=np.arange(40, 45)[:, None]))
    with pytest.raises(TypeError, match="integers"):
        plan.apply(x, positions=np.arange(5, dtype=np.float64))


def test_two_d_input_is_one_head(rng, api):
    plan = posenc.RopePlan(head_dim=32)
    x = rand(rng, 9, 32)
    y = plan.apply(x, start=3)
    assert y.shape == (9, 32)
    assert np.array_equal(y, plan.apply(x[:, None, :], start=3)[:, 0, :])


def test_inverse_undoes_and_no_mscale_leaves_out_the_magnitude(rng, api):
    plan = posenc.RopePlan(head_dim=64, scaling="yarn", factor=4.0, original_max_position=4096)
    assert plan.mscale == pytest.approx(0.1 * np.log(4.0) + 1.0, rel=1e-15)
    x = rand(rng, 6, 4, 64)
    y = plan.apply(x, start=5000)
    back = plan.apply(y, start=5000, inverse=True, no_mscale=True)
    assert np.allclose(back, x * plan.mscale, atol=2e-6)
    ref = rope_1d(x, plan.frequencies, np.arange(5000, 5006), attention_factor=plan.mscale)
    assert head_rel_error(y, ref) <= TOL
    ref_plain = rope_1d(x, plan.frequencies, np.arange(5000, 5006))
    assert head_rel_error(plan.apply(x, start=5000, no_mscale=True), ref_plain) <= TOL
    ref_inverse = rope_1d(x, plan.frequencies, np.arange(5000, 5006), inverse=True)
    assert head_rel_error(plan.apply(x, start=5000, inverse=True, no_mscale=True), ref_inverse) <= TOL


def test_out_in_place_strided_and_views(rng, api):
    plan = posenc.RopePlan(head_dim=32, pairing="interleaved")
    x = rand(rng, 4, 3, 32)
    expected = plan.apply(x, start=2)
    # in place: out is x; result is x itself
    y = x.copy()
    assert plan.apply(y, start=2, out=y) is y
    assert np.array_equal(y, expected)
    # into a strided destination (a KV-cache slice), head-major source view
    cache = np.zeros((3, 10, 32), np.float32)                # [heads, tokens, dim]
    dst = cache[:, 5:9, :].transpose(1, 0, 2)               # [tokens, heads, dim] view, strides (32, 320, 1)
    src = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert plan.apply(src, start=2, out=dst) is dst
    assert np.array_equal(cache[:, 5:9, :].transpose(1, 0, 2), expected)
    assert not cache[:, :5].any() and not cache[:, 9:].any()
    with pytest.raises(ValueError, match="shape"):
        plan.apply(x, out=np.empty((4, 3, 31), np.float32))


def test_apply_qk_gqa_in_place(rng, api):
    plan = posenc.RopePlan(head_dim=64, base=10000.0)
    q, k = rand(rng, 5, 8, 64), rand(rng, 5, 2, 64)
    q0, k0 = q.copy(), k.copy()
    rq, rk = plan.apply_qk(q, k, start=17)
    assert rq is q and rk is k
    assert np.array_equal(q, plan.apply(q0, start=17))
    assert np.array_equal(k, plan.apply(k0, start=17))
    # q and k as views of one fused qkv buffer (token stride shared)
    qkv = rand(rng, 5, 8 + 2 + 2, 64)
    fused = qkv.copy()
    plan.apply_qk(fused[:, :8], fused[:, 8:10], positions=np.arange(5) * 3)
    assert np.array_equal(fused[:, :8], plan.apply(qkv[:, :8], positions=np.arange(5) * 3))
    assert np.array_equal(fused[:, 8:10], plan.apply(qkv[:, 8:10], positions=np.arange(5) * 3))
    assert np.array_equal(fused[:, 10:], qkv[:, 10:])
    with pytest.raises(ValueError, match="tokens"):
        plan.apply_qk(q, k[:4])


def test_shift_rerotates_by_delta_without_mscale(rng, api):
    plan = posenc.RopePlan(head_dim=64, scaling="yarn", factor=8.0, original_max_position=2048)
    keys = rand(rng, 6, 2, 64)
    at_100 = plan.apply(keys, start=100)
    shifted = at_100.copy()
    assert plan.shift(shifted, -60) is shifted
    assert head_rel_error(shifted, plan.apply(keys, start=40).astype(np.float64)) <= 4e-6
    back = shifted.copy()
    plan.shift(back, -60, inverse=True)
    assert head_rel_error(back, at_100.astype(np.float64)) <= 4e-6


def test_apply_tables(rng, api):
    plan = posenc.RopePlan(head_dim=48, rotary_dim=32)
    x = rand(rng, 3, 2, 48)
    angles = rng.uniform(-10, 10, (3, 16))
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    y = plan.apply_tables(x, cos, sin)
    c64, s64 = np.concatenate([cos, cos], -1).astype(np.float64), np.concatenate([sin, sin], -1).astype(np.float64)
    assert head_rel_error(y, apply_rotary(x, c64, s64)) <= TOL
    assert head_rel_error(plan.apply_tables(x, cos, sin, inverse=True), apply_rotary(x, c64, -s64)) <= TOL
    # strided tables (rows of a bigger table), one token with 1-D tables
    big_cos, big_sin = np.zeros((3, 40), np.float32), np.zeros((3, 40), np.float32)
    big_cos[:, :16], big_sin[:, :16] = cos, sin
    assert np.array_equal(plan.apply_tables(x, big_cos[:, :16], big_sin[:, :16]), y)
    assert np.array_equal(plan.apply_tables(x[:1], cos[0], sin[0]), y[:1])
    with pytest.raises(ValueError, match="row strides"):
        plan.apply_tables(x, big_cos[:, :16], sin)
    assert np.array_equal(plan.apply_tables(x, big_cos[:, :16], sin, copy=True), y)
    with pytest.raises(ValueError, match="expected"):
        plan.apply_tables(x, cos[:, :15], sin[:, :15])


def test_properties_and_close():
    plan = posenc.RopePlan(head_dim=96, rotary_dim=64, pairing="interleaved", base=1e6)
    assert (plan.head_dim, plan.rotary_dim, plan.n_axes, plan.pairing) == (96, 64, 1, "interleaved")
    assert plan.frequencies.dtype == np.float64 and plan.frequencies.shape == (32,)
    assert not plan.frequencies.flags.writeable
    assert np.allclose(plan.frequencies, rope_default(1e6, 64)[0], rtol=1e-14, atol=0)
    assert plan.mscale == 1.0
    assert "head_dim=96" in repr(plan)
    assert plan.library is posenc.library()
    plan.close()
    plan.close()
    with pytest.raises(ValueError, match="closed"):
        plan.apply(np.zeros((1, 96), np.float32))
    with posenc.RopePlan(head_dim=8) as p:
        assert p.apply(np.ones((1, 8), np.float32)).shape == (1, 8)


def test_keyword_validation_in_python():
    with pytest.raises(ValueError, match="expected one of"):
        posenc.RopePlan(head_dim=8, scaling="yarnn")
    with pytest.raises(TypeError):
        posenc.RopePlan(head_dim=8.0)
    with pytest.raises(ValueError, match="at most 4"):
        posenc.RopePlan(head_dim=8, axes="mrope", sections=[1, 1, 1, 1, 0])
    with pytest.raises(ValueError, match="entries, expected 4"):
        posenc.RopePlan(head_dim=8, scaling="freq_factors", freq_factors=[1.0, 2.0])
    with pytest.raises(ValueError, match="elements per head"):
        posenc.RopePlan(head_dim=8).apply(np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError, match="n_tokens"):
        posenc.RopePlan(head_dim=8).apply(np.zeros((2, 2, 2, 8), np.float32))


# ---- every scheme: plan frequencies and mscale against the HF formulas -------------------------------------
SCHEMES = [
    ("linear", dict(scaling="linear", factor=4.0), lambda b, d: rope_linear(b, d, 4.0)),
    ("ntk", dict(scaling="ntk", factor=3.0), lambda b, d: rope_ntk(b, d, 3.0)),
    ("dynamic-below", dict(scaling="dynamic_ntk", factor=2.0, original_max_position=4096, sequence_length=1000),
     lambda b, d: rope_dynamic(b, d, 2.0, 4096, 1000)),
    ("dynamic-above", dict(scaling="dynamic_ntk", factor=2.0, original_max_position=4096, sequence_length=10000),
     lambda b, d: rope_dynamic(b, d, 2.0, 4096, 10000)),
    ("yarn", dict(scaling="yarn", factor=16.0, original_max_position=4096, beta_fast=32, beta_slow=1),
     lambda b, d: rope_yarn(b, d, 16.0, 4096)),
    ("yarn-attention-factor", dict(scaling="yarn", factor=4.0, original_max_position=32768, attention_factor=1.5),
     lambda b, d: rope_yarn(b, d, 4.0, 32768, attention_factor=1.5)),
    ("yarn-deepseek", dict(scaling="yarn", factor=40.0, original_max_position=4096, mscale=1.0,
                           mscale_all_dim=0.707),
     lambda b, d: rope_yarn(b, d, 40.0, 4096, mscale=1.0, mscale_all_dim=0.707)),
    ("llama3", dict(scaling="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                    original_max_position=8192),
     lambda b, d: rope_llama3(b, d, 8.0, 1.0, 4.0, 8192)),
    ("longrope-short", dict(scaling="longrope", factor=32.0, original_max_position=4096,
                            short_factors=np.linspace(1, 2, 32), long_factors=np.linspace(1, 60, 32),
                            use_long_factors=False),
     lambda b, d: rope_longrope(b, d, np.linspace(1, 2, 32), np.linspace(1, 60, 32), 131072, 4096)),
    ("longrope-long", dict(scaling="longrope", factor=32.0, original_max_position=4096,
                           short_factors=np.linspace(1, 2, 32), long_factors=np.linspace(1, 60, 32),
                           use_long_factors=True),
     lambda b, d: rope_longrope(b, d, np.linspace(1, 2, 32), np.linspace(1, 60, 32), 131072, 4096, seq_len=5000)),
    ("freq-factors", dict(scaling="freq_factors", freq_factors=np.linspace(1, 8, 32)),
     lambda b, d: (rope_default(b, d)[0] / np.linspace(1, 8, 32), 1.0)),
]


@pytest.mark.parametrize("name,kwargs,reference", SCHEMES, ids=[s[0] for s in SCHEMES])
def test_scheme_frequencies_and_rotation(rng, api, name, kwargs, reference):
    base = 10000.0
    plan = posenc.RopePlan(head_dim=64, base=base, **kwargs)
    inv_freq, attention = reference(base, 64)
    assert np.allclose(plan.frequencies, inv_freq, rtol=1e-12, atol=0), name
    assert plan.mscale == pytest.approx(attention, rel=1e-12)
    x = rand(rng, 4, 2, 64)
    positions = np.array([0, 3, 4095, 70000])
    assert head_rel_error(plan.apply(x, positions=positions), rope_1d(x, inv_freq, positions, attention)) <= TOL


@pytest.mark.parametrize("interleaved_axes", [False, True])
def test_mrope_against_qwen_vl_references(rng, api, interleaved_axes):
    sections = [24, 20, 20] if interleaved_axes else [16, 24, 24]
    axes = "mrope_interleaved" if interleaved_axes else "mrope"
    plan = posenc.RopePlan(head_dim=128, base=1e6, axes=axes, sections=sections)
    assert plan.n_axes == 3
    x = rand(rng, 6, 4, 128)
    pos_3xt = np.array([[5, 5, 5, 9, 9, 12], [5, 6, 7, 9, 10, 12], [5, 8, 11, 9, 13, 12]])
    inv_freq, _ = rope_default(1e6, 128)
    make = mrope_interleaved_freqs if interleaved_axes else mrope_freqs
    cos, sin = cos_sin(make(inv_freq, pos_3xt, sections), 1.0)
    ref = apply_rotary(x, cos, sin)
    y = plan.apply(x, positions=pos_3xt.T)           # token-major [n_tokens, 3]
    assert head_rel_error(y, ref) <= TOL
    # text tokens: t = h = w, which start= gives without positions
    same_on_every_axis = np.repeat(np.arange(40, 46)[:, None], 3, axis=1)
    assert np.array_equal(plan.apply(x, start=40), plan.apply(x, positions=same_on_every_axis))
    # HF's layout [3, n_tokens] (position_axis_stride in 0.2)
    if api == "0.2":
        assert np.array_equal(plan.apply(x, positions=pos_3xt, axis_major=True), y)
        q, k = x.copy(), x[:, :2].copy()
        plan.apply_qk(q, k, positions=pos_3xt, axis_major=True)
        assert np.array_equal(q, y) and np.array_equal(k, y[:, :2])
        with pytest.raises(ValueError, match="axis-major"):
            plan.apply(x, positions=pos_3xt.T, axis_major=True)
    else:
        with pytest.raises(NotImplementedError, match="posenc_rope_rotate"):
            plan.apply(x, positions=pos_3xt, axis_major=True)
    with pytest.raises(ValueError, match="token-major"):
        plan.apply(x, positions=pos_3xt)


def test_vision_2d_against_qwen2_vl_vision_rotary(rng, api):
    plan = posenc.RopePlan(head_dim=80, base=10000.0, axes="vision_2d", sections=[20, 20])
    assert plan.n_axes == 2
    x = rand(rng, 5, 3, 80)
    pos = np.array([[0, 0], [0, 1], [3, 2], [7, 7], [1, 6]])
    cos, sin = cos_sin(vision_2d_freqs(80, 10000.0, pos), 1.0)
    assert head_rel_error(plan.apply(x, positions=pos), apply_rotary(x, cos, sin)) <= TOL


def test_every_variant_gives_identical_bits(rng, api):
    plan = posenc.RopePlan(head_dim=72, rotary_dim=64, pairing="interleaved", scaling="llama3", factor=8.0,
                           original_max_position=8192)
    x = rand(rng, 33, 5, 72)
    positions = rng.integers(-10**6, 10**6, 33)
    results = {}
    for variant in supported_variants():
        posenc.set_isa(variant)
        results[variant] = plan.apply(x, positions=positions).tobytes()
    assert len(set(results.values())) == 1, sorted(results)
