/* softmax_backward_avx2.c - softmax backward row for the avx2 bundle (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "softmax_backward_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"
#include "numerics.h"
#include "x86/x86_kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* POSENC_DOT_LANES double lanes in 4-lane vectors: vector a holds lanes 4a .. 4a + 3. */
#define DOT_VECTORS (POSENC_DOT_LANES / 4)
#if DOT_VECTORS != 8
#error "the dot loop and its tree below are written for 8 accumulator vectors"
#endif

/* Lanes [0, live) of 4 float lanes (live >= 4: all). */
static ALWAYS_INLINE __m128i lanes4(size_t live)
{
    int32_t n = live > 4 ? 4 : (int32_t)live;
    return _mm_cmpgt_epi32(_mm_set1_epi32(n), _mm_setr_epi32(0, 1, 2, 3));
}

/* 4 floats at p (dead lanes +0) widened to double: the load folds into the conversion. */
static ALWAYS_INLINE __m256d load4_pd(const float *p, __m128i live, int full)
{
    return _mm256_cvtps_pd(full ? _mm_loadu_ps(p) : _mm_maskload_ps(p, live));
}

/* dx of 4 columns: out(scale * y * (dy - dot)). With a finite dot every input of the row is finite (a NaN or
 * infinite y or dy makes its product, hence the dot, NaN or infinite), so no lane can be NaN and the flush is
 * all of out(); otherwise NaN lanes become the canonical NaN too. */
static ALWAYS_INLINE void dx4(const float *y, const float *dy, float *dx, __m128i live, int full, __m256d scale,
                              __m256d dot, int finite)
{
    __m256d v = _mm256_mul_pd(_mm256_mul_pd(scale, load4_pd(y, live, full)),
                              _mm256_sub_pd(load4_pd(dy, live, full), dot));
    __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
    __m256d tiny = _mm256_cmp_pd(magnitude, _mm256_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m128 f = _mm256_cvtpd_ps(_mm256_andnot_pd(tiny, v));
    if (!finite)
        f = _mm_blendv_ps(f, _mm_castsi128_ps(_mm_set1_epi32((int32_t)POSENC_NAN_BITS)), _mm_cmpunord_ps(f, f));
    if (full)
        _mm_storeu_ps(dx, f);
    else
        _mm_maskstore_ps(dx, live, f);
}

static ALWAYS_INLINE void dx_pass(const float *y, const float *dy, float *dx, size_t n, __m256d scale, __m256d dot,
                                  int finite)
{
    const __m128i all = _mm_set1_epi32(-1);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        dx4(y + j, dy + j, dx + j, all, 1, scale, dot, finite);
        dx4(y + j + 4, dy + j + 4, dx + j + 4, all, 1, scale, dot, finite);
    }
    for (; j < n; j += 4)
        dx4(y + j, dy + j, dx + j, lanes4(n - j), 0, scale, dot, finite);
}

void posenc_softmax_backward_row_avx2(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    float *dx = row->dx;
    const size_t n = row->n_cols;
    const __m128i all = _mm_set1_epi32(-1);

    /* <dy, y>: 32 columns per step, column j into lane j % 32 (exact products: the FMA is the spec's add). Tail
     * lanes load as +0 and add +0. */
    __m256d acc[DOT_VECTORS];
    for (int a = 0; a < DOT_VECTORS; a++)
        acc[a] = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + POSENC_DOT_LANES <= n; j += POSENC_DOT_LANES)
        for (int a = 0; a < DOT_VECTORS; a++)
            acc[a] = _mm256_fmadd_pd(load4_pd(dy + j + 4 * a, all, 1), load4_pd(y + j + 4 * a, all, 1), acc[a]);
    for (int a = 0; a < DOT_VECTORS && j + 4 * (size_t)a < n; a++) {
        __m128i live = lanes4(n - j - 4 * (size_t)a);
        acc[a] = _mm256_fmadd_pd(load4_pd(dy + j + 4 * a, live, 0), load4_pd(y + j + 4 * a, live, 0), acc[a]);
    }
    /* The halving tree: w = 16, 8, 4 across vectors, then 2, 1 within one. */
    for (int k = 0; k < 4; k++)
        acc[k] = _mm256_add_pd(acc[k], acc[k + 4]);
    for (int k = 0; k < 2; k++)
        acc[k] = _mm256_add_pd(acc[k], acc[k + 2]);
    __m256d w4 = _mm256_add_pd(acc[0], acc[1]);
    __m128d w2 = _mm_add_pd(_mm256_castpd256_pd128(w4), _mm256_extractf128_pd(w4, 1));
    __m128d w1 = _mm_add_sd(w2, _mm_unpackhi_pd(w2, w2));
    const double dot = _mm_cvtsd_f64(w1);
    const __m256d dot_v = _mm256_set1_pd(dot), scale = _mm256_set1_pd((double)row->scale);

    /* Pass 2: y and dy of 4 columns are loaded before their dx is stored (dx == dy works). */
    if (isfinite(dot))
        dx_pass(y, dy, dx, n, scale, dot_v, 1);
    else
        dx_pass(y, dy, dx, n, scale, dot_v, 0);
}
