/* softmax_avx2.c - fused ALiBi softmax row, f32/f16/bf16, for the avx2 bundle (built with -mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "softmax_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma -mf16c"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx2.h"
#include "tpl/softmax_tpl.h"
#include "x86/x86_kernels.h"

#define LANES 8
/* POSENC_SUM_LANES partial sums held in this many vectors: vector a holds columns j with j % 64 in [8a, 8a+8). */
#define SUM_VECTORS (POSENC_SUM_LANES / LANES)
#if SUM_VECTORS != 8
#error "the reduction tree below is written for 8 accumulator vectors"
#endif

#define FORCE_INLINE inline __attribute__((always_inline))

/* Per-row constants of the logit computation. */
typedef struct logit_params {
    const void *src;
    const void *mask;
    int32_t mask_type;
    __m256 scale;
    __m256 slope;
    __m256d scale_d;
    __m256d slope_d;
    int32_t d0;          /* the distance at column 0 (LINEAR, ABS) */
    __m256i d_lanes;     /* d0 + lane index, int32 (wrapping adds: only live lanes matter) */
    __m256d d_lanes_d;   /* d0 + lane index 0..3, double (exact) */
    const float *terms;  /* POSENC_BIAS_TERMS: b_j of the live columns [0, n_valid), -inf masking a column */
} logit_params;

/* ---- element types (numerics.h, "element types"): loads widen exactly, stores round once ----------------- */

/* Columns [j, j+8) of a row of `type`, widened exactly (f16: VCVTPH2PS, exact for every value, a NaN staying a
 * NaN, all the softmax needs; bf16: a shift). `full` reads 8 columns; otherwise only the lanes in `live` (the
 * first `count`) are read (the others read as 0 and are discarded by the caller): float32 by a masked load,
 * 16-bit elements through a zero-padded copy. `type` is a compile-time constant where the caller makes it one. */
static FORCE_INLINE __m256 load8(int type, const void *p, size_t j, int full, __m256i live, size_t count)
{
    if (type == POSENC_ELEM_F32)
        return full ? _mm256_loadu_ps((const float *)p + j) : _mm256_maskload_ps((const float *)p + j, live);
    __m128i h;
    if (full) {
        h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + j));
    } else {
        uint16_t tail[LANES] = {0};
        memcpy(tail, (const uint16_t *)p + j, (count < LANES ? count : LANES) * sizeof(uint16_t));
        h = _mm_loadu_si128((const __m128i *)(const void *)tail);
    }
    if (type == POSENC_ELEM_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The mask's elements: its type is read at run time (one predictable branch per vector). */
static FORCE_INLINE __m256 load_mask8(const logit_params *lp, size_t j, int full, __m256i live, size_t count)
{
    switch (lp->mask_type) {
    case POSENC_ELEM_F16: return load8(POSENC_ELEM_F16, lp->mask, j, full, live, count);
    case POSENC_ELEM_BF16: return load8(POSENC_ELEM_BF16, lp->mask, j, full, live, count);
    default: return load8(POSENC_ELEM_F32, lp->mask, j, full, live, count);
    }
}

/* 8 pass-3 outputs (finite, >= +0) rounded to nearest even into a 16-bit dst of `type` at column j (the first
 * `count` lanes): VCVTPS2PH for f16 (exact RNE for every non-NaN value), integer rounding for bf16. */
static FORCE_INLINE void store8_narrow(int type, void *p, size_t j, size_t count, __m256 y)
{
    __m128i h;
    if (type == POSENC_ELEM_F16) {
        h = _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
        __m256i b = _mm256_castps_si256(y);
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7fff)), lsb), 16);
        h = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    }
    uint16_t *out = (uint16_t *)p + j;
    if (count >= LANES) {
        _mm_storeu_si128((__m128i *)(void *)out, h);
    } else {
        uint16_t tail[LANES];
        _mm_storeu_si128((__m128i *)(void *)tail, h);
        memcpy(out, tail, count * sizeof(uint16_t));
    }
}

/* 8 32-bit lanes (each <= 0xffff) as 8 uint16 at p (the first `count`). */
static FORCE_INLINE void store8_u16(uint16_t *p, size_t count, __m256i v)
{
    __m128i h = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    if (count >= LANES) {
        _mm_storeu_si128((__m128i *)(void *)p, h);
    } else {
        uint16_t tail[LANES];
        _mm_storeu_si128((__m128i *)(void *)tail, h);
        memcpy(p, tail, count * sizeof(uint16_t));
    }
}

