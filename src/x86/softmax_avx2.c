/* softmax_avx2.c - fused ALiBi softmax row for the avx2 bundle (AVX2 + FMA; built with -mavx2 -mfma). */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "softmax_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <math.h>

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
    const float *src;
    const float *mask;
    __m256 scale;
    __m256 slope;
    __m256d scale_d;
    __m256d slope_d;
    __m256i d_lanes;     /* d0 + lane index, int32 (wrapping adds: only live lanes matter) */
    __m256d d_lanes_d;   /* d0 + lane index 0..3, double (exact) */
} logit_params;

/* Loads of columns [j, j+8): `full` reads 8 columns; otherwise only the lanes in `live` are read (the others
 * read as 0 and are discarded by the caller). */
static FORCE_INLINE __m256 load8(const float *p, size_t j, int full, __m256i live)
{
    return full ? _mm256_loadu_ps(p + j) : _mm256_maskload_ps(p + j, live);
}

/* The bias term b_j of columns [j, j+8) as int32: d0 + j, or -|d0 + j| (the API layer guarantees no overflow
 * for live columns). bias is a compile-time constant after inlining. */
static FORCE_INLINE __m256i bias8(const logit_params *lp, size_t j, int bias)
{
    __m256i d = _mm256_add_epi32(lp->d_lanes, _mm256_set1_epi32((int32_t)j));
    if (bias == POSENC_BIAS_ABS)
        d = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_abs_epi32(d));
    return d;
}

/* Pass 1's float logits of columns [j, j+8). bias and has_mask are compile-time constants after inlining. */
static FORCE_INLINE __m256 logit8_f(const logit_params *lp, size_t j, int full, __m256i live, int bias,
                                    int has_mask)
{
    __m256 z = _mm256_mul_ps(lp->scale, load8(lp->src, j, full, live));
    if (bias != POSENC_BIAS_NONE)
        z = _mm256_fmadd_ps(lp->slope, _mm256_cvtepi32_ps(bias8(lp, j, bias)), z);
    if (has_mask)
        z = _mm256_add_ps(z, load8(lp->mask, j, full, live));
    return z;
}

/* Pass 2's double exp arguments (logit minus max) of columns [j, j+8): lanes 0..3 in *lo, 4..7 in *hi. */
static FORCE_INLINE void exp_args8(const logit_params *lp, size_t j, int full, __m256i live, int bias,
                                   int has_mask, __m256d max_d, __m256d *lo, __m256d *hi)
{
    __m256 s = load8(lp->src, j, full, live);
    /* fma(scale, s, -M) == fmsub(scale, s, M): one rounding of the exact product minus M. */
    __m256d z_lo = _mm256_fmsub_pd(lp->scale_d, _mm256_cvtps_pd(_mm256_castps256_ps128(s)), max_d);
    __m256d z_hi = _mm256_fmsub_pd(lp->scale_d, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)), max_d);
    if (bias != POSENC_BIAS_NONE) {
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
        __m256 m = load8(lp->mask, j, full, live);
        z_lo = _mm256_add_pd(z_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(m)));
        z_hi = _mm256_add_pd(z_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(m, 1)));
    }
    *lo = z_lo;
    *hi = z_hi;
}

/* e = exp(z - max) of columns [j, j+8), z and max in double. */
static FORCE_INLINE __m256 exp_of_column8(const logit_params *lp, size_t j, int full, __m256i live, int bias,
                                          int has_mask, __m256d max_d)
{
    __m256d x_lo, x_hi;
    exp_args8(lp, j, full, live, bias, has_mask, max_d, &x_lo, &x_hi);
    return tpl_exp(x_lo, x_hi);
}

/* Pass 1's double max (numerics.h: rows whose bias magnitude exceeds 2^24): the max over the double logits,
 * pass 2's arguments with M = 0, and the sink. *any_nan tells whether a live double logit is NaN. Rare rows:
 * one accumulator, masked loads, out of line (bias and has_mask at run time) so the hot row body stays as it was. */
