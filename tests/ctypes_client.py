# ctypes_client.py - drives libposenc.so from Python ctypes + numpy (no C compiler) and checks it against float64 numpy.
"""Usage: /usr/bin/python3 ctypes_client.py path/to/libposenc.so

Exit status: 0 pass, 1 fail, 77 skip (numpy not importable by this interpreter).
"""
import ctypes
import math
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not available to", sys.executable, file=sys.stderr)
    sys.exit(77)

c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)
c_int64_p = ctypes.POINTER(ctypes.c_int64)

# Constants, copied from include/posenc.h.
POSENC_OK = 0
POSENC_ERR_OVERLAP = -5
POSENC_ERR_RANGE = -8
POSENC_ROPE_HALF = 0
POSENC_ROPE_INTERLEAVED = 1
POSENC_ROPE_INVERSE = 1
POSENC_POSITION_CAUSAL = 1
POSENC_SLOPES_ALIBI = 1
POSENC_SLOPES_CUSTOM = 2
POSENC_MAX_POSITION = 2**31 - 1


class RopeConfig(ctypes.Structure):
    """Mirror of posenc_rope_config."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("head_dim", ctypes.c_uint32),
        ("rotary_dim", ctypes.c_uint32),
        ("pairing", ctypes.c_int32),
        ("base", ctypes.c_double),
        ("scaling", ctypes.c_int32),
        ("axes", ctypes.c_int32),
        ("factor", ctypes.c_double),
        ("original_max_position", ctypes.c_double),
        ("sequence_length", ctypes.c_double),
        ("beta_fast", ctypes.c_double),
        ("beta_slow", ctypes.c_double),
        ("attention_factor", ctypes.c_double),
        ("mscale", ctypes.c_double),
        ("mscale_all_dim", ctypes.c_double),
        ("low_freq_factor", ctypes.c_double),
        ("high_freq_factor", ctypes.c_double),
        ("short_factors", c_double_p),
        ("long_factors", c_double_p),
        ("use_long_factors", ctypes.c_int32),
        ("n_sections", ctypes.c_int32),
        ("sections", ctypes.c_int32 * 4),
        ("freq_factors", c_double_p),
    ]


class SoftmaxDesc(ctypes.Structure):
    """Mirror of posenc_softmax_desc."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("position", ctypes.c_int32),
        ("slopes_mode", ctypes.c_int32),
        ("scale", ctypes.c_float),
        ("max_bias", ctypes.c_float),
        ("reserved0", ctypes.c_int32),
        ("slopes", c_float_p),
        ("q_pos0", ctypes.c_int64),
        ("k_pos0", ctypes.c_int64),
        ("mask", c_float_p),
        ("mask_row_stride", ctypes.c_size_t),
        ("mask_head_stride", ctypes.c_size_t),
        ("sinks", c_float_p),
    ]


failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
        print("FAIL:", message, file=sys.stderr)


