/* softmax_merge_avx512.c - split-K statistics of a forward row and the merge step, avx512 bundle
 * (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_merge_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/simd_avx512.h"
#include "tpl/softmax_tpl.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __mmask16 lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

static ALWAYS_INLINE __m512 canonical_nan16(void)
{
    return _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)POSENC_NAN_BITS));
}

/* ==== statistics: the forward row's passes 1 and 2 (numerics.h), e_j summed but not stored ==================== */


typedef struct row_ctx {
    const float *src, *mask;
    __m512 scale, slope;
    __m512d scale_d, slope_d;
    int32_t d0;
} row_ctx;

/* b_j of columns [j, j + 16) as int32: d0 + j + lane (wrapping: lanes past n_valid are discarded), or -|d|. */
static ALWAYS_INLINE __m512i bias16(const row_ctx *c, size_t j, int bias)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i d = _mm512_add_epi32(_mm512_set1_epi32((int32_t)((uint32_t)c->d0 + (uint32_t)j)), lane);
    return bias == POSENC_BIAS_ABS ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_abs_epi32(d)) : d;
}

/* Pass 1's float logits of columns [j, j + 16); lanes outside m are not read. */
static ALWAYS_INLINE __m512 logit16(const row_ctx *c, size_t j, __mmask16 m, int bias, int has_mask)
{
    __m512 z = _mm512_mul_ps(c->scale, _mm512_maskz_loadu_ps(m, c->src + j));
    if (bias != POSENC_BIAS_NONE)
        z = _mm512_fmadd_ps(c->slope, _mm512_cvtepi32_ps(bias16(c, j, bias)), z);
    if (has_mask)
        z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(m, c->mask + j));
    return z;
}

/* Pass 2's b of 8 columns from d = d0 + j + lane in double (exact, |d| < 2^32, and equal to the int32 b for
 * every live column): d itself, or 0 - |d| (d = 0 gives +0, as the int32 conversion does). */
static ALWAYS_INLINE __m512d bias8_d(__m512d d, int bias)
{
    return bias == POSENC_BIAS_ABS ? _mm512_sub_pd(_mm512_setzero_pd(), _mm512_abs_pd(d)) : d;
}

/* Pass 2's e of columns [j, j + 16): x = fma(scale, s, -M) [+ slope * b] [+ mask] in double, then exp. `dist`
 * holds d of columns [j, j + 8). Lanes outside m are 0. */
static ALWAYS_INLINE __m512 exp_of16(const row_ctx *c, size_t j, __mmask16 m, int bias, int has_mask,
                                     __m512d max_d, __m512d dist)
{
    __m512d x_lo = _mm512_fmsub_pd(c->scale_d, _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)m, c->src + j)),
                                   max_d);
    __m512d x_hi = _mm512_fmsub_pd(c->scale_d,
                                   _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)(m >> 8), c->src + j + 8)),
                                   max_d);
    if (bias != POSENC_BIAS_NONE) {
        x_lo = _mm512_fmadd_pd(c->slope_d, bias8_d(dist, bias), x_lo);
        x_hi = _mm512_fmadd_pd(c->slope_d, bias8_d(_mm512_add_pd(dist, _mm512_set1_pd(8.0)), bias), x_hi);
    }
    if (has_mask) {
        x_lo = _mm512_add_pd(x_lo, _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)m, c->mask + j)));
        x_hi = _mm512_add_pd(x_hi, _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)(m >> 8), c->mask + j + 8)));
    }
    return _mm512_maskz_mov_ps(m, tpl_exp(x_lo, x_hi));
}

