/* softmax_avx512.c - fused (ALiBi-biased) softmax row, f32/f16/bf16, avx512 bundle (-mavx512f/bw/dq/vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx512.h"
#include "tpl/softmax_tpl.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Row constants for the two logits of numerics.h: the float one of pass 1 and the double one of pass 2. */
typedef struct logit_ctx {
    __m512 scale;
    __m512 slope;
    __m512d scale_d;
    __m512d slope_d;
    int32_t d0;
    int32_t mask_type;
    const float *terms;   /* POSENC_BIAS_TERMS: b_j of columns [0, n_terms) */
    size_t n_terms;
} logit_ctx;

/* ---- element types (numerics.h, "element types"): loads widen exactly, stores round once ----------------- */

/* 16 elements of `type` from p + j (lanes outside `lanes` are not read and come out 0; `full`: all 16), widened
 * exactly: f16 by VCVTPH2PS (exact for every value; a NaN stays a NaN, which is all the softmax needs), bf16 by
 * a shift. `type` is a compile-time constant where the caller makes it one. */
static ALWAYS_INLINE __m512 load16(int type, const void *p, size_t j, __mmask16 lanes, int full)
{
    if (type == POSENC_ELEM_F32) {
        const float *f = (const float *)p + j;
        return full ? _mm512_loadu_ps(f) : _mm512_maskz_loadu_ps(lanes, f);
    }
    const uint16_t *h = (const uint16_t *)p + j;
    __m256i v = full ? _mm256_loadu_si256((const __m256i *)(const void *)h) : _mm256_maskz_loadu_epi16(lanes, h);
    if (type == POSENC_ELEM_F16)
        return _mm512_cvtph_ps(v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

/* The same for 8 elements (pass 2's double halves). */
static ALWAYS_INLINE __m256 load8(int type, const void *p, size_t j, __mmask8 lanes, int full)
{
    if (type == POSENC_ELEM_F32) {
        const float *f = (const float *)p + j;
        return full ? _mm256_loadu_ps(f) : _mm256_maskz_loadu_ps(lanes, f);
    }
    const uint16_t *h = (const uint16_t *)p + j;
    __m128i v = full ? _mm_loadu_si128((const __m128i *)(const void *)h) : _mm_maskz_loadu_epi16(lanes, h);
    if (type == POSENC_ELEM_F16)
        return _mm256_maskz_cvtph_ps((__mmask8)0xff, v);    /* VCVTPH2PS ymm (F16C's form, under AVX-512VL) */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

/* The mask's elements: its type is read at run time (one predictable branch per vector). */
static ALWAYS_INLINE __m512 load_mask16(const logit_ctx *ctx, const void *mask, size_t j, __mmask16 lanes, int full)
{
    switch (ctx->mask_type) {
    case POSENC_ELEM_F16: return load16(POSENC_ELEM_F16, mask, j, lanes, full);
    case POSENC_ELEM_BF16: return load16(POSENC_ELEM_BF16, mask, j, lanes, full);
    default: return load16(POSENC_ELEM_F32, mask, j, lanes, full);
    }
}

static ALWAYS_INLINE __m256 load_mask8(const logit_ctx *ctx, const void *mask, size_t j, __mmask8 lanes, int full)
{
    switch (ctx->mask_type) {
    case POSENC_ELEM_F16: return load8(POSENC_ELEM_F16, mask, j, lanes, full);
    case POSENC_ELEM_BF16: return load8(POSENC_ELEM_BF16, mask, j, lanes, full);
    default: return load8(POSENC_ELEM_F32, mask, j, lanes, full);
    }
}

/* 16 pass-3 outputs (finite, >= +0) stored to a 16-bit dst of `type`, rounded to nearest even: VCVTPS2PH for f16
 * (exact RNE for every non-NaN value), integer rounding for bf16 (VCVTNEPS2BF16 would flush subnormals). */
static ALWAYS_INLINE void store16_narrow(int type, void *p, size_t j, __mmask16 lanes, __m512 y)
{
    uint16_t *h = (uint16_t *)p + j;
    __m256i v;
    if (type == POSENC_ELEM_F16) {
        v = _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
        __m512i b = _mm512_castps_si512(y);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
        v = _mm512_cvtepi32_epi16(
            _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16));
    }
    _mm256_mask_storeu_epi16(h, lanes, v);
}

/* Where pass 2 keeps e_j for pass 3 (src/kernels.h, POSENC_SOFTMAX_E_KEEP): a float32 dst itself; for a 16-bit
 * dst, whole floats in row->e_keep (rows of up to POSENC_SOFTMAX_E_KEEP / 2 live columns), or split: the high
 * halves in dst (src[j] has been read), the low halves in row->e_keep. */
enum { KEEP_IN_DST, KEEP_WHOLE, KEEP_SPLIT };

/* Pass 2's e of columns [j, j + 16) kept for pass 3. The scratch is uint16_t; the float stores are vector stores,
 * which may alias anything. */
static ALWAYS_INLINE void keep_e16(const posenc_softmax_row *row, int keep, size_t j, __mmask16 lanes, int full,
                                   __m512 e)
{
    if (keep != KEEP_SPLIT) {
        float *f = (keep == KEEP_IN_DST ? (float *)row->dst : (float *)(void *)row->e_keep) + j;
        if (full)
            _mm512_storeu_ps(f, e);
        else
            _mm512_mask_storeu_ps(f, lanes, e);
        return;
    }
    __m512i b = _mm512_castps_si512(e);
    _mm256_mask_storeu_epi16((uint16_t *)row->dst + j, lanes, _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16)));
    _mm256_mask_storeu_epi16(row->e_keep + j, lanes, _mm512_cvtepi32_epi16(b));
}