/* Where pass 2 keeps e_j for pass 3 (src/kernels.h, POSENC_SOFTMAX_E_KEEP): a float32 dst itself; for a 16-bit
 * dst, whole floats in row->e_keep (rows of up to POSENC_SOFTMAX_E_KEEP / 2 live columns), or split: the high
 * halves in dst (src[j] has been read), the low halves in row->e_keep. */
enum { KEEP_IN_DST, KEEP_WHOLE, KEEP_SPLIT };

/* Pass 2's e of columns [j, j + 8) (the first `count`; `live` their lanes) kept for pass 3. The scratch is
 * uint16_t; the float stores are vector stores, which may alias anything. */
static FORCE_INLINE void keep_e8(const posenc_softmax_row *row, int keep, size_t j, int full, __m256i live,
                                 size_t count, __m256 e)
{
    if (keep != KEEP_SPLIT) {
        float *f = (keep == KEEP_IN_DST ? (float *)row->dst : (float *)(void *)row->e_keep) + j;
        if (full)
            _mm256_storeu_ps(f, e);
        else
            _mm256_maskstore_ps(f, live, e);
        return;
    }
    __m256i b = _mm256_castps_si256(e);
    store8_u16((uint16_t *)row->dst + j, count, _mm256_srli_epi32(b, 16));
    store8_u16(row->e_keep + j, count, _mm256_and_si256(b, _mm256_set1_epi32(0xffff)));
}

/* The e that keep_e8 kept for a 16-bit dst (KEEP_WHOLE or KEEP_SPLIT; the first `count` lanes, the others 0). */
static FORCE_INLINE __m256 kept_e8(const posenc_softmax_row *row, int keep, size_t j, size_t count)
{
    if (keep == KEEP_WHOLE) {
        const float *f = (const float *)(const void *)row->e_keep + j;
        return count >= LANES ? _mm256_loadu_ps(f) : _mm256_maskload_ps(f, avx2_lanes_below(count));
    }
    __m128i hi, lo;
    if (count >= LANES) {
        hi = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)row->dst + j));
        lo = _mm_loadu_si128((const __m128i *)(const void *)(row->e_keep + j));
    } else {
        uint16_t hi_tail[LANES] = {0}, lo_tail[LANES] = {0};
        memcpy(hi_tail, (const uint16_t *)row->dst + j, count * sizeof(uint16_t));
        memcpy(lo_tail, row->e_keep + j, count * sizeof(uint16_t));
        hi = _mm_loadu_si128((const __m128i *)(const void *)hi_tail);
        lo = _mm_loadu_si128((const __m128i *)(const void *)lo_tail);
    }
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hi), 16),
                                               _mm256_cvtepu16_epi32(lo)));
}

/* dst[from, to) of `type` = value (+0 or the NaN row: POSENC_NAN_BITS narrowed is the type's canonical NaN). */
static void fill(void *dst, int type, size_t from, size_t to, float value)
{
    if (type == POSENC_ELEM_F32) {
        float *d = dst;
        __m256 v = _mm256_set1_ps(value);
        size_t j = from;
        for (; j + LANES <= to; j += LANES)
            _mm256_storeu_ps(d + j, v);
        if (j < to)
            _mm256_maskstore_ps(d + j, avx2_lanes_below(to - j), v);
        return;
    }
    uint16_t bits = value == 0.0f ? 0 : type == POSENC_ELEM_F16 ? POSENC_F16_NAN_BITS : POSENC_BF16_NAN_BITS;
    uint16_t *d = dst;
    for (size_t j = from; j < to; j++)
        d[j] = bits;
}

/* ---- the logits ------------------------------------------------------------------------------------------- */

/* The bias term b_j of columns [j, j+8) as int32: d0 + j, or -|d0 + j| (the API layer guarantees no overflow
 * for live columns). bias is a compile-time constant after inlining. */
static FORCE_INLINE __m256i bias8(const logit_params *lp, size_t j, int bias)
{
    __m256i d = _mm256_add_epi32(lp->d_lanes, _mm256_set1_epi32((int32_t)j));
    if (bias == POSENC_BIAS_ABS)
        d = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_abs_epi32(d));
    return d;
}

/* The given terms of columns [j, j+8) (TERMS): all 8, or only the lanes in `live` (the others 0). The callers'
 * `live` never reaches past n_valid, so terms is never read past the row. */
