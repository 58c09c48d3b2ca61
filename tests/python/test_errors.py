"""test_errors.py - every libposenc status raises its posenc.Error subclass, from a real bad call, outputs untouched."""
import ctypes

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import posenc
from posenc import _lib
from conftest import fn


def check_raised(info, cls, code, function):
    err = info.value
    assert type(err) is cls
    assert err.code == code == cls.code
    assert err.function == function
    assert err.message == posenc.library().strerror(code)
    assert err.message in str(err) and function in str(err)


def test_null():
    lib = posenc.library()
    with pytest.raises(posenc.NullError) as info:
        lib.check(lib.posenc_rope_plan_create(None, None), "posenc_rope_plan_create")
    check_raised(info, posenc.NullError, -1, "posenc_rope_plan_create")
    with pytest.raises(posenc.NullError):
        lib.check(lib.posenc_softmax(None, None, 0, 0, None, 0, 0, 1, 1, 1), "posenc_softmax")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kwargs", [dict(head_dim=0), dict(head_dim=2048), dict(head_dim=64, rotary_dim=63),
                                    dict(head_dim=64, rotary_dim=66), dict(head_dim=3)])
def test_dim(kwargs):
    with pytest.raises(posenc.DimError) as info:
        posenc.RopePlan(**kwargs)
    check_raised(info, posenc.DimError, -2, "posenc_rope_plan_create")


def test_shape(api):
    plan = posenc.RopePlan(head_dim=64)
    x = np.zeros((3, 0, 64), np.float32)
    with pytest.raises(posenc.ShapeError) as info:
        plan.apply(x)
    check_raised(info, posenc.ShapeError, -3, fn(api, "posenc_rope_apply_to", "posenc_rope_rotate"))
    with pytest.raises(posenc.ShapeError) as info:
        plan.apply_qk(np.zeros((3, 2, 64), np.float32), np.zeros((3, 0, 64), np.float32))
    check_raised(info, posenc.ShapeError, -3, fn(api, "posenc_rope_apply_qk", "posenc_rope_rotate_qk"))
    with pytest.raises(posenc.ShapeError) as info:
        posenc.softmax(np.zeros((0, 3, 4), np.float32))
    check_raised(info, posenc.ShapeError, -3, fn(api, "posenc_softmax", "posenc_softmax_forward"))
    with pytest.raises(posenc.ShapeError) as info:
        posenc.alibi_slopes(0)
    check_raised(info, posenc.ShapeError, -3, "posenc_alibi_slopes")


def test_stride_overlapping_rows_and_outputs_untouched(api):
    plan = posenc.RopePlan(head_dim=64)
    buf = np.arange(4 * 200, dtype=np.float32)
    overlapping = as_strided(buf, shape=(2, 3, 64), strides=(96 * 4, 32 * 4, 4))     # heads 32 apart, 64 long
    before = buf.copy()
    with pytest.raises(posenc.StrideError) as info:
        plan.apply(overlapping, out=overlapping)
    check_raised(info, posenc.StrideError, -4, fn(api, "posenc_rope_apply_to", "posenc_rope_rotate"))
    assert np.array_equal(buf, before)
    rows = as_strided(np.zeros(64, np.float32), shape=(1, 3, 8), strides=(64 * 4, 4 * 4, 4))
    with pytest.raises(posenc.StrideError) as info:
        posenc.softmax(np.ones((1, 3, 8), np.float32), out=rows)
    check_raised(info, posenc.StrideError, -4, fn(api, "posenc_softmax", "posenc_softmax_forward"))


def test_overlap(api):
    plan = posenc.RopePlan(head_dim=16)
    buf = np.ones((5, 16), np.float32)
    before = buf.copy()
    with pytest.raises(posenc.OverlapError) as info:
        plan.apply(buf[:4], out=buf[1:])
    check_raised(info, posenc.OverlapError, -5, fn(api, "posenc_rope_apply_to", "posenc_rope_rotate"))
    assert np.array_equal(buf, before)
    qk = np.ones((3, 4, 16), np.float32)
    with pytest.raises(posenc.OverlapError) as info:
        plan.apply_qk(qk[:, 0:2], qk[:, 1:3])
    check_raised(info, posenc.OverlapError, -5, fn(api, "posenc_rope_apply_qk", "posenc_rope_rotate_qk"))
    scores = np.ones((2, 3, 8), np.float32)
    with pytest.raises(posenc.OverlapError):
        posenc.softmax(scores[:, :2], out=scores[:, 1:])


@pytest.mark.parametrize("kwargs", [dict(pairing=5), dict(scaling=99), dict(axes=9),
                                    dict(scaling="longrope", factor=2.0, original_max_position=4096,
                                         short_factors=[1.0] * 4, use_long_factors=2)])
def test_enum(kwargs):
    with pytest.raises(posenc.EnumError) as info:
        posenc.RopePlan(head_dim=8, **kwargs)
    check_raised(info, posenc.EnumError, -6, "posenc_rope_plan_create")


@pytest.mark.parametrize("kwargs", [dict(base=0.5), dict(base=float("nan")),
                                    dict(scaling="yarn", factor=0.5, original_max_position=4096),
                                    dict(scaling="llama3", factor=8.0, original_max_position=8192,
                                         low_freq_factor=4.0, high_freq_factor=1.0),
                                    dict(axes="mrope", sections=[1, 1, 1]),
                                    dict(scaling="freq_factors", freq_factors=[1.0, 0.0, 1.0, 1.0])])