def load(path):
    lib = ctypes.CDLL(path)
    size_t, i64, u32, status = ctypes.c_size_t, ctypes.c_int64, ctypes.c_uint32, ctypes.c_int
    plan_p = ctypes.c_void_p
    signatures = {
        "posenc_strerror": (ctypes.c_char_p, [status]),
        "posenc_version": (ctypes.c_char_p, []),
        "posenc_isa": (ctypes.c_char_p, []),
        "posenc_rope_config_init": (status, [ctypes.POINTER(RopeConfig), size_t]),
        "posenc_rope_plan_create": (status, [ctypes.POINTER(RopeConfig), ctypes.POINTER(plan_p)]),
        "posenc_rope_plan_destroy": (None, [plan_p]),
        "posenc_rope_plan_info": (status, [plan_p, c_double_p, size_t, c_double_p]),
        "posenc_rope_apply": (status, [plan_p, c_float_p, size_t, size_t, size_t, size_t, c_int64_p, i64, u32]),
        "posenc_rope_apply_to": (status, [plan_p, c_float_p, size_t, size_t, c_float_p, size_t, size_t, size_t,
                                          size_t, c_int64_p, i64, u32]),
        "posenc_rope_apply_qk": (status, [plan_p, c_float_p, size_t, size_t, size_t, c_float_p, size_t, size_t,
                                          size_t, size_t, c_int64_p, i64, u32]),
        "posenc_softmax_desc_init": (status, [ctypes.POINTER(SoftmaxDesc), size_t]),
        "posenc_alibi_slopes": (status, [size_t, ctypes.c_float, c_float_p]),
        "posenc_softmax": (status, [ctypes.POINTER(SoftmaxDesc), c_float_p, size_t, size_t, c_float_p, size_t,
                                    size_t, size_t, size_t, size_t]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def fptr(array):
    assert array.dtype == np.float32 and array.flags.c_contiguous
    return array.ctypes.data_as(c_float_p)


def make_plan(lib, head_dim, rotary_dim, pairing, base=10000.0):
    cfg = RopeConfig()
    st = lib.posenc_rope_config_init(ctypes.byref(cfg), ctypes.sizeof(cfg))
    if st != POSENC_OK:
        raise RuntimeError("posenc_rope_config_init: %s (struct layout out of date?)" % lib.posenc_strerror(st))
    # The defaults landing in the right fields show that the mirror's offsets match the C struct.
    check(cfg.struct_size == ctypes.sizeof(cfg) and cfg.base == 10000.0 and cfg.factor == 1.0
          and cfg.beta_fast == 32.0 and cfg.beta_slow == 1.0 and cfg.high_freq_factor == 4.0
          and cfg.low_freq_factor == 1.0 and not cfg.freq_factors,
          "posenc_rope_config defaults not where the ctypes mirror expects them")
    cfg.head_dim = head_dim
    cfg.rotary_dim = rotary_dim
    cfg.pairing = pairing
    cfg.base = base
    plan = ctypes.c_void_p()
    st = lib.posenc_rope_plan_create(ctypes.byref(cfg), ctypes.byref(plan))
    if st != POSENC_OK:
        raise RuntimeError("posenc_rope_plan_create: %s" % lib.posenc_strerror(st).decode())
    return plan


def rope_reference(x, positions, rotary_dim, pairing, base=10000.0):
    """float64 RoPE of x [tokens, heads, head_dim] at positions [tokens], as documented in posenc.h."""
    y = x.astype(np.float64)
    half = rotary_dim // 2
    omega = base ** (-(2.0 * np.arange(half)) / rotary_dim)
    angle = np.asarray(positions, dtype=np.float64)[:, None] * omega[None, :]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    if pairing == POSENC_ROPE_HALF:
        a_idx, b_idx = np.arange(half), np.arange(half) + half
    else:
        a_idx, b_idx = 2 * np.arange(half), 2 * np.arange(half) + 1
    xa, xb = y[:, :, a_idx].copy(), y[:, :, b_idx].copy()
    y[:, :, a_idx] = xa * cos - xb * sin
    y[:, :, b_idx] = xb * cos + xa * sin
    return y


def worst_head_error(y, ref):
    err = np.linalg.norm(y.astype(np.float64) - ref, axis=-1)
    norm = np.linalg.norm(ref, axis=-1)
    return float(np.max(err / np.maximum(norm, 1e-300)))


def check_rope(lib, rng):
    n_tokens, head_dim = 7, 64
    for pairing in (POSENC_ROPE_HALF, POSENC_ROPE_INTERLEAVED):
        for rotary_dim in (head_dim, 32, 2):
            plan = make_plan(lib, head_dim, rotary_dim, pairing)
            name = "pairing %d rotary %d" % (pairing, rotary_dim)
            try:
                omega = (ctypes.c_double * (rotary_dim // 2))()
                mscale = ctypes.c_double()
                check(lib.posenc_rope_plan_info(plan, omega, rotary_dim // 2, ctypes.byref(mscale)) == POSENC_OK,
                      name + ": plan_info")
                want = 10000.0 ** (-(2.0 * np.arange(rotary_dim // 2)) / rotary_dim)
                check(np.allclose(np.array(omega[:]), want, rtol=1e-15, atol=0) and mscale.value == 1.0,
                      name + ": plan frequencies")

                # Positions as an int64 array, including far ones (float32 peers drift there).
                n_heads = 3
                x0 = rng.standard_normal((n_tokens, n_heads, head_dim)).astype(np.float32)
                positions = np.array([0, 1, 4095, 100000, 10**7, POSENC_MAX_POSITION, -12345], dtype=np.int64)
                x = x0.copy()
                st = lib.posenc_rope_apply(plan, fptr(x), n_tokens, n_heads, n_heads * head_dim, head_dim,
                                           positions.ctypes.data_as(c_int64_p), 0, 0)
                check(st == POSENC_OK, name + ": apply with positions: %d" % st)
                ref = rope_reference(x0, positions, rotary_dim, pairing)
                err = worst_head_error(x, ref)
                check(err <= 1e-6, name + ": apply with positions array: rel error %.3g" % err)
                check(np.array_equal(x[:, :, rotary_dim:], x0[:, :, rotary_dim:]), name + ": pass-through part")

                # Start offset, head-major layout [heads, tokens, head_dim], out of place into a strided cache.
                start = 32000
                src = np.ascontiguousarray(x0.transpose(1, 0, 2))
                cache = np.full((n_tokens + 2, n_heads + 1, head_dim), np.float32(7.0), dtype=np.float32)
                st = lib.posenc_rope_apply_to(plan, fptr(src), head_dim, n_tokens * head_dim,
                                              fptr(cache), (n_heads + 1) * head_dim, head_dim,
                                              n_tokens, n_heads, None, start, 0)
                check(st == POSENC_OK, name + ": apply_to with start offset: %d" % st)
                ref = rope_reference(x0, np.arange(start, start + n_tokens), rotary_dim, pairing)
                err = worst_head_error(cache[:n_tokens, :n_heads], ref)
                check(err <= 1e-6, name + ": apply_to with start offset: rel error %.3g" % err)
                check(np.all(cache[n_tokens:] == 7.0) and np.all(cache[:, n_heads:] == 7.0),
                      name + ": apply_to wrote outside its destination rows")

                # q and k together (GQA), and the inverse rotation brings q back.
                n_q, n_k = 8, 2
                q0 = rng.standard_normal((n_tokens, n_q, head_dim)).astype(np.float32)
                k0 = rng.standard_normal((n_tokens, n_k, head_dim)).astype(np.float32)
                q, k = q0.copy(), k0.copy()
                positions = rng.integers(0, 1 << 20, size=n_tokens).astype(np.int64)
                st = lib.posenc_rope_apply_qk(plan, fptr(q), n_q, n_q * head_dim, head_dim,
                                              fptr(k), n_k, n_k * head_dim, head_dim, n_tokens,
                                              positions.ctypes.data_as(c_int64_p), 0, 0)
                check(st == POSENC_OK, name + ": apply_qk: %d" % st)
                err = max(worst_head_error(q, rope_reference(q0, positions, rotary_dim, pairing)),
                          worst_head_error(k, rope_reference(k0, positions, rotary_dim, pairing)))
                check(err <= 1e-6, name + ": apply_qk: rel error %.3g" % err)
                st = lib.posenc_rope_apply(plan, fptr(q), n_tokens, n_q, n_q * head_dim, head_dim,
                                           positions.ctypes.data_as(c_int64_p), 0, POSENC_ROPE_INVERSE)
                check(st == POSENC_OK and np.allclose(q, q0, rtol=0, atol=1e-5), name + ": inverse rotation")

                # A bad call through ctypes reports its status and writes nothing.
                before = k.copy()
                st = lib.posenc_rope_apply_qk(plan, fptr(k), n_k, n_k * head_dim, head_dim,
                                              fptr(k), n_k, n_k * head_dim, head_dim, n_tokens, None, 0, 0)
                check(st == POSENC_ERR_OVERLAP and np.array_equal(k, before), name + ": q == k must be refused")
                st = lib.posenc_rope_apply(plan, fptr(k), n_tokens, n_k, n_k * head_dim, head_dim, None,
                                           POSENC_MAX_POSITION, 0)
                check(st == POSENC_ERR_RANGE and np.array_equal(k, before), name + ": start offset range")
            finally:
                lib.posenc_rope_plan_destroy(plan)


def alibi_slopes_reference(n_heads, max_bias):
    c = 2 ** int(math.floor(math.log2(n_heads)))
    m0, m1 = 2.0 ** (-max_bias / c), 2.0 ** (-(max_bias / 2.0) / c)
    return np.array([m0 ** (h + 1) if h < c else m1 ** (2 * (h - c) + 1) for h in range(n_heads)])


def check_softmax(lib, rng):
    n_heads, n_rows, n_cols = 6, 9, 13
    slopes = np.zeros(n_heads, dtype=np.float32)
    check(lib.posenc_alibi_slopes(n_heads, 8.0, fptr(slopes)) == POSENC_OK, "alibi_slopes")
    want = alibi_slopes_reference(n_heads, 8.0)
    check(np.array_equal(slopes, want.astype(np.float32)), "alibi slopes %s != %s" % (slopes, want))

    desc = SoftmaxDesc()
    check(lib.posenc_softmax_desc_init(ctypes.byref(desc), ctypes.sizeof(desc)) == POSENC_OK, "desc init")
    check(desc.struct_size == ctypes.sizeof(desc) and desc.scale == 1.0 and desc.max_bias == 8.0
          and desc.q_pos0 == 0 and not desc.mask and desc.mask_row_stride == 0 and not desc.sinks,
          "posenc_softmax_desc defaults not where the ctypes mirror expects them")
    q_pos0, k_pos0, scale = 4, 0, np.float32(1.0 / math.sqrt(64.0))
    desc.position = POSENC_POSITION_CAUSAL
    desc.slopes_mode = POSENC_SLOPES_CUSTOM
    desc.slopes = fptr(slopes)
    desc.scale = scale
    desc.q_pos0 = q_pos0
    desc.k_pos0 = k_pos0
    # An additive mask shared by the heads: a padding column (-inf) and some finite penalties.
    mask = (rng.standard_normal((n_rows, n_cols)) * 2.0).astype(np.float32)
    mask[:, 2] = -np.inf
    desc.mask = fptr(mask)
    desc.mask_row_stride = n_cols
    desc.mask_head_stride = 0

    scores = (rng.standard_normal((n_heads, n_rows, n_cols)) * 30.0).astype(np.float32)
    probs = np.full_like(scores, np.nan)
    st = lib.posenc_softmax(ctypes.byref(desc), fptr(scores), n_rows * n_cols, n_cols, fptr(probs),
                            n_rows * n_cols, n_cols, n_heads, n_rows, n_cols)
    check(st == POSENC_OK, "softmax: %d" % st)

    qpos = q_pos0 + np.arange(n_rows)[:, None]
    kpos = k_pos0 + np.arange(n_cols)[None, :]
    bias = (kpos - qpos).astype(np.float64)                       # causal ALiBi: b = kpos - qpos <= 0
    z = (float(scale) * scores.astype(np.float64) + slopes.astype(np.float64)[:, None, None] * bias[None]
         + mask.astype(np.float64)[None])
    z = np.where((kpos > qpos)[None], -np.inf, z)
    z_max = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - z_max)
    y64 = e / np.sum(e, axis=-1, keepdims=True)

    masked = np.isneginf(z)
    check(np.all(probs[masked] == 0.0), "masked entries must be exactly 0")
    big = y64 >= 1e-30
    rel = np.abs(probs.astype(np.float64)[big] - y64[big]) / y64[big]
    check(float(rel.max()) <= 1e-6, "softmax rel error %.3g > 1e-6" % float(rel.max()))
    sums = probs.astype(np.float64).sum(axis=-1)
    check(np.all(np.abs(sums - 1.0) <= 1e-6), "rows sum to %s" % sums[np.abs(sums - 1.0) > 1e-6])

    # The same with the library's ALiBi slopes (SLOPES_ALIBI), in place.
    desc.slopes_mode = POSENC_SLOPES_ALIBI
    desc.slopes = None
    in_place = scores.copy()
    st = lib.posenc_softmax(ctypes.byref(desc), fptr(in_place), n_rows * n_cols, n_cols, fptr(in_place),
                            n_rows * n_cols, n_cols, n_heads, n_rows, n_cols)
    check(st == POSENC_OK and np.array_equal(in_place, probs), "SLOPES_ALIBI in place differs from custom slopes")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = load(argv[1])
    print("libposenc %s, variant %s, numpy %s" % (lib.posenc_version().decode(), lib.posenc_isa().decode(),
                                                  np.__version__), file=sys.stderr)
    rng = np.random.default_rng(20240611)
    check_rope(lib, rng)
    check_softmax(lib, rng)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