static FORCE_INLINE __m256 terms8(const logit_params *lp, size_t j, int full, __m256i live)
{
    const float *t = lp->terms + j;
    return full ? _mm256_loadu_ps(t) : _mm256_maskload_ps(t, live);
}

/* Pass 1's float b of columns [j, j+8): the int32 conversion of numerics.h, or the given terms (TERMS). */
static FORCE_INLINE __m256 bias8_f(const logit_params *lp, size_t j, int full, __m256i live, int bias)
{
    if (bias == POSENC_BIAS_TERMS)
        return terms8(lp, j, full, live);
    return bias == POSENC_BIAS_NONE ? _mm256_setzero_ps() : _mm256_cvtepi32_ps(bias8(lp, j, bias));
}

/* The same from d as float, exact while |d| <= 2^24: d itself, or 0 - |d| (d = 0 gives +0, as from int32). */
static FORCE_INLINE __m256 bias_of_distance_f(__m256 d, int bias)
{
    return bias == POSENC_BIAS_ABS ? _mm256_sub_ps(_mm256_setzero_ps(), _mm256_andnot_ps(_mm256_set1_ps(-0.0f), d))
                                   : d;
}

/* Pass 1's float logits of columns [j, j+8), with b from bias8_f or bias_of_distance_f (unused without a bias).
 * bias, has_mask and src_type are compile-time constants after inlining. */
static FORCE_INLINE __m256 logit8_f(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                    int bias, int has_mask, int src_type, __m256 b)
{
    __m256 z = _mm256_mul_ps(lp->scale, load8(src_type, lp->src, j, full, live, count));
    if (bias != POSENC_BIAS_NONE)
        z = _mm256_fmadd_ps(lp->slope, b, z);
    if (has_mask)
        z = _mm256_add_ps(z, load_mask8(lp, j, full, live, count));
    if (bias == POSENC_BIAS_TERMS) {   /* a -inf term masks its column (numerics.h) */
        const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
        z = _mm256_blendv_ps(z, neg_inf, _mm256_cmp_ps(b, neg_inf, _CMP_EQ_OQ));
    }
    return z;
}

/* Pass 1's float logits of columns [j, j+8), b formed from j. */
static FORCE_INLINE __m256 logit8_fj(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                     int bias, int has_mask, int src_type)
{
    return logit8_f(lp, j, full, live, count, bias, has_mask, src_type, bias8_f(lp, j, full, live, bias));
}

/* Pass 2's double exp arguments (logit minus max) of columns [j, j+8): lanes 0..3 in *lo, 4..7 in *hi. */
static FORCE_INLINE void exp_args8(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                   int bias, int has_mask, int src_type, __m256d max_d, __m256d *lo, __m256d *hi)
{
    __m256 s = load8(src_type, lp->src, j, full, live, count);
    /* fma(scale, s, -M) == fmsub(scale, s, M): one rounding of the exact product minus M. */
    __m256d z_lo = _mm256_fmsub_pd(lp->scale_d, _mm256_cvtps_pd(_mm256_castps256_ps128(s)), max_d);
    __m256d z_hi = _mm256_fmsub_pd(lp->scale_d, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)), max_d);
    __m256d t_lo = _mm256_setzero_pd(), t_hi = t_lo;
    if (bias == POSENC_BIAS_TERMS) {
        /* The given terms, exact in double. */
        __m256 t = terms8(lp, j, full, live);
        t_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(t));
        t_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1));
        z_lo = _mm256_fmadd_pd(lp->slope_d, t_lo, z_lo);
        z_hi = _mm256_fmadd_pd(lp->slope_d, t_hi, z_hi);
    } else if (bias != POSENC_BIAS_NONE) {
        /* d in double is exact (|d0 + j| < 2^32): cheaper than converting the int32 b of pass 1. b = d, or
         * 0 - |d| so that d = 0 gives +0 as the int32 conversion does. */
        __m256d d_lo = _mm256_add_pd(lp->d_lanes_d, _mm256_set1_pd((double)j));
        __m256d d_hi = _mm256_add_pd(d_lo, _mm256_set1_pd(4.0));
        if (bias == POSENC_BIAS_ABS) {
            const __m256d sign = _mm256_set1_pd(-0.0);
            d_lo = _mm256_sub_pd(_mm256_setzero_pd(), _mm256_andnot_pd(sign, d_lo));
            d_hi = _mm256_sub_pd(_mm256_setzero_pd(), _mm256_andnot_pd(sign, d_hi));
        }
        z_lo = _mm256_fmadd_pd(lp->slope_d, d_lo, z_lo);
        z_hi = _mm256_fmadd_pd(lp->slope_d, d_hi, z_hi);
    }
    if (has_mask) {
        __m256 m = load_mask8(lp, j, full, live, count);
        z_lo = _mm256_add_pd(z_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(m)));
        z_hi = _mm256_add_pd(z_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(m, 1)));
    }
    if (bias == POSENC_BIAS_TERMS) {   /* a -inf term masks its column (numerics.h) */
        const __m256d neg_inf = _mm256_set1_pd(-INFINITY);
        z_lo = _mm256_blendv_pd(z_lo, neg_inf, _mm256_cmp_pd(t_lo, neg_inf, _CMP_EQ_OQ));
        z_hi = _mm256_blendv_pd(z_hi, neg_inf, _mm256_cmp_pd(t_hi, neg_inf, _CMP_EQ_OQ));
    }
    *lo = z_lo;
    *hi = z_hi;
}

