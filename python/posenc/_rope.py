"""posenc._rope - RopePlan: an immutable RoPE plan over posenc_rope_plan, and its apply calls on arrays."""

import ctypes

import numpy as np

from . import _lib
from ._arrays import FLOAT32, as_index_array, as_param_array, as_tensor
from ._pool import parallel_hook

__all__ = ["RopePlan"]

_NUMBER_FIELDS = ("base", "factor", "original_max_position", "sequence_length", "beta_fast", "beta_slow",
                  "attention_factor", "mscale", "mscale_all_dim", "low_freq_factor", "high_freq_factor")


def _enum(value, table, field):
    """A string from `table` or a raw int (passed through, so the library judges unknown values)."""
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("%s=%r: expected one of %s" % (field, value, ", ".join(table))) from None
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be a name (%s) or an int, not %r" % (field, ", ".join(table), value))
    return int(value)


def _enum_name(value, table):
    for name, code in table.items():
        if code == value:
            return name
    return value


def require_computable(tensor, name, lib):
    """Refuse element types the loaded library cannot take: anything but float32 needs the 0.2 tensor API."""
    if tensor.dtype is not FLOAT32 and not lib.tensor_api:
        raise TypeError("%s is %s: libposenc %s computes float32 only (other element types need the 0.2 calls on "
                        "tensor views); convert it to float32" % (name, tensor.dtype.name, lib.version))


def require_pool_support(lib, pool, call):
    """Refuse pool= on a library without the parallel hook (the 0.2 tensor-view calls)."""
    if pool is not None and not lib.tensor_api:
        raise NotImplementedError("%s(pool=...) needs the caller's thread pool of the 0.2 tensor-view calls; "
                                  "libposenc %s has none (or they are switched off)" % (call, lib.version))


def view(tensor, stride_a, stride_b):
    """A posenc_tensor for a validated Tensor."""
    return _lib.TensorView(tensor.ptr, tensor.dtype.code, 0, stride_a, stride_b)


def _check_same_shape(a, b, a_name, b_name):
    if a.shape != b.shape:
        raise ValueError("%s has shape %s but %s has shape %s" % (b_name, b.shape, a_name, a.shape))


