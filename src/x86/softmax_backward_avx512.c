/* softmax_backward_avx512.c - softmax backward row, avx512 bundle (-mavx512f -mavx512bw -mavx512dq -mavx512vl). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__)
#error "softmax_backward_avx512.c needs -mavx512f -mavx512bw -mavx512dq -mavx512vl"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* POSENC_DOT_LANES double lanes in 8-lane vectors: vector a holds lanes 8a .. 8a + 7. */
#define DOT_VECTORS (POSENC_DOT_LANES / 8)
#if DOT_VECTORS != 4
#error "the dot loop and its tree below are written for 4 accumulator vectors"
#endif

static ALWAYS_INLINE __mmask16 lanes16(size_t count)
{
    return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u);
}

/* 8 floats at p (lanes outside m read as +0) widened to double: the load folds into the conversion. */
static ALWAYS_INLINE __m512d load8_pd(const float *p, __mmask8 m, int full)
{
    return _mm512_cvtps_pd(full ? _mm256_loadu_ps(p) : _mm256_maskz_loadu_ps(m, p));
}

/* dx of 8 columns: out(scale * y * (dy - dot)). With a finite dot every input of the row is finite (a NaN or
 * infinite y or dy makes its product, hence the dot, NaN or infinite) and no lane can be NaN: the flush alone,
 * folded into the narrowing as a zero-mask. Otherwise the canonical NaN too. */
static ALWAYS_INLINE void dx8(const float *y, const float *dy, float *dx, __mmask8 m, int full, __m512d scale,
                              __m512d dot, int finite)
{
    __m512d v = _mm512_mul_pd(_mm512_mul_pd(scale, load8_pd(y, m, full)), _mm512_sub_pd(load8_pd(dy, m, full), dot));
    __mmask8 keep = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(POSENC_OUT_MIN_D), _CMP_NLT_US);
    __m256 f = _mm512_maskz_cvtpd_ps(keep, v);
    if (!finite) {
        __mmask8 nan = _mm256_cmp_ps_mask(f, f, _CMP_UNORD_Q);
        f = _mm256_mask_mov_ps(f, nan, _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)POSENC_NAN_BITS)));
    }
    if (full)
        _mm256_storeu_ps(dx, f);
    else
        _mm256_mask_storeu_ps(dx, m, f);
}

static ALWAYS_INLINE void dx_pass(const float *y, const float *dy, float *dx, size_t n, __m512d scale, __m512d dot,
                                  int finite)
{
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        dx8(y + j, dy + j, dx + j, 0xff, 1, scale, dot, finite);
        dx8(y + j + 8, dy + j + 8, dx + j + 8, 0xff, 1, scale, dot, finite);
    }
    for (; j < n; j += 8)
        dx8(y + j, dy + j, dx + j, (__mmask8)lanes16(n - j), 0, scale, dot, finite);
}

void posenc_softmax_backward_row_avx512(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    float *dx = row->dx;
    const size_t n = row->n_cols;

    /* <dy, y>: 32 columns per step, column j into lane j % 32 (the products are exact in double, so the FMA
     * is the spec's add of the product). Tail lanes load as +0 and add +0. */
    __m512d acc[DOT_VECTORS];
    for (int a = 0; a < DOT_VECTORS; a++)
        acc[a] = _mm512_setzero_pd();
    size_t j = 0;
    for (; j + POSENC_DOT_LANES <= n; j += POSENC_DOT_LANES)
        for (int a = 0; a < DOT_VECTORS; a++)
            acc[a] = _mm512_fmadd_pd(load8_pd(dy + j + 8 * a, 0xff, 1), load8_pd(y + j + 8 * a, 0xff, 1), acc[a]);
    for (int a = 0; a < DOT_VECTORS && j + 8 * (size_t)a < n; a++) {
        __mmask8 m = (__mmask8)lanes16(n - j - 8 * (size_t)a);
        acc[a] = _mm512_fmadd_pd(load8_pd(dy + j + 8 * a, m, 0), load8_pd(y + j + 8 * a, m, 0), acc[a]);
    }
    /* The halving tree: w = 16, 8 across vectors, then 4, 2, 1 within one. */
    __m512d w16_lo = _mm512_add_pd(acc[0], acc[2]), w16_hi = _mm512_add_pd(acc[1], acc[3]);
    __m512d w8 = _mm512_add_pd(w16_lo, w16_hi);
    __m256d w4 = _mm256_add_pd(_mm512_castpd512_pd256(w8), _mm512_extractf64x4_pd(w8, 1));
    __m128d w2 = _mm_add_pd(_mm256_castpd256_pd128(w4), _mm256_extractf128_pd(w4, 1));
    __m128d w1 = _mm_add_sd(w2, _mm_unpackhi_pd(w2, w2));
    const double dot = _mm_cvtsd_f64(w1);
    const __m512d dot_v = _mm512_set1_pd(dot), scale = _mm512_set1_pd((double)row->scale);

    /* Pass 2: y and dy of 8 columns are loaded before their dx is stored (dx == dy works). */
    if (isfinite(dot))
        dx_pass(y, dy, dx, n, scale, dot_v, 1);
    else
        dx_pass(y, dy, dx, n, scale, dot_v, 0);
}