/* e = exp(z - max) of columns [j, j+8), z and max in double. */
static FORCE_INLINE __m256 exp_of_column8(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                          int bias, int has_mask, int src_type, __m256d max_d)
{
    __m256d x_lo, x_hi;
    exp_args8(lp, j, full, live, count, bias, has_mask, src_type, max_d, &x_lo, &x_hi);
    return tpl_exp(x_lo, x_hi);
}

/* The FAST row's e of columns [j, j+8) (numerics.h, "the FAST softmax row"): expf_fast(zf - Mf), zf pass 1's
 * float logit formed again (logit8_f: the same operations, b converted from int32 as pass 1 converts it). */
static FORCE_INLINE __m256 exp_fast8(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                     int bias, int has_mask, int src_type, __m256 max_f)
{
    return tpl_expf_fast(_mm256_sub_ps(logit8_fj(lp, j, full, live, count, bias, has_mask, src_type), max_f));
}

/* Pass 2's e of columns [j, j+8) of either row: `fast` is a compile-time constant after inlining. */
static FORCE_INLINE __m256 exp_any8(const logit_params *lp, size_t j, int full, __m256i live, size_t count,
                                    int bias, int has_mask, int src_type, int fast, __m256d max_d, __m256 max_f)
{
    if (fast)
        return exp_fast8(lp, j, full, live, count, bias, has_mask, src_type, max_f);
    return exp_of_column8(lp, j, full, live, count, bias, has_mask, src_type, max_d);
}

/* ---- pass 1 ----------------------------------------------------------------------------------------------- */

/* Pass 1's double max (numerics.h: far rows, row->max_in_double): the max over the double logits, pass 2's
 * arguments with M = 0, and the sink. *any_nan tells whether a live double logit is NaN. Rare rows: one
 * accumulator, partial loads, out of line (types, bias and has_mask at run time) so the hot row body stays
 * small. */
static __attribute__((noinline)) double max_of_logits_d(const logit_params *lp, size_t n_valid, float sink,
                                                        int bias, int has_mask, int src_type, int *any_nan)
{
    const __m256d minus_inf = _mm256_set1_pd(-INFINITY), zero = _mm256_setzero_pd();
    __m256d m = _mm256_set1_pd((double)sink), nan = zero;
    for (size_t j = 0; j < n_valid; j += LANES) {
        __m256d z_lo, z_hi;
        __m256i live = avx2_lanes_below(n_valid - j);
        switch (src_type) {
        case POSENC_ELEM_F16:
            exp_args8(lp, j, 0, live, n_valid - j, bias, has_mask, POSENC_ELEM_F16, zero, &z_lo, &z_hi);
            break;
        case POSENC_ELEM_BF16:
            exp_args8(lp, j, 0, live, n_valid - j, bias, has_mask, POSENC_ELEM_BF16, zero, &z_lo, &z_hi);
            break;
        default:
            exp_args8(lp, j, 0, live, n_valid - j, bias, has_mask, POSENC_ELEM_F32, zero, &z_lo, &z_hi);
            break;
        }
        __m256d live_lo = _mm256_castsi256_pd(avx2_lanes_below_pd(n_valid - j));
        __m256d live_hi = _mm256_castsi256_pd(avx2_lanes_below_pd(n_valid - j > 4 ? n_valid - j - 4 : 0));
        z_lo = _mm256_blendv_pd(minus_inf, z_lo, live_lo);   /* dead lanes never win */
        z_hi = _mm256_blendv_pd(minus_inf, z_hi, live_hi);
        nan = _mm256_or_pd(nan, _mm256_or_pd(_mm256_cmp_pd(z_lo, z_lo, _CMP_UNORD_Q),
                                             _mm256_cmp_pd(z_hi, z_hi, _CMP_UNORD_Q)));
        m = _mm256_max_pd(z_lo, m);   /* max(z, m) is m when z is NaN, as `z > m ? z : m` */
        m = _mm256_max_pd(z_hi, m);
    }
    *any_nan = _mm256_movemask_pd(nan) != 0;
    __m128d m2 = _mm_max_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd(m, 1));
    m2 = _mm_max_sd(m2, _mm_unpackhi_pd(m2, m2));
    return _mm_cvtsd_f64(m2);
}

