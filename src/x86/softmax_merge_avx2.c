/* softmax_merge_avx2.c - split-K statistics of a forward row and the merge step, avx2 bundle
 * (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "softmax_merge_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx2.h"
#include "tpl/softmax_tpl.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* 64 float sum lanes in 8-lane vectors: vector a holds lanes 8a .. 8a + 7 (column j % 64). */
#define SUM_VECTORS (POSENC_SUM_LANES / 8)
#if SUM_VECTORS != 8
#error "the sum tree below is written for 8 accumulator vectors"
#endif

/* Lanes [0, live) of 8 float lanes (live >= 8: all). */
static ALWAYS_INLINE __m256i lanes8(size_t live)
{
    int32_t n = live > 8 ? 8 : (int32_t)live;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Lanes [0, live) of 4 double lanes (live >= 4: all). */
static ALWAYS_INLINE __m256i lanes4_pd(size_t live)
{
    int64_t n = live > 4 ? 4 : (int64_t)live;
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* ==== statistics: the forward row's passes 1 and 2 (numerics.h), e_j summed but not stored ==================== */

typedef struct row_ctx {
    const float *src, *mask;
    __m256 scale, slope;
    __m256d scale_d, slope_d;
    int32_t d0;
} row_ctx;

static ALWAYS_INLINE __m256 load8(const float *p, int full, __m256i live)
{
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, live);
}

/* b_j of columns [j, j + 8) as int32 (wrapping past n_valid), or -|d|. */
static ALWAYS_INLINE __m256i bias8(const row_ctx *c, size_t j, int bias)
{
    __m256i d = _mm256_add_epi32(_mm256_set1_epi32((int32_t)((uint32_t)c->d0 + (uint32_t)j)),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return bias == POSENC_BIAS_ABS ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_abs_epi32(d)) : d;
}

/* Pass 1's float logits of columns [j, j + 8). */
static ALWAYS_INLINE __m256 logit8(const row_ctx *c, size_t j, int full, __m256i live, int bias, int has_mask)
{
    __m256 z = _mm256_mul_ps(c->scale, load8(c->src + j, full, live));
    if (bias != POSENC_BIAS_NONE)
        z = _mm256_fmadd_ps(c->slope, _mm256_cvtepi32_ps(bias8(c, j, bias)), z);
    if (has_mask)
        z = _mm256_add_ps(z, load8(c->mask + j, full, live));
    return z;
}

/* Pass 2's e of columns [j, j + 8); dead lanes 0. */
static ALWAYS_INLINE __m256 exp_of8(const row_ctx *c, size_t j, int full, __m256i live, int bias, int has_mask,
                                    __m256d max_d)
{
    __m256 s = load8(c->src + j, full, live);
    __m256d x_lo = _mm256_fmsub_pd(c->scale_d, _mm256_cvtps_pd(_mm256_castps256_ps128(s)), max_d);
    __m256d x_hi = _mm256_fmsub_pd(c->scale_d, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)), max_d);
    if (bias != POSENC_BIAS_NONE) {
        __m256i b = bias8(c, j, bias);
        x_lo = _mm256_fmadd_pd(c->slope_d, _mm256_cvtepi32_pd(_mm256_castsi256_si128(b)), x_lo);
        x_hi = _mm256_fmadd_pd(c->slope_d, _mm256_cvtepi32_pd(_mm256_extracti128_si256(b, 1)), x_hi);
    }
    if (has_mask) {
        __m256 k = load8(c->mask + j, full, live);
        x_lo = _mm256_add_pd(x_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(k)));
        x_hi = _mm256_add_pd(x_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(k, 1)));
    }
    __m256 e = tpl_exp(x_lo, x_hi);
    return full ? e : _mm256_and_ps(e, _mm256_castsi256_ps(live));
}