class RopePlan:
    """A RoPE plan: dimensions, pairing, per-pair frequencies and magnitude factor, computed once in double.

    Keywords are posenc_rope_config's fields, named as in C (include/posenc.h documents each); a keyword left
    at None keeps the library's default. `pairing`, `scaling` and `axes` take names ("half", "yarn", "mrope",
    ...) or the C integers. `sections` is a sequence of up to 4 ints (`n_sections` defaults to its length).
    The factor lists are sequences of rotary_dim/2 numbers. `truncate` (YaRN, HF's default True) needs a
    library that has the field (0.2); False raises NotImplementedError on older ones.

    A plan is immutable and thread-safe: share it between threads.
    """

    def __init__(self, head_dim, rotary_dim=None, pairing="half", base=None, scaling="none", axes="1d",
                 factor=None, original_max_position=None, sequence_length=None, beta_fast=None, beta_slow=None,
                 attention_factor=None, mscale=None, mscale_all_dim=None, low_freq_factor=None,
                 high_freq_factor=None, short_factors=None, long_factors=None, use_long_factors=None,
                 n_sections=None, sections=None, freq_factors=None, truncate=None):
        self._plan = None
        lib = _lib.library()
        self._lib = lib
        self._destroy = lib.posenc_rope_plan_destroy
        cfg = lib.new_rope_config()
        given = dict(head_dim=head_dim, rotary_dim=rotary_dim, pairing=pairing, base=base, scaling=scaling,
                     axes=axes, factor=factor, original_max_position=original_max_position,
                     sequence_length=sequence_length, beta_fast=beta_fast, beta_slow=beta_slow,
                     attention_factor=attention_factor, mscale=mscale, mscale_all_dim=mscale_all_dim,
                     low_freq_factor=low_freq_factor, high_freq_factor=high_freq_factor,
                     short_factors=short_factors, long_factors=long_factors,
                     use_long_factors=use_long_factors, n_sections=n_sections, sections=sections,
                     freq_factors=freq_factors, truncate=truncate)
        self.config = {k: v for k, v in given.items() if v is not None}

        for field, value in (("head_dim", head_dim), ("rotary_dim", rotary_dim)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError("%s must be an int, not %r" % (field, value))
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError("%s=%d is outside uint32" % (field, value))
            setattr(cfg, field, int(value))
        cfg.pairing = _enum(pairing, _lib.PAIRING, "pairing")
        cfg.scaling = _enum(scaling, _lib.SCALING, "scaling")
        cfg.axes = _enum(axes, _lib.AXES, "axes")
        for field in _NUMBER_FIELDS:
            value = given[field]
            if value is not None:
                setattr(cfg, field, float(value))
        if use_long_factors is not None:
            cfg.use_long_factors = int(use_long_factors)
        if sections is not None:
            sections = [int(s) for s in sections]
            if len(sections) > 4:
                raise ValueError("sections has %d entries; posenc_rope_config holds at most 4" % len(sections))
            for i, s in enumerate(sections):
                cfg.sections[i] = s
            cfg.n_sections = len(sections)
        if n_sections is not None:
            cfg.n_sections = int(n_sections)
        if truncate is not None:
            if lib.has_field(_lib.RopeConfig, "truncate"):
                cfg.truncate = 1 if truncate else 0
            elif not truncate:
                raise NotImplementedError("truncate=False (YaRN without rounding the correction range, e.g. "
                                          "gpt-oss) needs posenc_rope_config.truncate, which libposenc %s does "
                                          "not have" % lib.version)

        # The library reads rotary_dim/2 entries from each list the scheme uses: check lengths here, where the
        # Python lengths are known (only for valid dimensions: otherwise the library reports POSENC_ERR_DIM).
        hd = cfg.head_dim
        rd = cfg.rotary_dim or hd
        n_pairs = rd // 2 if (0 < hd <= _lib.MAX_HEAD_DIM and rd % 2 == 0 and rd <= hd) else None
        keep = []
        for field in ("short_factors", "long_factors", "freq_factors"):
            value = given[field]
            if value is None:
                continue
            array = as_param_array(value, field, np.float64, n_pairs)
            keep.append(array)
            setattr(cfg, field, array.ctypes.data_as(_lib._double_p))

        plan = ctypes.c_void_p()
        lib.check(lib.posenc_rope_plan_create(ctypes.byref(cfg), ctypes.byref(plan)), "posenc_rope_plan_create")
        self._plan = plan
        self._head_dim = hd
        self._rotary_dim = rd
        self._pairing = cfg.pairing
        self._n_axes = int(lib.posenc_rope_plan_axes(plan))
        freqs = np.empty(rd // 2, np.float64)
        mscale_out = ctypes.c_double()
        lib.check(lib.posenc_rope_plan_info(plan, freqs.ctypes.data, freqs.shape[0], ctypes.byref(mscale_out)),
                  "posenc_rope_plan_info")
        freqs.flags.writeable = False
        self._frequencies = freqs
        self._mscale = mscale_out.value

    # ---- lifetime -------------------------------------------------------------------------------------------
    def close(self):
        """Free the C plan now (also done when the plan is garbage collected). Later calls raise ValueError."""
        plan, self._plan = self._plan, None
        if plan:
            self._destroy(plan)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._plan:
            raise ValueError("this RopePlan has been closed")
        return self._plan

    # ---- properties -----------------------------------------------------------------------------------------
    @property
    def head_dim(self):
        """Elements per head."""
        return self._head_dim

    @property
    def rotary_dim(self):
        """Rotated elements per head (the rest is copied unchanged)."""
        return self._rotary_dim

    @property
    def n_axes(self):
        """Positions per token: 1 (1d), 3 (M-RoPE), 2 (vision 2-D)."""
        return self._n_axes

    @property
    def pairing(self):
        """"half" or "interleaved"."""
        return _enum_name(self._pairing, _lib.PAIRING)

    @property
    def frequencies(self):
        """Per-pair angular frequencies (radians per position, after scaling): read-only float64 [rotary_dim/2]."""
        return self._frequencies

    @property
    def mscale(self):
        """The plan's magnitude factor (multiplies cos and sin; 1 unless YaRN / LongRoPE set it)."""
        return self._mscale

    @property
    def library(self):
        """The Library this plan was created with."""
        return self._lib

    def __repr__(self):
        return "RopePlan(head_dim=%d, rotary_dim=%d, pairing=%r, n_axes=%d, mscale=%.9g)" % (
            self._head_dim, self._rotary_dim, self.pairing, self._n_axes, self._mscale)

    # ---- helpers --------------------------------------------------------------------------------------------
    def _layout(self, t, name):
        """(n_tokens, n_heads, token_stride, head_stride) of a [tokens, heads, head_dim] or [tokens, head_dim]."""
        shape = t.shape
        if t.array.ndim == 3:
            n_tokens, n_heads = shape[0], shape[1]
            ts, hs = t.strides[0], t.strides[1]
        elif t.array.ndim == 2:
            n_tokens, n_heads = shape[0], 1
            ts, hs = t.strides[0], 0
        else:
            raise ValueError("%s must be [n_tokens, n_heads, head_dim] or [n_tokens, head_dim], not of shape %s"
                             % (name, shape))
        if shape[-1] != self._head_dim:
            raise ValueError("%s has %d elements per head; this plan's head_dim is %d" % (
                name, shape[-1], self._head_dim))
        if n_heads <= 1:
            hs = self._head_dim
        if n_tokens <= 1:
            ts = (max(n_heads, 1) - 1) * hs + self._head_dim
        return n_tokens, n_heads, ts, hs

    def _positions(self, positions, n_tokens, axis_major):
        """(array to keep alive, pointer, position_axis_stride) of the positions argument."""
        if axis_major and not self._lib.tensor_api:
            raise NotImplementedError(
                "axis_major positions ([n_axes, n_tokens], HF's M-RoPE layout) need posenc_rope_rotate's "
                "position_axis_stride (libposenc 0.2); libposenc %s reads token-major positions: pass positions.T"
                % self._lib.version)
        if positions is None:
            return None, None, 0
        p = as_index_array(positions, "positions")
        axes = self._n_axes
        if axes == 1 and p.shape in ((n_tokens,), (n_tokens, 1), (1, n_tokens)):
            return p, p.ctypes.data, 0
        if axis_major and p.shape == (axes, n_tokens):
            return p, p.ctypes.data, max(n_tokens, 1)
        if not axis_major and p.shape == (n_tokens, axes):
            return p, p.ctypes.data, 0
        want = "[%d]" % n_tokens if axes == 1 else (
            "[%d, %d] (axis-major)" % (axes, n_tokens) if axis_major else
            "[%d, %d] (token-major; axis_major=True takes [%d, %d])" % (n_tokens, axes, axes, n_tokens))
        raise ValueError("positions has shape %s; this plan takes %s" % (p.shape, want))

    @staticmethod
    def _flags(inverse, no_mscale):
        return (_lib.ROPE_INVERSE if inverse else 0) | (_lib.ROPE_NO_MSCALE if no_mscale else 0)

    def _args(self, flags, pos_ptr=None, axis_stride=0, start=0, parallel=None):
        args = self._lib.new_rope_args()
        args.flags = flags
        args.positions = pos_ptr
        args.position_axis_stride = axis_stride
        args.start_pos = int(start)
        args.parallel = parallel
        return args

    def _output(self, src, out, name="out"):
        """(Tensor, what apply returns) for out: None allocates src's numpy dtype (float32 for bfloat16)."""
        if out is None:
            dtype = src.dtype.storage if src.dtype.numpy_native else FLOAT32.storage
            array = np.empty(src.shape, dtype)
            return as_tensor(array, name, writable=True), array
        dst = as_tensor(out, name, writable=True)
        require_computable(dst, name, self._lib)
        _check_same_shape(src, dst, "x", name)
        return dst, out

    # ---- apply calls ----------------------------------------------------------------------------------------
    def apply(self, x, positions=None, start=0, out=None, inverse=False, no_mscale=False, axis_major=False,
              copy=False, pool=None):
        """Rotate x [n_tokens, n_heads, head_dim] (or [n_tokens, head_dim]) and return the result.

        positions: integers [n_tokens] (or [n_tokens, n_axes], token-major; [n_axes, n_tokens] with
        axis_major=True, HF's M-RoPE position_ids layout) or None for start, start+1, ...
        out: None allocates a new numpy array of x's dtype (float32 for bfloat16); an array (numpy or DLPack,
        any strides, any element type the library takes: float32 -> bfloat16 straight into a KV cache) receives
        the result; out=x rotates in place. inverse rotates by -angle; no_mscale leaves out the magnitude
        factor. copy=True lets an x that is not addressable as it is (negative strides, non-contiguous last
        axis, float64, a list) be copied to float32 first. pool: a posenc.ThreadPool (or a
        concurrent.futures.Executor) to split the call over threads; the same bits as without.
        """
        lib = self._lib
        require_pool_support(lib, pool, "apply")
        src = as_tensor(x, "x", copy=copy)
        require_computable(src, "x", lib)
        n_tokens, n_heads, sts, shs = self._layout(src, "x")
        dst, result = self._output(src, out)
        _, dts, dhs = self._layout(dst, "out")[1:]
        keep, pos_ptr, axis_stride = self._positions(positions, n_tokens, axis_major)
        flags = self._flags(inverse, no_mscale)
        if lib.tensor_api:
            with parallel_hook(pool) as parallel:
                args = self._args(flags, pos_ptr, axis_stride, start, parallel)
                st = lib.posenc_rope_rotate(self._handle(), ctypes.byref(args), ctypes.byref(view(src, sts, shs)),
                                            ctypes.byref(view(dst, dts, dhs)), n_tokens, n_heads)
            lib.check(st, "posenc_rope_rotate")
        else:
            lib.check(lib.posenc_rope_apply_to(self._handle(), src.ptr, sts, shs, dst.ptr, dts, dhs, n_tokens,
                                               n_heads, pos_ptr, int(start), flags), "posenc_rope_apply_to")
        return result

    def apply_qk(self, q, k, positions=None, start=0, inverse=False, no_mscale=False, axis_major=False,
                 pool=None):
        """Rotate q [n_tokens, n_q_heads, head_dim] and k [n_tokens, n_k_heads, head_dim] in place, in one pass
        (each token's cos/sin computed once; GQA head counts may differ; q and k may be views of one fused QKV
        buffer, and of different element types). Returns (q, k). For out of place, apply() each with out=.
        pool: as in apply().
        """
        lib = self._lib
        require_pool_support(lib, pool, "apply_qk")
        qt = as_tensor(q, "q", writable=True)
        kt = as_tensor(k, "k", writable=True)
        require_computable(qt, "q", lib)
        require_computable(kt, "k", lib)
        n_tokens, n_q, qts, qhs = self._layout(qt, "q")
        k_tokens, n_k, kts, khs = self._layout(kt, "k")
        if k_tokens != n_tokens:
            raise ValueError("q has %d tokens but k has %d" % (n_tokens, k_tokens))
        keep, pos_ptr, axis_stride = self._positions(positions, n_tokens, axis_major)
        flags = self._flags(inverse, no_mscale)
        if lib.tensor_api:
            qv, kv = view(qt, qts, qhs), view(kt, kts, khs)
            with parallel_hook(pool) as parallel:
                args = self._args(flags, pos_ptr, axis_stride, start, parallel)
                st = lib.posenc_rope_rotate_qk(self._handle(), ctypes.byref(args), ctypes.byref(qv),
                                               ctypes.byref(kv), ctypes.byref(qv), ctypes.byref(kv), n_tokens, n_q,
                                               n_k)
            lib.check(st, "posenc_rope_rotate_qk")
        else:
            lib.check(lib.posenc_rope_apply_qk(self._handle(), qt.ptr, n_q, qts, qhs, kt.ptr, n_k, kts, khs,
                                               n_tokens, pos_ptr, int(start), flags), "posenc_rope_apply_qk")
        return q, k

    def shift(self, x, delta, inverse=False, pool=None):
        """Re-rotate every token of x in place by the same position delta (KV-cache shift). The magnitude
        factor is never applied (cached keys already carry it). pool: as in apply(). Returns x."""
        lib = self._lib
        require_pool_support(lib, pool, "shift")
        t = as_tensor(x, "x", writable=True)
        require_computable(t, "x", lib)
        n_tokens, n_heads, ts, hs = self._layout(t, "x")
        if lib.tensor_api:
            flags = self._flags(inverse, True) | _lib.ROPE_SAME_POSITION
            v = view(t, ts, hs)
            with parallel_hook(pool) as parallel:
                args = self._args(flags, start=delta, parallel=parallel)
                st = lib.posenc_rope_rotate(self._handle(), ctypes.byref(args), ctypes.byref(v), ctypes.byref(v),
                                            n_tokens, n_heads)
            lib.check(st, "posenc_rope_rotate")
        else:
            lib.check(lib.posenc_rope_shift(self._handle(), t.ptr, n_tokens, n_heads, ts, hs, int(delta),
                                            self._flags(inverse, False)), "posenc_rope_shift")
        return x

    def apply_tables(self, x, cos, sin, out=None, inverse=False, copy=False, pool=None):
        """Rotate x with your own float32 tables cos, sin [n_tokens, rotary_dim/2] (or [rotary_dim/2] for one
        token), which already include any magnitude factor; the plan supplies head_dim, rotary_dim and pairing
        only. out and pool as in apply(). cos and sin must share their row stride (copy=True copies them
        otherwise)."""
        lib = self._lib
        require_pool_support(lib, pool, "apply_tables")
        src = as_tensor(x, "x", copy=copy)
        require_computable(src, "x", lib)
        n_tokens, n_heads, sts, shs = self._layout(src, "x")
        n_pairs = self._rotary_dim // 2
        tables = []
        for name, table in (("cos", cos), ("sin", sin)):
            t = as_tensor(table, name, copy=copy)
            if t.dtype is not FLOAT32:
                raise TypeError("%s must be float32, not %s" % (name, t.dtype.name))
            if t.shape != (n_tokens, n_pairs) and not (t.shape == (n_pairs,) and n_tokens <= 1):
                raise ValueError("%s has shape %s; expected [%d, %d] (n_tokens, rotary_dim/2)" % (
                    name, t.shape, n_tokens, n_pairs))
            tables.append(t)
        cos_t, sin_t = tables

        def row_stride(t):
            return t.strides[0] if t.array.ndim == 2 and n_tokens > 1 else n_pairs

        table_stride = row_stride(cos_t)
        if row_stride(sin_t) != table_stride:
            if not copy:
                raise ValueError("cos and sin have different row strides (%d and %d elements); they share one "
                                 "table_stride in the C call (copy=True copies them)" % (table_stride,
                                                                                        row_stride(sin_t)))
            cos_t = as_tensor(np.ascontiguousarray(cos_t.array), "cos")
            sin_t = as_tensor(np.ascontiguousarray(sin_t.array), "sin")
            table_stride = n_pairs
        dst, result = self._output(src, out)
        _, dts, dhs = self._layout(dst, "out")[1:]
        flags = self._flags(inverse, False)
        if lib.tensor_api:
            with parallel_hook(pool) as parallel:
                args = self._args(flags, parallel=parallel)
                st = lib.posenc_rope_rotate_tables(self._handle(), ctypes.byref(args),
                                                   ctypes.byref(view(src, sts, shs)), cos_t.ptr, sin_t.ptr,
                                                   table_stride, ctypes.byref(view(dst, dts, dhs)), n_tokens,
                                                   n_heads)
            lib.check(st, "posenc_rope_rotate_tables")
        else:
            lib.check(lib.posenc_rope_apply_tables(self._handle(), src.ptr, sts, shs, dst.ptr, dts, dhs, n_tokens,
                                                   n_heads, cos_t.ptr, sin_t.ptr, table_stride, flags),
                      "posenc_rope_apply_tables")
        return result

    # ---- Hugging Face -----------------------------------------------------------------------------------------
    @classmethod
    def from_hf_config(cls, config, sequence_length=None, head_dim=None, pairing=None, layer_type=None):
        """A plan from a Hugging Face config (a dict, a transformers config object, or the path of config.json
        or of its directory). See posenc._hf.plan_arguments for the mapping; ConfigError names any field it
        cannot map. sequence_length picks the LongRoPE list (long once it exceeds
        original_max_position_embeddings, as HF does) and the dynamic-NTK length."""
        from ._hf import plan_arguments
        return cls(**plan_arguments(config, sequence_length=sequence_length, head_dim=head_dim, pairing=pairing,
                                    layer_type=layer_type))
