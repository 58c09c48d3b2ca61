/* softmax_backward_avx2.c - softmax backward row for the avx2 bundle (-mavx2 -mfma -mf16c). */
#if !defined(__AVX2__) || !defined(__FMA__)
#error "softmax_backward_avx2.c belongs to the avx2 bundle: compile with -mavx2 -mfma"
#endif

#include <immintrin.h>
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

/* Lanes [0, live) of 8 float lanes, for maskload / maskstore (live >= 8: all). */
static ALWAYS_INLINE __m256i lanes8(size_t live)
{
    int32_t n = live > 8 ? 8 : (int32_t)live;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static ALWAYS_INLINE __m256d lo4_pd(__m256 v)
{
    return _mm256_cvtps_pd(_mm256_castps256_ps128(v));
}

static ALWAYS_INLINE __m256d hi4_pd(__m256 v)
{
    return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

/* out() of numerics.h on 4 doubles: flush below 2^-126 to +0 before narrowing, then canonical NaN. */
static ALWAYS_INLINE __m128 out4(__m256d v)
{
    __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
    __m256d tiny = _mm256_cmp_pd(magnitude, _mm256_set1_pd(POSENC_OUT_MIN_D), _CMP_LT_OQ);
    __m128 f = _mm256_cvtpd_ps(_mm256_andnot_pd(tiny, v));
    __m128 nan = _mm_cmpunord_ps(f, f);
    return _mm_blendv_ps(f, _mm_castsi128_ps(_mm_set1_epi32((int32_t)POSENC_F32_QNAN_BITS)), nan);
}

/* dot lanes [8q, 8q + 8) of one step: columns j + 8q .. j + 8q + 7 (dead lanes loaded as +0). */
static ALWAYS_INLINE void dot8(__m256d *acc, const float *y, const float *dy, __m256i live, int full)
{
    __m256 yv = full ? _mm256_loadu_ps(y) : _mm256_maskload_ps(y, live);
    __m256 gv = full ? _mm256_loadu_ps(dy) : _mm256_maskload_ps(dy, live);
    acc[0] = _mm256_fmadd_pd(lo4_pd(gv), lo4_pd(yv), acc[0]);
    acc[1] = _mm256_fmadd_pd(hi4_pd(gv), hi4_pd(yv), acc[1]);
}

void posenc_softmax_backward_row_avx2(const posenc_softmax_backward_row *row)
{
    const float *y = row->y, *dy = row->dy;
    float *dx = row->dx;
    const size_t n = row->n_cols;
    const __m256i all = _mm256_set1_epi32(-1);

    /* <dy, y>: 32 columns per step, column j into lane j % 32 (exact products: the FMA is the spec's add). */
    __m256d acc[DOT_VECTORS];
    for (int a = 0; a < DOT_VECTORS; a++)
        acc[a] = _mm256_setzero_pd();
    size_t j = 0;
    for (; j + POSENC_DOT_LANES <= n; j += POSENC_DOT_LANES)
        for (int q = 0; q < 4; q++)
            dot8(acc + 2 * q, y + j + 8 * q, dy + j + 8 * q, all, 1);
    for (int q = 0; q < 4 && j + 8 * (size_t)q < n; q++)
        dot8(acc + 2 * q, y + j + 8 * q, dy + j + 8 * q, lanes8(n - j - 8 * (size_t)q), 0);
    /* The halving tree: w = 16, 8, 4 across vectors, then 2, 1 within one. */
    for (int k = 0; k < 4; k++)
        acc[k] = _mm256_add_pd(acc[k], acc[k + 4]);
    for (int k = 0; k < 2; k++)
        acc[k] = _mm256_add_pd(acc[k], acc[k + 2]);
    __m256d w4 = _mm256_add_pd(acc[0], acc[1]);
    __m128d w2 = _mm_add_pd(_mm256_castpd256_pd128(w4), _mm256_extractf128_pd(w4, 1));
    __m128d w1 = _mm_add_sd(w2, _mm_unpackhi_pd(w2, w2));
    const __m256d dot = _mm256_broadcastsd_pd(w1);
    const __m256d scale = _mm256_set1_pd((double)row->scale);

    /* dx = out(scale * y * (dy - dot)): a block's y and dy are loaded before its dx is stored (dx == dy). */
    for (j = 0; j < n; j += 8) {
        int full = j + 8 <= n;
        __m256i live = lanes8(n - j);
        __m256 yv = full ? _mm256_loadu_ps(y + j) : _mm256_maskload_ps(y + j, live);
        __m256 gv = full ? _mm256_loadu_ps(dy + j) : _mm256_maskload_ps(dy + j, live);
        __m256d v_lo = _mm256_mul_pd(_mm256_mul_pd(scale, lo4_pd(yv)), _mm256_sub_pd(lo4_pd(gv), dot));
        __m256d v_hi = _mm256_mul_pd(_mm256_mul_pd(scale, hi4_pd(yv)), _mm256_sub_pd(hi4_pd(gv), dot));
        __m256 r = _mm256_set_m128(out4(v_hi), out4(v_lo));
        if (full)
            _mm256_storeu_ps(dx + j, r);
        else
            _mm256_maskstore_ps(dx + j, live, r);
    }
}
