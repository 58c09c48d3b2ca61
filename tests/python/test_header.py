"""test_header.py - the package's ctypes mirrors, constants and signatures agree with include/posenc.h."""
import ctypes
import os
import re

import pytest

import posenc
from posenc import _lib
from conftest import REPO

HEADER = os.path.join(REPO, "include", "posenc.h")


@pytest.fixture(scope="module")
def header():
    with open(HEADER) as f:
        text = f.read()
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def struct_fields(header, name):
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header, re.S).group(1)
    fields = []
    for decl in body.split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        fp = re.match(r".*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", decl)     # a function pointer: void (*name)(...)
        if fp:
            fields.append((fp.group(1), "fn*", None))
            continue
        m = re.match(r"(.*?)[ *]+(\w+)(\[(\d+)\])?$", decl)
        fields.append((m.group(2), m.group(1).replace("const ", "").strip() + ("*" if "*" in decl else ""),
                       int(m.group(4)) if m.group(4) else None))
    return fields


C_SIZES = {"uint32_t": 4, "int32_t": 4, "float": 4, "double": 8, "int64_t": 8, "size_t": 8}


@pytest.mark.parametrize("mirror,c_name", [(_lib.RopeConfig, "posenc_rope_config"),
                                           (_lib.SoftmaxDesc, "posenc_softmax_desc"),
                                           (_lib.TensorView, "posenc_tensor"),
                                           (_lib.RopeArgs, "posenc_rope_args"),
                                           (_lib.ParallelHook, "posenc_parallel")])
def test_struct_mirrors_follow_the_header(header, mirror, c_name):
    """Every field both have sits at the same index with the same size. A mirror may run ahead of this header
    (a field appended on another branch) only while the library refuses the larger struct_size."""
    if "typedef struct %s {" % c_name not in header:
        pytest.skip("%s is not in this header" % c_name)
    declared = struct_fields(header, c_name)
    mirrored = mirror._fields_
    common = min(len(declared), len(mirrored))
    assert common >= min(len(declared), 5)
    for (name, ctype, count), (m_name, m_type) in zip(declared[:common], mirrored[:common]):
        assert name == m_name, "%s: header has %s where the mirror has %s" % (c_name, name, m_name)
        size = ctypes.sizeof(ctypes.c_void_p) if ctype.endswith("*") else C_SIZES[ctype] * (count or 1)
        assert ctypes.sizeof(m_type) == size, name
    if mirror is _lib.ParallelHook:       # frozen: never grows
        assert len(mirrored) == len(declared)
        return
    lib = posenc.library()
    for extra in [f[0] for f in mirrored[len(declared):]]:
        assert not lib.has_field(mirror, extra), "%s.%s is not in the header but the library reads it" % (
            c_name, extra)


def test_defaults_land_where_the_header_says():
    lib = posenc.library()
    cfg = lib.new_rope_config()
    assert (cfg.base, cfg.factor, cfg.beta_fast, cfg.beta_slow, cfg.low_freq_factor, cfg.high_freq_factor) == (
        10000.0, 1.0, 32.0, 1.0, 1.0, 4.0)
    assert cfg.struct_size == lib.rope_config_size and not cfg.freq_factors
    desc = lib.new_softmax_desc()
    assert (desc.scale, desc.max_bias, desc.reserved0, desc.struct_size) == (1.0, 8.0, 0, lib.softmax_desc_size)
    if lib.has_field(_lib.RopeConfig, "truncate"):
        assert cfg.truncate == 1
    if lib.tensor_api:
        args = lib.new_rope_args()
        assert (args.struct_size, args.flags, args.positions, args.position_axis_stride, args.start_pos,
                args.parallel) == (lib.rope_args_size, 0, None, 0, 0, None)


def defines(header):
    return {m.group(1): m.group(2) for m in re.finditer(r"#define (POSENC_\w+)\s+(\S+)", header)}


def test_constants(header):
    d = defines(header)
    value = lambda name: int(d[name].rstrip("u"), 0)     # noqa: E731
    for name, code in _lib.PAIRING.items():
        assert value("POSENC_ROPE_" + name.upper()) == code
    for name, code in _lib.SCALING.items():
        assert value("POSENC_SCALING_" + name.upper()) == code
    for name, code in _lib.AXES.items():
        assert value("POSENC_AXES_" + name.upper()) == code
    assert value("POSENC_ROPE_INVERSE") == _lib.ROPE_INVERSE and value("POSENC_ROPE_NO_MSCALE") == _lib.ROPE_NO_MSCALE
    if "POSENC_ROPE_SAME_POSITION" in d:
        assert value("POSENC_ROPE_SAME_POSITION") == _lib.ROPE_SAME_POSITION
    for dtype in posenc.DTYPES:
        macro = "POSENC_" + {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}[dtype.name]
        if macro in d:
            assert value(macro) == dtype.code
    assert (value("POSENC_POSITION_NONE"), value("POSENC_POSITION_CAUSAL"), value("POSENC_POSITION_SYMMETRIC")) == (
        _lib.POSITION_NONE, _lib.POSITION_CAUSAL, _lib.POSITION_SYMMETRIC)
    assert (value("POSENC_SLOPES_NONE"), value("POSENC_SLOPES_ALIBI"), value("POSENC_SLOPES_CUSTOM")) == (
        _lib.SLOPES_NONE, _lib.SLOPES_ALIBI, _lib.SLOPES_CUSTOM)
    assert value("POSENC_MAX_HEAD_DIM") == _lib.MAX_HEAD_DIM
    assert int(re.search(r"INT64_C\((\d+)\)", d["POSENC_MAX_POSITION"] + header[header.index(
        "POSENC_MAX_POSITION"):][:80]).group(1)) == _lib.MAX_POSITION
    errors = {cls.__name__: cls.code for cls in (posenc.NullError, posenc.DimError, posenc.ShapeError,
                                                 posenc.StrideError, posenc.OverlapError, posenc.EnumError,
                                                 posenc.ParamError, posenc.RangeError, posenc.StructSizeError,
                                                 posenc.NoMemError, posenc.UnsupportedError)}
    names = {"NullError": "NULL", "DimError": "DIM", "ShapeError": "SHAPE", "StrideError": "STRIDE",
             "OverlapError": "OVERLAP", "EnumError": "ENUM", "ParamError": "PARAM", "RangeError": "RANGE",
             "StructSizeError": "STRUCT_SIZE", "NoMemError": "NOMEM", "UnsupportedError": "UNSUPPORTED"}
    for cls, code in errors.items():
        assert value("POSENC_ERR_" + names[cls]) == code


def test_signatures_match_declarations(header):
    declared = {}
    for m in re.finditer(r"POSENC_API\s+[^;]*?\b(posenc_\w+)\(([^)]*)\);", header, re.S):
        params = " ".join(m.group(2).split())
        declared[m.group(1)] = 0 if params in ("void", "") else params.count(",") + 1
    for name, (restype, argtypes, required) in _lib._SIGNATURES.items():
        if not required and name not in declared:
            continue
        assert name in declared, name
        assert len(argtypes) == declared[name], name