static ALWAYS_INLINE void stats_body(const posenc_softmax_row *row, float *stats, int bias, int has_mask)
{
    const size_t n_valid = row->n_valid;
    row_ctx c = {
        .src = row->src, .mask = row->mask,
        .scale = _mm512_set1_ps(row->scale), .slope = _mm512_set1_ps(row->slope),
        .scale_d = _mm512_set1_pd((double)row->scale), .slope_d = _mm512_set1_pd((double)row->slope),
        .d0 = row->d0,
    };
    /* Pass 1: max(z, m) is `z > m ? z : m` (a NaN z keeps m); dead lanes read as -inf. */
    __m512 m0 = _mm512_set1_ps(row->sink), m1 = m0;
    size_t j = 0;
    for (; j + 32 <= n_valid; j += 32) {
        m0 = _mm512_max_ps(logit16(&c, j, 0xffff, bias, has_mask), m0);
        m1 = _mm512_max_ps(logit16(&c, j + 16, 0xffff, bias, has_mask), m1);
    }
    for (; j < n_valid; j += 16) {
        __mmask16 m = lanes16(n_valid - j);
        __m512 z = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), m, logit16(&c, j, m, bias, has_mask));
        m0 = _mm512_max_ps(z, m0);
    }
    const float max = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));   /* no NaN lane: any order is exact */

    if (max == -INFINITY) {
        /* No live logit above -inf: S = 0, or NaN when a live logit is NaN. */
        __mmask16 any_nan = 0;
        for (j = 0; j < n_valid; j += 16) {
            __mmask16 m = lanes16(n_valid - j);
            __m512 z = logit16(&c, j, m, bias, has_mask);
            any_nan |= _mm512_mask_cmp_ps_mask(m, z, z, _CMP_UNORD_Q);
        }
        uint32_t s_bits = any_nan ? POSENC_NAN_BITS : 0u;
        stats[0] = max == 0.0f ? 0.0f : max;
        __builtin_memcpy(&stats[1], &s_bits, sizeof s_bits);
        return;
    }

    /* Pass 2: 64 float partial sums in 4 vectors, vector a holding lanes 16a .. 16a + 15 (column j % 64). */
    const __m512d max_d = _mm512_set1_pd((double)max);
    const __m512d step = _mm512_set1_pd(16.0);
    __m512d dist = _mm512_add_pd(_mm512_set1_pd((double)row->d0), _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0));
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (j = 0; j + 64 <= n_valid; j += 64) {
        acc0 = _mm512_add_ps(acc0, exp_of16(&c, j, 0xffff, bias, has_mask, max_d, dist));
        dist = _mm512_add_pd(dist, step);
        acc1 = _mm512_add_ps(acc1, exp_of16(&c, j + 16, 0xffff, bias, has_mask, max_d, dist));
        dist = _mm512_add_pd(dist, step);
        acc2 = _mm512_add_ps(acc2, exp_of16(&c, j + 32, 0xffff, bias, has_mask, max_d, dist));
        dist = _mm512_add_pd(dist, step);
        acc3 = _mm512_add_ps(acc3, exp_of16(&c, j + 48, 0xffff, bias, has_mask, max_d, dist));
        dist = _mm512_add_pd(dist, step);
    }
    /* Dead lanes add +0: a partial sum is +0, positive or NaN, so its bits stay. */
    if (j < n_valid)
        acc0 = _mm512_add_ps(acc0, exp_of16(&c, j, lanes16(n_valid - j), bias, has_mask, max_d, dist));
    if (j + 16 < n_valid)
        acc1 = _mm512_add_ps(acc1, exp_of16(&c, j + 16, lanes16(n_valid - j - 16), bias, has_mask, max_d,
                                            _mm512_add_pd(dist, step)));
    if (j + 32 < n_valid)
        acc2 = _mm512_add_ps(acc2, exp_of16(&c, j + 32, lanes16(n_valid - j - 32), bias, has_mask, max_d,
                                            _mm512_add_pd(dist, _mm512_set1_pd(32.0))));
    if (j + 48 < n_valid)
        acc3 = _mm512_add_ps(acc3, exp_of16(&c, j + 48, lanes16(n_valid - j - 48), bias, has_mask, max_d,
                                            _mm512_add_pd(dist, _mm512_set1_pd(48.0))));
    /* The halving tree: w = 32, 16 across vectors, 8, 4, 2, 1 within one. */
    __m512 w16 = _mm512_add_ps(_mm512_add_ps(acc0, acc2), _mm512_add_ps(acc1, acc3));
    __m256 w8 = _mm256_add_ps(_mm512_castps512_ps256(w16), _mm512_extractf32x8_ps(w16, 1));
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

void posenc_softmax_stats_avx512(const posenc_softmax_row *row, float *stats)
{
    /* One body per (bias, mask): no per-column branches. Any bias other than NONE and ABS is the linear one. */
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

/* out() of numerics.h on 8 doubles. */
static ALWAYS_INLINE __m256 out8(__m512d v)
{
    __mmask8 tiny = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m256 f = _mm512_cvtpd_ps(_mm512_mask_mov_pd(v, tiny, _mm512_setzero_pd()));
    __mmask8 nan = _mm256_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    return _mm256_mask_mov_ps(f, nan, _mm512_castps512_ps256(canonical_nan16()));
}

static ALWAYS_INLINE void merge_body(double w, const float *x, double *acc, float *dst, size_t n, int first,
                                     int last)
{
    const __m512d wv = _mm512_set1_pd(w);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = lanes16(n - j);
        __mmask8 m_lo = (__mmask8)m, m_hi = (__mmask8)(m >> 8);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
        __m512d a_lo = first ? _mm512_setzero_pd() : _mm512_maskz_loadu_pd(m_lo, acc + j);
        __m512d a_hi = first ? _mm512_setzero_pd() : _mm512_maskz_loadu_pd(m_hi, acc + j + 8);
        a_lo = _mm512_fmadd_pd(wv, _mm512_cvtps_pd(_mm512_castps512_ps256(xv)), a_lo);
        a_hi = _mm512_fmadd_pd(wv, _mm512_cvtps_pd(_mm512_extractf32x8_ps(xv, 1)), a_hi);
        if (last) {
            __m512 r = _mm512_insertf32x8(_mm512_castps256_ps512(out8(a_lo)), out8(a_hi), 1);
            _mm512_mask_storeu_ps(dst + j, m, r);
        } else {
            _mm512_mask_storeu_pd(acc + j, m_lo, a_lo);
            _mm512_mask_storeu_pd(acc + j + 8, m_hi, a_hi);
        }
    }
}

void posenc_softmax_merge_step_avx512(double w, const float *x, double *acc, float *dst, size_t n, uint32_t flags)
{
    switch (flags & (POSENC_MERGE_FIRST | POSENC_MERGE_LAST)) {
    case POSENC_MERGE_FIRST | POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 1, 1); break;
    case POSENC_MERGE_FIRST: merge_body(w, x, acc, dst, n, 1, 0); break;
    case POSENC_MERGE_LAST: merge_body(w, x, acc, dst, n, 0, 1); break;
    default: merge_body(w, x, acc, dst, n, 0, 0); break;
    }
}