/* The e that keep_e16 kept for a 16-bit dst (KEEP_WHOLE or KEEP_SPLIT). */
static ALWAYS_INLINE __m512 kept_e16(const posenc_softmax_row *row, int keep, size_t j, __mmask16 lanes)
{
    if (keep == KEEP_WHOLE)
        return _mm512_maskz_loadu_ps(lanes, (const float *)(const void *)row->e_keep + j);
    __m512i hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, (const uint16_t *)row->dst + j));
    __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, row->e_keep + j));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_slli_epi32(hi, 16), lo));
}

/* dst[0, n) of `type` = value (+0 or the NaN row: POSENC_NAN_BITS narrowed is the type's canonical NaN). */
static void fill_row(void *dst, int type, size_t n, float value)
{
    if (type == POSENC_ELEM_F32) {
        __m512 v = _mm512_set1_ps(value);
        for (size_t j = 0; j < n; j += 16)
            _mm512_mask_storeu_ps((float *)dst + j, avx512_lanes16(n - j), v);
        return;
    }
    uint16_t bits = value == 0.0f ? 0 : type == POSENC_ELEM_F16 ? POSENC_F16_NAN_BITS : POSENC_BF16_NAN_BITS;
    __m256i v = _mm256_set1_epi16((short)bits);
    for (size_t j = 0; j < n; j += 16)
        _mm256_mask_storeu_epi16((uint16_t *)dst + j, avx512_lanes16(n - j), v);
}

/* ---- the logits ------------------------------------------------------------------------------------------- */

/* b_j of columns [j, j + 16) or [j, j + 8): d = d0 + j, or -|d| for the symmetric bias. d fits int32 for live
 * columns (validated); the add wraps so that masked lanes past n_valid stay defined. */
static ALWAYS_INLINE __m512i bias16(const logit_ctx *ctx, size_t j, int bias)
{
    const __m512i lane_index = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i d = _mm512_add_epi32(_mm512_set1_epi32((int32_t)((uint32_t)ctx->d0 + (uint32_t)j)), lane_index);
    return bias == POSENC_BIAS_ABS ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_abs_epi32(d)) : d;
}

/* Pass 2's d = d0 + j of columns [j, j + 8), in double (exact: |d0 + j| < 2^32). Consecutive vectors are this
 * plus 8, 16, ... (exact too), which is cheaper than converting each from int32. */
static ALWAYS_INLINE __m512d distance8_d(const logit_ctx *ctx, size_t j)
{
    const __m512d lane_index = _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_add_pd(_mm512_set1_pd((double)ctx->d0 + (double)j), lane_index);
}

/* b of numerics.h from d (double): d itself, or -|d| computed as 0 - |d| so that d = 0 gives +0 as the int32
 * conversion does. */
static ALWAYS_INLINE __m512d bias_of_distance_d(__m512d d, int bias)
{
    return bias == POSENC_BIAS_ABS ? _mm512_sub_pd(_mm512_setzero_pd(), _mm512_abs_pd(d)) : d;
}

/* The given terms of columns [j, j + 16) (TERMS), not read past the row: lanes beyond it are 0. */
static ALWAYS_INLINE __m512 terms16(const logit_ctx *ctx, size_t j)
{
    const float *t = ctx->terms + j;
    return j + 16 <= ctx->n_terms ? _mm512_loadu_ps(t) : _mm512_maskz_loadu_ps(avx512_lanes16(ctx->n_terms - j), t);
}