def test_param_plans(kwargs):
    with pytest.raises(posenc.ParamError) as info:
        posenc.RopePlan(head_dim=8, **kwargs)
    check_raised(info, posenc.ParamError, -7, "posenc_rope_plan_create")


def test_param_softmax(api):
    scores = np.ones((2, 2, 4), np.float32)
    out = np.full_like(scores, 5.0)
    for kwargs in (dict(scale=float("inf")), dict(alibi=True, causal=True, max_bias=0.0),
                   dict(slopes=[1.0, float("nan")], causal=True), dict(sinks=[0.0, float("inf")])):
        with pytest.raises(posenc.ParamError) as info:
            posenc.softmax(scores, out=out, **kwargs)
        check_raised(info, posenc.ParamError, -7, fn(api, "posenc_softmax", "posenc_softmax_forward"))
        assert np.all(out == 5.0)
    with pytest.raises(posenc.ParamError):
        posenc.alibi_slopes(4, max_bias=-1.0)


def test_range(api):
    plan = posenc.RopePlan(head_dim=8)
    x = np.ones((2, 8), np.float32)
    out = np.full_like(x, 3.0)
    for kwargs in (dict(start=2**31 - 1), dict(positions=[0, 2**31]), dict(positions=[-(2**31), 0])):
        with pytest.raises(posenc.RangeError) as info:
            plan.apply(x, out=out, **kwargs)
        check_raised(info, posenc.RangeError, -8, fn(api, "posenc_rope_apply_to", "posenc_rope_rotate"))
        assert np.all(out == 3.0)
    with pytest.raises(posenc.RangeError) as info:
        plan.shift(x, 2**31)
    check_raised(info, posenc.RangeError, -8, fn(api, "posenc_rope_shift", "posenc_rope_rotate"))
    with pytest.raises(posenc.RangeError) as info:
        posenc.softmax(np.ones((1, 2, 3), np.float32), q_start=-1)
    check_raised(info, posenc.RangeError, -8, fn(api, "posenc_softmax", "posenc_softmax_forward"))


def test_struct_size():
    lib = posenc.library()
    cfg = _lib.RopeConfig()
    with pytest.raises(posenc.StructSizeError) as info:
        lib.check(lib.posenc_rope_config_init(ctypes.byref(cfg), 3), "posenc_rope_config_init")
    check_raised(info, posenc.StructSizeError, -9, "posenc_rope_config_init")
    desc = _lib.SoftmaxDesc()
    with pytest.raises(posenc.StructSizeError):
        lib.check(lib.posenc_softmax_desc_init(ctypes.byref(desc), ctypes.sizeof(desc) + 4096),
                  "posenc_softmax_desc_init")


def test_unsupported():
    with pytest.raises(posenc.UnsupportedError) as info:
        posenc.set_isa("bogus")
    check_raised(info, posenc.UnsupportedError, -11, "posenc_set_isa")
    missing = [name for name in ("avx2", "avx512", "neon") if name not in dict(posenc.isas())
               or not dict(posenc.isas())[name]]
    for name in missing:
        with pytest.raises(posenc.UnsupportedError):
            posenc.set_isa(name)
    for odd in ("", "scalar ", "sca\0lar", "skalär"):
        with pytest.raises(posenc.UnsupportedError):
            posenc.set_isa(odd)


def test_tensor_api_statuses():
    lib = posenc.library()
    if not lib.tensor_api:
        pytest.skip("libposenc %s has no tensor-view calls" % lib.version)
    # split-K statistics of float16 scores: since the row kernels write them, every element type has them
    _, st = posenc.softmax(np.ones((1, 2, 4), np.float16), stats=True)
    assert np.array_equal(st, np.array([[[1.0, 4.0], [1.0, 4.0]]], np.float32))
    # data not aligned to its element size
    raw = np.zeros(4 * 8 + 4, np.uint8)
    misaligned = np.ndarray((1, 8), np.float32, buffer=raw, offset=2)
    with pytest.raises(posenc.ParamError) as info:
        posenc.RopePlan(head_dim=8).apply(misaligned)
    check_raised(info, posenc.ParamError, -7, "posenc_rope_rotate")
    # positions overlapping an output
    x = np.zeros((2, 8), np.float32)
    with pytest.raises(posenc.OverlapError):
        posenc.RopePlan(head_dim=8).apply(x, out=x, positions=x[0, :4].view(np.int64))


def test_nomem_and_unknown_codes_map_to_classes():
    # POSENC_ERR_NOMEM comes only from a failed allocation in plan creation, which no argument provokes: check
    # the mapping and the sentence instead.
    cls = posenc._errors.error_class(-10)
    assert cls is posenc.NoMemError and issubclass(cls, MemoryError) and cls.code == -10
    assert "memory" in posenc.library().strerror(-10).lower()
    assert posenc._errors.error_class(-99) is posenc.Error
    with pytest.raises(posenc.Error) as info:
        posenc.library().check(-99, "posenc_something")
    assert type(info.value) is posenc.Error and info.value.code == -99


def test_every_status_has_a_distinct_class_and_sentence():
    lib = posenc.library()
    classes = [posenc.NullError, posenc.DimError, posenc.ShapeError, posenc.StrideError, posenc.OverlapError,
               posenc.EnumError, posenc.ParamError, posenc.RangeError, posenc.StructSizeError, posenc.NoMemError,
               posenc.UnsupportedError]
    assert [c.code for c in classes] == list(range(-1, -12, -1))
    sentences = {lib.strerror(c.code) for c in classes}
    assert len(sentences) == len(classes)
    assert all(issubclass(c, posenc.Error) for c in classes)
