"""test_arrays.py - zero-copy operands: numpy strides, __array_interface__, DLPack (torch without importing it in posenc)."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import posenc
from posenc._arrays import as_tensor
from conftest import PACKAGE_DIR
from hf_reference import head_rel_error, rope_default


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


class Interface:
    """A foreign array exposing numpy memory through __array_interface__ only."""

    def __init__(self, array):
        self._array = array
        self.__array_interface__ = array.__array_interface__


class DLPackOnly:
    """A foreign tensor exposing numpy memory through the DLPack protocol only."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, stream=None):
        return self._array.__dlpack__()

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_posenc_does_not_import_torch():
    code = ("import sys, numpy as np, posenc; p = posenc.RopePlan(head_dim=8); p.apply(np.ones((1, 8), "
            "np.float32)); posenc.softmax(np.ones((1, 1, 4), np.float32)); print('torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "False"


def test_outputs_share_memory(rng):
    plan = posenc.RopePlan(head_dim=16)
    x = rand(rng, 3, 2, 16)
    out = np.empty_like(x)
    y = plan.apply(x, out=out)
    assert y is out and np.shares_memory(y, out)
    inplace = x.copy()
    assert np.shares_memory(plan.apply(inplace, out=inplace), inplace)
    assert as_tensor(x, "x").ptr == x.ctypes.data
    assert as_tensor(x[1:], "x").ptr == x[1:].ctypes.data
    scores = rand(rng, 2, 3, 5)
    assert np.shares_memory(posenc.softmax(scores, out=scores), scores)


def test_layouts_refused_without_copy(rng):
    plan = posenc.RopePlan(head_dim=16)
    x = rand(rng, 4, 16)
    expected = plan.apply(x)
    for bad, why in ((x[::-1], "negative stride"), (np.asfortranarray(x), "last axis is not contiguous"),
                     (x.astype(np.float64), "element type float64"), (x.tolist(), "must be an array")):
        with pytest.raises((ValueError, TypeError), match=why):
            plan.apply(bad)
    assert np.array_equal(plan.apply(x[::-1], copy=True), plan.apply(np.ascontiguousarray(x[::-1])))
    assert np.array_equal(plan.apply(np.asfortranarray(x), copy=True), expected)
    assert np.array_equal(plan.apply(x.astype(np.float64), copy=True), expected)
    assert np.array_equal(plan.apply(x.tolist(), copy=True), expected)
    # strides that are not whole elements (a float32 view at a 2-byte row pitch)
    raw = np.zeros(4 * 16 * 4 + 8, np.uint8)
    odd = np.ndarray((4, 16), np.float32, buffer=raw, offset=2, strides=(66, 4))
    with pytest.raises(ValueError, match="whole number"):
        plan.apply(odd)
    # outputs are never copied: read-only, float64, or non-contiguous outputs are refused even with copy=True
    frozen = np.zeros_like(x)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        plan.apply(x, out=frozen, copy=True)
    with pytest.raises(TypeError, match="float64"):
        plan.apply(x, out=np.zeros((4, 16)), copy=True)
    with pytest.raises(ValueError, match="not contiguous"):
        plan.apply(x, out=np.zeros((16, 4), np.float32).T, copy=True)


def test_reduced_precision_needs_the_tensor_api(rng, api):
    plan = posenc.RopePlan(head_dim=16)
    x16 = rand(rng, 4, 16).astype(np.float16)
    if api == "0.1":
        with pytest.raises(TypeError, match="float16.*0.2"):
            plan.apply(x16)
        with pytest.raises(TypeError, match="float16"):
            plan.apply(x16.astype(np.float32), out=np.empty((4, 16), np.float16))
    else:
        assert plan.apply(x16).dtype == np.float16


def test_empty_work(rng):
    plan = posenc.RopePlan(head_dim=16)
    assert plan.apply(np.zeros((0, 3, 16), np.float32)).shape == (0, 3, 16)
    assert plan.apply(np.zeros((0, 16), np.float32), positions=np.zeros(0, np.int64)).shape == (0, 16)
    assert posenc.softmax(np.zeros((2, 0, 5), np.float32)).shape == (2, 0, 5)


def test_array_interface_objects_zero_copy(rng):
    plan = posenc.RopePlan(head_dim=16)
    x = rand(rng, 5, 16)
    expected = plan.apply(x)
    target = np.zeros_like(x)
    assert isinstance(plan.apply(Interface(x), out=Interface(target)), Interface)
    assert np.array_equal(target, expected)


def test_dlpack_producer_without_torch(rng):
    plan = posenc.RopePlan(head_dim=16)
    x = rand(rng, 2, 3, 16)
    expected = plan.apply(x, start=9)
    buffer = x.copy()
    wrapped = DLPackOnly(buffer)
    assert as_tensor(wrapped, "x").ptr == buffer.ctypes.data
    assert plan.apply(wrapped, start=9, out=wrapped) is wrapped
    assert np.array_equal(buffer, expected)
    strided = x.copy().transpose(1, 0, 2)           # [heads, tokens, dim] view of a token-major buffer
    assert np.array_equal(plan.apply(DLPackOnly(strided), start=9), plan.apply(strided, start=9))


# ---- torch (Debian's python3-torch) --------------------------------------------------------------------------
def torch_or_skip():
    return pytest.importorskip("torch", reason="torch is not installed (Debian: apt-get install python3-torch)")


def rotate_half_torch(torch, x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def test_torch_tensors_in_place_zero_copy_against_a_torch_rotate_half(rng):
    torch = torch_or_skip()
    plan = posenc.RopePlan(head_dim=64, base=500000.0)
    q = torch.from_numpy(rand(rng, 7, 4, 64).copy())
    before = q.clone()
    ptr = q.data_ptr()
    assert as_tensor(q, "q").ptr == ptr
    out = plan.apply(q, start=300, out=q)
    assert out is q and q.data_ptr() == ptr
    # HF LlamaRotaryEmbedding + apply_rotary_pos_emb, written in torch (float64)
    inv_freq = torch.from_numpy(rope_default(500000.0, 64)[0])
    freqs = torch.arange(300, 307, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    x64 = before.double()
    ref = x64 * cos + rotate_half_torch(torch, x64) * sin
    assert head_rel_error(q.numpy(), ref.numpy()) <= 2e-6


def test_torch_strided_views_outputs_and_softmax(rng):
    torch = torch_or_skip()
    plan = posenc.RopePlan(head_dim=32, pairing="interleaved")
    hf_layout = torch.from_numpy(rand(rng, 1, 4, 6, 32))            # HF: [batch, heads, seq, head_dim]
    view = hf_layout[0].transpose(0, 1)                               # [seq, heads, head_dim], strided
    expected = plan.apply(view.numpy(), start=3)
    out = torch.zeros(6, 4, 32)
    assert plan.apply(view, start=3, out=out) is out
    assert np.array_equal(out.numpy(), expected)
    plan.apply(view, start=3, out=view)                               # in place through the strided view
    assert np.array_equal(hf_layout[0].transpose(0, 1).numpy(), expected)
    positions = torch.arange(3, 9)
    assert np.array_equal(plan.apply(out.numpy(), positions=positions), plan.apply(out.numpy(), start=3))
    scores = torch.from_numpy((rng.standard_normal((2, 3, 9)) * 4).astype(np.float32))
    expected = posenc.softmax(scores.numpy(), alibi=True, causal=True)
    assert posenc.softmax(scores, alibi=True, causal=True, out=scores) is scores
    assert np.array_equal(scores.numpy(), expected)


def test_torch_refusals(rng, api):
    torch = torch_or_skip()
    plan = posenc.RopePlan(head_dim=8)
    with pytest.raises(TypeError, match="require"):
        plan.apply(torch.ones(2, 8, requires_grad=True))
    assert plan.apply(torch.ones(2, 8, requires_grad=True).detach()).shape == (2, 8)
    if api == "0.1":
        with pytest.raises(TypeError, match="bfloat16.*0.2"):
            plan.apply(torch.ones(2, 8, dtype=torch.bfloat16))
        with pytest.raises(TypeError, match="float16"):
            plan.apply(torch.ones(2, 8, dtype=torch.float16))
    with pytest.raises(TypeError, match="DLPack code 2/64"):
        plan.apply(torch.ones(2, 8, dtype=torch.float64))
    assert np.array_equal(plan.apply(torch.ones(2, 8, dtype=torch.float64), copy=True),
                          plan.apply(np.ones((2, 8), np.float32)))


def test_dlpack_views_keep_their_producer_alive(rng):
    torch = torch_or_skip()
    view = as_tensor(torch.arange(16, dtype=torch.float32) * 2, "x").array     # the tensor has no other owner
    gc.collect()
    assert np.array_equal(view, np.arange(16, dtype=np.float32) * 2)
    del view
    gc.collect()