/* Pass 1's float b of columns [j, j + 16): the int32 conversion of numerics.h, or the given terms. */
static ALWAYS_INLINE __m512 bias16_f(const logit_ctx *ctx, size_t j, int bias)
{
    if (bias == POSENC_BIAS_TERMS)
        return terms16(ctx, j);
    return bias == POSENC_BIAS_NONE ? _mm512_setzero_ps() : _mm512_cvtepi32_ps(bias16(ctx, j, bias));
}

/* The same from d as float, exact while |d| <= 2^24: d itself, or 0 - |d| (d = 0 gives +0, as from int32). */
static ALWAYS_INLINE __m512 bias_of_distance_f(__m512 d, int bias)
{
    return bias == POSENC_BIAS_ABS ? _mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(d)) : d;
}

/* Pass 1's float logits of columns [j, j + 16) (lanes outside `lanes` are not read), with b from bias16_f or
 * bias_of_distance_f. `full`, `bias`, `has_mask` and `src_type` are compile-time constants in each
 * instantiation: the loops carry no per-element branches. */
static ALWAYS_INLINE __m512 logit16_f(const logit_ctx *ctx, const void *src, const void *mask, size_t j,
                                      __mmask16 lanes, int full, int bias, int has_mask, int src_type, __m512 b)
{
    __m512 s = load16(src_type, src, j, lanes, full);
    __m512 z = _mm512_mul_ps(ctx->scale, s);
    if (bias != POSENC_BIAS_NONE)
        z = _mm512_fmadd_ps(ctx->slope, b, z);
    if (has_mask)
        z = _mm512_add_ps(z, load_mask16(ctx, mask, j, lanes, full));
    if (bias == POSENC_BIAS_TERMS) {   /* a -inf term masks its column (numerics.h) */
        const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
        z = _mm512_mask_mov_ps(z, _mm512_cmp_ps_mask(b, neg_inf, _CMP_EQ_OQ), neg_inf);
    }
    return z;
}

