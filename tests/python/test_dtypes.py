"""test_dtypes.py - float16 / bfloat16 through the 0.2 tensor views: widen exactly, compute as float32, round once (RNE)."""
import numpy as np
import pytest

import posenc
from hf_reference import head_rel_error, rope_1d


@pytest.fixture(autouse=True)
def tensor_api():
    if not posenc.library().tensor_api:
        pytest.skip("libposenc %s has no tensor-view calls (0.2)" % posenc.library().version)


def rand(rng, *shape):
    return rng.uniform(-2, 2, shape).astype(np.float32)


def to_bf16_bits(x32):
    """float32 -> bfloat16 bits, round to nearest even (finite inputs)."""
    bits = np.ascontiguousarray(x32, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(b16):
    return (np.asarray(b16, dtype=np.uint32) << 16).view(np.float32)


def test_float16_numpy_is_the_float32_path_rounded_once(rng):
    plan = posenc.RopePlan(head_dim=64, rotary_dim=48, scaling="yarn", factor=4.0, original_max_position=4096)
    x16 = rand(rng, 9, 3, 64).astype(np.float16)
    y16 = plan.apply(x16, start=70000)
    assert y16.dtype == np.float16
    y32 = plan.apply(x16.astype(np.float32), start=70000)
    assert np.array_equal(y16.view(np.uint16), y32.astype(np.float16).view(np.uint16))
    ref = rope_1d(x16.astype(np.float32), plan.frequencies, np.arange(70000, 70009), plan.mscale)
    assert head_rel_error(y16, ref) <= 1e-6 + 2.0 ** -11
    # in place, and float16 -> float32 / float32 -> float16 out of place
    inplace = x16.copy()
    plan.apply(inplace, start=70000, out=inplace)
    assert np.array_equal(inplace.view(np.uint16), y16.view(np.uint16))
    wide = np.empty((9, 3, 64), np.float32)
    plan.apply(x16, start=70000, out=wide)
    assert np.array_equal(wide, y32)
    narrow = np.empty((9, 3, 64), np.float16)
    plan.apply(x16.astype(np.float32), start=70000, out=narrow)
    assert np.array_equal(narrow.view(np.uint16), y16.view(np.uint16))


def test_mixed_types_in_one_qk_call(rng):
    plan = posenc.RopePlan(head_dim=32)
    q = rand(rng, 5, 4, 32)
    k16 = rand(rng, 5, 2, 32).astype(np.float16)
    expected_q = plan.apply(q, start=11)
    expected_k = plan.apply(k16, start=11)
    plan.apply_qk(q, k16, start=11)
    assert np.array_equal(q, expected_q) and np.array_equal(k16.view(np.uint16), expected_k.view(np.uint16))


def test_float16_shift_and_tables(rng):
    plan = posenc.RopePlan(head_dim=16)
    x16 = rand(rng, 4, 2, 16).astype(np.float16)
    shifted = x16.copy()
    plan.shift(shifted, 5)
    assert np.array_equal(shifted.view(np.uint16),
                          plan.apply(x16, positions=[5, 5, 5, 5]).view(np.uint16))
    angles = rng.uniform(-3, 3, (4, 8))
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    y = plan.apply_tables(x16, cos, sin)
    assert y.dtype == np.float16
    assert np.array_equal(y.view(np.uint16), plan.apply_tables(x16.astype(np.float32), cos, sin)
                          .astype(np.float16).view(np.uint16))


def test_torch_bfloat16_in_place_and_float32_into_a_bfloat16_cache(rng):
    torch = pytest.importorskip("torch", reason="torch is not installed (Debian: apt-get install python3-torch)")
    plan = posenc.RopePlan(head_dim=64, base=500000.0)
    x32 = rand(rng, 6, 4, 64)
    k = torch.from_numpy(x32).to(torch.bfloat16)
    widened = from_bf16_bits(k.view(torch.int16).numpy().view(np.uint16))
    y32 = plan.apply(widened, start=123)
    ptr = k.data_ptr()
    assert plan.apply(k, start=123, out=k) is k and k.data_ptr() == ptr
    got = k.view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(got, to_bf16_bits(y32))
    assert np.array_equal(got, torch.from_numpy(y32).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
    ref = rope_1d(widened, plan.frequencies, np.arange(123, 129))
    assert head_rel_error(from_bf16_bits(got), ref) <= 1e-6 + 2.0 ** -8
    # float32 q straight into a bfloat16 KV-cache slice (a strided torch view)
    cache = torch.zeros(4, 10, 64, dtype=torch.bfloat16)           # [heads, tokens, dim]
    plan.apply(x32, start=123, out=cache[:, 2:8].transpose(0, 1))
    written = cache[:, 2:8].transpose(0, 1).contiguous().view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(written, to_bf16_bits(plan.apply(x32, start=123)))
    assert not cache[:, :2].any() and not cache[:, 8:].any()
    # a bfloat16 input with out=None returns float32 (numpy has no bfloat16)
    assert plan.apply(k, start=0).dtype == np.float32