static ALWAYS_INLINE void stats_body(const posenc_softmax_row *row, float *stats, int bias, int has_mask)
{
    const size_t n_valid = row->n_valid;
    const __m256i all = _mm256_set1_epi32(-1);
    row_ctx c = {
        .src = row->src, .mask = row->mask,
        .scale = _mm256_set1_ps(row->scale), .slope = _mm256_set1_ps(row->slope),
        .scale_d = _mm256_set1_pd((double)row->scale), .slope_d = _mm256_set1_pd((double)row->slope),
        .d0 = row->d0,
    };
    /* Pass 1: _mm256_max_ps(z, m) is `z > m ? z : m`; dead lanes -inf. */
    __m256 m0 = _mm256_set1_ps(row->sink), m1 = m0;
    size_t j = 0;
    for (; j + 16 <= n_valid; j += 16) {
        m0 = _mm256_max_ps(logit8(&c, j, 1, all, bias, has_mask), m0);
        m1 = _mm256_max_ps(logit8(&c, j + 8, 1, all, bias, has_mask), m1);
    }
    for (; j < n_valid; j += 8) {
        __m256i live = lanes8(n_valid - j);
        __m256 z = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), logit8(&c, j, 0, live, bias, has_mask),
                                    _mm256_castsi256_ps(live));
        m0 = _mm256_max_ps(z, m0);
    }
    __m256 m = _mm256_max_ps(m0, m1);     /* no NaN lane: any order is exact */
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float max = _mm_cvtss_f32(h);

    if (max == -INFINITY) {
        __m256 any_nan = _mm256_setzero_ps();
        for (j = 0; j < n_valid; j += 8) {
            __m256i live = lanes8(n_valid - j);
            __m256 z = logit8(&c, j, 0, live, bias, has_mask);
            any_nan = _mm256_or_ps(any_nan, _mm256_and_ps(_mm256_cmp_ps(z, z, _CMP_UNORD_Q),
                                                          _mm256_castsi256_ps(live)));
        }
        uint32_t s_bits = _mm256_movemask_ps(any_nan) ? POSENC_NAN_BITS : 0u;
        stats[0] = max == 0.0f ? 0.0f : max;
        __builtin_memcpy(&stats[1], &s_bits, sizeof s_bits);
        return;
    }

    /* Pass 2: the 64 partial sums; dead lanes add +0 (partial sums are +0, positive or NaN: bits kept). */
    const __m256d max_d = _mm256_set1_pd((double)max);
    __m256 acc[SUM_VECTORS];
    for (int a = 0; a < SUM_VECTORS; a++)
        acc[a] = _mm256_setzero_ps();
    for (j = 0; j + POSENC_SUM_LANES <= n_valid; j += POSENC_SUM_LANES) {
#pragma GCC unroll 8
        for (int a = 0; a < SUM_VECTORS; a++)
            acc[a] = _mm256_add_ps(acc[a], exp_of8(&c, j + 8 * (size_t)a, 1, all, bias, has_mask, max_d));
    }
    for (int a = 0; a < SUM_VECTORS && j + 8 * (size_t)a < n_valid; a++) {
        size_t col = j + 8 * (size_t)a;
        acc[a] = _mm256_add_ps(acc[a], exp_of8(&c, col, 0, lanes8(n_valid - col), bias, has_mask, max_d));
    }
    /* The halving tree: w = 32, 16, 8 across vectors, 4, 2, 1 within one. */
    for (int k = 0; k < 4; k++)
        acc[k] = _mm256_add_ps(acc[k], acc[k + 4]);
    for (int k = 0; k < 2; k++)
        acc[k] = _mm256_add_ps(acc[k], acc[k + 2]);
    __m256 w8 = _mm256_add_ps(acc[0], acc[1]);
    __m128 w4 = _mm_add_ps(_mm256_castps256_ps128(w8), _mm256_extractf128_ps(w8, 1));
    __m128 w2 = _mm_add_ps(w4, _mm_movehl_ps(w4, w4));
    __m128 w1 = _mm_add_ss(w2, _mm_movehdup_ps(w2));
    float sum = _mm_cvtss_f32(w1) + posenc_softmax_exp_scalar((double)row->sink - (double)max);
    if (!(sum > 0.0f && sum <= 0x1p126f))   /* the forward row's NaN-row test (posenc_softmax_row_scales) */ {
        uint32_t s_bits = POSENC_NAN_BITS;
        __builtin_memcpy(&sum, &s_bits, sizeof s_bits);
    }
    stats[0] = max == 0.0f ? 0.0f : max;
    stats[1] = sum;
}