static __attribute__((noinline)) double max_of_logits_d(const logit_params *lp, size_t n_valid, float sink, int bias,
                                           int has_mask, int *any_nan)
{
    const __m256d minus_inf = _mm256_set1_pd(-INFINITY), zero = _mm256_setzero_pd();
    __m256d m = _mm256_set1_pd((double)sink), nan = zero;
    for (size_t j = 0; j < n_valid; j += LANES) {
        __m256d z_lo, z_hi;
        exp_args8(lp, j, 0, avx2_lanes_below(n_valid - j), bias, has_mask, zero, &z_lo, &z_hi);
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

/* Store `value` to dst[from, to). */
static inline void fill(float *dst, size_t from, size_t to, __m256 value)
{
    size_t j = from;
    for (; j + LANES <= to; j += LANES)
        _mm256_storeu_ps(dst + j, value);
    if (j < to)
        _mm256_maskstore_ps(dst + j, avx2_lanes_below(to - j), value);
}

static FORCE_INLINE void softmax_row_body(const posenc_softmax_row *row, int bias, int has_mask)
{
    const size_t n_valid = row->n_valid;
    float *dst = row->dst;
    logit_params lp;
    lp.src = row->src;
    lp.mask = row->mask;
    lp.scale = _mm256_set1_ps(row->scale);
    lp.slope = _mm256_set1_ps(row->slope);
    lp.scale_d = _mm256_set1_pd((double)row->scale);
    lp.slope_d = _mm256_set1_pd((double)row->slope);
    lp.d_lanes = _mm256_add_epi32(_mm256_set1_epi32(row->d0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    lp.d_lanes_d = _mm256_add_pd(_mm256_set1_pd((double)row->d0), _mm256_setr_pd(0, 1, 2, 3));
    const __m256i all = _mm256_set1_epi32(-1);

    double max;
    size_t j = 0;
    if (!posenc_softmax_max_in_double(bias, row->slope, row->d0, n_valid)) {
        /* Pass 1: max. _mm256_max_ps(z, m) is `z > m ? z : m`, the scalar's comparison, so NaN logits are
         * skipped. Four chains hide the max latency. */
        __m256 m0 = _mm256_set1_ps(row->sink), m1 = m0, m2 = m0, m3 = m0;
        for (; j + 4 * LANES <= n_valid; j += 4 * LANES) {
            m0 = _mm256_max_ps(logit8_f(&lp, j, 1, all, bias, has_mask), m0);
            m1 = _mm256_max_ps(logit8_f(&lp, j + 8, 1, all, bias, has_mask), m1);
            m2 = _mm256_max_ps(logit8_f(&lp, j + 16, 1, all, bias, has_mask), m2);
            m3 = _mm256_max_ps(logit8_f(&lp, j + 24, 1, all, bias, has_mask), m3);
        }
        for (; j < n_valid; j += LANES) {
            __m256i live = avx2_lanes_below(n_valid - j);
            __m256 z = logit8_f(&lp, j, 0, live, bias, has_mask);
            /* Dead lanes become -inf, which never wins. */
            z = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), z, _mm256_castsi256_ps(live));
            m0 = _mm256_max_ps(z, m0);
        }
        const float max_f = hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));

        if (max_f == -INFINITY) {
            /* Every live logit is -inf or NaN: zeros, or NaN if any is NaN (as the reference). */
            __m256 any_nan = _mm256_setzero_ps();
            for (j = 0; j < n_valid; j += LANES) {
                __m256i live = avx2_lanes_below(n_valid - j);
                __m256 z = logit8_f(&lp, j, 0, live, bias, has_mask);
                any_nan = _mm256_or_ps(any_nan, _mm256_and_ps(_mm256_cmp_ps(z, z, _CMP_UNORD_Q),
                                                              _mm256_castsi256_ps(live)));
            }
            float value = _mm256_movemask_ps(any_nan) ? posenc_nan_value() : 0.0f;
            fill(dst, 0, row->n_cols, _mm256_set1_ps(value));
            return;
        }
        max = (double)max_f;
    } else {
        int any_nan;
        max = max_of_logits_d(&lp, n_valid, row->sink, bias, has_mask, &any_nan);
        if (max == -INFINITY) {
            fill(dst, 0, row->n_cols, _mm256_set1_ps(any_nan ? posenc_nan_value() : 0.0f));
            return;
        }
    }

    /* Pass 2: e = exp(z - max), formed in double, to dst and the 64 partial sums. Logits are recomputed from src
     * (not kept), so src == dst works: each block is read before it is written. */
    const __m256d max_d = _mm256_set1_pd(max);
    __m256 acc[SUM_VECTORS];
    for (int a = 0; a < SUM_VECTORS; a++)
        acc[a] = _mm256_setzero_ps();
    j = 0;
    for (; j + POSENC_SUM_LANES <= n_valid; j += POSENC_SUM_LANES) {
#pragma GCC unroll 8
        for (int a = 0; a < SUM_VECTORS; a++) {
            size_t col = j + (size_t)a * LANES;
            __m256 e = exp_of_column8(&lp, col, 1, all, bias, has_mask, max_d);
            _mm256_storeu_ps(dst + col, e);
            acc[a] = _mm256_add_ps(acc[a], e);
        }
    }
    if (j < n_valid) {
        /* The last, partial group of 64: dead lanes add +0, which leaves a partial sum's bits unchanged (every
         * partial sum is +0 or positive or NaN). */
#pragma GCC unroll 8
        for (int a = 0; a < SUM_VECTORS; a++) {
            size_t col = j + (size_t)a * LANES;
            if (col < n_valid) {
                __m256i live = avx2_lanes_below(n_valid - col);
                __m256 e = exp_of_column8(&lp, col, 0, live, bias, has_mask, max_d);
                _mm256_maskstore_ps(dst + col, live, e);
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
    float sink_term = _mm256_cvtss_f32(tpl_exp(sink_x, sink_x));
    float sum = _mm_cvtss_f32(s1) + sink_term;

    float inv, thr;
    if (!posenc_softmax_row_scales(sum, &inv, &thr)) {
        fill(dst, 0, row->n_cols, _mm256_set1_ps(posenc_nan_value()));   /* the NaN row */
        return;
    }

    /* Pass 3: y = (e < thr ? 0 : e) * inv, zeroed before the multiply; masked columns get +0. */
    const __m256 inv_v = _mm256_set1_ps(inv), thr_v = _mm256_set1_ps(thr);
    j = 0;
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
    fill(dst, j, row->n_cols, masked_value);
}

void posenc_softmax_row_avx2(const posenc_softmax_row *row)
{
    /* One specialised body per (bias, mask) combination, so the inner loops carry no per-column branches.
     * The bias is read as every variant reads it (posenc_bias_case). */
    const int has_mask = row->mask != NULL;
    switch (posenc_bias_case(row->bias)) {
    case POSENC_BIAS_NONE:
        if (has_mask)
            softmax_row_body(row, POSENC_BIAS_NONE, 1);
        else
            softmax_row_body(row, POSENC_BIAS_NONE, 0);
        break;
    case POSENC_BIAS_ABS:
        if (has_mask)
            softmax_row_body(row, POSENC_BIAS_ABS, 1);
        else
            softmax_row_body(row, POSENC_BIAS_ABS, 0);
        break;
    default:   /* POSENC_BIAS_LINEAR */
        if (has_mask)
            softmax_row_body(row, POSENC_BIAS_LINEAR, 1);
        else
            softmax_row_body(row, POSENC_BIAS_LINEAR, 0);
        break;
    }
}