/* Largest lane. Order is free: max is exact, and no lane is NaN here (NaN logits were already skipped). */
static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 1, 1, 1)));
    return _mm_cvtss_f32(m);
}

/* z, also stored at z_out + j when z_out is not NULL (pass 1 keeping the FAST row's logits for pass 2). */
static FORCE_INLINE __m256 kept8(float *z_out, size_t j, __m256 z)
{
    if (z_out)
        _mm256_storeu_ps(z_out + j, z);
    return z;
}

/* Pass 1's float max (numerics.h): the max over the float logits of the live columns and the sink.
 * _mm256_max_ps(z, m) is `z > m ? z : m`, the scalar's comparison, so NaN logits are skipped; the max is exact,
 * so four independent chains (hiding the max latency) and any final order give the same value. z_out: NULL, or
 * where the logits of the live columns are kept (the FAST row with a float32 dst: pass 2 then reads them instead
 * of forming them again, the same bits; dst may be src, whose element j has been read when z_j is stored). */
static FORCE_INLINE float max_of_logits_f(const logit_params *lp, size_t n_valid, float sink, int bias,
                                          int has_mask, int src_type, float *z_out)
{
    const __m256i all = _mm256_set1_epi32(-1);
    const size_t n_full = n_valid / (4 * LANES) * (4 * LANES);
    __m256 m0 = _mm256_set1_ps(sink), m1 = m0, m2 = m0, m3 = m0;
    size_t j = 0;
    /* While every |d| of the row is <= 2^24, d in float is exact, and each vector is the block's first plus 8,
     * 16 or 24: one add (off the loop-carried chain but for the first) instead of an int32 add and conversion. */
    const int64_t d_first = lp->d0, d_last = (int64_t)lp->d0 + (int64_t)n_full;
    if (bias != POSENC_BIAS_NONE && bias != POSENC_BIAS_TERMS && llabs(d_first) <= (1 << 24) &&
        llabs(d_last) <= (1 << 24)) {
        const __m256 step8 = _mm256_set1_ps(8.0f), step16 = _mm256_set1_ps(16.0f);
        const __m256 step24 = _mm256_set1_ps(24.0f), step32 = _mm256_set1_ps(32.0f);
        __m256 d = _mm256_add_ps(_mm256_set1_ps((float)d_first), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
        for (; j < n_full; j += 4 * LANES) {
            __m256 d8 = _mm256_add_ps(d, step8), d16 = _mm256_add_ps(d, step16), d24 = _mm256_add_ps(d, step24);
            m0 = _mm256_max_ps(kept8(z_out, j, logit8_f(lp, j, 1, all, LANES, bias, has_mask, src_type,
                                                        bias_of_distance_f(d, bias))), m0);
            m1 = _mm256_max_ps(kept8(z_out, j + 8, logit8_f(lp, j + 8, 1, all, LANES, bias, has_mask, src_type,
                                                            bias_of_distance_f(d8, bias))), m1);
            m2 = _mm256_max_ps(kept8(z_out, j + 16, logit8_f(lp, j + 16, 1, all, LANES, bias, has_mask, src_type,
                                                             bias_of_distance_f(d16, bias))), m2);
            m3 = _mm256_max_ps(kept8(z_out, j + 24, logit8_f(lp, j + 24, 1, all, LANES, bias, has_mask, src_type,
                                                             bias_of_distance_f(d24, bias))), m3);
            d = _mm256_add_ps(d, step32);
        }
    }
    for (; j < n_full; j += 4 * LANES) {
        m0 = _mm256_max_ps(kept8(z_out, j, logit8_fj(lp, j, 1, all, LANES, bias, has_mask, src_type)), m0);
        m1 = _mm256_max_ps(kept8(z_out, j + 8, logit8_fj(lp, j + 8, 1, all, LANES, bias, has_mask, src_type)), m1);
        m2 = _mm256_max_ps(kept8(z_out, j + 16, logit8_fj(lp, j + 16, 1, all, LANES, bias, has_mask, src_type)),
                           m2);
        m3 = _mm256_max_ps(kept8(z_out, j + 24, logit8_fj(lp, j + 24, 1, all, LANES, bias, has_mask, src_type)),
                           m3);
    }
    for (; j + LANES <= n_valid; j += LANES)
        m0 = _mm256_max_ps(kept8(z_out, j, logit8_fj(lp, j, 1, all, LANES, bias, has_mask, src_type)), m0);
    if (j < n_valid) {
        __m256i live = avx2_lanes_below(n_valid - j);
        __m256 z = logit8_fj(lp, j, 0, live, n_valid - j, bias, has_mask, src_type);
        if (z_out)
            _mm256_maskstore_ps(z_out + j, live, z);
        /* Dead lanes become -inf, which never wins. */
        z = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), z, _mm256_castsi256_ps(live));
        m1 = _mm256_max_ps(z, m1);
    }
    return hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
}