/* Pass 2's double exp arguments x = fma(scale, s, -M) [+ slope * b] [+ mask] of columns [j, j + 8). */
static ALWAYS_INLINE __m512d arg8_d(const logit_ctx *ctx, const void *src, const void *mask, size_t j,
                                    __mmask8 lanes, int full, int bias, int has_mask, int src_type, __m512d max_d,
                                    __m512d distance)
{
    __m256 s = load8(src_type, src, j, lanes, full);
    /* fma(scale, s, -M) == fmsub(scale, s, M): one rounding of the exact product minus M. */
    __m512d z = _mm512_fmsub_pd(ctx->scale_d, _mm512_cvtps_pd(s), max_d);
    __m256 terms = _mm256_setzero_ps();
    if (bias == POSENC_BIAS_TERMS) {   /* the given terms, exact in double; not read past the row */
        const float *t = ctx->terms + j;
        terms = j + 8 <= ctx->n_terms ? _mm256_loadu_ps(t)
              : _mm256_maskz_loadu_ps((__mmask8)avx512_lanes16(j < ctx->n_terms ? ctx->n_terms - j : 0), t);
        z = _mm512_fmadd_pd(ctx->slope_d, _mm512_cvtps_pd(terms), z);
    } else if (bias != POSENC_BIAS_NONE) {
        z = _mm512_fmadd_pd(ctx->slope_d, bias_of_distance_d(distance, bias), z);
    }
    if (has_mask)
        z = _mm512_add_pd(z, _mm512_cvtps_pd(load_mask8(ctx, mask, j, lanes, full)));
    if (bias == POSENC_BIAS_TERMS) {   /* a -inf term masks its column (numerics.h) */
        __mmask8 masked = _mm256_cmp_ps_mask(terms, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
        z = _mm512_mask_mov_pd(z, masked, _mm512_set1_pd(-INFINITY));
    }
    return z;
}

/* e_j of columns [j, j + 16); `distance` holds d of columns [j, j + 8) (unused without a bias). */
static ALWAYS_INLINE __m512 exp_of_logits16(const logit_ctx *ctx, const void *src, const void *mask, size_t j,
                                            __mmask16 lanes, int full, int bias, int has_mask, int src_type,
                                            __m512d max_d, __m512d distance)
{
    __m512d distance_hi = bias != POSENC_BIAS_NONE ? _mm512_add_pd(distance, _mm512_set1_pd(8.0)) : distance;
    __m512d x_lo = arg8_d(ctx, src, mask, j, (__mmask8)lanes, full, bias, has_mask, src_type, max_d, distance);
    __m512d x_hi = arg8_d(ctx, src, mask, j + 8, (__mmask8)(lanes >> 8), full, bias, has_mask, src_type, max_d,
                          distance_hi);
    return tpl_exp(x_lo, x_hi);
}

/* The FAST row's e_j of columns [j, j + 16) (numerics.h): expf_fast(zf - Mf), zf pass 1's float logit with b as
 * pass 1 forms it. */
static ALWAYS_INLINE __m512 exp_fast16(const logit_ctx *ctx, const void *src, const void *mask, size_t j,
                                       __mmask16 lanes, int full, int bias, int has_mask, int src_type,
                                       __m512 max_f, __m512 b)
{
    return tpl_expf_fast(_mm512_sub_ps(logit16_f(ctx, src, mask, j, lanes, full, bias, has_mask, src_type, b),
                                       max_f));
}

/* e_j of columns [j, j + 16) of either row (tails and pass 3's forming again; the FAST main loop steps b itself). */
static ALWAYS_INLINE __m512 exp_any16(const logit_ctx *ctx, const void *src, const void *mask, size_t j,
                                      __mmask16 lanes, int full, int bias, int has_mask, int src_type, int fast,
                                      __m512d max_d, __m512 max_f)
{
    if (fast)
        return exp_fast16(ctx, src, mask, j, lanes, full, bias, has_mask, src_type, max_f, bias16_f(ctx, j, bias));
    __m512d d = bias != POSENC_BIAS_NONE ? distance8_d(ctx, j) : _mm512_setzero_pd();
    return exp_of_logits16(ctx, src, mask, j, lanes, full, bias, has_mask, src_type, max_d, d);
}

/* ---- pass 1 ----------------------------------------------------------------------------------------------- */

/* Pass 1's double max (numerics.h: rows whose bias magnitude exceeds 2^24): the max over the double logits,
 * pass 2's arguments with M = 0, and the sink. *any_nan tells whether a live double logit is NaN. Rare rows:
 * one accumulator, masked loads, out of line (types, bias and has_mask at run time) so the hot row body stays
 * small. */
static __attribute__((noinline)) double max_of_logits_d(const logit_ctx *ctx, const void *src, const void *mask,
                                                        size_t n_valid, float sink, int bias, int src_type,
                                                        int *any_nan)
{
    const __m512d zero = _mm512_setzero_pd();
    __m512d m = _mm512_set1_pd((double)sink);
    __mmask8 nan = 0;
    for (size_t j = 0; j < n_valid; j += 8) {
        __mmask8 lanes = (__mmask8)avx512_lanes16(n_valid - j);
        __m512d distance = bias != POSENC_BIAS_NONE ? distance8_d(ctx, j) : zero;
        __m512d z;
        switch (src_type) {
        case POSENC_ELEM_F16:
            z = arg8_d(ctx, src, mask, j, lanes, 0, bias, mask != NULL, POSENC_ELEM_F16, zero, distance);
            break;
        case POSENC_ELEM_BF16:
            z = arg8_d(ctx, src, mask, j, lanes, 0, bias, mask != NULL, POSENC_ELEM_BF16, zero, distance);
            break;
        default:
            z = arg8_d(ctx, src, mask, j, lanes, 0, bias, mask != NULL, POSENC_ELEM_F32, zero, distance);
            break;
        }
        m = _mm512_mask_max_pd(m, lanes, z, m);   /* max(z, m) is m when z is NaN, as `z > m ? z : m` */
        nan |= _mm512_mask_cmp_pd_mask(lanes, z, z, _CMP_UNORD_Q);
    }
    *any_nan = nan != 0;
    return _mm512_reduce_max_pd(m);
}

/* z, also stored at z_out + j when z_out is not NULL (pass 1 keeping the FAST row's logits for pass 2). */
static ALWAYS_INLINE __m512 kept(float *z_out, size_t j, __m512 z)
{
    if (z_out)
        _mm512_storeu_ps(z_out + j, z);
    return z;
}

/* Pass 1's float max (numerics.h): the max over the float logits of the live columns and the sink.
 * max(z, m) returns m when z is NaN, the scalar `z > max ? z : max`; the max is exact, so four independent
 * running maxima and any final order give the same value. z_out: NULL, or where the logits of the live columns
 * are kept (the FAST row with a float32 dst: pass 2 then reads them instead of forming them again, the same
 * bits; dst may be src, whose element j has been read when z_j is stored). */
static ALWAYS_INLINE float max_of_logits_f(const logit_ctx *ctx, const void *src, const void *mask,
                                           size_t n_valid, size_t n_full, float sink, int bias, int has_mask,
                                           int src_type, float *z_out)
{
    __m512 m0 = _mm512_set1_ps(sink), m1 = m0, m2 = m0, m3 = m0;
    size_t j = 0;
    /* While every |d| of the row is <= 2^24, d in float is exact, and consecutive vectors are the previous one
     * plus 16: one add instead of an int32 broadcast, add and conversion per vector. */
    const int64_t d_first = ctx->d0, d_last = (int64_t)ctx->d0 + (int64_t)n_full;
    if (bias != POSENC_BIAS_NONE && bias != POSENC_BIAS_TERMS && llabs(d_first) <= (1 << 24) &&
        llabs(d_last) <= (1 << 24)) {
        const __m512 lane_index = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        const __m512 step16 = _mm512_set1_ps(16.0f);
        __m512 d = _mm512_add_ps(_mm512_set1_ps((float)d_first), lane_index);
        for (; j < n_full; j += 64) {
            __m512 d16 = _mm512_add_ps(d, step16), d32 = _mm512_add_ps(d16, step16);
            __m512 d48 = _mm512_add_ps(d32, step16);
            m0 = _mm512_max_ps(kept(z_out, j, logit16_f(ctx, src, mask, j, 0xffff, 1, bias, has_mask, src_type,
                                                        bias_of_distance_f(d, bias))), m0);
            m1 = _mm512_max_ps(kept(z_out, j + 16, logit16_f(ctx, src, mask, j + 16, 0xffff, 1, bias, has_mask,
                                                             src_type, bias_of_distance_f(d16, bias))), m1);
            m2 = _mm512_max_ps(kept(z_out, j + 32, logit16_f(ctx, src, mask, j + 32, 0xffff, 1, bias, has_mask,
                                                             src_type, bias_of_distance_f(d32, bias))), m2);
            m3 = _mm512_max_ps(kept(z_out, j + 48, logit16_f(ctx, src, mask, j + 48, 0xffff, 1, bias, has_mask,
                                                             src_type, bias_of_distance_f(d48, bias))), m3);
            d = _mm512_add_ps(d48, step16);
        }
    }
    for (; j < n_full; j += 64) {
        m0 = _mm512_max_ps(kept(z_out, j, logit16_f(ctx, src, mask, j, 0xffff, 1, bias, has_mask, src_type,
                                                    bias16_f(ctx, j, bias))), m0);
        m1 = _mm512_max_ps(kept(z_out, j + 16, logit16_f(ctx, src, mask, j + 16, 0xffff, 1, bias, has_mask,
                                                         src_type, bias16_f(ctx, j + 16, bias))), m1);
        m2 = _mm512_max_ps(kept(z_out, j + 32, logit16_f(ctx, src, mask, j + 32, 0xffff, 1, bias, has_mask,
                                                         src_type, bias16_f(ctx, j + 32, bias))), m2);
        m3 = _mm512_max_ps(kept(z_out, j + 48, logit16_f(ctx, src, mask, j + 48, 0xffff, 1, bias, has_mask,
                                                         src_type, bias16_f(ctx, j + 48, bias))), m3);
    }
    for (; j < n_valid; j += 16) {
        __mmask16 lanes = avx512_lanes16(n_valid - j);
        __m512 z = logit16_f(ctx, src, mask, j, lanes, 0, bias, has_mask, src_type, bias16_f(ctx, j, bias));
        if (z_out)
            _mm512_mask_storeu_ps(z_out + j, lanes, z);
        m0 = _mm512_mask_max_ps(m0, lanes, z, m0);
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

/* Sum of 4 accumulators (64 lanes) in the halving tree of numerics.h: w = 32, 16, 8, 4, 2, 1. */
static inline float sum_tree64(__m512 acc0, __m512 acc1, __m512 acc2, __m512 acc3)
{
    __m512 w32_lo = _mm512_add_ps(acc0, acc2);   /* lanes 0..15  (+ lanes 32..47) */
    __m512 w32_hi = _mm512_add_ps(acc1, acc3);   /* lanes 16..31 (+ lanes 48..63) */
    __m512 w16 = _mm512_add_ps(w32_lo, w32_hi);
    __m256 w8 = _mm256_add_ps(_mm512_castps512_ps256(w16), _mm512_extractf32x8_ps(w16, 1));
    __m128 w4 = _mm_add_ps(_mm256_castps256_ps128(w8), _mm256_extractf128_ps(w8, 1));
    __m128 w2 = _mm_add_ps(w4, _mm_movehl_ps(w4, w4));
    __m128 w1 = _mm_add_ss(w2, _mm_movehdup_ps(w2));
    return _mm_cvtss_f32(w1);
}

/* ---- the row ---------------------------------------------------------------------------------------------- */

/* The row, in the three passes of numerics.h. Pass 2 reads column j of src before it writes column j of dst,
 * so dst may equal src. A float32 dst holds e_j between passes 2 and 3; a 16-bit one cannot: up to
 * POSENC_SOFTMAX_E_KEEP of them are kept in row->e_keep (keep_e16) and pass 3 computes any others again (the
 * same operations, the same bits). `bias`, `has_mask`, `src_type` and `fast` (the FAST row: pass 2 in float32)
 * are compile-time constants in each instantiation; dst's type is read per pass. */
static ALWAYS_INLINE void softmax_row(const posenc_softmax_row *row, int bias, int has_mask, int src_type, int fast)
{
    const size_t n_valid = row->n_valid;
    const void *src = row->src;
    const void *mask = row->mask;
    const int dst_type = row->dst_type;
    logit_ctx ctx = {
        .scale = _mm512_set1_ps(row->scale),
        .slope = _mm512_set1_ps(row->slope),
        .scale_d = _mm512_set1_pd((double)row->scale),
        .slope_d = _mm512_set1_pd((double)row->slope),
        .d0 = row->d0,
        .mask_type = row->mask_type,
        .terms = row->terms,
        .n_terms = n_valid,
    };
    const size_t n_full = n_valid / 64 * 64;
    /* The FAST row with a float32 dst: pass 1 keeps the logits in dst and pass 2 reads them back. */
    float *const z_kept = fast && dst_type == POSENC_ELEM_F32 ? (float *)row->dst : NULL;   /* fast: float max */
    const void *const next_src = row->next_src;
    const size_t src_size = src_type == POSENC_ELEM_F32 ? 4 : 2;

    double max;
    if (!row->max_in_double) {
        float max_f = max_of_logits_f(&ctx, src, mask, n_valid, n_full, row->sink, bias, has_mask, src_type, z_kept);
        if (max_f == -INFINITY) {
            /* Every live logit is -inf or NaN: zeros, or NaN if any is NaN (the max ignored them). Rare: the
             * logits are recomputed (or read where pass 1 kept them: in place, src is gone). */
            __mmask16 any_nan = 0;
            for (size_t k = 0; k < n_valid; k += 16) {
                __mmask16 lanes = avx512_lanes16(n_valid - k);
                __m512 z = z_kept ? _mm512_maskz_loadu_ps(lanes, z_kept + k)
                                  : logit16_f(&ctx, src, mask, k, lanes, 0, bias, has_mask, src_type,
                                              bias16_f(&ctx, k, bias));
                any_nan |= _mm512_mask_cmp_ps_mask(lanes, z, z, _CMP_UNORD_Q);
            }
            posenc_softmax_put_stats(row->stats, max_f, any_nan ? posenc_nan_value() : 0.0f);
            fill_row(row->dst, dst_type, row->n_cols, any_nan ? posenc_nan_value() : 0.0f);
            return;
        }
        max = (double)max_f;
    } else {
        int any_nan;
        max = max_of_logits_d(&ctx, src, has_mask ? mask : NULL, n_valid, row->sink, bias, src_type, &any_nan);
        if (max == -INFINITY) {
            posenc_softmax_put_stats(row->stats, max, any_nan ? posenc_nan_value() : 0.0f);
            fill_row(row->dst, dst_type, row->n_cols, any_nan ? posenc_nan_value() : 0.0f);
            return;
        }
    }

    /* Pass 2. Accumulator a holds the columns with j % 64 in [16a, 16a + 16), as numerics.h requires. e_j is
     * kept (keep_e16) for j < n_keep, a multiple of 64 or n_valid. */
    const int keep = dst_type == POSENC_ELEM_F32 ? KEEP_IN_DST
                   : n_valid <= POSENC_SOFTMAX_E_KEEP / 2 ? KEEP_WHOLE : KEEP_SPLIT;
    const size_t n_keep = keep == KEEP_SPLIT && n_valid > POSENC_SOFTMAX_E_KEEP ? POSENC_SOFTMAX_E_KEEP : n_valid;
    __m512d max_d = _mm512_set1_pd(max);
    __m512 max_f = _mm512_set1_ps((float)max);   /* FAST: pass 1's float max, exactly */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    const __m512d step16 = _mm512_set1_pd(16.0);
    /* FAST: while every |d| of the row is <= 2^24, b steps in float as in pass 1 (exact). */
    const int step_b_f = fast && bias != POSENC_BIAS_NONE && bias != POSENC_BIAS_TERMS &&
                         llabs((int64_t)ctx.d0) <= (1 << 24) && llabs((int64_t)ctx.d0 + (int64_t)n_full) <= (1 << 24);
    const __m512 step16_f = _mm512_set1_ps(16.0f);
    __m512 b_f = _mm512_add_ps(_mm512_set1_ps((float)ctx.d0),
                               _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    size_t j;
    for (j = 0; j < n_full; j += 64) {
        __m512 e0, e1, e2, e3;
        if (fast && z_kept) {
            e0 = tpl_expf_fast(_mm512_sub_ps(_mm512_loadu_ps(z_kept + j), max_f));
            e1 = tpl_expf_fast(_mm512_sub_ps(_mm512_loadu_ps(z_kept + j + 16), max_f));
            e2 = tpl_expf_fast(_mm512_sub_ps(_mm512_loadu_ps(z_kept + j + 32), max_f));
            e3 = tpl_expf_fast(_mm512_sub_ps(_mm512_loadu_ps(z_kept + j + 48), max_f));
        } else if (fast) {
            __m512 b16 = _mm512_add_ps(b_f, step16_f), b32 = _mm512_add_ps(b16, step16_f);
            __m512 b48 = _mm512_add_ps(b32, step16_f);
            e0 = exp_fast16(&ctx, src, mask, j, 0xffff, 1, bias, has_mask, src_type, max_f,
                            step_b_f ? bias_of_distance_f(b_f, bias) : bias16_f(&ctx, j, bias));
            e1 = exp_fast16(&ctx, src, mask, j + 16, 0xffff, 1, bias, has_mask, src_type, max_f,
                            step_b_f ? bias_of_distance_f(b16, bias) : bias16_f(&ctx, j + 16, bias));
            e2 = exp_fast16(&ctx, src, mask, j + 32, 0xffff, 1, bias, has_mask, src_type, max_f,
                            step_b_f ? bias_of_distance_f(b32, bias) : bias16_f(&ctx, j + 32, bias));
            e3 = exp_fast16(&ctx, src, mask, j + 48, 0xffff, 1, bias, has_mask, src_type, max_f,
                            step_b_f ? bias_of_distance_f(b48, bias) : bias16_f(&ctx, j + 48, bias));
            b_f = _mm512_add_ps(b48, step16_f);
        } else {
            __m512d d0 = bias != POSENC_BIAS_NONE ? distance8_d(&ctx, j) : _mm512_setzero_pd();
            __m512d d16 = _mm512_add_pd(d0, step16), d32 = _mm512_add_pd(d16, step16);
            __m512d d48 = _mm512_add_pd(d32, step16);
            e0 = exp_of_logits16(&ctx, src, mask, j, 0xffff, 1, bias, has_mask, src_type, max_d, d0);
            e1 = exp_of_logits16(&ctx, src, mask, j + 16, 0xffff, 1, bias, has_mask, src_type, max_d, d16);
            e2 = exp_of_logits16(&ctx, src, mask, j + 32, 0xffff, 1, bias, has_mask, src_type, max_d, d32);
            e3 = exp_of_logits16(&ctx, src, mask, j + 48, 0xffff, 1, bias, has_mask, src_type, max_d, d48);
        }
        if (next_src) {   /* the next row's 64 columns at this offset, while this row computes */
            const char *next = (const char *)next_src + j * src_size;
            for (size_t line = 0; line < 64 * src_size; line += 64)
                _mm_prefetch(next + line, _MM_HINT_T0);
        }
        if (j < n_keep) {
            keep_e16(row, keep, j, 0xffff, 1, e0);
            keep_e16(row, keep, j + 16, 0xffff, 1, e1);
            keep_e16(row, keep, j + 32, 0xffff, 1, e2);
            keep_e16(row, keep, j + 48, 0xffff, 1, e3);
        }
        acc0 = _mm512_add_ps(acc0, e0);
        acc1 = _mm512_add_ps(acc1, e1);
        acc2 = _mm512_add_ps(acc2, e2);
        acc3 = _mm512_add_ps(acc3, e3);
    }
    if (j < n_valid) {
        __m512 *acc[4] = { &acc0, &acc1, &acc2, &acc3 };
        for (int a = 0; a < 4 && j < n_valid; a++, j += 16) {
            __mmask16 lanes = avx512_lanes16(n_valid - j);
            __m512 e = z_kept ? tpl_expf_fast(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, z_kept + j), max_f))
                              : exp_any16(&ctx, src, mask, j, lanes, 0, bias, has_mask, src_type, fast, max_d,
                                          max_f);
            if (j < n_keep)
                keep_e16(row, keep, j, lanes, 0, e);
            *acc[a] = _mm512_mask_add_ps(*acc[a], lanes, *acc[a], e);
        }
    }
    __m512d sink_arg = _mm512_sub_pd(_mm512_set1_pd((double)row->sink), max_d);
    __m512 sink_e = fast ? tpl_expf_fast(_mm512_sub_ps(_mm512_set1_ps(row->sink), max_f))
                         : tpl_exp(sink_arg, sink_arg);
    float sum = sum_tree64(acc0, acc1, acc2, acc3) + _mm512_cvtss_f32(sink_e);
    posenc_softmax_put_stats(row->stats, max, sum);

    float inv, thr;
    if (!posenc_softmax_row_scales(sum, &inv, &thr)) {
        fill_row(row->dst, dst_type, row->n_cols, posenc_nan_value());   /* the NaN row */
        return;
    }

    /* Pass 3: y = (e < thr ? 0 : e) * inv, the zeroing folded into the multiply's mask; masked columns +0. */
    __m512 vinv = _mm512_set1_ps(inv), vthr = _mm512_set1_ps(thr);
    if (dst_type == POSENC_ELEM_F32) {
        float *dst = row->dst;
        for (j = 0; j < n_full; j += 64) {
            _mm512_storeu_ps(dst + j, tpl_scale_flushed(_mm512_loadu_ps(dst + j), vthr, vinv));
            _mm512_storeu_ps(dst + j + 16, tpl_scale_flushed(_mm512_loadu_ps(dst + j + 16), vthr, vinv));
            _mm512_storeu_ps(dst + j + 32, tpl_scale_flushed(_mm512_loadu_ps(dst + j + 32), vthr, vinv));
            _mm512_storeu_ps(dst + j + 48, tpl_scale_flushed(_mm512_loadu_ps(dst + j + 48), vthr, vinv));
        }
        for (; j < n_valid; j += 16) {
            __mmask16 lanes = avx512_lanes16(n_valid - j);
            _mm512_mask_storeu_ps(dst + j, lanes,
                                  tpl_scale_flushed(_mm512_maskz_loadu_ps(lanes, dst + j), vthr, vinv));
        }
    } else {
        for (j = 0; j < n_keep; j += 16) {
            __mmask16 lanes = avx512_lanes16(n_keep - j);
            __m512 y = tpl_scale_flushed(kept_e16(row, keep, j, lanes), vthr, vinv);
            store16_narrow(dst_type, row->dst, j, lanes, y);
        }
        /* Past the kept columns (n_keep is a multiple of 64 here): e again, from src, as pass 2 made it. */
        for (; j < n_valid; j += 16) {
            __mmask16 lanes = avx512_lanes16(n_valid - j);
            __m512 e = exp_any16(&ctx, src, mask, j, lanes, 0, bias, has_mask, src_type, fast, max_d, max_f);
            store16_narrow(dst_type, row->dst, j, lanes, tpl_scale_flushed(e, vthr, vinv));
        }
    }
    /* Masked columns: +0 in any type. */
    if (dst_type == POSENC_ELEM_F32) {
        for (j = n_valid; j < row->n_cols; j += 16)
            _mm512_mask_storeu_ps((float *)row->dst + j, avx512_lanes16(row->n_cols - j), _mm512_setzero_ps());
    } else {
        for (j = n_valid; j < row->n_cols; j += 16)
            _mm256_mask_storeu_epi16((uint16_t *)row->dst + j, avx512_lanes16(row->n_cols - j),
                                     _mm256_setzero_si256());
    }
}

/* The specialised bodies and the choice between them (src/tpl/softmax_bodies.h). */
#define SOFTMAX_ROW_TEMPLATE softmax_row
#include "tpl/softmax_bodies.h"

void posenc_softmax_row_avx512(const posenc_softmax_row *row)
{
    softmax_row_dispatch(row);
}