void posenc_softmax_stats_avx2(const posenc_softmax_row *row, float *stats)
{
    const int has_mask = row->mask != NULL;
    switch (row->bias) {
    case POSENC_BIAS_NONE:
        has_mask ? stats_body(row, stats, POSENC_BIAS_NONE, 1) : stats_body(row, stats, POSENC_BIAS_NONE, 0);
        break;
    case POSENC_BIAS_ABS:
        has_mask ? stats_body(row, stats, POSENC_BIAS_ABS, 1) : stats_body(row, stats, POSENC_BIAS_ABS, 0);
        break;
    default:
        has_mask ? stats_body(row, stats, POSENC_BIAS_LINEAR, 1) : stats_body(row, stats, POSENC_BIAS_LINEAR, 0);
        break;
    }
}

/* ==== the merge step ============================================================================================ */

/* out() of numerics.h on 4 doubles. */
static ALWAYS_INLINE __m128 out4(__m256d v)
{
    __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
    __m256d tiny = _mm256_cmp_pd(magnitude, _mm256_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m128 f = _mm256_cvtpd_ps(_mm256_andnot_pd(tiny, v));
    __m128 nan = _mm_cmpunord_ps(f, f);
    return _mm_blendv_ps(f, _mm_castsi128_ps(_mm_set1_epi32((int32_t)POSENC_NAN_BITS)), nan);
}

static ALWAYS_INLINE void merge_body(double w, const float *x, double *acc, float *dst, size_t n, int first,
                                     int last)
{
    const __m256d wv = _mm256_set1_pd(w);
    for (size_t j = 0; j < n; j += 8) {
        int full = j + 8 <= n;
        __m256i live = lanes8(n - j);
        __m256i live_lo = lanes4_pd(n - j), live_hi = lanes4_pd(n - j > 4 ? n - j - 4 : 0);
        __m256 xv = full ? _mm256_loadu_ps(x + j) : _mm256_maskload_ps(x + j, live);
        __m256d a_lo = _mm256_setzero_pd(), a_hi = _mm256_setzero_pd();
        if (!first) {
            a_lo = full ? _mm256_loadu_pd(acc + j) : _mm256_maskload_pd(acc + j, live_lo);
            a_hi = full ? _mm256_loadu_pd(acc + j + 4) : _mm256_maskload_pd(acc + j + 4, live_hi);
        }
        a_lo = _mm256_fmadd_pd(wv, _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), a_lo);
        a_hi = _mm256_fmadd_pd(wv, _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)), a_hi);
        if (last) {
            __m256 r = _mm256_set_m128(out4(a_hi), out4(a_lo));
            if (full)
                _mm256_storeu_ps(dst + j, r);
            else
                _mm256_maskstore_ps(dst + j, live, r);
        } else if (full) {
            _mm256_storeu_pd(acc + j, a_lo);
            _mm256_storeu_pd(acc + j + 4, a_hi);
        } else {
            _mm256_maskstore_pd(acc + j, live_lo, a_lo);
            _mm256_maskstore_pd(acc + j + 4, live_hi, a_hi);
        }
    }
}

void posenc_softmax_merge_step_avx2(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    switch (flags & (POSENC_MERGE_FIRST | POSENC_MERGE_LAST)) {
    case POSENC_MERGE_FIRST | POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 1, 1); break;
    case POSENC_MERGE_FIRST: merge_body(w, x, acc, dst, n, 1, 0); break;
    case POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 0, 1); break;
    default: merge_body(w, x, acc, dst, n, 0, 0); break;
    }
}