/* ---- the row ---------------------------------------------------------------------------------------------- */

/* Prefetch the next row's 64 columns at column j (src_size bytes each) while this row computes: a hint, one per
 * 64 bytes; bits never depend on it. */
static FORCE_INLINE void prefetch_next64(const char *next_src, size_t j, size_t src_size)
{
    const char *next = next_src + j * src_size;
    for (size_t line = 0; line < POSENC_SUM_LANES * src_size; line += 64)
        _mm_prefetch(next + line, _MM_HINT_T0);
}

/* The row, in the three passes of numerics.h. Pass 2 reads column j of src before it writes column j of dst, so
 * dst may equal src. A float32 dst holds e_j between passes 2 and 3 (and, in the FAST row, pass 1's logits
 * between passes 1 and 2); a 16-bit one cannot: up to POSENC_SOFTMAX_E_KEEP of them are kept in row->e_keep
 * (keep_e8) and pass 3 computes any others again (the same operations, the same bits). bias, has_mask, src_type
 * and fast (the FAST row: pass 2 in float32) are compile-time constants in each instantiation; dst's type is read
 * per pass. */
static FORCE_INLINE void softmax_row_body(const posenc_softmax_row *row, int bias, int has_mask, int src_type,
                                          int fast)
{
    const size_t n_valid = row->n_valid;
    const int dst_type = row->dst_type;
    logit_params lp;
    lp.src = row->src;
    lp.mask = row->mask;
    lp.mask_type = row->mask_type;
    lp.scale = _mm256_set1_ps(row->scale);
    lp.slope = _mm256_set1_ps(row->slope);
    lp.scale_d = _mm256_set1_pd((double)row->scale);
    lp.slope_d = _mm256_set1_pd((double)row->slope);
    lp.d0 = row->d0;
    lp.d_lanes = _mm256_add_epi32(_mm256_set1_epi32(row->d0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    lp.d_lanes_d = _mm256_add_pd(_mm256_set1_pd((double)row->d0), _mm256_setr_pd(0, 1, 2, 3));
    lp.terms = row->terms;
    const __m256i all = _mm256_set1_epi32(-1);
    /* The FAST row with a float32 dst: pass 1 keeps the logits in dst and pass 2 reads them back. */
    float *const z_kept = fast && dst_type == POSENC_ELEM_F32 ? (float *)row->dst : NULL;   /* fast: float max */
    const char *const next_src = row->next_src;
    const size_t src_size = src_type == POSENC_ELEM_F32 ? 4 : 2;

    double max;
    size_t j = 0;
    if (!row->max_in_double) {
        const float max_f = max_of_logits_f(&lp, n_valid, row->sink, bias, has_mask, src_type, z_kept);
        if (max_f == -INFINITY) {
            /* Every live logit is -inf or NaN: zeros, or NaN if any is NaN (as the reference). Rare: the logits
             * are formed again (or read where pass 1 kept them: in place, src is gone). */
            __m256 any_nan = _mm256_setzero_ps();
            for (j = 0; j < n_valid; j += LANES) {
                __m256i live = avx2_lanes_below(n_valid - j);
                __m256 z = z_kept ? _mm256_maskload_ps(z_kept + j, live)
                                  : logit8_fj(&lp, j, 0, live, n_valid - j, bias, has_mask, src_type);
                any_nan = _mm256_or_ps(any_nan, _mm256_and_ps(_mm256_cmp_ps(z, z, _CMP_UNORD_Q),
                                                              _mm256_castsi256_ps(live)));
            }
            const float fill_value = _mm256_movemask_ps(any_nan) ? posenc_nan_value() : 0.0f;
            posenc_softmax_put_stats(row->stats, max_f, fill_value);
            fill(row->dst, dst_type, 0, row->n_cols, fill_value);
            return;
        }
        max = (double)max_f;
    } else {
        int any_nan;
        max = max_of_logits_d(&lp, n_valid, row->sink, bias, has_mask, src_type, &any_nan);
        if (max == -INFINITY) {
            posenc_softmax_put_stats(row->stats, max, any_nan ? posenc_nan_value() : 0.0f);
            fill(row->dst, dst_type, 0, row->n_cols, any_nan ? posenc_nan_value() : 0.0f);
            return;
        }
    }

    /* Pass 2: e = exp(z - max), formed in double (the FAST row: expf_fast(zf - Mf), in float, zf read from where
     * pass 1 kept it or formed again), kept (keep_e8) for j < n_keep (a multiple of 64 or n_valid), and the 64
     * partial sums. Each block of src is read before the same block of dst is written, so src == dst works. */
    const int keep = dst_type == POSENC_ELEM_F32 ? KEEP_IN_DST
                   : n_valid <= POSENC_SOFTMAX_E_KEEP / 2 ? KEEP_WHOLE : KEEP_SPLIT;
    const size_t n_keep = keep == KEEP_SPLIT && n_valid > POSENC_SOFTMAX_E_KEEP ? POSENC_SOFTMAX_E_KEEP : n_valid;
    const __m256d max_d = _mm256_set1_pd(max);
    const __m256 max_f = _mm256_set1_ps((float)max);   /* FAST: pass 1's float max, exactly */
    __m256 acc[SUM_VECTORS];
    for (int a = 0; a < SUM_VECTORS; a++)
        acc[a] = _mm256_setzero_ps();
    j = 0;
    if (z_kept) {
        /* The FAST row with a float32 dst: z from where pass 1 kept it, e over it (KEEP_IN_DST, n_keep = n_valid). */
        for (; j + POSENC_SUM_LANES <= n_valid; j += POSENC_SUM_LANES) {
#pragma GCC unroll 8
            for (int a = 0; a < SUM_VECTORS; a++) {
                float *at = z_kept + j + (size_t)a * LANES;
                __m256 e = tpl_expf_fast(_mm256_sub_ps(_mm256_loadu_ps(at), max_f));
                _mm256_storeu_ps(at, e);
                acc[a] = _mm256_add_ps(acc[a], e);
            }
            if (next_src)
                prefetch_next64(next_src, j, src_size);
        }
    } else {
        for (; j + POSENC_SUM_LANES <= n_valid; j += POSENC_SUM_LANES) {
            const int store = j < n_keep;
#pragma GCC unroll 8
            for (int a = 0; a < SUM_VECTORS; a++) {
                size_t col = j + (size_t)a * LANES;
                __m256 e = exp_any8(&lp, col, 1, all, LANES, bias, has_mask, src_type, fast, max_d, max_f);
                if (store)
                    keep_e8(row, keep, col, 1, all, LANES, e);
                acc[a] = _mm256_add_ps(acc[a], e);
            }
            if (next_src)
                prefetch_next64(next_src, j, src_size);
        }
    }
    if (j < n_valid) {
        /* The last, partial group of 64: dead lanes add +0, which leaves a partial sum's bits unchanged (every
         * partial sum is +0 or positive or NaN). */
        const int store = j < n_keep;
#pragma GCC unroll 8
        for (int a = 0; a < SUM_VECTORS; a++) {
            size_t col = j + (size_t)a * LANES;
            if (col < n_valid) {
                __m256i live = avx2_lanes_below(n_valid - col);
                __m256 e = z_kept ? tpl_expf_fast(_mm256_sub_ps(_mm256_maskload_ps(z_kept + col, live), max_f))
                                  : exp_any8(&lp, col, 0, live, n_valid - col, bias, has_mask, src_type, fast,
                                             max_d, max_f);
                if (store)
                    keep_e8(row, keep, col, 0, live, n_valid - col, e);
                acc[a] = _mm256_add_ps(acc[a], _mm256_and_ps(e, _mm256_castsi256_ps(live)));
            }
        }
    }

    /* The reference's halving tree: for w = 32, 16, 8, 4, 2, 1: acc[k] += acc[k + w]. */
    acc[0] = _mm256_add_ps(acc[0], acc[4]);                        /* w = 32 */
    acc[1] = _mm256_add_ps(acc[1], acc[5]);
    acc[2] = _mm256_add_ps(acc[2], acc[6]);
    acc[3] = _mm256_add_ps(acc[3], acc[7]);
    acc[0] = _mm256_add_ps(acc[0], acc[2]);                        /* w = 16 */
    acc[1] = _mm256_add_ps(acc[1], acc[3]);
    acc[0] = _mm256_add_ps(acc[0], acc[1]);                        /* w = 8 */
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc[0]), _mm256_extractf128_ps(acc[0], 1));   /* w = 4 */
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));             /* w = 2 */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, _MM_SHUFFLE(1, 1, 1, 1)));   /* w = 1 */
    const __m256d sink_x = _mm256_set1_pd((double)row->sink - max);
    float sink_term = fast ? _mm256_cvtss_f32(tpl_expf_fast(_mm256_sub_ps(_mm256_set1_ps(row->sink), max_f)))
                           : _mm256_cvtss_f32(tpl_exp(sink_x, sink_x));
    float sum = _mm_cvtss_f32(s1) + sink_term;
    posenc_softmax_put_stats(row->stats, max, sum);

    float inv, thr;
    if (!posenc_softmax_row_scales(sum, &inv, &thr)) {
        fill(row->dst, dst_type, 0, row->n_cols, posenc_nan_value());   /* the NaN row */
        return;
    }

    /* Pass 3: y = (e < thr ? 0 : e) * inv, zeroed before the multiply; masked columns get +0. */
    const __m256 inv_v = _mm256_set1_ps(inv), thr_v = _mm256_set1_ps(thr);
    j = 0;
    if (dst_type == POSENC_ELEM_F32) {
        float *dst = row->dst;
        for (; j + LANES <= n_valid; j += LANES)
            _mm256_storeu_ps(dst + j, tpl_scale_flushed(_mm256_loadu_ps(dst + j), thr_v, inv_v));
        const __m256 masked_value = _mm256_setzero_ps();
        if (j < n_valid) {
            /* The block where live columns end: live lanes scaled, the following masked lanes filled. */
            __m256i live = avx2_lanes_below(n_valid - j);
            __m256 y = tpl_scale_flushed(_mm256_maskload_ps(dst + j, live), thr_v, inv_v);
            y = _mm256_blendv_ps(masked_value, y, _mm256_castsi256_ps(live));
            size_t end = row->n_cols - j < LANES ? row->n_cols : j + LANES;
            _mm256_maskstore_ps(dst + j, avx2_lanes_below(end - j), y);
            j = end;
        }
        fill(dst, dst_type, j, row->n_cols, 0.0f);
        return;
    }
    for (; j < n_keep; j += LANES) {
        __m256 y = tpl_scale_flushed(kept_e8(row, keep, j, n_keep - j), thr_v, inv_v);
        store8_narrow(dst_type, row->dst, j, n_keep - j, y);
    }
    /* Past the kept columns (n_keep is a multiple of 64 here): e again, from src, as pass 2 made it. */
    for (; j < n_valid; j += LANES) {
        size_t count = n_valid - j;
        __m256 e = count >= LANES ? exp_any8(&lp, j, 1, all, LANES, bias, has_mask, src_type, fast, max_d, max_f)
                                  : exp_any8(&lp, j, 0, avx2_lanes_below(count), count, bias, has_mask, src_type,
                                             fast, max_d, max_f);
        store8_narrow(dst_type, row->dst, j, count, tpl_scale_flushed(e, thr_v, inv_v));
    }
    fill(row->dst, dst_type, n_valid, row->n_cols, 0.0f);
}

/* The specialised bodies and the choice between them (src/tpl/softmax_bodies.h). */
#define SOFTMAX_ROW_TEMPLATE softmax_row_body
#include "tpl/softmax_bodies.h"

void posenc_softmax_row_avx2(const posenc_softmax_row *row)
{
    softmax_row_dispatch(row);
}
